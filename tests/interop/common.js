// Shared by the MQTT.js scripts: one JSON argument in, one JSON object per output line.
'use strict';
const mqtt = require('mqtt');

const args = JSON.parse(process.argv[2] || '{}');

function emit(event, data) {
  process.stdout.write(JSON.stringify({ event, ...data }) + '\n');
}

function connect(options) {
  return mqtt.connect({
    host: args.host,
    port: args.port,
    protocol: 'mqtt',
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10000,
    ...options,
  });
}

function once(emitter, name) {
  return new Promise((resolve, reject) => {
    emitter.once(name, resolve);
    if (name !== 'error') emitter.once('error', reject);
  });
}

function fail(error) {
  emit('error', { message: String(error && error.stack || error) });
  process.exit(1);
}

// A script must finish on its own; this keeps a hung broker from hanging the test run.
setTimeout(() => fail(new Error('script timed out')), (args.timeoutSeconds || 20) * 1000).unref();

module.exports = { args, emit, connect, once, fail };

// MQTT over WebSocket (ws:// or wss://, MQTT.js's own WebSocket transport): a subscriber and a publisher on
// args.url exchange args.count QoS 1 messages; with args.ca (a PEM file) the server certificate is verified
// against it. Reports the subprotocol MQTT.js offered and every payload received.
'use strict';
const fs = require('fs');
const { args, emit, once, fail } = require('./common');

(async () => {
  const tls = args.ca ? { ca: fs.readFileSync(args.ca), rejectUnauthorized: true } : {};
  const options = (clientId) => ({ clientId, ...tls, wsOptions: { ...tls } });
  const mqtt = require('mqtt');
  const open = (clientId) => mqtt.connect(args.url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10000, ...options(clientId) });

  const sub = open('ws-sub');
  await once(sub, 'connect');
  const received = [];
  const count = args.count || 3;
  const done = new Promise((resolve) => {
    sub.on('message', (topic, payload) => {
      received.push(payload.toString());
      if (received.length === count) resolve();
    });
  });
  await sub.subscribeAsync('ws/#', { qos: 1 });
  emit('subscribed', {});

  const pub = open('ws-pub');
  await once(pub, 'connect');
  for (let i = 0; i < count; i++) await pub.publishAsync('ws/t', `m${i}`, { qos: 1 });
  await done;
  emit('result', { received });
  pub.end(true);
  sub.end(true);
})().catch(fail);

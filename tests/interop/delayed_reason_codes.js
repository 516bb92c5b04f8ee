// One MQTT 5 client publishes each of args.publishes ({topic, qos}) in turn and reports the reason code of its
// PUBACK/PUBREC, read from the packet itself: MQTT.js reports codes >= 0x80 as errors but hides 0x00 vs 0x10.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const client = connect({ clientId: args.clientId || 'delayed-codes' });
  await once(client, 'connect');
  let disconnected = false;
  client.on('close', () => { disconnected = true; });
  let ack = null;
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'puback' || packet.cmd === 'pubrec') ack = packet.reasonCode || 0;
  });
  const codes = [];
  for (const { topic, qos } of args.publishes) {
    ack = null;
    try {
      await client.publishAsync(topic, 'x', { qos });
    } catch (error) {
      if (typeof error.code !== 'number') throw error;
    }
    if (ack === null) throw new Error(`no PUBACK/PUBREC for ${topic}`);
    codes.push(ack);
  }
  emit('result', { codes, disconnected });
  client.end();
})().catch(fail);

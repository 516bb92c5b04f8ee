// [MQTT-3.3.4-9]: a client sending more unacknowledged QoS 2 PUBLISHes than the server's Receive Maximum gets
// DISCONNECT 0x93 (Receive Maximum exceeded). MQTT.js does not hold itself to the server's Receive Maximum, so it
// floods: Receive Maximum + args.extra QoS 2 PUBLISHes in one write, as many again when the DISCONNECT arrives, and
// more every millisecond until the connection closes. Reports the DISCONNECT reason code it read and the errors
// (e.g. EPIPE, ECONNRESET) it met. With args.url (ws://... or mqtts://... trusting args.ca), over WebSocket or TLS.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const client = args.url
    ? require('mqtt').connect(args.url, {
      clientId: 'flood-js', protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10000,
      ca: args.url.startsWith('mqtts:') ? require('fs').readFileSync(args.ca) : undefined,
    })
    : connect({ clientId: 'flood-js' });
  const connack = await once(client, 'connect');
  const receiveMaximum = connack.properties && connack.properties.receiveMaximum;
  const extra = args.extra || 20;
  const payload = Buffer.alloc(args.payloadBytes || 100);
  let disconnectReason = null;
  const errors = [];
  let errorsBeforeDisconnect = 0;
  const record = (error) => {
    if (!error) return;
    errors.push(error.code || error.message);
    if (disconnectReason === null) errorsBeforeDisconnect++;
  };
  const publish = (n) => {
    client.stream.cork(); // one write, before the broker can answer a single PUBREC
    for (let i = 0; i < n; i++) client.publish('flood/t', payload, { qos: 2 }, record);
    client.stream.uncork();
  };
  client.on('error', record);
  client.on('disconnect', (packet) => { disconnectReason = packet.reasonCode; publish(extra); });
  const closed = new Promise((resolve) => client.once('close', resolve));

  publish(receiveMaximum + extra);
  const more = setInterval(() => publish(10), 1);
  await closed;
  clearInterval(more);
  emit('result', { receiveMaximum, disconnectReason, errors, errorsBeforeDisconnect });
  client.end(true);
})().catch(fail);

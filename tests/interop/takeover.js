// [MQTT-3.1.4-3] a second CONNECT with the same client id takes the session over: the first connection
// gets DISCONNECT 0x8E (Session taken over) and is closed. Prints what the first client saw.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const clientId = args.clientId || 'takeover-js';
  const first = connect({ clientId, clean: true });
  await once(first, 'connect');
  let disconnectReason = null;
  first.on('disconnect', (packet) => { disconnectReason = packet.reasonCode; });
  const firstClosed = once(first, 'close');
  first.on('error', () => {});

  const second = connect({ clientId, clean: true });
  await once(second, 'connect');
  await firstClosed;
  emit('result', { disconnectReason, firstClosed: true, secondConnected: second.connected });
  second.end(true);
})().catch(fail);

// A client that never sends SUBSCRIBE (the auto_subscribe plugin subscribes it to `topic` with no-local and
// retain-as-published) publishes to `topic` itself, then a second client publishes `other` (QoS 2, retained) and
// `done` (QoS 2). Reports every message the first client received, once `done` has arrived: its own message must
// not be among them (MQTT 5 No Local, [MQTT-3.8.3-3]).
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const me = connect({ clientId: args.clientId });
  await once(me, 'connect');
  const received = [];
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  me.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain });
    if (payload.toString() === 'done') finish();
  });
  await me.publishAsync(args.topic, 'own', { qos: 1 });

  const other = connect({ clientId: `${args.clientId}-other` });
  await once(other, 'connect');
  await other.publishAsync(args.topic, 'other', { qos: 2, retain: true });
  await other.publishAsync(args.topic, 'done', { qos: 2 });
  await finished;
  emit('result', { received });
  other.end(true);
  me.end(true);
})().catch(fail);

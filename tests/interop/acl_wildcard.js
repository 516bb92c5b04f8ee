// MQTT 5 subscriptions under an acl.conf that denies one topic: wildcard filters that overlap it are granted
// (SUBACK reason codes reported), and of the messages published afterwards only the allowed ones arrive.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const sub = connect({ clientId: 'acl-wildcard-sub' });
  await once(sub, 'connect');
  // One SUBSCRIBE with every filter; MQTT.js fails the call when any code is a refusal, so read the SUBACK itself.
  const subacks = [];
  sub.on('packetreceive', (packet) => { if (packet.cmd === 'suback') subacks.push(packet.granted); });
  await sub.subscribeAsync(Object.fromEntries(args.filters.map((f) => [f, { qos: 1 }]))).catch(() => {});
  const granted = subacks[0].map((code, i) => ({ topic: args.filters[i], qos: code }));
  const received = [];
  const marker = args.publish[args.publish.length - 1];
  const done = new Promise((resolve) => {
    sub.on('message', (topic, payload) => {
      received.push({ topic, payload: payload.toString() });
      if (topic === marker) resolve();
    });
  });

  const pub = connect({ clientId: 'acl-wildcard-pub' });
  await once(pub, 'connect');
  for (const topic of args.publish) await pub.publishAsync(topic, `to ${topic}`, { qos: 1 });

  await done;
  emit('result', { granted, received });
  pub.end(true);
  sub.end(true);
})().catch(fail);

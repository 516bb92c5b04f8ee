// MQTT 5 retained-message behaviour that mosquitto_sub cannot ask for: Retain Handling 0/1/2, shared
// subscriptions, Retain As Published and Message Expiry. One subscriber; after each SUBSCRIBE a non-retained
// marker is published on marker/rv5 and the messages that arrived before it are that step's batch (retained
// messages are queued on the session right after the SUBACK, so they precede the marker).
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const shortExpiry = 1;
  const pub = connect({ clientId: 'rv5-pub' });
  const sub = connect({ clientId: 'rv5-sub', clean: true });
  await Promise.all([once(pub, 'connect'), once(sub, 'connect')]);

  let batch = [];
  let markerSeen = null;
  let arrived = () => {};
  sub.on('message', (topic, payload, packet) => {
    if (topic === 'marker/rv5') { if (markerSeen) markerSeen(payload.toString()); return; }
    const p = packet.properties || {};
    batch.push({ topic, payload: payload.toString(), retain: packet.retain, expiry: p.messageExpiryInterval ?? null });
    arrived();
  });
  // The broker queues retained messages just after sending the SUBACK, so a marker routed meanwhile can overtake
  // them: first wait for the messages a step expects (bounded), then let the marker show there are no more.
  const expect = (count) => new Promise((resolve) => {
    const timer = setTimeout(resolve, 10000);
    arrived = () => { if (batch.length >= count) { clearTimeout(timer); resolve(); } };
    arrived();
  });
  await sub.subscribeAsync({ 'marker/rv5': { qos: 1 } });

  let markers = 0;
  const drain = async () => {
    const id = String(++markers);
    const seen = new Promise((resolve) => { markerSeen = (m) => { if (m === id) resolve(); }; });
    await pub.publishAsync('marker/rv5', id, { qos: 1 });
    await seen;
    const result = batch;
    batch = [];
    return result;
  };
  const step = async (filter, options, expected) => {
    const granted = await sub.subscribeAsync({ [filter]: { qos: 1, ...options } });
    await expect(expected);
    return { filter, granted: granted.map((g) => g.qos), messages: await drain() };
  };

  // Expiry first, so its lifetime runs out while the other steps run.
  const expiryPublished = Date.now();
  await pub.publishAsync('exp/short', 'S', { qos: 1, retain: true, properties: { messageExpiryInterval: shortExpiry } });
  await pub.publishAsync('exp/long', 'L', { qos: 1, retain: true, properties: { messageExpiryInterval: 100 } });
  await pub.publishAsync('rv5/a', 'A1', { qos: 1, retain: true });

  const steps = {};
  steps.rh0 = await step('rv5/a', { rh: 0 }, 1);
  steps.rh1Existing = await step('rv5/a', { rh: 1 }, 0);
  steps.rh0Existing = await step('rv5/a', { rh: 0 }, 1);
  steps.rh2New = await step('rv5/+', { rh: 2 }, 0);
  steps.rh1New = await step('rv5/#', { rh: 1 }, 1);
  steps.shared = await step('$share/g/rv5/a', { rh: 0 }, 0);

  // Retain As Published concerns forwarding to established subscriptions: the core's business, checked here too.
  await sub.subscribeAsync({ 'rap/yes': { qos: 1, rap: true }, 'rap/no': { qos: 1, rap: false } });
  await drain();
  await pub.publishAsync('rap/yes', 'Y', { qos: 1, retain: true });
  await pub.publishAsync('rap/no', 'N', { qos: 1, retain: true });
  steps.forwarded = { messages: await drain() };

  // The short lifetime must pass: that is what is under test, not a synchronisation.
  const wait = expiryPublished + shortExpiry * 1000 + 300 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  steps.expiry = await step('exp/#', { rh: 0 }, 1);

  emit('result', steps);
  pub.end(true);
  sub.end(true);
})().catch(fail);

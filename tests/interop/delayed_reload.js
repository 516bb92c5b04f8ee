// N MQTT 5 publishers send QoS 1 messages to $delayed/<1|2>/delayed/<i> as fast as their acknowledgements allow,
// while a QoS 1 subscriber to delayed/# records what arrives. Runs until a message on control/stop, then reports:
// how many were acknowledged with Success, received (unique), duplicated, arrived before their delay had passed
// since they were sent, were refused, and how many clients were disconnected on the way.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const publishers = args.publishers || 10;
  let stopping = false;
  let disconnects = 0;
  const watch = (client) => {
    client.on('close', () => { if (!stopping) disconnects++; });
    client.on('error', (e) => emit('client_error', { message: String(e) }));
  };

  const seen = new Set();
  let duplicates = 0;
  let early = 0;
  let acknowledged = 0;
  let refused = 0;
  let allReceived = null;
  const sub = connect({ clientId: 'delayed-sub', properties: { receiveMaximum: 65535 } });
  await once(sub, 'connect');
  watch(sub);
  let stop;
  const stopped = new Promise((resolve) => { stop = resolve; });
  sub.on('message', (topic, payload, packet) => {
    if (topic === 'control/stop') { stop(); return; }
    const props = (packet.properties && packet.properties.userProperties) || {};
    const key = `${topic}#${props.seq}`;
    if (seen.has(key)) duplicates++; else seen.add(key);
    if (Date.now() - Number(props.sent) < Number(props.delay) * 1000) early++;
    if (allReceived && seen.size >= acknowledged) allReceived();
  });
  await sub.subscribeAsync({ 'delayed/#': { qos: 1 }, 'control/stop': { qos: 1 } });

  const clients = [];
  for (let i = 0; i < publishers; i++) clients.push(connect({ clientId: `delayed-pub-${i}` }));
  await Promise.all(clients.map((c) => once(c, 'connect')));
  clients.forEach(watch);

  const loops = clients.map(async (c, i) => {
    for (let seq = 0; !stopping; seq++) {
      const delay = 1 + (seq % 2);
      const userProperties = { seq: String(seq), sent: String(Date.now()), delay: String(delay) };
      try {
        await c.publishAsync(`$delayed/${delay}/delayed/${i}`, 'x', { qos: 1, properties: { userProperties } });
        acknowledged++;
      } catch (error) {
        if (typeof error.code !== 'number') throw error;
        refused++;
      }
    }
  });
  emit('ready', {});

  await stopped;
  stopping = true;
  await Promise.all(loops);
  if (seen.size < acknowledged) {
    await Promise.race([
      new Promise((resolve) => { allReceived = resolve; }),
      new Promise((resolve) => setTimeout(resolve, 20000).unref()),
    ]);
  }
  emit('result', { acknowledged, received: seen.size, duplicates, early, refused, disconnects });
  clients.forEach((c) => c.end(true));
  sub.end(true);
})().catch(fail);

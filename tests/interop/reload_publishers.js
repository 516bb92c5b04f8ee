// N MQTT 5 publishers send QoS 1 messages through hello/<i> (a topic the Hello plugin rewrites) as fast as
// their acknowledgements allow, while a subscriber counts what arrives. Runs until a message on control/stop (or,
// with perPublisher, until each publisher has sent that many), then reports: how many were acknowledged, received
// (unique), duplicated, arrived without the plugin's rewrite, and how many clients were disconnected on the way.
// Optional: publishPrefix (default hello) is where the publishers send; receivePrefix (default publishPrefix) is
// where a topic-rewriting plugin moves them. With a receivePrefix, a message arriving under publishPrefix counts
// as notRewritten; with a greeting, so does one whose payload is not the greeting.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const publishers = args.publishers || 50;
  const greeting = args.greeting;
  const publishPrefix = args.publishPrefix || 'hello';
  const receivePrefix = args.receivePrefix || publishPrefix;
  let disconnects = 0;
  const watch = (client) => {
    client.on('close', () => { if (!stopping) disconnects++; });
    client.on('error', (e) => emit('client_error', { message: String(e) }));
  };
  let stopping = false;

  const seen = new Set();
  let duplicates = 0;
  let acknowledged = 0;
  let allReceived = null; // set once publishing has stopped: resolves when every acknowledged message arrived
  let notRewritten = 0;
  const sub = connect({ clientId: 'reload-sub', properties: { receiveMaximum: 65535 } });
  await once(sub, 'connect');
  watch(sub);
  let stop;
  const stopped = new Promise((resolve) => { stop = resolve; });
  sub.on('message', (topic, payload, packet) => {
    if (topic === 'control/stop') { stop(); return; }
    const seq = packet.properties && packet.properties.userProperties && packet.properties.userProperties.seq;
    const key = `${topic}#${seq}`;
    if (receivePrefix !== publishPrefix && topic.startsWith(`${publishPrefix}/`)) { notRewritten++; return; }
    if (seen.has(key)) duplicates++; else seen.add(key);
    if (greeting !== undefined && payload.toString() !== greeting) notRewritten++;
    if (allReceived && seen.size >= acknowledged) allReceived();
  });
  const filters = { [`${receivePrefix}/#`]: { qos: 1 }, 'control/stop': { qos: 1 } };
  if (receivePrefix !== publishPrefix) filters[`${publishPrefix}/#`] = { qos: 1 };
  await sub.subscribeAsync(filters);

  const clients = [];
  for (let i = 0; i < publishers; i++) {
    const c = connect({ clientId: `reload-pub-${i}` });
    clients.push(c);
  }
  await Promise.all(clients.map((c) => once(c, 'connect')));
  clients.forEach(watch);

  const perPublisher = args.perPublisher || Infinity;
  const loops = clients.map(async (c, i) => {
    for (let seq = 0; !stopping && seq < perPublisher; seq++) {
      await c.publishAsync(`${publishPrefix}/${i}`, 'original', { qos: 1, properties: { userProperties: { seq: String(seq) } } });
      acknowledged++;
    }
  });
  emit('ready', {});
  if (perPublisher !== Infinity) Promise.all(loops).then(stop);

  await stopped;
  stopping = true;
  await Promise.all(loops);
  // Wait for the stragglers on the subscriber's event; the script's own timeout bounds it, and a shortfall
  // after 15 s is reported as such rather than waited on.
  if (seen.size < acknowledged) {
    await Promise.race([
      new Promise((resolve) => { allReceived = resolve; }),
      new Promise((resolve) => setTimeout(resolve, 15000).unref()),
    ]);
  }
  emit('result', { acknowledged, received: seen.size, duplicates, notRewritten, disconnects });
  clients.forEach((c) => c.end(true));
  sub.end(true);
})().catch(fail);

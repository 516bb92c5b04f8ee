// N MQTT 5 publishers each keep replacing the retained QoS 1 message of retained/<i> (payload: a sequence number)
// while rounds of fresh subscribers subscribe to retained/#. A round must receive, for every topic, a retained
// message at least as new as the last one acknowledged before its SUBSCRIBE was sent: the retainer stored it before
// the PUBACK. Runs until a message on control/stop, then reports rounds, rounds that missed something, and
// unexpected disconnects.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const publishers = args.publishers || 10;
  const roundTimeoutMs = args.roundTimeoutMs || 10000;
  let stopping = false;
  let disconnects = 0;
  const watch = (client) => {
    client.on('close', () => { if (!stopping) disconnects++; });
    client.on('error', (e) => emit('client_error', { message: String(e) }));
  };

  const control = connect({ clientId: 'retained-control' });
  await once(control, 'connect');
  watch(control);
  let stop;
  const stopped = new Promise((resolve) => { stop = resolve; });
  control.on('message', (topic) => { if (topic === 'control/stop') stop(); });
  await control.subscribeAsync({ 'control/stop': { qos: 1 } });

  const lastAcked = new Array(publishers).fill(-1);
  let acknowledged = 0;
  const clients = [];
  for (let i = 0; i < publishers; i++) clients.push(connect({ clientId: `retained-pub-${i}` }));
  await Promise.all(clients.map((c) => once(c, 'connect')));
  clients.forEach(watch);
  const loops = clients.map(async (c, i) => {
    for (let seq = 0; !stopping; seq++) {
      await c.publishAsync(`retained/${i}`, String(seq), { qos: 1, retain: true });
      lastAcked[i] = seq;
      acknowledged++;
    }
  });

  let rounds = 0;
  const misses = [];
  const roundLoop = (async () => {
    while (!stopping) {
      const expected = lastAcked.slice();
      const got = new Array(publishers).fill(-1);
      const sub = connect({ clientId: `retained-sub-${rounds}`, properties: { receiveMaximum: 65535 } });
      await once(sub, 'connect');
      let complete;
      const done = new Promise((resolve) => { complete = resolve; });
      const check = () => { if (expected.every((e, i) => got[i] >= e)) complete(true); };
      sub.on('message', (topic, payload, packet) => {
        if (!packet.retain) return;
        const i = Number(topic.split('/')[1]);
        got[i] = Math.max(got[i], Number(payload.toString()));
        check();
      });
      await sub.subscribeAsync({ 'retained/#': { qos: 1 } });
      check();
      const ok = await Promise.race([done, new Promise((resolve) => setTimeout(() => resolve(false), roundTimeoutMs).unref())]);
      if (!ok) misses.push({ round: rounds, expected, got });
      rounds++;
      sub.end(true);
      if (rounds === 1) emit('ready', {});
    }
  })();

  await stopped;
  stopping = true;
  await Promise.all(loops);
  await roundLoop;
  emit('result', { acknowledged, rounds, misses, disconnects, lastAcked });
  clients.forEach((c) => c.end(true));
  control.end(true);
})().catch(fail);

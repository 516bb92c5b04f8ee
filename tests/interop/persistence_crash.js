// Crash test of persistence (issue 23): publishers send numbered QoS 1 and QoS 2 messages to two persistent
// subscribers (MQTT 3.1.1, clean session false) while the test kills the broker with SIGKILL and restarts it on the same
// port; every client reconnects by itself and the subscribers resume their sessions. On the line "stop" on stdin the
// publishers finish the message in hand; the script then waits until every message whose PUBACK (QoS 1) or PUBCOMP
// (QoS 2) its publisher received has reached its subscriber, or the deadline passes, and reports what is missing and
// what came twice. With endMarkers (for a store that may lose acknowledged messages, whose missing ones never come), each
// publisher then sends one last message, "end", and the wait also ends once every publisher's "end" has reached its
// subscriber: the broker keeps a publisher's order to a subscriber, so what has not come before it is lost.
// On the line "mark" the script reports {"event":"progress"} once a QoS 1 and a QoS 2 message have both been
// acknowledged after it: the test waits for it after each restart, so that every kill falls on traffic that resumed.
'use strict';
const readline = require('readline');
const { args, emit, connect } = require('./common');

const base = { protocolVersion: 4, clean: false, reconnectPeriod: 100, connectTimeout: 2000 };
const received = { 1: new Map(), 2: new Map() };
const acked = { 1: new Set(), 2: new Set() };
const sessionsLost = { 1: 0, 2: 0 };
let stopping = false;
const marks = []; // acknowledged counts at each pending "mark"

function acknowledged(qos, id) {
  acked[qos].add(id);
  while (marks.length > 0 && acked[1].size > marks[0][1] && acked[2].size > marks[0][2]) {
    marks.shift();
    emit('progress', { acked1: acked[1].size, acked2: acked[2].size });
  }
}

function subscriber(qos) {
  return new Promise((resolve) => {
    const c = connect({ ...base, clientId: `crash-sub-q${qos}` });
    let first = true;
    c.on('error', () => {});
    c.on('message', (topic, payload) => {
      const id = payload.toString();
      received[qos].set(id, (received[qos].get(id) || 0) + 1);
    });
    c.on('connect', async (connack) => {
      if (!connack.sessionPresent) {
        if (!first) sessionsLost[qos]++;
        await c.subscribeAsync(`crash/q${qos}/#`, { qos }).catch(() => {});
      }
      if (first) { first = false; resolve(c); }
    });
  });
}

async function publisher(n, qos) {
  const c = connect({ ...base, clientId: `crash-pub-q${qos}-${n}` });
  c.on('error', () => {});
  await new Promise((resolve) => c.once('connect', resolve));
  for (let i = 0; !stopping; i++) {
    const id = `q${qos}-${n}-${i}`;
    // Resolves once acknowledged, across reconnects (MQTT.js re-sends what is in flight); a connection lost before
    // the acknowledgement means the message was never confirmed.
    try {
      await c.publishAsync(`crash/q${qos}/${n}`, id, { qos });
      acknowledged(qos, id);
    } catch (e) { /* not acknowledged */ }
  }
  if (args.endMarkers) {
    // No kill after "stop": this one is acknowledged on the connection in hand (MQTT.js re-sends it if need be).
    await c.publishAsync(`crash/q${qos}/${n}`, `q${qos}-${n}-end`, { qos }).catch(() => {}); // none: the deadline ends the wait
  }
  return c;
}

(async () => {
  const subs = [await subscriber(1), await subscriber(2)];
  const pubs = [];
  for (let n = 0; n < args.publishers; n++) { pubs.push(publisher(n, 1)); pubs.push(publisher(n, 2)); }
  emit('ready', {});
  const lines = readline.createInterface({ input: process.stdin });
  await new Promise((resolve) => lines.on('line', (l) => {
    if (l.trim() === 'mark') marks.push({ 1: acked[1].size, 2: acked[2].size });
    if (l.trim() === 'stop') resolve();
  }));
  stopping = true;
  const clients = await Promise.all(pubs);
  const missing = (qos) => [...acked[qos]].filter((id) => !received[qos].has(id));
  const ends = [];
  for (let n = 0; args.endMarkers && n < args.publishers; n++) ends.push([1, `q1-${n}-end`], [2, `q2-${n}-end`]);
  const endsIn = () => ends.length > 0 && ends.every(([qos, id]) => received[qos].has(id));
  const deadline = Date.now() + args.drainSeconds * 1000;
  while ((missing(1).length > 0 || missing(2).length > 0) && !endsIn() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const [qos, id] of ends) received[qos].delete(id); // not part of the counts below
  const twice = (qos) => [...received[qos]].filter(([, count]) => count > 1).map(([id]) => id);
  emit('result', {
    acked1: acked[1].size, acked2: acked[2].size, received1: received[1].size, received2: received[2].size,
    missing1: missing(1).slice(0, 20), missingCount1: missing(1).length,
    missing2: missing(2).slice(0, 20), missingCount2: missing(2).length,
    duplicates1: twice(1).length, duplicates2: twice(2).slice(0, 20), duplicateCount2: twice(2).length,
    sessionsLost,
  });
  for (const c of [...subs, ...clients]) c.end(true);
  process.exit(0);
})().catch((e) => { emit('error', { message: String(e && e.stack || e) }); process.exit(1); });

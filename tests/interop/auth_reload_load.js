// Load for an auth plugin being reloaded (issue 20 item 7): `steady` clients connected with the right password stay
// connected throughout; `churn` clients connect with the right password, disconnect and connect again, continuously;
// `wrongLoops` loops (default 1) connect with a wrong password, continuously (saying "wrong-enough" at their
// wrongEnough-th attempt in all; each attempt waits its turn among the churning clients, so one loop alone is slow). Until
// a message on control/stop, then reports every count:
// a right password refused, a wrong one admitted or a steady client dropped is a failure of the broker.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

// MQTT.js's own default CONNACK timeout (30 s), not common.js's 10 s: 200 clients reconnecting at once on a loaded
// 2-core machine wait seconds for their turn; a refusal is what this counts, a broker that stalls is still caught.
function attempt(options) {
  return new Promise((resolve) => {
    const c = connect({ connectTimeout: 30000, ...options });
    c.once('connect', () => { c.end(true); resolve('admitted'); });
    c.once('error', (e) => { c.end(true); resolve('refused:' + (e && (e.code !== undefined ? e.code : e.message))); });
    c.once('close', () => resolve('refused:closed'));
  });
}

(async () => {
  const right = { username: args.username, password: args.password };
  const control = connect({ clientId: 'reload-control', ...right });
  await once(control, 'connect');
  let stopping = false;
  control.on('message', () => { stopping = true; });
  await control.subscribeAsync('control/stop', { qos: 1 });

  let steadyDropped = 0;
  const steady = [];
  for (let i = 0; i < args.steady; i++) {
    const c = connect({ clientId: `steady-${i}`, ...right });
    await once(c, 'connect');
    c.on('close', () => { if (!stopping) steadyDropped++; });
    steady.push(c);
  }

  const counts = { rightAttempts: 0, rightRefused: 0, wrongAttempts: 0, wrongAdmitted: 0, refusals: {} };
  const waits = []; // ms from connect() to the outcome of each right attempt
  const churn = async (n) => {
    for (let round = 0; !stopping; round++) {
      counts.rightAttempts++;
      const started = Date.now();
      const outcome = await attempt({ clientId: `churn-${n}`, ...right });
      waits.push(Date.now() - started);
      if (outcome !== 'admitted') {
        counts.rightRefused++;
        counts.refusals[outcome] = (counts.refusals[outcome] || 0) + 1;
      }
    }
  };
  const wrong = async (k) => {
    for (let round = 0; !stopping; round++) {
      counts.wrongAttempts++;
      if (counts.wrongAttempts === args.wrongEnough)
        emit('wrong-enough', { wrongAttempts: counts.wrongAttempts });
      if ((await attempt({ clientId: `wrong-${k}-${round}`, username: args.username, password: args.password + '-wrong' })) === 'admitted')
        counts.wrongAdmitted++;
    }
  };
  emit('ready', {});
  await Promise.all([...Array.from({ length: args.churn }, (_, n) => churn(n)), ...Array.from({ length: args.wrongLoops || 1 }, (_, k) => wrong(k))]);
  steady.forEach((c) => c.end(true));
  waits.sort((a, b) => a - b);
  const at = (q) => waits[Math.min(waits.length - 1, Math.floor(q * waits.length))];
  emit('result', { ...counts, steadyDropped, waitMs: { p50: at(0.5), p99: at(0.99), max: waits[waits.length - 1] } });
  control.end(true);
})().catch(fail);

// Connects again and again as a user that only the Hello plugin refuses (anonymous access is otherwise
// allowed), until a message on control/stop. Reports how many attempts were made and how many were admitted.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const control = connect({ clientId: 'storm-control' });
  await once(control, 'connect');
  let stopping = false;
  control.on('message', () => { stopping = true; });
  await control.subscribeAsync('control/stop', { qos: 1 });
  emit('ready', {});

  let attempts = 0;
  let admitted = 0;
  while (!stopping) {
    attempts++;
    const c = connect({ clientId: `intruder-${attempts}`, username: args.username, password: 'whatever' });
    const outcome = await new Promise((resolve) => {
      c.once('connect', () => resolve('admitted'));
      c.once('error', () => resolve('refused'));
      c.once('close', () => resolve('refused'));
    });
    if (outcome === 'admitted') admitted++;
    c.end(true);
  }
  emit('result', { attempts, admitted });
  control.end(true);
})().catch(fail);

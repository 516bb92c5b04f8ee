'use strict';
// The dashboard's pages: one script, no framework, no build step. Everything shown comes from the management API
// (/api/v4, forwarded by the plugin for the signed-in user) or the dashboard's own /auth and /admins endpoints. Text
// from the broker is always inserted as text (never as HTML).

const $ = (id) => document.getElementById(id);
let csrf = '';
let timers = [];

// ---- HTTP -----------------------------------------------------------------------------------------------------------
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  let json = null;
  try { json = await response.json(); } catch { /* not JSON */ }
  if (response.status === 401 && path !== '/auth/login') { showSignIn(); throw new Error('signed out'); }
  if (!response.ok || (json && json.code !== undefined && json.code !== 0)) {
    const message = (json && json.message) || `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return json;
}

// ---- DOM helpers ----------------------------------------------------------------------------------------------------
function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (key === 'class') element.className = value;
    else element.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

function toast(message, bad) {
  const element = $('toast');
  element.textContent = message;
  element.className = bad ? 'toast bad' : 'toast';
  element.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { element.hidden = true; }, 4000);
}

// Runs an action of a button: disabled while it runs, its result or error shown.
async function act(button, action, done) {
  button.disabled = true;
  try {
    await action();
    toast(done);
    return true;
  } catch (e) {
    toast(e.message, true);
    return false;
  } finally {
    button.disabled = false;
  }
}

function every(ms, fn) { fn(); timers.push(setInterval(fn, ms)); }

// Wraps a page's loader so that only the newest call's answer is shown: a refresh that started before the user typed
// in a search box must not overwrite the search's result when it answers last.
function newestOnly(load) {
  let latest = 0;
  return async () => {
    const mine = ++latest;
    await load(() => mine === latest);
  };
}

function table(columns, rows, rowAttrs) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.length === 0
      ? h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'nothing to show'))
      : rows.map((cells, i) => h('tr', rowAttrs ? rowAttrs(i) : {}, cells.map((c) => h('td', {}, c)))))));
}

const number = (n) => (n === undefined || n === null ? '–' : Number(n).toLocaleString('en-US'));

// ---- sign-in --------------------------------------------------------------------------------------------------------
function showSignIn() {
  stopTimers();
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-form').hidden = false;
  $('change-form').hidden = true;
  $('signin-password').value = '';
  $('signin-username').focus();
}

function showChangePassword() {
  $('app').hidden = true;
  $('signin').hidden = false;
  $('signin-form').hidden = true;
  $('change-form').hidden = false;
  $('change-old').focus();
}

function enter(session) {
  csrf = session.csrf_token;
  if (session.must_change_password) { showChangePassword(); return; }
  $('signin').hidden = true;
  $('app').hidden = false;
  $('whoami').textContent = session.username;
  route();
}

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('signin-error').textContent = '';
  try {
    const answer = await api('POST', '/auth/login', { username: $('signin-username').value, password: $('signin-password').value });
    enter(answer.data);
  } catch (e) {
    $('signin-error').textContent = e.message;
  }
});

$('change-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('change-error').textContent = '';
  if ($('change-new').value !== $('change-again').value) { $('change-error').textContent = 'the new passwords differ'; return; }
  try {
    await api('POST', '/auth/password', { old_password: $('change-old').value, new_password: $('change-new').value });
    for (const id of ['change-old', 'change-new', 'change-again']) $(id).value = '';
    enter((await api('GET', '/auth/me')).data);
    toast('password changed');
  } catch (e) {
    $('change-error').textContent = e.message;
  }
});

$('signout').addEventListener('click', async () => {
  try { await api('POST', '/auth/logout'); } catch { /* signed out anyway */ }
  showSignIn();
});

// ---- pages ----------------------------------------------------------------------------------------------------------
const pages = {};

function stopTimers() { timers.forEach(clearInterval); timers = []; }

function route() {
  stopTimers();
  const name = (location.hash.replace(/^#\//, '') || 'overview').split('?')[0];
  const page = pages[name] || pages.overview;
  for (const link of document.querySelectorAll('#nav a')) link.classList.toggle('active', link.getAttribute('href') === '#/' + name);
  const main = $('main');
  main.replaceChildren();
  page(main);
}
window.addEventListener('hashchange', () => { if (!$('app').hidden) route(); });

// Overview: the node's numbers and live charts (a point every 2 s, the last 5 minutes).
pages.overview = (main) => {
  const cards = h('div', { class: 'cards' });
  const charts = h('div', { class: 'charts' });
  main.append(h('h1', {}, 'Overview'), cards, charts);
  const history = [];
  const stat = (label, key, value, small) => h('div', { class: 'stat' }, h('div', { class: 'label' }, label), h('div', { class: small ? 'value small' : 'value', 'data-stat': key }, value));
  const chartSpecs = [
    { title: 'Messages / s', a: 'in', b: 'out', pick: (p) => [p.msgIn, p.msgOut] },
    { title: 'Bytes / s', a: 'in', b: 'out', pick: (p) => [p.bytesIn, p.bytesOut] },
    { title: 'Connections', a: 'connected', pick: (p) => [p.connections] },
  ];
  let previous = null;
  every(2000, async () => {
    let brokers, stats, metrics;
    try {
      [brokers, stats, metrics] = await Promise.all([api('GET', '/api/v4/brokers'), api('GET', '/api/v4/stats'), api('GET', '/api/v4/metrics')]);
    } catch (e) { if (e.message !== 'signed out') toast(e.message, true); return; }
    const b = brokers.data[0], s = stats.data[0].stats, m = metrics.data[0].metrics;
    $('node').textContent = b.node;
    const now = performance.now();
    if (previous) {
      const seconds = (now - previous.at) / 1000;
      const rate = (key) => Math.max(0, (m[key] - previous.m[key]) / seconds);
      history.push({ msgIn: rate('messages.received'), msgOut: rate('messages.sent'), bytesIn: rate('bytes.received'), bytesOut: rate('bytes.sent'), connections: s['connections.count'] });
      if (history.length > 150) history.shift();
    }
    previous = { at: now, m };
    cards.replaceChildren(
      stat('Node', 'node', b.node, true), stat('Version', 'version', b.version, true), stat('Uptime', 'uptime', b.uptime, true),
      stat('Connections', 'connections', number(s['connections.count'])), stat('Subscriptions', 'subscriptions', number(s['subscriptions.count'])),
      stat('Topics', 'topics', number(s['topics.count'])), stat('Retained', 'retained', number(s['retained.count'])),
      stat('Messages received', 'messages-received', number(m['messages.received'])), stat('Messages sent', 'messages-sent', number(m['messages.sent'])));
    charts.replaceChildren(...chartSpecs.map((spec) => chart(spec, history)));
  });
};

function chart(spec, history) {
  const width = 300, height = 120;
  const values = history.map(spec.pick);
  const max = Math.max(1, ...values.flat());
  // The newest point at the right edge, one step per sample (150 samples across).
  const step = width / 149;
  const line = (index) => values.map((v, i) => `${width - (values.length - 1 - i) * step},${height - 1 - (v[index] / max) * (height - 8)}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const path = (cls, points) => {
    const p = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    p.setAttribute('class', cls);
    p.setAttribute('points', points);
    return p;
  };
  svg.append(path('axis', `0,${height - 0.5} ${width},${height - 0.5}`));
  if (values.length > 1) {
    svg.append(path('series-a', line(0)));
    if (spec.b) svg.append(path('series-b', line(1)));
  }
  const last = values[values.length - 1] || [];
  const legend = h('div', { class: 'legend' }, spec.a, ' ', h('b', { 'data-rate': `${spec.title}:${spec.a}` }, number(Math.round(last[0] || 0))),
    spec.b ? ['  ', spec.b, ' ', h('b', { 'data-rate': `${spec.title}:${spec.b}` }, number(Math.round(last[1] || 0)))] : [],
    h('span', { class: 'muted' }, `  (max ${number(Math.round(max))})`));
  return h('div', { class: 'card chart' }, h('h2', {}, spec.title), svg, legend);
}

// Clients: paged, searchable by client id or user name; a row opens its details, where it can be kicked.
pages.clients = (main) => {
  const field = h('select', { id: 'client-field', 'aria-label': 'search by' }, h('option', { value: 'clientid' }, 'client id'), h('option', { value: 'username' }, 'user name'));
  const search = h('input', { id: 'client-search', type: 'search', placeholder: 'contains…', 'aria-label': 'search clients' });
  const list = h('div', {});
  const details = h('div', {});
  const pager = h('div', { class: 'pager' });
  let page = 1;
  let selected = null;
  main.append(h('h1', {}, 'Clients'), h('div', { class: 'toolbar' }, field, search), list, pager, details);
  const load = newestOnly(async (current) => {
    const query = new URLSearchParams({ _page: page, _limit: 20 });
    if (search.value) query.set(`_like_${field.value}`, search.value);
    let answer;
    try { answer = await api('GET', `/api/v4/clients?${query}`); } catch (e) { if (current()) list.replaceChildren(h('p', { class: 'error' }, e.message)); return; }
    if (!current()) return;
    const rows = answer.data;
    list.replaceChildren(table(
      ['Client id', 'User name', 'Protocol', 'Address', 'Keep-alive', 'Clean start', 'Expiry', 'Subscriptions', 'In-flight', 'Queue', 'Connected at'],
      rows.map((c) => [c.clientid, c.username ?? '', `${c.proto_name} ${c.proto_ver}`, `${c.ip_address ?? ''}:${c.port ?? ''}`, c.keepalive, c.clean_start ? 'yes' : 'no',
        c.expiry_interval, c.subscriptions_cnt, `${c.inflight}/${c.max_inflight}`, `${c.mqueue_len}/${c.max_mqueue}`, c.connected_at ?? '']),
      (i) => ({ class: 'clickable', 'data-clientid': rows[i].clientid, onclick: () => { selected = rows[i].clientid; showDetails(); } })));
    pager.replaceChildren(
      h('button', { class: 'secondary', disabled: page === 1, onclick: () => { page--; load(); } }, 'Previous'),
      h('span', { class: 'muted' }, `page ${page}, ${number(answer.meta?.count)} client${answer.meta?.count === 1 ? '' : 's'}`),
      h('button', { class: 'secondary', disabled: !answer.meta?.hasnext, onclick: () => { page++; load(); } }, 'Next'));
  });
  const showDetails = async () => {
    if (!selected) { details.replaceChildren(); return; }
    let client;
    try { client = (await api('GET', `/api/v4/clients/${encodeURIComponent(selected)}`)).data[0]; } catch (e) { details.replaceChildren(h('p', { class: 'muted' }, `${selected}: ${e.message}`)); return; }
    const kick = h('button', { class: 'danger', id: 'kick' }, 'Kick');
    kick.addEventListener('click', async () => {
      if (await act(kick, () => api('DELETE', `/api/v4/clients/${encodeURIComponent(client.clientid)}`), `${client.clientid} kicked`)) { selected = null; details.replaceChildren(); load(); }
    });
    details.replaceChildren(h('div', { class: 'card details', id: 'client-details' },
      h('div', { class: 'toolbar' }, h('h2', {}, client.clientid), kick),
      h('dl', {}, Object.entries(client).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v ?? ''))]))));
  };
  search.addEventListener('input', () => { page = 1; load(); });
  field.addEventListener('change', () => { page = 1; load(); });
  every(5000, load);
};

// Subscriptions: all, or one client's.
pages.subscriptions = (main) => {
  const search = h('input', { id: 'subscription-search', type: 'search', placeholder: 'client id', 'aria-label': 'client id' });
  const list = h('div', {});
  main.append(h('h1', {}, 'Subscriptions'), h('div', { class: 'toolbar' }, search), list);
  const load = newestOnly(async (current) => {
    const path = search.value ? `/api/v4/subscriptions/${encodeURIComponent(search.value)}` : '/api/v4/subscriptions?_limit=200';
    try {
      const rows = (await api('GET', path)).data;
      if (!current()) return;
      list.replaceChildren(table(['Client id', 'Topic', 'QoS', 'No local', 'Retain as published', 'Retain handling'],
        rows.map((s) => [s.clientid, s.topic, s.qos, s.nl ? 'yes' : 'no', s.rap ? 'yes' : 'no', s.rh])));
    } catch (e) { if (current()) list.replaceChildren(h('p', { class: 'error' }, e.message)); }
  });
  search.addEventListener('input', load);
  every(5000, load);
};

// Topics: the routing table, or one topic's routes.
pages.topics = (main) => {
  const search = h('input', { id: 'topic-search', type: 'search', placeholder: 'topic', 'aria-label': 'topic' });
  const list = h('div', {});
  main.append(h('h1', {}, 'Topics'), h('div', { class: 'toolbar' }, search), list);
  const load = newestOnly(async (current) => {
    const path = search.value ? `/api/v4/routes/${encodeURIComponent(search.value)}` : '/api/v4/routes?_limit=200';
    try {
      const rows = (await api('GET', path)).data;
      if (current()) list.replaceChildren(table(['Topic', 'Node'], rows.map((r) => [r.topic, r.node])));
    } catch (e) { if (current()) list.replaceChildren(h('p', { class: 'error' }, e.message)); }
  });
  search.addEventListener('input', load);
  every(5000, load);
};

// Plugins: state, boot flag, hook failures; load, unload, reload.
pages.plugins = (main) => {
  const list = h('div', {});
  const config = h('div', {});
  main.append(h('h1', {}, 'Plugins'), list, config);
  const showConfig = async (name) => {
    try {
      const rows = (await api('GET', `/api/v4/plugins/${encodeURIComponent(name)}/config`)).data;
      config.replaceChildren(h('div', { class: 'card', id: 'plugin-config' },
        h('h2', {}, `${name}: configuration`),
        h('p', { class: 'muted' }, 'As its .conf file and the environment hold it now (what its next load or reload reads); passwords and secrets masked.'),
        table(['Key', 'Value', 'Set at'], rows.map((e) => [e.key, e.value, e.origin ?? '']))));
    } catch (e) { config.replaceChildren(h('p', { class: 'error' }, `${name}: ${e.message}`)); }
  };
  const load = async () => {
    let rows;
    try { rows = (await api('GET', '/api/v4/plugins')).data; } catch (e) { list.replaceChildren(h('p', { class: 'error' }, e.message)); return; }
    const button = (p, action, label, cls) => {
      const b = h('button', { class: cls, 'data-action': action }, label);
      b.addEventListener('click', async () => { await act(b, () => api('PUT', `/api/v4/plugins/${encodeURIComponent(p.name)}/${action}`), `${p.name}: ${action}ed`); load(); });
      return b;
    };
    list.replaceChildren(table(['Name', 'Version', 'Description', 'State', 'Boot', 'Hook failures', ''],
      rows.map((p) => [p.name, p.version, p.description,
        h('span', { class: `state-${p.state}`, title: p.reason ?? '' }, p.state, p.reason ? ` (${p.reason})` : ''),
        p.boot ? 'yes' : 'no', number(p.hook_failures),
        h('span', { class: 'actions' }, p.active
          ? [button(p, 'reload', 'Reload', 'secondary'), button(p, 'unload', 'Unload', 'danger')]
          : [button(p, 'load', 'Load')],
          h('button', { class: 'link', 'data-action': 'config', onclick: () => showConfig(p.name) }, 'Configuration'))]),
      (i) => ({ 'data-plugin': rows[i].name })));
  };
  every(5000, load);
};

// Listeners: state and connections; stop, restart.
pages.listeners = (main) => {
  const list = h('div', {});
  main.append(h('h1', {}, 'Listeners'), list);
  const load = async () => {
    let rows;
    try { rows = (await api('GET', '/api/v4/listeners')).data.flatMap((n) => n.listeners); } catch (e) { list.replaceChildren(h('p', { class: 'error' }, e.message)); return; }
    const button = (l, action, label, cls) => {
      const b = h('button', { class: cls, 'data-action': action }, label);
      b.addEventListener('click', async () => { await act(b, () => api('PUT', `/api/v4/listeners/${encodeURIComponent(l.identifier)}/${action}`), `${l.identifier}: ${action === 'stop' ? 'stopped' : 'restarted'}`); load(); });
      return b;
    };
    list.replaceChildren(table(['Listener', 'Protocol', 'Listening on', 'Connections', 'State', ''],
      rows.map((l) => [l.identifier, l.protocol, l.listen_on, `${number(l.current_conns)} / ${number(l.max_conns)}`,
        h('span', { class: l.running ? 'state-running' : 'state-stopped' }, l.running ? 'running' : 'stopped'),
        h('span', { class: 'actions' }, l.running ? button(l, 'stop', 'Stop', 'danger') : [], button(l, 'restart', 'Restart', 'secondary'))]),
      (i) => ({ 'data-listener': rows[i].identifier })));
  };
  every(5000, load);
};

// Users of the dashboard: add, change a password, delete.
pages.users = (main) => {
  const list = h('div', {});
  const username = h('input', { id: 'user-name', placeholder: 'user name', 'aria-label': 'user name', autocomplete: 'off' });
  const password = h('input', { id: 'user-password', type: 'password', placeholder: 'password (8+ characters)', 'aria-label': 'password', autocomplete: 'new-password' });
  const description = h('input', { id: 'user-description', placeholder: 'description', 'aria-label': 'description' });
  const add = h('button', { id: 'user-add' }, 'Add user');
  main.append(h('h1', {}, 'Users'), h('p', { class: 'muted' }, 'People who can sign in to this dashboard (not the management API applications).'),
    h('div', { class: 'toolbar' }, username, password, description, add), list);
  add.addEventListener('click', async () => {
    if (await act(add, () => api('POST', '/admins', { username: username.value, password: password.value, description: description.value }), `user ${username.value} added`)) {
      username.value = password.value = description.value = '';
      load();
    }
  });
  const load = async () => {
    let rows;
    try { rows = (await api('GET', '/admins')).data; } catch (e) { list.replaceChildren(h('p', { class: 'error' }, e.message)); return; }
    list.replaceChildren(table(['User', 'Description', ''], rows.map((u) => {
      const newPassword = h('input', { type: 'password', placeholder: 'new password', 'aria-label': `new password of ${u.username}`, autocomplete: 'new-password' });
      const set = h('button', { class: 'secondary' }, 'Set password');
      set.addEventListener('click', async () => { if (await act(set, () => api('PUT', `/admins/${encodeURIComponent(u.username)}`, { password: newPassword.value }), `password of ${u.username} set`)) newPassword.value = ''; });
      const remove = h('button', { class: 'danger' }, 'Delete');
      remove.addEventListener('click', async () => { await act(remove, () => api('DELETE', `/admins/${encodeURIComponent(u.username)}`), `user ${u.username} deleted`); load(); });
      return [u.username, u.description, h('span', { class: 'actions' }, newPassword, set, remove)];
    }), (i) => ({ 'data-user': rows[i].username })));
  };
  load();
};

// Applications: the management API's credentials (EMQX 4's /api/v4/apps); a new one's secret is shown once.
pages.applications = (main) => {
  const list = h('div', {});
  const appId = h('input', { id: 'app-id', placeholder: 'app id', 'aria-label': 'app id', autocomplete: 'off' });
  const name = h('input', { id: 'app-name', placeholder: 'name', 'aria-label': 'name' });
  const desc = h('input', { id: 'app-desc', placeholder: 'description', 'aria-label': 'description' });
  const add = h('button', { id: 'app-add' }, 'Create application');
  const secret = h('div', {});
  main.append(h('h1', {}, 'Applications'),
    h('p', { class: 'muted' }, 'Id and secret pairs for the management API (HTTP basic authentication on /api/v4), for scripts and monitoring. ctl uses the default one.'),
    h('div', { class: 'toolbar' }, appId, name, desc, add), secret, list);
  add.addEventListener('click', async () => {
    let created;
    if (await act(add, async () => { created = (await api('POST', '/api/v4/apps', { app_id: appId.value, name: name.value || appId.value, desc: desc.value })).data; }, `application ${appId.value} created`)) {
      secret.replaceChildren(h('div', { class: 'card', id: 'app-secret' }, h('h2', {}, `Secret of ${created.app_id}`),
        h('p', {}, 'Copy it now: it is not shown again.'), h('code', { id: 'app-secret-value' }, created.secret)));
      appId.value = name.value = desc.value = '';
      load();
    }
  });
  const load = async () => {
    let rows;
    try { rows = (await api('GET', '/api/v4/apps')).data; } catch (e) { list.replaceChildren(h('p', { class: 'error' }, e.message)); return; }
    list.replaceChildren(table(['App id', 'Name', 'Description', 'Enabled', 'Expires', ''], rows.map((a) => {
      const actions = h('span', { class: 'actions' });
      if (!a.builtin) {
        const toggle = h('button', { class: 'secondary', 'data-action': 'toggle' }, a.status ? 'Disable' : 'Enable');
        toggle.addEventListener('click', async () => { await act(toggle, () => api('PUT', `/api/v4/apps/${encodeURIComponent(a.app_id)}`, { status: !a.status }), `${a.app_id} ${a.status ? 'disabled' : 'enabled'}`); load(); });
        const remove = h('button', { class: 'danger', 'data-action': 'delete' }, 'Delete');
        remove.addEventListener('click', async () => { await act(remove, () => api('DELETE', `/api/v4/apps/${encodeURIComponent(a.app_id)}`), `${a.app_id} deleted`); load(); });
        actions.append(toggle, remove);
      }
      return [a.app_id, a.name, a.desc, a.status ? 'yes' : 'no', a.expired ? new Date(a.expired * 1000).toISOString() : 'never', actions];
    }), (i) => ({ 'data-app': rows[i].app_id })));
  };
  load();
};

// WebSocket client: MQTT.js in the page, to the broker's ws/wss listener; subscribe, publish, see what arrives.
let mqttLibrary = null;
function loadMqtt() {
  mqttLibrary ??= new Promise((resolve, reject) => {
    const script = h('script', { src: '/vendor/mqtt.min.js' });
    script.addEventListener('load', () => resolve(window.mqtt));
    script.addEventListener('error', () => { mqttLibrary = null; reject(new Error('MQTT.js is not part of this build (npm was missing when the dashboard was built)')); });
    document.head.append(script);
  });
  return mqttLibrary;
}

let wsClient = null;
pages.websocket = (main) => {
  const url = h('input', { id: 'ws-url', 'aria-label': 'WebSocket URL', size: 40 });
  const clientId = h('input', { id: 'ws-clientid', 'aria-label': 'client id', value: 'dashboard-' + Math.random().toString(16).slice(2, 10) });
  const username = h('input', { id: 'ws-username', placeholder: 'user name', 'aria-label': 'user name', autocomplete: 'off' });
  const password = h('input', { id: 'ws-password', type: 'password', placeholder: 'password', 'aria-label': 'MQTT password', autocomplete: 'off' });
  const connect = h('button', { id: 'ws-connect' }, 'Connect');
  const disconnect = h('button', { id: 'ws-disconnect', class: 'secondary' }, 'Disconnect');
  const state = h('span', { id: 'ws-state', class: 'muted' }, 'not connected');
  const subTopic = h('input', { id: 'ws-sub-topic', placeholder: 'topic filter', 'aria-label': 'topic filter' });
  const subQos = h('select', { id: 'ws-sub-qos', 'aria-label': 'subscribe QoS' }, [0, 1, 2].map((q) => h('option', { value: q }, `QoS ${q}`)));
  const subscribe = h('button', { id: 'ws-subscribe' }, 'Subscribe');
  const pubTopic = h('input', { id: 'ws-pub-topic', placeholder: 'topic', 'aria-label': 'publish topic' });
  const payload = h('input', { id: 'ws-payload', placeholder: 'payload', 'aria-label': 'payload', size: 30 });
  const pubQos = h('select', { id: 'ws-pub-qos', 'aria-label': 'publish QoS' }, [0, 1, 2].map((q) => h('option', { value: q }, `QoS ${q}`)));
  const retain = h('input', { id: 'ws-retain', type: 'checkbox', 'aria-label': 'retain' });
  const publish = h('button', { id: 'ws-publish' }, 'Publish');
  const messages = h('tbody', { id: 'ws-messages' });
  main.append(h('h1', {}, 'WebSocket client'),
    h('div', { class: 'card' }, h('h2', {}, 'Connection'), h('div', { class: 'toolbar' }, url, clientId, username, password, connect, disconnect, state)),
    h('div', { class: 'card' }, h('h2', {}, 'Subscribe'), h('div', { class: 'toolbar' }, subTopic, subQos, subscribe)),
    h('div', { class: 'card' }, h('h2', {}, 'Publish'), h('div', { class: 'toolbar' }, pubTopic, payload, pubQos, h('label', {}, retain, ' retain'), publish)),
    h('h2', {}, 'Messages received'),
    h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ['Time', 'Topic', 'QoS', 'Retained', 'Payload'].map((c) => h('th', {}, c)))), messages)));

  // The broker's first WebSocket listener, as the page reaches it.
  api('GET', '/api/v4/listeners').then((answer) => {
    const listeners = answer.data.flatMap((n) => n.listeners).filter((l) => l.running && (l.protocol === 'mqtt:ws' || l.protocol === 'mqtt:wss'));
    const listener = listeners.find((l) => l.protocol === (location.protocol === 'https:' ? 'mqtt:wss' : 'mqtt:ws')) || listeners[0];
    if (listener && !url.value) {
      const port = listener.listen_on.split(':').pop();
      url.value = `${listener.protocol === 'mqtt:wss' ? 'wss' : 'ws'}://${location.hostname}:${port}/mqtt`;
    }
  }).catch(() => {});

  const showState = () => {
    state.textContent = wsClient?.connected ? `connected as ${wsClient.options.clientId}` : 'not connected';
    state.className = wsClient?.connected ? 'state-running' : 'muted';
  };
  const need = () => { if (!wsClient?.connected) throw new Error('connect first'); };
  connect.addEventListener('click', () => act(connect, async () => {
    const mqtt = await loadMqtt();
    wsClient?.end(true);
    const client = mqtt.connect(url.value, { clientId: clientId.value, username: username.value || undefined, password: password.value || undefined, reconnectPeriod: 0, connectTimeout: 10000 });
    wsClient = client;
    client.on('message', (topic, message, packet) => {
      messages.prepend(h('tr', {}, h('td', {}, new Date().toLocaleTimeString()), h('td', {}, topic), h('td', {}, packet.qos), h('td', {}, packet.retain ? 'yes' : 'no'), h('td', {}, message.toString())));
      while (messages.children.length > 200) messages.lastChild.remove();
    });
    client.on('close', showState);
    await new Promise((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', (e) => { client.end(true); reject(e); });
      client.once('close', () => reject(new Error('the connection closed')));
    });
    showState();
  }, 'connected'));
  disconnect.addEventListener('click', () => act(disconnect, async () => { need(); await wsClient.endAsync(); showState(); }, 'disconnected'));
  subscribe.addEventListener('click', () => act(subscribe, async () => {
    need();
    const granted = await wsClient.subscribeAsync(subTopic.value, { qos: Number(subQos.value) });
    if (granted[0] && granted[0].qos >= 128) throw new Error(`the broker refused ${subTopic.value}`);
  }, `subscribed to ${subTopic.value}`));
  publish.addEventListener('click', () => act(publish, async () => {
    need();
    await wsClient.publishAsync(pubTopic.value, payload.value, { qos: Number(pubQos.value), retain: retain.checked });
  }, `published to ${pubTopic.value}`));
  showState();
};

// ---- start ----------------------------------------------------------------------------------------------------------
(async () => {
  try {
    enter((await api('GET', '/auth/me')).data);
  } catch {
    showSignIn();
  }
})();

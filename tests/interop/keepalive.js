// mosquitto.conf(5) max_keepalive: connects with args.keepalive and reports the Server Keep Alive of the CONNACK
// (null when the broker sent none, i.e. the client keeps its own [MQTT-3.2.2-22]).
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const client = connect({ clientId: args.clientId || 'keepalive-js', keepalive: args.keepalive });
  const connack = await once(client, 'connect');
  const serverKeepAlive = connack.properties && connack.properties.serverKeepAlive !== undefined
    ? connack.properties.serverKeepAlive : null;
  emit('result', { serverKeepAlive, keepalive: client.options.keepalive });
  client.end(true);
})().catch(fail);

// Topic aliases both ways: the publisher assigns aliases to the broker (autoAssignTopicAlias), and the
// subscriber accepts up to 10 aliases from the broker. Every message must arrive with its own topic.
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const topics = ['alias/a', 'alias/b', 'alias/c', 'alias/a/deeper'];
  const rounds = args.rounds || 5;
  const expected = [];
  for (let r = 0; r < rounds; r++) for (const t of topics) expected.push({ topic: t, payload: `${t}#${r}` });

  const sub = connect({ clientId: 'alias-sub', properties: { topicAliasMaximum: 10 } });
  await once(sub, 'connect');
  const received = [];
  let aliasedPackets = 0;
  const done = new Promise((resolve) => {
    sub.on('message', (topic, payload, packet) => {
      if (packet.properties && packet.properties.topicAlias) aliasedPackets++;
      received.push({ topic, payload: payload.toString() });
      if (received.length === expected.length) resolve();
    });
  });
  await sub.subscribeAsync('alias/#', { qos: 1 });

  const pub = connect({ clientId: 'alias-pub', autoAssignTopicAlias: true, properties: { topicAliasMaximum: 10 } });
  const connack = await once(pub, 'connect');
  const brokerTopicAliasMaximum = (connack.properties && connack.properties.topicAliasMaximum) || 0;
  let publishedWithAlias = 0;
  pub.on('packetsend', (packet) => {
    if (packet.cmd === 'publish' && packet.properties && packet.properties.topicAlias) publishedWithAlias++;
  });
  for (const m of expected) await pub.publishAsync(m.topic, m.payload, { qos: 1 });

  await done;
  emit('result', { expected, received, brokerTopicAliasMaximum, publishedWithAlias, aliasedPackets });
  pub.end(true);
  sub.end(true);
})().catch(fail);

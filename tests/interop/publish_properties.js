// Publishes one MQTT 5 message carrying every property a broker must forward unchanged
// ([MQTT-3.3.2-15..20]): payload format indicator, content type, response topic, correlation data,
// user properties (order and duplicates kept).
'use strict';
const { args, emit, connect, once, fail } = require('./common');

(async () => {
  const pub = connect({ clientId: 'props-pub' });
  await once(pub, 'connect');
  await pub.publishAsync(args.topic, 'with properties', {
    qos: 1,
    properties: {
      payloadFormatIndicator: true,
      contentType: 'application/json; charset=utf-8',
      responseTopic: 'reply/to/me',
      correlationData: Buffer.from([0x00, 0x01, 0xfe, 0xff]),
      userProperties: { a: '1', dup: ['x', 'y'], 'ü-key': 'ü-value' },
    },
  });
  emit('result', { published: true });
  pub.end();
})().catch(fail);

'use strict'
// aedes with its defaults (in-memory persistence and emitter), anonymous access, on loopback: the Node.js peer of
// bench/compare.sh --peers aedes. MQTT 3.1.1 only. Usage: node server.js PORT
const { createServer } = require('node:net')
const aedesModule = require('aedes')

async function main () {
  const port = Number(process.argv[2])
  if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: node server.js PORT')
    process.exit(2)
  }
  // aedes 1.x: Aedes.createBroker(); 0.x: the module is the factory.
  const broker = aedesModule.Aedes && aedesModule.Aedes.createBroker
    ? await aedesModule.Aedes.createBroker()
    : aedesModule()
  const server = createServer(broker.handle)
  server.listen(port, '127.0.0.1', () => console.log(`aedes running on 127.0.0.1:${port}`))
  const stop = () => server.close(() => broker.close(() => process.exit(0)))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})

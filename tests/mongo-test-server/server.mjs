// A MongoDB wire-protocol server for the auth_mongo tests: CongoDB (from @push.rocks/smartmongo 2.2.0, MIT), in
// memory. It is a test double for queries (find, insert, update...), not MongoDB: no unique indexes, no transactions.
// Usage: node server.mjs <port>; prints "congo ready on <port>" and stops on SIGTERM.
import { CongoServer } from './node_modules/@push.rocks/smartmongo/dist_ts/congodb/index.js';

const port = parseInt(process.argv[2], 10);
const server = new CongoServer({ port, host: '127.0.0.1', storage: 'memory' });
await server.start();
console.log(`congo ready on ${port}`);
process.on('SIGTERM', async () => {
  await server.stop();
  process.exit(0);
});

/**
 * `node dist/test/harness/pgbouncer.js <upstream-url>`: start a PgBouncer
 * (transaction mode, small pool, own config and port) in front of the
 * server, print its URL on the first line of stdout, and keep it running
 * until SIGTERM or SIGINT. For .ci/run and for running the pooler tests
 * against a long-lived pooler (`RACEFREE_TEST_PGBOUNCER_URL`).
 */

import { startPgBouncer } from '../helpers/pgbouncer.js';

const upstream = process.argv[2];
if (upstream === undefined) {
  console.error('usage: node dist/test/harness/pgbouncer.js <upstream postgres:// URL>');
  process.exit(2);
}
const pooler = await startPgBouncer({ upstream });
console.log(pooler.url);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void pooler.stop().then(() => process.exit(0));
  });
}
// Stay alive until signalled.
setInterval(() => undefined, 1 << 30);

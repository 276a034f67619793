import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { root } from './helpers/cli.js';
import { useTestDatabase, withClient } from './helpers/db.js';
import { runPsql } from './helpers/psql.js';

const url = useTestDatabase(test);

/** The README's psql advice, as a user types it. */
const ADVICE = ['SELECT * FROM racefree.api;', '\\df racefree.*', '\\sf racefree.idempotency_claim'];

test('racefree.api lists every public kit function, with arguments, result and a one-sentence description; racefree_user may read it', async (t) => {
  const { api, functions, readable } = await withClient(url(), async (c) => ({
    api: (await c.query('SELECT * FROM racefree.api')).rows,
    functions: (
      await c.query(`SELECT 'racefree.' || p.proname AS function, pg_get_function_identity_arguments(p.oid) AS arguments,
                            p.pronargdefaults AS optional,
                            pg_get_function_result(p.oid) AS result, obj_description(p.oid, 'pg_proc') AS comment
                       FROM pg_proc AS p WHERE p.pronamespace = 'racefree'::regnamespace AND p.proname !~ '^_' ORDER BY 1, 2`)
    ).rows,
    readable: (await c.query(`SELECT has_table_privilege('racefree_user', 'racefree.api', 'SELECT') AS ok`)).rows[0].ok,
  }));
  t.true(functions.length >= 5);
  // Arguments: name and type, those with a DEFAULT in brackets.
  t.deepEqual(
    api.map((r) => ({ function: r.function, arguments: r.arguments.replace(/(^|, )\[([^,]*)\](?=, |$)/g, '$1$2'), result: r.result })),
    functions.map((f) => ({ function: f.function, arguments: f.arguments, result: f.result })),
  );
  t.deepEqual(
    api.map((r) => (r.arguments.match(/(^|, )\[/g) ?? []).length),
    functions.map((f) => f.optional),
  );
  t.like(
    api.find((r) => r.function === 'racefree.add_numbering'),
    {
      arguments: 'tbl regclass, col name, template text, [mode text], [time_zone text], [date_column name], [name text]',
      result: 'void',
    },
  );
  for (const [i, row] of api.entries()) {
    t.regex(row.description, /^[A-Z].*\.$/, row.function);
    t.true(row.description.length <= 200, row.function);
    t.true(functions[i].comment.startsWith(row.description), `${row.function}: the comment's first sentence`);
  }
  t.true(readable);
  t.like(
    api.find((r) => r.function === 'racefree.idempotency_claim'),
    {
      arguments: 'scope text, key text, fingerprint text',
      result: 'TABLE(status text, response jsonb)',
      description: 'Claims (scope, key) for the calling transaction.',
    },
  );
});

test("the README's psql advice prints a screen or less on this server, without internals", async (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const command of ADVICE) t.true(readme.includes(command.replace(/;$/, '')) || readme.includes(command), `README gives ${command}`);
  const server = await withClient(url(), async (c) => (await c.query(`SELECT current_setting('server_version') AS v`)).rows[0].v);
  for (const command of ADVICE) {
    const r = await runPsql(['-v', 'ON_ERROR_STOP=1', '-c', command], url());
    t.is(r.code, 0, `${command}: ${r.stderr}`);
    const lines = r.stdout.trimEnd().split('\n');
    t.true(lines.length <= 40, `${command} on PostgreSQL ${server}: ${lines.length} lines`);
    t.true(r.stdout.length <= 4096, `${command} on PostgreSQL ${server}: ${r.stdout.length} bytes`);
    t.true(Math.max(...lines.map((l) => l.length)) <= 400, `${command} on PostgreSQL ${server}: lines up to 400 characters`);
    if (command !== ADVICE[2]) {
      // Internals are in racefree_internal, but for two that code running as a service's role calls by
      // name: the client's claim, and what a fast numbering's explicit-number trigger calls.
      t.notRegex(r.stdout.replaceAll('_idempotency_claim', '').replaceAll('_numbering_explicit_advance', ''), /\b_\w+/, `${command} lists no internal`);
      t.regex(r.stdout, /idempotency_claim/);
    }
  }
});

/**
 * `npm run check:plpgsql`: run plpgsql_check over every PL/pgSQL function the
 * kit installs and every function its builders generate (from the fixture
 * migration in scripts/plpgsql-check/migrations/), on a scratch database of the
 * DATABASE_URL server, which must have the extension (Debian:
 * postgresql-15-plpgsql-check). Exit 1 on any error, any warning not in
 * scripts/plpgsql-check/allowlist.json, or any allowlist entry that no longer
 * matches a warning.
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { withScratchDatabase } from '../src/tooling/scratch-database.js';
import { withClient } from '../src/tooling/with-client.js';

const here = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../scripts/plpgsql-check');

interface Finding {
  fn: string;
  relid: string | null;
  level: string;
  lineno: number | null;
  sqlstate: string;
  message: string;
}

interface AllowlistEntry {
  function: string;
  message: string;
  reason: string;
}

// Every PL/pgSQL function of the kit and of the fixture's schema; a trigger
// function once per table that uses it (plpgsql_check needs the relation).
const CHECK_SQL = `
WITH fns AS (
  SELECT p.oid, p.oid::regprocedure::text AS fn, p.prorettype = 'trigger'::regtype AS is_trigger
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    JOIN pg_language l ON l.oid = p.prolang
   WHERE n.nspname IN ('racefree', 'racefree_internal', 'public') AND l.lanname = 'plpgsql'
), targets AS (
  SELECT DISTINCT f.oid, f.fn, t.tgrelid AS relid
    FROM fns f JOIN pg_trigger t ON t.tgfoid = f.oid
   WHERE f.is_trigger
  UNION ALL
  SELECT f.oid, f.fn, 0::oid FROM fns f WHERE NOT f.is_trigger
)
SELECT t.fn, nullif(t.relid, 0)::regclass::text AS relid, r.level, r.lineno, r.sqlstate, r.message
  FROM targets t
  CROSS JOIN LATERAL plpgsql_check_function_tb(t.oid, t.relid, fatal_errors => false,
                                               other_warnings => true, extra_warnings => true,
                                               performance_warnings => false, security_warnings => true) AS r
 ORDER BY 1, 2, 4`;

// Trigger functions that no table uses cannot be checked: the fixture must use each.
const UNCHECKED_TRIGGERS_SQL = `
SELECT p.oid::regprocedure::text AS fn
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
 WHERE n.nspname IN ('racefree', 'racefree_internal', 'public') AND l.lanname = 'plpgsql' AND p.prorettype = 'trigger'::regtype
   AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgfoid = p.oid)`;

async function main(): Promise<number> {
  const serverUrl = process.env['DATABASE_URL'];
  if (!serverUrl) throw new Error('check:plpgsql needs DATABASE_URL: a server with the plpgsql_check extension');
  const allowlist = JSON.parse(await readFile(path.join(here, 'allowlist.json'), 'utf8')) as AllowlistEntry[];
  const dir = path.join(here, 'migrations');
  return withScratchDatabase(
    serverUrl,
    'racefree_plpgsql_check',
    (url) =>
      withClient(url, async (c) => {
        try {
          await c.query('CREATE EXTENSION plpgsql_check');
        } catch (error) {
          throw new Error(
            `plpgsql_check is not available on this server (${(error as Error).message}): ` + 'install it, e.g. apt-get install postgresql-15-plpgsql-check',
          );
        }
        const unchecked = (await c.query<{ fn: string }>(UNCHECKED_TRIGGERS_SQL)).rows.map((r) => r.fn);
        const findings = (await c.query<Finding>(CHECK_SQL)).rows;
        return report(findings, allowlist, unchecked);
      }),
    { dir },
  );
}

function report(findings: readonly Finding[], allowlist: readonly AllowlistEntry[], unchecked: readonly string[]): number {
  const allowed = (f: Finding) => allowlist.find((a) => a.function === f.fn && a.message === f.message);
  let failures = 0;
  for (const f of findings) {
    const entry = f.level === 'error' ? undefined : allowed(f);
    const where = `${f.fn}${f.relid === null ? '' : ` on ${f.relid}`}${f.lineno === null ? '' : ` line ${f.lineno}`}`;
    console.log(
      `${entry === undefined ? f.level.toUpperCase() : 'allowed'}: ${where}: [${f.sqlstate}] ${f.message}` + (entry === undefined ? '' : ` (${entry.reason})`),
    );
    if (entry === undefined) failures++;
  }
  for (const a of allowlist) {
    if (!findings.some((f) => f.fn === a.function && f.message === a.message)) {
      console.log(`STALE: allowlist entry no warning matches: ${a.function}: ${a.message}`);
      failures++;
    }
  }
  for (const fn of unchecked) {
    console.log(`UNCHECKED: ${fn}: a trigger function no table of the fixture uses`);
    failures++;
  }
  const errors = findings.filter((f) => f.level === 'error').length;
  console.log(`plpgsql_check: ${errors} error(s), ${findings.length - errors} warning(s), ${failures} not allowed`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`check:plpgsql: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);

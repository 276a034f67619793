/**
 * The kit as tests see it: its migrations, what they install, and a later
 * version of the package with one more kit migration.
 */

import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { copyFile, cp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { runner } from 'node-pg-migrate';
import type pg from 'pg';

import { root } from './cli.js';
import { withClient } from './db.js';

/** The kit's migrations, as the kit lane names them. */
export const KIT = readdirSync(path.join(root, 'migrations'))
  .filter((f) => f.endsWith('.sql'))
  .map((f) => f.slice(0, -4))
  .sort();

/** Everything the kit installs in its schemas (functions with source, comment and grants; relations; constraints), but its lane table. */
export async function kitObjects(dbUrl: string): Promise<{ functions: unknown[]; relations: unknown[]; constraints: unknown[] }> {
  return withClient(dbUrl, async (c) => ({
    functions: (
      await c.query(`SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS def,
                            obj_description(p.oid, 'pg_proc') AS comment, p.proacl::text AS acl
                       FROM pg_proc AS p WHERE p.pronamespace IN (to_regnamespace('racefree'), to_regnamespace('racefree_internal')) ORDER BY 1`)
    ).rows,
    relations: (
      await c.query(`SELECT c.relname, c.relkind, obj_description(c.oid, 'pg_class') AS comment, c.relacl::text AS acl,
                            (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
                               FROM pg_attribute AS a WHERE a.attrelid = c.oid AND a.attnum > 0) AS columns
                       FROM pg_class AS c WHERE c.relnamespace = 'racefree'::regnamespace AND c.relname <> 'kit_migrations'
                         AND c.relname NOT LIKE 'kit_migrations%' ORDER BY 1`)
    ).rows,
    constraints: (
      await c.query(`SELECT c.conrelid::regclass::text AS relation, c.conname, pg_get_constraintdef(c.oid) AS def
                       FROM pg_constraint AS c WHERE c.connamespace = 'racefree'::regnamespace
                         AND c.conrelid::regclass::text NOT LIKE 'racefree.kit_migrations%' ORDER BY 1, 2`)
    ).rows,
  }));
}

/** The kit-lane guard every section of a kit migration starts with. */
export async function kitGuard(): Promise<string> {
  return readFile(path.join(root, 'sql/kit-guard.sql'), 'utf8');
}

/** A copy of this package (the files it ships: built dist/src, migrations, sql) with extra kit migrations: a later kit version. */
export interface LaterKit {
  /** The later kit's CLI script. */
  readonly cli: string;
  remove(): Promise<void>;
}

export async function laterKit(migrations: Record<string, string>): Promise<LaterKit> {
  const dir = path.join(root, 'dist/test/.kits', randomBytes(6).toString('hex'));
  await mkdir(dir, { recursive: true });
  for (const part of ['package.json', 'dist/src', 'migrations', 'sql']) {
    await cp(path.join(root, part), path.join(dir, part), { recursive: true });
  }
  await symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  for (const [name, body] of Object.entries(migrations)) await writeFile(path.join(dir, 'migrations', name), body);
  return { cli: path.join(dir, 'dist/src/tooling/cli/main.js'), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The SQL API the builders call (kit migration 0040). */
const BUILDERS = '0040_builders.sql';

/**
 * A kit lane directory: the kit's own migrations, cut after `last`, plus
 * `extra` files (from test/fixtures/kit). The builders call the SQL API (kit
 * migration 0040), which older kits lack: every kit made here carries 0040's
 * file as 0004_builders.sql instead, old and new kits alike, so an upgrade
 * between two of them finds the lane it recorded. It only creates functions
 * over the installers' jsonb entry points, which 0002 to 0004 had already, so
 * the older kits' generated code is what it was. With `asReleased`, the
 * files are exactly the kit's (a kit cut at 0040 or later, upgraded by the
 * real `racefree migrate up`).
 */
export async function kitDir(last: string, extra: string[] = [], options: { asReleased?: boolean } = {}): Promise<string> {
  const dir = path.join(root, 'dist/test/.kit', randomBytes(6).toString('hex'));
  await mkdir(dir, { recursive: true });
  const released = (await readdir(path.join(root, 'migrations'))).filter((f) => f.endsWith('.sql') && f <= `${last}~`);
  for (const file of released.filter((f) => options.asReleased === true || f !== BUILDERS)) {
    await copyFile(path.join(root, 'migrations', file), path.join(dir, file));
  }
  if (options.asReleased !== true) await copyFile(path.join(root, 'migrations', BUILDERS), path.join(dir, '0004_builders.sql'));
  for (const file of extra) await copyFile(path.join(root, 'test/fixtures/kit', file), path.join(dir, file));
  return dir;
}

/**
 * This package's builders call racefree_internal._table_oid (kit migration
 * 0061); a kit before 0061 has it as racefree._table_oid, which the user's
 * builders of that time called. On such a database the user lane runs with
 * an alias in racefree_internal, dropped right after, so the kit lane the
 * database recorded is the old kit's alone.
 */
const OLD_KIT_ALIAS = `
  CREATE SCHEMA racefree_internal;
  CREATE FUNCTION racefree_internal._table_oid(builder text, tbl text) RETURNS regclass
    LANGUAGE sql STABLE AS 'SELECT racefree._table_oid(builder, tbl)'`;

/** Run one lane's pending migrations from `dir`, as `racefree migrate` does. */
export async function lane(dbUrl: string, dir: string, kit: boolean): Promise<void> {
  await withClient(dbUrl, async (client) => {
    // What racefree migrate up marks its session with, which the kit migrations' guard requires.
    await client.query(`SET racefree.migrate_session = 'upgrade test'`);
    const { rows } = await client.query<{ alias: boolean }>(
      `SELECT to_regnamespace('racefree_internal') IS NULL AND to_regprocedure('racefree._table_oid(text, text)') IS NOT NULL AS alias`,
    );
    const alias = !kit && rows[0]!.alias;
    if (alias) await client.query(OLD_KIT_ALIAS);
    try {
      await runLane(client, dir, kit);
    } finally {
      if (alias) await client.query('DROP SCHEMA racefree_internal CASCADE');
    }
  });
}

async function runLane(client: pg.Client, dir: string, kit: boolean): Promise<void> {
  await runner({
    dbClient: client,
    dir,
    migrationsSchema: kit ? 'racefree' : 'public',
    migrationsTable: kit ? 'kit_migrations' : 'pgmigrations',
    createMigrationsSchema: true,
    direction: 'up',
    noLock: true,
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

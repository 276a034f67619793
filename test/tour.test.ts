/**
 * The README's 5-minute tour, run as written: a migration with addNumbering,
 * addUniqueKey and addUpsert, a service calling the generated function and
 * db.once, and doctor on the result.
 */
import { rm } from 'node:fs/promises';
import test from 'ava';
import { createClient } from '../src/index.js';
import { migrate } from '../src/migrate/index.js';
import { runCli, userMigrations } from './helpers/cli.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

const TOUR = {
  '0001_assessments.js': `
export const up = (pgm) => {
  pgm.createTable('assessments', { id: 'bigserial', appointment_id: 'bigint', title: 'text', assessment_number: 'text' });
};
export const down = (pgm) => pgm.dropTable('assessments');
`,
  '0002_assessments.js': `
import { addNumbering, addUniqueKey, addUpsert, dropNumbering, dropUniqueKey, dropUpsert } from 'racefree/migrate';

export const up = (pgm) => {
  addNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number',
    template: 'ASM-{YYYY}-{seq:3}', timeZone: 'UTC' });
  addUniqueKey(pgm, { table: 'assessments', columns: ['appointment_id'] });
  addUpsert(pgm, { table: 'assessments', key: ['appointment_id'] });
};
export const down = (pgm) => {
  dropUpsert(pgm, { table: 'assessments' });
  dropUniqueKey(pgm, { table: 'assessments', columns: ['appointment_id'] });
  dropNumbering(pgm, { name: 'assessment', table: 'assessments', column: 'assessment_number' });
};
`,
};

test('the README tour works as written, up and down', async (t) => {
  const dir = await userMigrations(TOUR);
  t.deepEqual((await migrate({ databaseUrl: url(), dir })).user, ['0001_assessments', '0002_assessments']);
  const db = createClient({ connectionString: url() });
  try {
    const year = new Date().getUTCFullYear();
    const first = await db.callOne<{ assessment_number: string; action: string }>('upsert_assessments', { appointment_id: 7, title: 'a' });
    t.is(first.assessment_number, `ASM-${year}-001`);
    t.is(first.action, 'inserted');
    const again = await db.callOne<{ assessment_number: string; action: string }>('upsert_assessments', { appointment_id: 7, title: 'b' });
    t.deepEqual([again.assessment_number, again.action], [`ASM-${year}-001`, 'updated']);
    const same = await db.callOne<{ action: string }>('upsert_assessments', { appointment_id: 7, title: 'b' });
    t.is(same.action, 'unchanged');

    const request = { appointment_id: 8, title: 'c' };
    const work = (tx: Parameters<Parameters<typeof db.once>[1]>[0]) => tx.callOne('upsert_assessments', request);
    const once = await db.once({ scope: 'tenant:1', key: 'k-1', request }, work);
    const replay = await db.once({ scope: 'tenant:1', key: 'k-1', request }, work);
    t.false(once.replayed);
    t.true(replay.replayed);
    t.deepEqual(replay.response, JSON.parse(JSON.stringify(once.response)));
  } finally {
    await db.end();
  }
  const doctor = await runCli(['doctor', '--json', '--database-url', url(), '--dir', dir]);
  t.is(doctor.code, 0, doctor.stdout);
  t.deepEqual(JSON.parse(doctor.stdout), { ok: true, findings: [] });
  t.deepEqual((await migrate({ databaseUrl: url(), dir, direction: 'down', count: 2 })).user, ['0002_assessments', '0001_assessments']);
  await rm(dir, { recursive: true });
});

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { renderSnapshots, SNAPSHOT_CASES, SNAPSHOT_DIR } from './helpers/snapshots.js';
import { useTestDatabase, withClient } from './helpers/db.js';

const url = useTestDatabase(test);

test('generated code matches the golden snapshots in test/snapshots (else: npm run snapshots, and review the diff)', async (t) => {
  const rendered = await withClient(url(), renderSnapshots);
  const files = (await readdir(SNAPSHOT_DIR)).filter((f) => f.endsWith('.sql')).sort();
  t.deepEqual(files, SNAPSHOT_CASES.map((c) => `${c.name}.sql`).sort());
  for (const [name, text] of Object.entries(rendered)) {
    t.is(text, await readFile(path.join(SNAPSHOT_DIR, `${name}.sql`), 'utf8'), `test/snapshots/${name}.sql is out of date: run npm run snapshots`);
  }
});

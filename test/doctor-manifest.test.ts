import test from 'ava';
import { functionFingerprints, readManifest } from '../src/tooling/doctor/manifest.js';
import { useTestDatabase, withClient } from './helpers/db.js';

const url = useTestDatabase(test);

test('sql/manifest.json matches the functions the kit migrations install (else: npm run manifest)', async (t) => {
  // The test database is a clone of the template, which has every kit migration applied.
  const installed = await withClient(url(), functionFingerprints);
  const committed = (await readManifest()).functions;
  t.deepEqual(installed, committed, 'sql/manifest.json is out of date with migrations/: run `npm run manifest` and commit the result');
  t.true(Object.keys(committed).length >= 9);
});

import test from 'ava';

import { run } from '../examples/seed-002-ingest.js';
import { useTestDatabase } from './helpers/db.js';

const url = useTestDatabase(test);

test('seed 002: naive check-then-insert answers a re-send with a 500 (23505); db.once ingests once and replays the response', async (t) => {
  const report = await run(url(), { concurrency: 16, requests: 160 });
  const { naive, racefree } = report.story;

  t.deepEqual(naive.responses.map((r) => r.status).sort(), [200, 500]);
  t.is(naive.responses.find((r) => r.status === 500)!.sqlstate, '23505');
  t.is(naive.ingests, 1);

  const [first, second, resend, mismatch] = racefree.responses;
  t.is(racefree.ingests, 1, 'exactly one ingest');
  t.deepEqual([first!.status, second!.status, resend!.status], [200, 200, 200]);
  const replayHeaders = [first!, second!].map((r) => r.headers['Idempotent-Replayed'] ?? 'none').sort();
  t.deepEqual(replayHeaders, ['none', 'true'], 'one of the concurrent POSTs ran, the other replayed it');
  t.is(resend!.headers['Idempotent-Replayed'], 'true');
  t.true(racefree.sameBody, 'every POST got the same body');
  t.like(first!.body as object, { status: 'ingested', correct: 1, wrong: 1, unsure: 1 });
  t.is(mismatch!.status, 422);

  // Under load, each session POSTed twice at once: the same picture, 80 times.
  const [naiveLoad] = report.naive;
  const [ours] = report.racefree;
  t.true(naiveLoad!.failed > 0 && (naiveLoad!.errors['23505'] ?? 0) === naiveLoad!.failed, JSON.stringify(naiveLoad));
  t.like(ours, { requests: 160, failed: 0, duplicates: 0 });
  t.deepEqual(ours!.errors, {});
});

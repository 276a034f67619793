import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';

import { RacefreeConfigError } from '../src/errors/classes.js';
import { canonicalJson, fingerprintOf } from '../src/fingerprint.js';
import { root } from './helpers/cli.js';
import { runPython } from './helpers/python.js';

const VECTORS_PATH = path.join(root, 'test/vectors/fingerprint.json');

interface Vectors {
  readonly vectors: ReadonlyArray<{ name: string; input: string; canonical: string; sha256: string }>;
  readonly rejected: ReadonlyArray<{ name: string; input: string }>;
}
const spec = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as Vectors;

test('the vectors cover what RFC 8785 makes languages disagree on', (t) => {
  const inputs = spec.vectors.map((v) => v.input);
  for (const needed of ['1.0', '1e21', '-0', '0.1', 'null']) t.true(inputs.includes(needed), needed);
  t.true(spec.vectors.length >= 25);
  t.true(spec.rejected.length >= 2);
});

test('TypeScript: every vector gives its RFC 8785 text and SHA-256; unpaired surrogates are refused', (t) => {
  for (const v of spec.vectors) {
    const value: unknown = JSON.parse(v.input);
    t.is(canonicalJson(value), v.canonical, v.name);
    t.is(fingerprintOf(value), v.sha256, v.name);
  }
  for (const v of spec.rejected) {
    t.throws(() => canonicalJson(JSON.parse(v.input)), { instanceOf: RacefreeConfigError, message: /unpaired UTF-16 surrogate/ }, v.name);
  }
});

test('Python (examples/python/racefree_fingerprint.py): every vector gives the same text and SHA-256; unpaired surrogates are refused', async (t) => {
  const got = JSON.parse(await runPython('fingerprint_vectors.py', [VECTORS_PATH])) as {
    vectors: Record<string, { canonical: string; sha256: string }>;
    rejected: Record<string, string | null>;
  };
  t.deepEqual(got.vectors, Object.fromEntries(spec.vectors.map((v) => [v.name, { canonical: v.canonical, sha256: v.sha256 }])));
  t.deepEqual(got.rejected, Object.fromEntries(spec.rejected.map((v) => [v.name, 'ValueError'])));
});

import test from 'ava';
import { RacefreeConfigError } from '../src/errors/classes.js';
import { wrapError } from '../src/errors/from-pg.js';
import { useTestDatabase, withClient } from './helpers/db.js';

// The one parser of numbering templates is the kit's SQL; addNumbering() and
// racefree.add_numbering() both pass the template to it.
const url = useTestDatabase(test);

interface Parsed {
  parts: unknown[];
  reset: string;
  columns: string[];
}

async function parseTemplate(template: string): Promise<Parsed> {
  return withClient(url(), async (c) => {
    try {
      return (await c.query<{ p: Parsed }>('SELECT racefree_internal._numbering_template($1) AS p', [template])).rows[0]!.p;
    } catch (error) {
      throw wrapError(error);
    }
  });
}

test('parses literals, date tokens, seq width and columns', async (t) => {
  const parsed = await parseTemplate('ASM-{YYYY}-{seq:3}');
  t.deepEqual(parsed.parts, [{ literal: 'ASM-' }, { date: 'YYYY' }, { literal: '-' }, { seq: 3 }]);
  t.is(parsed.reset, 'yearly');
  t.deepEqual(parsed.columns, []);

  const scoped = await parseTemplate('INV/{tenant_id}/{YY}{MM}/{seq}');
  t.deepEqual(scoped.parts, [{ literal: 'INV/' }, { column: 'tenant_id' }, { literal: '/' }, { date: 'YY' }, { date: 'MM' }, { literal: '/' }, { seq: 1 }]);
  t.is(scoped.reset, 'monthly');
  t.deepEqual(scoped.columns, ['tenant_id']);
});

test('the finest date token sets the reset period', async (t) => {
  t.is((await parseTemplate('{seq}')).reset, 'never');
  t.is((await parseTemplate('{YY}-{seq}')).reset, 'yearly');
  t.is((await parseTemplate('{YYYY}{MM}-{seq}')).reset, 'monthly');
  t.is((await parseTemplate('{YYYY}{MM}{DD}-{seq}')).reset, 'daily');
});

test('doubled braces are literal braces', async (t) => {
  t.deepEqual((await parseTemplate('{{x}}-{seq}')).parts, [{ literal: '{x}-' }, { seq: 1 }]);
  t.deepEqual((await parseTemplate('{seq}}}')).parts, [{ seq: 1 }, { literal: '}' }]);
});

const bad: Array<[string, RegExp]> = [
  ['ASM-{YYYY}', /no \{seq\} token/],
  ['{seq}-{seq}', /2 \{seq\} tokens/],
  ['A-{YYYY-{seq}', /unclosed "\{"/],
  ['A-{seq}}-x}', /unmatched "\}"/],
  ['A-}{seq}', /unmatched "\}"/],
  ['A-{seq', /unclosed "\{"/],
  ['A-{seq:0}', /width must be from 1 to 18/],
  ['A-{seq:19}', /width must be from 1 to 18/],
  ['A-{seq:999999999999}', /width must be from 1 to 18/],
  ['A-{seq:x}', /whole number/],
  ['A-{seq:-1}', /whole number/],
  ['A-{}-{seq}', /unknown token \{\}/],
  ['A-{yyyy}-{seq}', /unknown token \{yyyy\}/],
  ['A-{drop table x}-{seq}', /unknown token/],
  ['A-{"x"}-{seq}', /unknown token/],
  ['{MM}-{seq}', /\{MM\} without a year/],
  ['{YYYY}{DD}-{seq}', /\{DD\} without \{MM\}/],
  ['{YYYY}{YYYY}-{seq}', /repeats \{YYYY\}/],
  ['{tenant}{seq}', /between \{tenant\} and \{seq\}/],
  ['{seq}{tenant}', /between \{seq\} and \{tenant\}/],
  ['{tenant}0{seq}', /non-digit between/],
  ['{tenant}{YY}{seq}', /between \{tenant\} and \{seq\}/],
  ['{a}{b}-{seq}', /between \{a\} and \{b\}/],
  ['{a}-{a}-{seq}', /same column twice/],
  ['', /non-empty string/],
  ['A-{seq}-' + 'x'.repeat(248), /256 characters long; a template holds at most 255/],
];

for (const [template, message] of bad) {
  test(`rejects ${JSON.stringify(template)}`, async (t) => {
    const error = await t.throwsAsync(parseTemplate(template), { instanceOf: RacefreeConfigError, message });
    t.is(error?.option, 'template');
    t.is(error?.value, template);
    t.is(error?.code, 'RF100');
  });
}

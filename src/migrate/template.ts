import { RacefreeConfigError } from '../errors.js';

/** One piece of a parsed numbering template, as the SQL installer reads it. @internal */
export type TemplatePart =
  | { readonly literal: string }
  | { readonly date: DateToken }
  | { readonly column: string }
  | { readonly seq: number };

/** Date tokens, coarsest first. @internal */
export type DateToken = 'YYYY' | 'YY' | 'MM' | 'DD';

/** How often the counter starts again at 1: set by the finest date token. */
export type ResetPeriod = 'never' | 'yearly' | 'monthly' | 'daily';

/** @internal */
export interface ParsedTemplate {
  readonly parts: readonly TemplatePart[];
  readonly reset: ResetPeriod;
  readonly columns: readonly string[];
}

const DATE_TOKENS: readonly string[] = ['YYYY', 'YY', 'MM', 'DD'];
const MAX_WIDTH = 18; // a bigint has 19 digits; wider padding is a typo, not a plan
/** Numbers live in a unique index, whose entries hold at most about 2,700 bytes: a longer template is a mistake. */
const MAX_TEMPLATE_LENGTH = 255;
const COLUMN_TOKEN = /^[A-Za-z_][A-Za-z0-9_$]*$/;

function templateError(template: string, problem: string): RacefreeConfigError {
  return new RacefreeConfigError(`addNumbering: template ${JSON.stringify(template)} ${problem}`, {
    option: 'template',
    value: template,
  });
}

/**
 * Parse a numbering template such as `ASM-{YYYY}-{seq:3}`.
 * @throws {RacefreeConfigError} naming the template and what is wrong with it.
 * @internal
 */
export function parseTemplate(template: string): ParsedTemplate {
  if (typeof template !== 'string' || template.length === 0) {
    throw new RacefreeConfigError('addNumbering: option "template" must be a non-empty string', {
      option: 'template',
      value: template,
    });
  }
  if (template.includes('\0')) throw templateError(template, 'contains a NUL character, which PostgreSQL text cannot hold');
  if ([...template].length > MAX_TEMPLATE_LENGTH) {
    throw templateError(template, `is ${[...template].length} characters long; a template holds at most ${MAX_TEMPLATE_LENGTH}`);
  }
  const parts: TemplatePart[] = [];
  let literal = '';
  const flush = () => {
    if (literal !== '') parts.push({ literal });
    literal = '';
  };

  for (let i = 0; i < template.length; i++) {
    const ch = template[i];
    if (ch === '{' && template[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (ch === '}' && template[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (ch === '}') {
      throw templateError(template, `has an unmatched "}" at position ${i + 1} (write "}}" for a literal brace)`);
    } else if (ch === '{') {
      const end = template.indexOf('}', i + 1);
      const nextOpen = template.indexOf('{', i + 1);
      if (end === -1 || (nextOpen !== -1 && nextOpen < end)) {
        throw templateError(template, `has an unclosed "{" at position ${i + 1} (write "{{" for a literal brace)`);
      }
      flush();
      parts.push(parseToken(template, template.slice(i + 1, end)));
      i = end;
    } else {
      literal += ch;
    }
  }
  flush();
  return checkTokens(template, parts);
}

function parseToken(template: string, token: string): TemplatePart {
  if (DATE_TOKENS.includes(token)) return { date: token as DateToken };
  const seq = /^seq(?::(.*))?$/.exec(token);
  if (seq) {
    if (seq[1] === undefined) return { seq: 1 };
    if (!/^\d+$/.test(seq[1])) {
      throw templateError(template, `has {${token}}: the width after "seq:" must be a whole number from 1 to ${MAX_WIDTH}`);
    }
    const width = Number(seq[1]);
    if (width < 1 || width > MAX_WIDTH) {
      throw templateError(template, `has {${token}}: the width must be from 1 to ${MAX_WIDTH}`);
    }
    return { seq: width };
  }
  if (COLUMN_TOKEN.test(token) && !DATE_TOKENS.includes(token.toUpperCase())) return { column: token };
  throw templateError(
    template,
    `has an unknown token {${token}}: use {YYYY}, {YY}, {MM}, {DD}, {seq}, {seq:N} or {column_name}`,
  );
}

function checkTokens(template: string, parts: TemplatePart[]): ParsedTemplate {
  const seqs = parts.filter((p) => 'seq' in p).length;
  if (seqs !== 1) {
    throw templateError(template, seqs === 0 ? 'has no {seq} token' : `has ${seqs} {seq} tokens; it needs exactly one`);
  }
  const dates = parts.flatMap((p) => ('date' in p ? [p.date] : []));
  for (const token of new Set(dates)) {
    if (dates.filter((d) => d === token).length > 1) throw templateError(template, `repeats {${token}}`);
  }
  const hasYear = dates.includes('YYYY') || dates.includes('YY');
  if (dates.includes('MM') && !hasYear) {
    throw templateError(template, 'has {MM} without a year ({YYYY} or {YY}): numbers of different years would collide');
  }
  if (dates.includes('DD') && !dates.includes('MM')) {
    throw templateError(template, 'has {DD} without {MM}: numbers of different months would collide');
  }
  const columns = parts.flatMap((p) => ('column' in p ? [p.column] : []));
  if (new Set(columns).size !== columns.length) throw templateError(template, 'names the same column twice');
  // A column value next to a variable-width field makes numbers of different
  // scopes spell the same text (tenant 1 + seq 23 = tenant 12 + seq 3).
  const variable = (p: TemplatePart | undefined) => p !== undefined && ('column' in p || 'seq' in p);
  const separates = (p: TemplatePart | undefined) => p !== undefined && 'literal' in p && /\D/.test(p.literal);
  for (let i = 0; i < parts.length; i++) {
    const a = parts[i];
    if (!a || !variable(a)) continue;
    for (let j = i + 1; j < parts.length && !separates(parts[j]); j++) {
      const b = parts[j];
      if (variable(b) && ('column' in a || (b && 'column' in b))) {
        throw templateError(template, `needs literal text with a non-digit between ${tokenText(a)} and ${tokenText(b!)}`);
      }
    }
  }
  // Column values may hold any text, so the {seq} of a number is found only
  // from the side without them: two open sides make one text readable as two
  // (scope, seq) pairs ({a}-{seq}-{b}: a='x', b='1-y', seq 5 and a='x-5', b='y', seq 1).
  const at = parts.findIndex((p) => 'seq' in p);
  const before = parts.slice(0, at).some((p) => 'column' in p);
  const after = parts.slice(at + 1).some((p) => 'column' in p);
  if (before && after) {
    throw templateError(template, 'has column tokens on both sides of {seq}; put them all before it or all after it');
  }
  const reset: ResetPeriod = dates.includes('DD')
    ? 'daily'
    : dates.includes('MM')
      ? 'monthly'
      : hasYear
        ? 'yearly'
        : 'never';
  return { parts, reset, columns };
}

function tokenText(part: TemplatePart): string {
  if ('column' in part) return `{${part.column}}`;
  if ('seq' in part) return part.seq === 1 ? '{seq}' : `{seq:${part.seq}}`;
  if ('date' in part) return `{${part.date}}`;
  return part.literal;
}

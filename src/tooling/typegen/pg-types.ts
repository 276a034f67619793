/**
 * PostgreSQL types as TypeScript: `output` is what `pg` returns with its
 * default type parsers (text format), `input` what it accepts as a parameter.
 * Follows pg-types' own table: int8 and numeric arrive as strings, numeric[]
 * as numbers, json as parsed values, date and timestamps as Date; a type pg
 * does not parse arrives as its text. Types it parses to objects of its own
 * (interval, point, circle) are `unknown`.
 * @internal
 */

import type { CatalogType } from './catalog.js';

interface Mapping {
  readonly output: string;
  readonly input: string;
}

const DATE_INPUT = 'Date | string';

// Scalars pg parses, by OID.
const SCALARS: ReadonlyMap<number, Mapping> = new Map([
  [16, { output: 'boolean', input: 'boolean' }], // bool
  [17, { output: 'Buffer', input: 'Buffer' }], // bytea
  [20, { output: 'string', input: 'string | number | bigint' }], // int8
  [21, { output: 'number', input: 'number' }], // int2
  [23, { output: 'number', input: 'number' }], // int4
  [26, { output: 'number', input: 'number' }], // oid
  [700, { output: 'number', input: 'number' }], // float4
  [701, { output: 'number', input: 'number' }], // float8
  [1700, { output: 'string', input: 'string | number' }], // numeric
  [114, { output: 'unknown', input: 'unknown' }], // json
  [3802, { output: 'unknown', input: 'unknown' }], // jsonb
  [1082, { output: 'Date', input: DATE_INPUT }], // date
  [1114, { output: 'Date', input: DATE_INPUT }], // timestamp
  [1184, { output: 'Date', input: DATE_INPUT }], // timestamptz
  [1186, { output: 'unknown', input: 'string' }], // interval: a postgres-interval object
  [600, { output: 'unknown', input: 'string' }], // point
  [718, { output: 'unknown', input: 'string' }], // circle
  [2278, { output: 'unknown', input: 'unknown' }], // void
]);

// Array types pg parses, by OID, with the element's output type; other arrays arrive as text.
const ARRAYS: ReadonlyMap<number, string> = new Map([
  [1000, 'boolean'],
  [1001, 'Buffer'],
  [1005, 'number'],
  [1007, 'number'],
  [1028, 'number'],
  [1016, 'string'],
  [1021, 'number'],
  [1022, 'number'],
  [1231, 'number'], // numeric[]: pg-types parses the elements as floats
  [1115, 'Date'],
  [1182, 'Date'],
  [1185, 'Date'],
  [1187, 'unknown'],
  [199, 'unknown'],
  [3807, 'unknown'],
  [1017, 'unknown'],
  ...[651, 1014, 1015, 1008, 1009, 1040, 1041, 3907, 2951, 791, 1183, 1270].map((oid) => [oid, 'string'] as const),
]);

/** Map `oid` through `types` (from readCatalog). Unknown OIDs and pseudo-types are `unknown`. */
export function mapType(oid: number, types: ReadonlyMap<number, CatalogType>): Mapping {
  const scalar = SCALARS.get(oid);
  if (scalar !== undefined) return scalar;
  const t = types.get(oid);
  if (t === undefined || t.kind === 'p') return { output: 'unknown', input: 'unknown' };
  if (t.kind === 'd' && t.base !== null) return mapType(t.base, types);
  if (t.kind === 'e' && t.labels !== null) {
    const union = t.labels.map((l) => JSON.stringify(l)).join(' | ') || 'never';
    return { output: union, input: union };
  }
  if (t.element !== null) {
    const element = mapType(t.element, types);
    const parsed = ARRAYS.get(oid);
    return {
      output: parsed === undefined ? 'string' : `Array<${parsed} | null>`,
      input: `ReadonlyArray<${element.input} | null>`,
    };
  }
  // Base types pg leaves as text (text, varchar, uuid, inet, …), composites, ranges.
  return { output: 'string', input: 'string' };
}

/**
 * Request fingerprints for idempotency keys: SHA-256 of a canonical JSON
 * encoding, so the same request always gives the same fingerprint whatever
 * the order of its object keys.
 * @internal
 */

import { createHash } from 'node:crypto';
import { RacefreeConfigError } from './errors.js';

/**
 * JSON.stringify's output for `value`, except that object keys are sorted by
 * UTF-16 code units at every level (RFC 8785's order). Everything else is what
 * JSON.stringify does: `toJSON()` is honoured (a Date becomes its ISO string),
 * properties whose value is undefined, a function or a symbol are dropped
 * (null inside arrays), non-finite numbers become null.
 * @throws {RacefreeConfigError} for a BigInt or a cycle, which JSON cannot encode.
 * @internal
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '', new Set()) ?? 'null';
}

/**
 * Hex SHA-256 of `canonicalJson(value)`.
 * @throws {RacefreeConfigError} as canonicalJson.
 * @internal
 */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/** undefined: the value has no JSON form (dropped from objects, null in arrays). */
function encode(input: unknown, key: string, ancestors: Set<object>): string | undefined {
  let value = input;
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: (key: string) => unknown }).toJSON(key);
  }
  // Boxed primitives encode as their primitive, as in JSON.stringify.
  if (value instanceof Number || value instanceof String || value instanceof Boolean) value = value.valueOf();
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      throw new RacefreeConfigError('once: option "request" holds a BigInt, which JSON cannot encode', {
        option: 'request',
      });
    case 'object':
      break;
    default:
      return undefined; // undefined, function, symbol
  }
  if (value === null) return 'null';
  const object = value as object;
  if (ancestors.has(object)) {
    throw new RacefreeConfigError('once: option "request" contains a cycle, which JSON cannot encode', {
      option: 'request',
    });
  }
  ancestors.add(object);
  try {
    if (Array.isArray(object)) {
      return `[${object.map((item, i) => encode(item, String(i), ancestors) ?? 'null').join(',')}]`;
    }
    const members: string[] = [];
    for (const name of Object.keys(object).sort()) {
      const encoded = encode((object as Record<string, unknown>)[name], name, ancestors);
      if (encoded !== undefined) members.push(`${JSON.stringify(name)}:${encoded}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(object);
  }
}

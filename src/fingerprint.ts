/**
 * Request fingerprints for idempotency keys: RFC 8785 (JSON Canonicalization
 * Scheme) of the request, SHA-256 of its UTF-8 bytes, lower-case hex. The same
 * request gives the same fingerprint whatever the order of its object keys,
 * and in any language that implements RFC 8785 (test/vectors/fingerprint.json).
 * @internal
 */

import { createHash } from 'node:crypto';
import { RacefreeConfigError } from './errors/classes.js';

/**
 * RFC 8785 canonical JSON of `value`'s JSON form. RFC 8785 serializes numbers
 * and strings as JSON.stringify does and sorts object keys by UTF-16 code
 * units at every level. The JSON form is JSON.stringify's: `toJSON()` is
 * honoured (a Date becomes its ISO string), properties whose value is
 * undefined, a function or a symbol are dropped (null inside arrays),
 * non-finite numbers become null.
 * @throws {RacefreeConfigError} for a BigInt or a cycle, which JSON cannot
 *   encode, and for an unpaired surrogate in a string or key, which RFC 8785
 *   (I-JSON) does not allow.
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
      return jsonString(value);
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
      if (encoded !== undefined) members.push(`${jsonString(name)}:${encoded}`);
    }
    return `{${members.join(',')}}`;
  } finally {
    ancestors.delete(object);
  }
}

// In a `u` regex a surrogate matches only when it is not half of a pair.
const UNPAIRED_SURROGATE = /\p{Surrogate}/u;

/**
 * Whether `text` holds an unpaired UTF-16 surrogate: not Unicode text, so not
 * I-JSON (RFC 7493), which RFC 8785 requires, and not encodable as UTF-8 (pg
 * would send U+FFFD).
 * @internal
 */
export function hasUnpairedSurrogate(text: string): boolean {
  return UNPAIRED_SURROGATE.test(text);
}

function jsonString(text: string): string {
  if (hasUnpairedSurrogate(text)) {
    throw new RacefreeConfigError('once: option "request" holds a string with an unpaired UTF-16 surrogate, which RFC 8785 cannot encode', {
      option: 'request',
    });
  }
  return JSON.stringify(text);
}

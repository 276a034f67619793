/**
 * Builds the one statement the client sends for a function call:
 * `SELECT * FROM "schema"."fn"("a" => $1, "b" => $2)`.
 *
 * Names go through quoteIdent, values are always parameters. The statement
 * gets a prepared-statement name derived from its text, so pg parses it once
 * per connection and every later call is a single Bind/Execute round trip.
 * @internal
 */

import { createHash } from 'node:crypto';
import { RacefreeConfigError } from './errors/classes.js';
import { quoteIdent } from './quote.js';

/**
 * A function name: `'fn'`, `'schema.fn'`, or `['schema', 'fn']` for names
 * that contain a dot. Names are exact, as stored in `pg_proc`: `'myFn'`
 * calls `"myFn"`, not `myfn`.
 */
export type FunctionName = string | readonly [schema: string, name: string];

/** Named arguments; `undefined` leaves the argument out so its DEFAULT applies. */
export type CallArgs = Readonly<Record<string, unknown>>;

/** @internal */
export interface CallStatement {
  /** Prepared-statement name, stable for a given text. */
  readonly name: string;
  readonly text: string;
  readonly values: unknown[];
}

interface Shape {
  readonly name: string;
  readonly text: string;
}

/**
 * Cache of statement shapes: one trie per function name, one level per
 * (sorted) argument name. A hit allocates nothing but the values array, which
 * keeps `db.call` within a few percent of a raw prepared query.
 */
interface Node {
  readonly parts: readonly string[];
  shape?: Shape;
  next?: Map<string, Node>;
}
// Separate maps, so a string can never hit an entry made for a [schema, name] pair.
const stringRoots = new Map<string, Node>();
const pairRoots = new Map<string, Node>();
let shapeCount = 0;
// Distinct shapes come from call sites, so this is only a backstop against generated names.
const MAX_SHAPES = 10_000;

/**
 * @throws {RacefreeConfigError} when `fn` or an argument name is not a usable identifier.
 * @internal
 */
export function buildCall(fn: FunctionName, args: CallArgs = {}): CallStatement {
  const roots = typeof fn === 'string' ? stringRoots : pairRoots;
  // A valid pair holds two strings without NUL, so NUL separates them unambiguously.
  const rootKey = typeof fn === 'string' ? fn : Array.isArray(fn) ? fn.join('\0') : '';
  let node: Node | undefined = roots.get(rootKey);
  if (node === undefined) {
    node = { parts: splitFunctionName(fn) };
    roots.set(rootKey, node);
  }
  const parts = node.parts;
  const keys = Object.keys(args);
  // Named notation makes order irrelevant; sorting lets every key order share one statement.
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      keys.sort();
      break;
    }
  }
  const values: unknown[] = [];
  for (const key of keys) {
    const value = args[key];
    if (value === undefined) continue;
    values.push(value);
    let child: Node | undefined = node.next?.get(key);
    if (child === undefined) {
      checkIdentifier(key, 'args', key);
      child = { parts };
      (node.next ??= new Map()).set(key, child);
    }
    node = child;
  }
  let shape = node.shape;
  if (shape === undefined) {
    shape = makeShape(
      parts,
      keys.filter((k) => args[k] !== undefined),
    );
    if (shapeCount >= MAX_SHAPES) {
      stringRoots.clear();
      pairRoots.clear();
      shapeCount = 0;
    }
    node.shape = shape;
    shapeCount++;
  }
  return { name: shape.name, text: shape.text, values };
}

/** `parts` and `argNames` are already checked. */
function makeShape(parts: readonly string[], argNames: readonly string[]): Shape {
  const fnSql = parts.map(quoteIdent).join('.');
  const argSql = argNames.map((arg, i) => `${quoteIdent(arg)} => $${i + 1}`).join(', ');
  const text = `SELECT * FROM ${fnSql}(${argSql})`;
  // 20 hex digits (80 bits) of the text's hash: a collision would make pg refuse the
  // second statement on a connection, never run the wrong one.
  const name = `racefree_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`;
  return { name, text };
}

function splitFunctionName(fn: FunctionName): readonly string[] {
  if (typeof fn === 'string') {
    const parts = fn.split('.');
    if (parts.length > 2) {
      throw new RacefreeConfigError('call: a function name is "name" or "schema.name"; pass ["schema", "name"] for names containing a dot', {
        option: 'fn',
        value: fn,
      });
    }
    for (const p of parts) checkIdentifier(p, 'fn', fn);
    return parts;
  }
  if (!Array.isArray(fn) || fn.length !== 2) {
    throw new RacefreeConfigError('call: a function name is a string or a [schema, name] pair', {
      option: 'fn',
      value: fn,
    });
  }
  for (const p of fn) checkIdentifier(p, 'fn', fn);
  return fn;
}

function checkIdentifier(part: unknown, option: string, value: unknown): void {
  if (typeof part !== 'string' || part.length === 0 || part.includes('\0')) {
    throw new RacefreeConfigError(`call: option "${option}" must hold non-empty names without NUL characters`, {
      option,
      value,
    });
  }
}

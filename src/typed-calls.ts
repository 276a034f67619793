/**
 * Compile-time checked calls: `createClient<Database>(…)`, where `Database`
 * is what `racefree types` writes, makes `call`, `callOne` and `tx.call`
 * check the function name, the argument names and types, and type the rows.
 * Types only: nothing here exists at run time.
 */

import type { Queryable } from './queryable.js';

/** One function as `racefree types` describes it: its named arguments and its result row. */
export interface FunctionTypes {
  readonly args: object;
  readonly row: object;
}

/**
 * The shape of a generated `Database` type: every callable function by the
 * name `call` takes (`'fn'` for schema `public`, `'schema.fn'` otherwise).
 */
export interface DatabaseTypes {
  readonly functions: { readonly [name: string]: FunctionTypes };
}

type Functions<D extends DatabaseTypes> = D['functions'];
/** The names `call` accepts for `D`. */
export type FunctionNameOf<D extends DatabaseTypes> = Extract<keyof Functions<D>, string>;
/** The named arguments of function `F`. */
export type ArgsOf<D extends DatabaseTypes, F extends FunctionNameOf<D>> = Functions<D>[F]['args'];
/** A result row of function `F`. */
export type RowOf<D extends DatabaseTypes, F extends FunctionNameOf<D>> = Functions<D>[F]['row'];
// The argument object may be left out only when every argument has a DEFAULT.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- `{}` here is the empty argument object, tested for assignability
type ArgsParameter<A> = {} extends A ? [args?: A] : [args: A];

/** `call` and `callOne` checked against `D`; `query` stays untyped, as the escape hatch it is. */
export interface TypedQueryable<D extends DatabaseTypes> {
  /** As {@link Queryable.call}, with `fn`, the argument names and their types checked. */
  call<F extends FunctionNameOf<D>>(fn: F, ...args: ArgsParameter<ArgsOf<D, F>>): Promise<Array<RowOf<D, F>>>;
  /** As {@link Queryable.callOne}, with `fn`, the argument names and their types checked. */
  callOne<F extends FunctionNameOf<D>>(fn: F, ...args: ArgsParameter<ArgsOf<D, F>>): Promise<RowOf<D, F>>;
  query: Queryable['query'];
}

/** `Queryable` without a database type, `TypedQueryable<D>` with one. */
export type QueryableOf<D extends DatabaseTypes | undefined> = D extends DatabaseTypes ? TypedQueryable<D> : Queryable;

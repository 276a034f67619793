import { quoteIdent, quoteLiteral } from '../quote.js';

/** The SQL API's functions the builders call: fixed names, written into SQL as they are. @internal */
export type BuilderFunction =
  'add_numbering' | 'drop_numbering' | 'add_unique_key' | 'drop_unique_key' | '_unique_key_config' | '_numbering_config' | 'add_upsert' | 'drop_upsert';

/** An argument of a racefree builder function: text, a list of names, a boolean, or SQL already rendered. @internal */
export type SqlArgument = string | readonly string[] | boolean | { readonly sql: string } | undefined;

/**
 * `SELECT racefree.<fn>(arg => value, …)`: the builders' one way to call the
 * SQL API. Values are literals; `undefined` leaves an argument out, so its
 * DEFAULT (the SQL function's, the one home of defaults) applies.
 * @internal
 */
export function builderCall(fn: BuilderFunction, args: Readonly<Record<string, SqlArgument>>): string {
  return `SELECT ${builderExpression(fn, args)}`;
}

/** `racefree.<fn>(arg => value, …)`, as in {@link builderCall}; the internal `_*_config` ones are in racefree_internal. @internal */
export function builderExpression(fn: BuilderFunction, args: Readonly<Record<string, SqlArgument>>): string {
  const list = Object.entries(args).flatMap(([name, value]) => (value === undefined ? [] : [`${quoteIdent(name)} => ${render(value)}`]));
  return `${fn.startsWith('_') ? 'racefree_internal' : 'racefree'}.${fn}(${list.join(', ')})`;
}

function render(value: Exclude<SqlArgument, undefined>): string {
  if (typeof value === 'string') return quoteLiteral(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) return `ARRAY[${value.map(quoteLiteral).join(', ')}]::pg_catalog.name[]`;
  return (value as { sql: string }).sql;
}

/**
 * The table as the SQL API's `tbl regclass` argument. Resolved by
 * racefree_internal._table_oid, so an unknown table is RF100 naming it, as for a
 * caller of the SQL API who passes `'missing'::regclass` it is 42P01.
 * @internal
 */
export function tableArgument(builder: string, quotedTable: string): { sql: string } {
  return { sql: `racefree_internal._table_oid(${quoteLiteral(builder)}, ${quoteLiteral(quotedTable)})` };
}

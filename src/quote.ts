/**
 * The one place TypeScript turns names and values into SQL text. Everything
 * else passes values as parameters; DDL, which cannot take parameters, goes
 * through these two functions.
 * @internal
 */

/** Quote an identifier the way PostgreSQL's `quote_ident`/`format('%I')` would, always. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new TypeError('An SQL identifier cannot be empty');
  if (name.includes('\0')) throw new TypeError('An SQL identifier cannot contain a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quote a possibly schema-qualified name given as separate parts. */
export function quoteQualified(...parts: Array<string | undefined>): string {
  return parts
    .filter((p): p is string => p !== undefined)
    .map(quoteIdent)
    .join('.');
}

/** Quote a text literal (standard_conforming_strings form, E'' when it holds backslashes). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new TypeError('An SQL literal cannot contain a NUL character');
  const body = value.replaceAll("'", "''");
  return value.includes('\\') ? `E'${body.replaceAll('\\', '\\\\')}'` : `'${body}'`;
}

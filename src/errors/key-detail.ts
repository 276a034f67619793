/**
 * Reads the DETAIL of a unique violation, `Key (a, b)=(1, x) already exists.`
 *
 * The column list is SQL as `pg_get_indexdef_columns` prints it (identifiers
 * quoted only when needed, expressions for expression indexes), so it can be
 * scanned exactly. The values are each column's output text joined by ", "
 * with no quoting, so they can only be split when no value itself contains
 * ", "; otherwise `values` is left undefined rather than split wrongly.
 * @internal
 */

const PREFIX = 'Key (';
const SUFFIX = ') already exists.';

/** @internal */
export interface KeyDetail {
  readonly columns: readonly string[] | undefined;
  readonly values: readonly string[] | undefined;
}

const UNKNOWN: KeyDetail = { columns: undefined, values: undefined };

/**
 * Parse a unique-violation DETAIL. Anything unexpected (no DETAIL under
 * row-level security or without SELECT privilege, a translated message, a
 * format this parser does not know) gives undefined fields.
 * @internal
 */
export function parseUniqueViolationDetail(detail: string | undefined): KeyDetail {
  if (detail === undefined || !detail.startsWith(PREFIX) || !detail.endsWith(SUFFIX)) return UNKNOWN;
  const body = detail.slice(PREFIX.length, detail.length - SUFFIX.length);
  const list = scanColumnList(body);
  if (list === undefined) return UNKNOWN;
  const columns = list.items.map(unquoteColumn);
  const valuesText = body.slice(list.end + ')=('.length);
  return { columns, values: splitValues(valuesText, columns.length) };
}

/**
 * Scan the column list up to the `)` that closes it, honouring quoted
 * identifiers, string literals and parentheses inside expressions.
 */
function scanColumnList(body: string): { items: string[]; end: number } | undefined {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '"' || ch === "'") {
      const close = closingQuote(body, i, ch);
      if (close === undefined) return undefined;
      i = close;
    } else if (ch === '(') {
      depth++;
    } else if (ch === ')') {
      if (depth > 0) {
        depth--;
        continue;
      }
      if (!body.startsWith(')=(', i)) return undefined;
      items.push(body.slice(start, i).trim());
      return items.some((item) => item === '') ? undefined : { items, end: i };
    } else if (ch === ',' && depth === 0) {
      items.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  return undefined;
}

/** Index of the quote closing the one at `open`; a doubled quote is an escaped one. */
function closingQuote(text: string, open: number, quote: string): number | undefined {
  for (let i = open + 1; i < text.length; i++) {
    if (text[i] !== quote) continue;
    if (text[i + 1] === quote) {
      i++;
      continue;
    }
    return i;
  }
  return undefined;
}

/** `"Weird ""Name"""` -> `Weird "Name"`; plain names and expressions are kept as printed. */
function unquoteColumn(item: string): string {
  if (/^"(?:[^"]|"")*"$/.test(item)) return item.slice(1, -1).replaceAll('""', '"');
  return item;
}

function splitValues(text: string, count: number): readonly string[] | undefined {
  if (count === 1) return [text];
  const parts = text.split(', ');
  // Exactly count-1 separators means no value contained ", ": the split is certain.
  return parts.length === count ? parts : undefined;
}

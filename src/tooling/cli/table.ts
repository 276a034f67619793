/**
 * Plain-text tables for the CLI's reports: box-drawing borders, no colours
 * (logs and CI read them too), cells left-aligned, long cells wrapped at word
 * boundaries in the columns given a width.
 * @internal
 */

export type Cell = string | number;

/**
 * Render `head` and `rows`. `widths[i]`, when given, is column i's width
 * including one space of padding on each side; longer cells wrap onto more
 * lines (a word longer than the column is cut).
 */
export function renderTable(head: readonly string[], rows: ReadonlyArray<readonly Cell[]>, widths: ReadonlyArray<number | undefined> = []): string {
  const wrapped = [head, ...rows].map((row) => head.map((_, i) => wrap(String(row[i] ?? ''), widths[i])));
  const inner = head.map((_, i) => {
    const fixed = widths[i];
    return fixed !== undefined ? fixed - 2 : Math.max(...wrapped.map((row) => Math.max(...row[i]!.map(length))));
  });
  const rule = (left: string, middle: string, right: string) => left + inner.map((w) => '─'.repeat(w + 2)).join(middle) + right;
  const lines = (row: readonly string[][]) => {
    const height = Math.max(...row.map((cell) => cell.length));
    return Array.from({ length: height }, (_, line) => `│${row.map((cell, i) => ` ${pad(cell[line] ?? '', inner[i]!)} `).join('│')}│`);
  };
  const [header, ...body] = wrapped;
  return [rule('┌', '┬', '┐'), ...lines(header!), rule('├', '┼', '┤'), ...body.flatMap(lines), rule('└', '┴', '┘')].join('\n');
}

/** Characters as a terminal shows them (code points, not UTF-16 units). */
function length(text: string): number {
  return [...text].length;
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - length(text)));
}

/** The cell's lines: its own line breaks, then words packed into `width - 2` columns. */
function wrap(text: string, width: number | undefined): string[] {
  const lines = text.split('\n');
  if (width === undefined) return lines;
  const room = Math.max(1, width - 2);
  return lines.flatMap((line) => {
    const out: string[] = [];
    let current = '';
    for (const word of line.split(' ')) {
      for (let rest = [...word]; ;) {
        const candidate = current === '' ? rest.join('') : `${current} ${rest.join('')}`;
        if (length(candidate) <= room) {
          current = candidate;
          break;
        }
        if (current !== '') {
          out.push(current);
          current = '';
          continue;
        }
        out.push(rest.slice(0, room).join(''));
        rest = rest.slice(room);
      }
    }
    out.push(current);
    return out;
  });
}

/**
 * A live progress line for long CLI runs, on stderr. Drawn only on a terminal
 * outside CI, so logs and pipes get just the final report.
 * @internal
 */

export interface Progress {
  /** Move to `value` (of the total given at start); `payload` fills the format's `{name}` fields. */
  update(value: number, payload?: Record<string, string | number>): void;
  /** Remove the line. Idempotent. */
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };
const BAR_WIDTH = 40;
/** Redraw at most this often: a terminal need not see every execution. */
const FRAME_MS = 100;

/** True when a progress bar would be seen by a person. */
function interactive(stream: NodeJS.WriteStream = process.stderr): boolean {
  const ci = process.env['CI'];
  return stream.isTTY === true && (ci === undefined || ci === '' || ci === 'false' || ci === '0');
}

/** Start a bar of `total` units; `format` uses the fields {bar}, {percentage}, {value}, {total} and the payload's. */
export function startProgress(total: number, format: string, payload: Record<string, string | number> = {}): Progress {
  const stream = process.stderr;
  if (!interactive(stream)) return SILENT;
  const fields: Record<string, string | number> = { ...payload };
  let value = 0;
  let drawn = 0;
  let stopped = false;
  const draw = (): void => {
    drawn = performance.now();
    const filled = total > 0 ? Math.round((value / total) * BAR_WIDTH) : 0;
    const all: Record<string, string | number> = {
      ...fields,
      bar: '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled),
      percentage: total > 0 ? Math.round((value / total) * 100) : 0,
      value,
      total,
    };
    const line = format.replace(/\{(\w+)\}/g, (token, name: string) => (name in all ? String(all[name]) : token));
    // Carriage return, the line, erase to its end: redrawn in place.
    stream.write(`\r${line}\x1b[K`);
  };
  draw();
  return {
    update: (to, more) => {
      if (stopped) return;
      value = Math.min(Math.max(to, 0), total);
      Object.assign(fields, more);
      if (performance.now() - drawn >= FRAME_MS) draw();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      stream.write('\r\x1b[K');
    },
  };
}

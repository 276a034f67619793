/**
 * A live progress line for long CLI runs, on stderr. Drawn only on a terminal
 * outside CI, so logs and pipes get just the final report.
 * @internal
 */

import cliProgress from 'cli-progress';

export interface Progress {
  /** Move to `value` (of the total given at start); `payload` fills the format's `{name}` fields. */
  update(value: number, payload?: Record<string, string | number>): void;
  /** Remove the line. Idempotent. */
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };

/** True when a progress bar would be seen by a person. */
function interactive(stream: NodeJS.WriteStream = process.stderr): boolean {
  const ci = process.env['CI'];
  return stream.isTTY === true && (ci === undefined || ci === '' || ci === 'false' || ci === '0');
}

/** Start a bar of `total` units; `format` uses cli-progress fields ({bar}, {percentage}, {value}, {total}) and the payload's. */
export function startProgress(total: number, format: string, payload: Record<string, string | number> = {}): Progress {
  if (!interactive()) return SILENT;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: true, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, payload);
  let stopped = false;
  return {
    update: (value, more) => {
      if (!stopped) bar.update(Math.min(value, total), more ?? {});
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

import { RacefreeError } from '../../errors/classes.js';
import { UsageError } from './usage.js';

/**
 * Run a command line's `main` and set the exit code: its result, 2 for a
 * usage error (with `usageHint`), 1 for any other error, printed in one line
 * (RACEFREE_DEBUG=1 prints the stack of errors that are not racefree's).
 * @internal
 */
export function runMain(main: () => Promise<number>, prefix: string, usageHint: string): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof UsageError) {
        console.error(`${prefix}: ${error.message}\n${usageHint}`);
        process.exitCode = 2;
      } else if (error instanceof RacefreeError) {
        console.error(`${prefix}: ${error.name}${error.code ? ` [${error.code}]` : ''}: ${error.message}`);
        process.exitCode = 1;
      } else if (error instanceof Error && process.env['RACEFREE_DEBUG'] === undefined) {
        // Driver and system errors (ECONNREFUSED, a bad password) in one line; RACEFREE_DEBUG=1 for the stack.
        const code = (error as { code?: unknown }).code;
        console.error(`${prefix}: ${typeof code === 'string' ? `[${code}] ` : ''}${error.message || error.name}`);
        process.exitCode = 1;
      } else {
        console.error(error);
        process.exitCode = 1;
      }
    },
  );
}

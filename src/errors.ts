/**
 * The racefree error hierarchy. Every error the kit throws, from the client,
 * the migrate builders or the CLI, is a `RacefreeError`.
 */

/** Base class: `code` is the SQLSTATE when the error came from PostgreSQL. */
export class RacefreeError extends Error {
  readonly code: string | undefined;
  override readonly cause: unknown;

  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = options.code;
    this.cause = options.cause;
  }
}

/**
 * Bad configuration: a builder option, a template, a table or column that does
 * not exist. Raised before any DDL runs, or by the migration's own transaction
 * (which then rolls back), so nothing is half-created.
 */
export class RacefreeConfigError extends RacefreeError {
  /** The option that was wrong, e.g. `template` or `table`. */
  readonly option: string | undefined;
  /** The value given for that option. */
  readonly value: unknown;

  constructor(
    message: string,
    options: { option?: string; value?: unknown; code?: string; cause?: unknown } = {},
  ) {
    super(message, { code: options.code ?? 'RF100', cause: options.cause });
    this.option = options.option;
    this.value = options.value;
  }
}

import type { MigrationBuilder } from 'node-pg-migrate';

import { quoteLiteral } from '../quote.js';

/**
 * The message a builder's migration fails with when the kit is missing, e.g.
 * when node-pg-migrate's own CLI runs it on a database `racefree migrate up`
 * never touched. SQLSTATE 3F000 (invalid_schema_name), what the call itself
 * would have raised, with words that say what to do.
 * @internal
 */
export const KIT_MISSING_MESSAGE =
  "racefree's schema is not installed in this database: run racefree migrate up (it applies the kit's migrations before yours)";

// A DO block, not a kit function: there is no kit to call yet.
const CHECK = `DO $racefree_kit_check$ BEGIN
  IF to_regnamespace('racefree') IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '3F000', MESSAGE = ${quoteLiteral(KIT_MISSING_MESSAGE)};
  END IF;
END $racefree_kit_check$`;

/**
 * Queue the kit check before a builder's own statements.
 * @internal
 */
export function requireKit(pgm: MigrationBuilder): void {
  pgm.sql(CHECK);
}

/**
 * `racefree/migrate`: run the kit's and your migrations, and the builders your
 * node-pg-migrate migrations call.
 */
export { migrate, migrationStatus } from './lanes.js';
export type { LaneStatus, MigrateOptions, MigrateResult } from './lanes.js';
export { addNumbering, dropNumbering } from './numbering.js';
export type { AddNumberingOptions, DropNumberingOptions } from './numbering.js';
export type { TableRef } from './names.js';
export type { ResetPeriod } from './template.js';

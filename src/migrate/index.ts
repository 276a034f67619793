/**
 * `racefree/migrate`: run the kit's and your migrations, and the builders your
 * node-pg-migrate migrations call.
 */
export { migrate, migrationStatus } from './lanes.js';
export type { LaneStatus, MigrateOptions, MigrateResult } from './lanes.js';
export { addNumbering, dropNumbering } from './numbering.js';
export type { AddNumberingOptions, DropNumberingOptions } from './numbering.js';
export { addUniqueKey, dropUniqueKey } from './unique-key.js';
export type { AddUniqueKeyOptions, DropUniqueKeyOptions } from './unique-key.js';
export { addUpsert, dropUpsert } from './upsert.js';
export type { AddUpsertOptions, DropUpsertOptions } from './upsert.js';
export type { TableRef } from './names.js';
export type { RegisteredObject } from './registry.js';
export type { ResetPeriod } from './numbering.js';

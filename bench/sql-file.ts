import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A SQL file of bench/, which the pgbench scripts include too (read from the source tree, not dist/). */
export function benchSql(file: string): string {
  return readFileSync(fileURLToPath(new URL(`../../bench/${file}`, import.meta.url)), 'utf8');
}

/**
 * Optional peer dependencies: packages only some tools need (the embedded
 * PostgreSQL of `racefree dev` and `startEmbeddedPostgres`), which the
 * application installs when it uses those tools. Resolved lazily, from
 * racefree's own location, so the runtime never loads them.
 * @internal
 */

import { readFileSync } from 'node:fs';

import { RacefreeError } from '../../errors/classes.js';

const PACKAGE_JSON = new URL('../../../../package.json', import.meta.url);

/**
 * The URL of `name`'s entry point. When it is not installed: a RacefreeError
 * saying that `neededBy` needs it and the npm command that installs the
 * version range racefree declares for it.
 */
export function resolveOptionalPeer(name: string, neededBy: string): string {
  try {
    return import.meta.resolve(name);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new RacefreeError(
      `${neededBy} needs the package ${name}, an optional peer dependency of racefree that is not installed: ` +
        `npm install --save-dev "${name}@${peerRange(name)}"`,
      { cause: error },
    );
  }
}

function peerRange(name: string): string {
  const manifest = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { peerDependencies?: Record<string, string> };
  const range = manifest.peerDependencies?.[name];
  if (range === undefined) throw new Error(`${name} is not a peer dependency of racefree`);
  return range;
}

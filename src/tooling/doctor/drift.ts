/**
 * Drift: kit functions whose definition differs from what this version of
 * the kit installs, kit functions missing, and functions in schema racefree
 * the kit does not install.
 * @internal
 */

import type { ClientBase } from 'pg';

import type { DoctorFinding } from './finding.js';
import { functionFingerprints, type KitManifest } from './manifest.js';

export async function driftFindings(client: ClientBase, manifest: KitManifest): Promise<DoctorFinding[]> {
  const installed = await functionFingerprints(client);
  const findings: DoctorFinding[] = [];
  for (const [signature, expected] of Object.entries(manifest.functions)) {
    const actual = installed[signature];
    if (actual === undefined) {
      findings.push({ check: 'drift', object: signature, detail: `missing: the kit's migrations install it (dropped by hand?)` });
    } else if (actual !== expected) {
      findings.push({
        check: 'drift',
        object: signature,
        detail: `definition differs from the one the kit's migrations install (changed by hand, or by another racefree version)`,
      });
    }
  }
  for (const signature of Object.keys(installed)) {
    if (!(signature in manifest.functions)) {
      findings.push({
        check: 'drift',
        object: signature,
        detail: 'not installed by this version of the kit (hand-made, or from another racefree version)',
      });
    }
  }
  return findings;
}

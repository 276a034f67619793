/**
 * What `racefree doctor` reports. The names and the JSON shape are public:
 * CI scripts read `racefree doctor --json`.
 */

/** The checks, as they appear in `finding.check`. */
export type DoctorCheck = 'migrations' | 'drift' | 'invalid_index' | 'counter_behind' | 'idempotency_incomplete' | 'public_execute' | 'generated_stale';

/** One problem found in the database. */
export interface DoctorFinding {
  readonly check: DoctorCheck;
  /** What the finding is about: a migration, function, index, counter or table. */
  readonly object: string;
  /** What is wrong and, where there is one, the fix. */
  readonly detail: string;
}

/** `racefree doctor --json` prints exactly this. */
export interface DoctorReport {
  /** True when there are no findings. */
  readonly ok: boolean;
  readonly findings: readonly DoctorFinding[];
}

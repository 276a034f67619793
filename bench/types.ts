/** One scenario's measured rows, all from the same run on the same server. */
export interface BenchResult {
  readonly scenario: string;
  readonly rows: ReadonlyArray<{
    readonly name: string;
    readonly opsPerSec: number;
    readonly errors: number;
    /** Requests sent, succeeded and failed, when the scenario counts them: the chart shows the failed share. */
    readonly requests?: number;
    /** opsPerSec divided by the scenario's baseline row. */
    readonly ratio?: number;
    /** For the chart: the limit (baseline), racefree's way, or the naive pattern it replaces. */
    readonly kind?: 'limit' | 'racefree' | 'naive';
  }>;
  readonly notes?: readonly string[];
}

/**
 * The benchmark chart: one group of bars per scenario (limit, racefree, naive),
 * each bar a variant's ops/s relative to its scenario's limit. Rendered to SVG
 * with Vega-Lite, headless.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResult } from './types.js';

type Kind = 'limit' | 'racefree' | 'naive';

/** A row's kind, as given or read from its name: seed patterns are naive, the first row is the limit. */
function kindOf(row: BenchResult['rows'][number], index: number): Kind {
  if (row.kind) return row.kind;
  if (index === 0) return 'limit';
  return /seed|naive|check-then|count\(\*\)/i.test(row.name) ? 'naive' : 'racefree';
}

export async function chartSvg(results: readonly BenchResult[]): Promise<string> {
  const values = results.flatMap((r) =>
    r.rows.map((row, i) => ({
      scenario: r.scenario.replace(/[:,(].*$/, ''),
      variant: row.name,
      kind: kindOf(row, i),
      ratio: Number((row.ratio ?? row.opsPerSec / (r.rows[0]?.opsPerSec || 1)).toFixed(3)),
      errors: row.errors,
    })),
  );
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    width: 460,
    height: { step: 16 },
    mark: { type: 'bar', tooltip: true },
    encoding: {
      row: { field: 'scenario', type: 'nominal', sort: null, header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontWeight: 'bold', labelFontSize: 12 }, title: null },
      y: { field: 'variant', type: 'nominal', sort: null, title: null, axis: { labelLimit: 640 } },
      x: { field: 'ratio', type: 'quantitative', title: 'throughput relative to the limit (same run, same server)' },
      color: {
        field: 'kind',
        type: 'nominal',
        scale: { domain: ['limit', 'racefree', 'naive'], range: ['#9e9e9e', '#2e7d32', '#c62828'] },
        title: null,
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

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

/** What a row lost to failed requests, printed beside its bar: the count, and the share of requests when known. */
function failedLabel(row: BenchResult['rows'][number]): string {
  if (row.errors === 0) return '';
  const share = row.requests ? ` (${((100 * row.errors) / row.requests).toFixed(1)}% of requests)` : '';
  return `${row.errors} failed${share}`;
}

export async function chartSvg(results: readonly BenchResult[]): Promise<string> {
  const values = results.flatMap((r) =>
    r.rows.map((row, i) => ({
      // The heading up to its first colon, parenthesis or comma not inside a number (1,000,000 stays whole).
      scenario: r.scenario.replace(/(?:[:(]|,(?!\d)).*$/, '').trim(),
      variant: row.name,
      kind: kindOf(row, i),
      ratio: Number((row.ratio ?? row.opsPerSec / (r.rows[0]?.opsPerSec || 1)).toFixed(3)),
      errors: row.errors,
      failed: failedLabel(row),
    })),
  );
  const y = { field: 'variant', type: 'nominal', sort: null, title: null, axis: { labelLimit: 640 } } as const;
  const x = {
    field: 'ratio',
    type: 'quantitative',
    title: 'successful requests/s relative to the limit (same run, same server); failed requests beside the bar',
  } as const;
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    facet: {
      row: {
        field: 'scenario',
        type: 'nominal',
        sort: null,
        header: { labelAngle: 0, labelOrient: 'top', labelAnchor: 'start', labelFontWeight: 'bold', labelFontSize: 12 },
        title: null,
      },
    },
    spec: {
      width: 460,
      height: { step: 16 },
      layer: [
        {
          mark: { type: 'bar', tooltip: true },
          encoding: {
            y,
            x,
            color: {
              field: 'kind',
              type: 'nominal',
              scale: { domain: ['limit', 'racefree', 'naive'], range: ['#9e9e9e', '#2e7d32', '#c62828'] },
              title: null,
            },
          },
        },
        {
          // A naive pattern's throughput counts only the requests that succeeded; what it failed is written beside it.
          mark: { type: 'text', align: 'left', dx: 4, color: '#c62828', fontWeight: 'bold' },
          encoding: { y, x, text: { field: 'failed' } },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
  // Quiet: the layers share one independent y scale per facet, which is what is meant.
  const view = new vega.View(vega.parse(compile(spec, { logger: vega.logger(vega.None) }).spec), { renderer: 'none' });
  return view.toSVG();
}

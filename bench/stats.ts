/**
 * Summaries of latency samples: nearest-rank percentiles over milliseconds.
 */

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** The first sample, in run order (a cold start shows here). */
  first: number;
}

/** Nearest-rank percentile of ascending `sorted` (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = values.reduce((s, v) => s + v, 0);
  return {
    n: values.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? NaN,
    mean: values.length ? sum / values.length : NaN,
    first: values[0] ?? NaN,
  };
}

/** `12.3ms`, with one decimal (two below 10 ms, where the differences matter). */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return '-';
  return `${value.toFixed(Math.abs(value) < 10 ? 2 : 1)}ms`;
}

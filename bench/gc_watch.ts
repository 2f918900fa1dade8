/**
 * Garbage-collection pauses while a benchmark runs (perf_hooks 'gc' entries, on the same
 * performance.now() timeline as the latencies), so a latency spike can be told apart from a pause.
 */
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';

export interface GcWatch {
  readonly pauses: readonly { start: number; end: number }[];
  /** GC time (ms) inside [from, to]. */
  pausedWithin(from: number, to: number): number;
  stop(): void;
}

export function watchGc(): GcWatch {
  const pauses: { start: number; end: number }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as PerformanceEntry[]) {
      pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    pauses,
    pausedWithin: (from, to) =>
      pauses.reduce(
        (sum, p) => sum + Math.max(0, Math.min(to, p.end) - Math.max(from, p.start)),
        0,
      ),
    stop: () => observer.disconnect(),
  };
}

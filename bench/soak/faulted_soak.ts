/**
 * `npm run soak`: N faulted calls (scenarios.ts), a few at a time, each with its own fake server,
 * and what became of them: survived / dropped / hung, recovery times, per fault and per moment.
 */
import { MODELS } from '../bench_call.ts';
import { type Summary, ms, summarize } from '../stats.ts';
import { type CallResult, type Outcome, runFaultedCall } from './faulted_call.ts';
import { FAULT_KINDS, type FaultKind, type Moment, type Scenario, scenarios } from './scenarios.ts';

export const SOAK_TARGETS = { survivedPct: 100, hung: 0, recoveryP99Ms: 2000 } as const;

export interface SoakOptions {
  calls: number;
  seed: number;
  /** Calls running at once. */
  concurrency: number;
  /** Fault kinds to draw from (default all). */
  kinds?: readonly FaultKind[];
  /** Model ids to draw from (default every bench model, bench_call.ts MODELS). */
  models?: readonly string[];
  /** Run only these call indexes of the seed's sequence (to reproduce a call). */
  only?: readonly number[];
  /** Per-call deadline (ms). */
  deadlineMs?: number;
  /** Called as each call ends, in finishing order. */
  onCall?: (result: CallResult, done: number, total: number) => void;
}

export interface Breakdown {
  calls: number;
  survived: number;
  dropped: number;
  hung: number;
  /** Recovery times of the calls that needed a new socket (ms). */
  recovery: Summary;
}

export interface SoakReport {
  seed: number;
  /** The fault kinds drawn from (a seed names the same calls only with the same kinds). */
  kinds: readonly FaultKind[];
  /** The model ids drawn from (likewise). */
  models: readonly string[];
  calls: number;
  concurrency: number;
  wallMs: number;
  survived: number;
  dropped: number;
  hung: number;
  recovery: Summary;
  byKind: Partial<Record<FaultKind, Breakdown>>;
  byMoment: Partial<Record<Moment, Breakdown>>;
  byModel: Partial<Record<string, Breakdown>>;
  /** Calls that did not survive, with what to run again and why. */
  failures: { index: number; label: string; outcome: Outcome; detail: string }[];
  /** Calls in which the fake closed a socket that no fault explains (see CallResult). */
  unexplainedCloses: { index: number; label: string; closes: string[] }[];
  /** The slowest recoveries. */
  slowest: { index: number; label: string; recoveryMs: number }[];
  results: CallResult[];
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const all = scenarios(
    options.seed,
    Math.max(options.calls, ...(options.only ?? []).map((i) => i + 1)),
    options.kinds,
    options.models,
  );
  const todo = options.only ? all.filter((s) => options.only!.includes(s.index)) : all;
  const results: CallResult[] = [];
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const scenario = todo[next++]!;
      const result = await runFaultedCall(scenario, { deadlineMs: options.deadlineMs });
      results.push(result);
      options.onCall?.(result, results.length, todo.length);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, todo.length));
  await Promise.all(Array.from({ length: workers }, worker));
  results.sort((a, b) => a.scenario.index - b.scenario.index);
  return report(options, results, performance.now() - started);
}

function breakdown(results: readonly CallResult[]): Breakdown {
  const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
  return {
    calls: results.length,
    survived: count('survived'),
    dropped: count('dropped'),
    hung: count('hung'),
    recovery: summarize(recoveries(results)),
  };
}

function recoveries(results: readonly CallResult[]): number[] {
  return results.map((r) => r.recoveryMs).filter((v): v is number => v !== undefined);
}

function groupBy<K extends string>(results: readonly CallResult[], key: (s: Scenario) => K) {
  const groups: Partial<Record<K, Breakdown>> = {};
  for (const k of new Set(results.map((r) => key(r.scenario)))) {
    groups[k] = breakdown(results.filter((r) => key(r.scenario) === k));
  }
  return groups;
}

function report(options: SoakOptions, results: CallResult[], wallMs: number): SoakReport {
  const total = breakdown(results);
  return {
    seed: options.seed,
    kinds: options.kinds ?? FAULT_KINDS,
    models: options.models ?? Object.values(MODELS),
    calls: results.length,
    concurrency: options.concurrency,
    wallMs,
    survived: total.survived,
    dropped: total.dropped,
    hung: total.hung,
    recovery: total.recovery,
    byKind: groupBy(results, (s) => s.kind),
    byMoment: groupBy(results, (s) => s.moment),
    byModel: groupBy(results, (s) => s.model),
    failures: results
      .filter((r) => r.outcome !== 'survived')
      .map((r) => ({
        index: r.scenario.index,
        label: r.scenario.label,
        outcome: r.outcome,
        detail: r.detail ?? '',
      })),
    unexplainedCloses: results
      .filter((r) => r.unexplainedCloses.length)
      .map((r) => ({
        index: r.scenario.index,
        label: r.scenario.label,
        closes: r.unexplainedCloses,
      })),
    slowest: results
      .filter((r) => r.recoveryMs !== undefined)
      .sort((a, b) => b.recoveryMs! - a.recoveryMs!)
      .slice(0, 5)
      .map((r) => ({
        index: r.scenario.index,
        label: r.scenario.label,
        recoveryMs: r.recoveryMs!,
      })),
    results,
  };
}

/** The soak met its targets: every call survived, none hung, recovery p99 within 2 s. */
export function soakPassed(r: SoakReport): boolean {
  return r.dropped === 0 && r.hung === 0 && !(r.recovery.p99 > SOAK_TARGETS.recoveryP99Ms);
}

/** One progress line (stderr while running). */
export function progressLine(
  r: CallResult,
  done: number,
  total: number,
  counts: Record<Outcome, number>,
) {
  const width = String(total).length;
  return `[${String(done).padStart(width)}/${total}] survived ${counts.survived} dropped ${counts.dropped} hung ${counts.hung}  last: #${r.scenario.index} ${r.scenario.label} -> ${r.outcome}${r.recoveryMs !== undefined ? ` in ${ms(r.recoveryMs)}` : ''}`;
}

function recoveryText(s: Summary): string {
  return s.n
    ? `recovery n=${s.n} p50=${ms(s.p50)} p99=${ms(s.p99)} max=${ms(s.max)}`
    : 'recovery -';
}

function breakdownLine(name: string, b: Breakdown, width: number): string {
  return `  ${name.padEnd(width)} ${String(b.calls).padStart(4)} calls  survived ${String(b.survived).padStart(4)}  dropped ${b.dropped}  hung ${b.hung}  ${recoveryText(b.recovery)}`;
}

/** The `npm run soak` arguments that run call `index` of this report again. */
export function repeatArgs(
  r: Pick<SoakReport, 'seed' | 'kinds' | 'models'>,
  index: number,
): string {
  const kinds = r.kinds.length === FAULT_KINDS.length ? '' : ` --faults ${r.kinds.join(',')}`;
  const all = Object.values(MODELS);
  const keys = Object.entries(MODELS)
    .filter(([, id]) => r.models.includes(id))
    .map(([key]) => key);
  const models = r.models.length === all.length ? '' : ` --models ${keys.join(',')}`;
  return `--seed ${r.seed}${kinds}${models} --only ${index}`;
}

export function soakLines(r: SoakReport): string[] {
  const pct = r.calls ? (100 * r.survived) / r.calls : NaN;
  const ok = (good: boolean) => (good ? 'ok' : 'MISSED');
  const kinds = FAULT_KINDS.filter((k) => r.byKind[k]);
  const moments = Object.keys(r.byMoment) as Moment[];
  const models = Object.keys(r.byModel);
  const width = Math.max(
    ...kinds.map((k) => k.length),
    ...moments.map((m) => m.length),
    ...models.map((m) => m.length),
  );
  const lines = [
    `soak       ${r.calls} faulted calls, seed ${r.seed}, ${r.concurrency} at a time, ${(r.wallMs / 1000).toFixed(0)} s`,
    `outcome    survived ${r.survived} (${pct.toFixed(1)} %)  dropped ${r.dropped}  hung ${r.hung}  (target 100 % survived, 0 hung: ${ok(r.dropped === 0 && r.hung === 0)})`,
    `closes     server closes no fault explains (a model rule broken): ${r.unexplainedCloses.length} calls`,
    `recovery   n=${r.recovery.n} p50=${ms(r.recovery.p50)} p90=${ms(r.recovery.p90)} p99=${ms(r.recovery.p99)} max=${ms(r.recovery.max)}  (target p99<=${SOAK_TARGETS.recoveryP99Ms}ms: ${ok(!(r.recovery.p99 > SOAK_TARGETS.recoveryP99Ms))})`,
    'by fault',
    ...kinds.map((k) => breakdownLine(k, r.byKind[k]!, width)),
    'by moment',
    ...moments.map((m) => breakdownLine(m, r.byMoment[m]!, width)),
    'by model',
    ...models.map((m) => breakdownLine(m, r.byModel[m]!, width)),
  ];
  if (r.slowest.length) {
    lines.push('slowest recoveries');
    for (const s of r.slowest) lines.push(`  #${s.index} ${ms(s.recoveryMs)}  ${s.label}`);
  }
  for (const u of r.unexplainedCloses) {
    lines.push(
      `UNEXPLAINED CLOSE #${u.index} (${repeatArgs(r, u.index)}) ${u.label}: ${u.closes.join('; ')}`,
    );
  }
  for (const f of r.failures) {
    lines.push(
      `${f.outcome.toUpperCase()} #${f.index} (${repeatArgs(r, f.index)}) ${f.label}: ${f.detail}`,
    );
  }
  return lines;
}

/**
 * `npm run soak [-- --calls N --seed S --concurrency C --faults k1,k2 --only i,j --json]`:
 * N calls through the real plugin and AgentSession, each with one random Gemini fault at a random
 * moment (bench/soak/scenarios.ts), against the in-process fake Gemini Live server; prints
 * survived / dropped / hung, recovery times and a breakdown per fault and per moment.
 *
 * `npm run soak -- --long [--minutes M]`: one conversation of M minutes (default 10) with
 * continuous user turns and the avatar on; prints RSS and heap at the start and the end (after a
 * forced GC) and the A/V offset drift.
 *
 * Progress goes to stderr, the report to stdout (JSON with --json). Exit 1 when a call dropped or
 * hung, a long-call turn went unanswered, or the run failed; targets are printed, not enforced.
 */
import { initializeLogger } from '@livekit/agents';
import {
  failWith,
  integerOption,
  listOption,
  machine,
  machineLine,
  oneLine,
  parseOptions,
  positiveOption,
  runCli,
} from './cli.ts';
import { type LongReport, longLines, runLongCall } from './soak/long_call.ts';
import {
  type SoakReport,
  progressLine,
  repeatArgs,
  runSoak,
  soakLines,
} from './soak/faulted_soak.ts';
import { FAULT_KINDS, type FaultKind } from './soak/scenarios.ts';
import { MODELS } from './bench_call.ts';
import type { Outcome } from './soak/faulted_call.ts';

const USAGE =
  'usage: npm run soak -- [--calls N] [--seed S] [--concurrency C] [--faults kind,...] [--models 3.8,3.1,2.5] [--only i,...] [--deadline-s S] [--json] | --long [--minutes M] [--no-av] [--json]';

interface SoakArgs {
  long: boolean;
  measureAv: boolean;
  minutes: number;
  calls: number;
  seed: number;
  concurrency: number;
  kinds: FaultKind[];
  models: string[];
  only?: number[];
  deadlineMs: number;
  json: boolean;
}

function parseSoakArgs(argv: string[]): SoakArgs {
  const values = parseOptions(argv, {
    long: { type: 'boolean', default: false },
    'no-av': { type: 'boolean', default: false },
    minutes: { type: 'string', default: '10' },
    calls: { type: 'string', default: '200' },
    seed: { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    faults: { type: 'string', default: FAULT_KINDS.join(',') },
    models: { type: 'string', default: Object.keys(MODELS).join(',') },
    only: { type: 'string' },
    'deadline-s': { type: 'string', default: '30' },
    json: { type: 'boolean', default: false },
  });
  return {
    long: values.long,
    measureAv: !values['no-av'],
    minutes: positiveOption('minutes', values.minutes),
    calls: integerOption('calls', values.calls, 1),
    // A fresh seed each run unless given; it is printed, so any run can be repeated.
    seed:
      values.seed === undefined ? Date.now() % 1_000_000 : integerOption('seed', values.seed, 0),
    concurrency: integerOption('concurrency', values.concurrency, 1),
    kinds: listOption('faults', values.faults, FAULT_KINDS),
    models: listOption('models', values.models, Object.keys(MODELS) as (keyof typeof MODELS)[]).map(
      (key) => MODELS[key],
    ),
    ...(values.only === undefined
      ? {}
      : { only: values.only.split(',').map((i) => integerOption('only', i.trim(), 0)) }),
    deadlineMs: positiveOption('deadline-s', values['deadline-s']) * 1000,
    json: values.json,
  };
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

async function soak(args: SoakArgs): Promise<SoakReport> {
  const counts: Record<Outcome, number> = { survived: 0, dropped: 0, hung: 0 };
  let lastLine = 0;
  return runSoak({
    calls: args.calls,
    seed: args.seed,
    concurrency: args.concurrency,
    kinds: args.kinds,
    models: args.models,
    ...(args.only ? { only: args.only } : {}),
    deadlineMs: args.deadlineMs,
    onCall: (result, done, total) => {
      counts[result.outcome]++;
      const { index, label } = result.scenario;
      const again = repeatArgs({ seed: args.seed, kinds: args.kinds, models: args.models }, index);
      if (result.outcome !== 'survived') {
        progress(`${result.outcome.toUpperCase()} #${index} (${again}) ${label}: ${result.detail}`);
      }
      if (result.unexplainedCloses.length) {
        const closes = result.unexplainedCloses.join('; ');
        progress(`UNEXPLAINED CLOSE #${index} (${again}) ${label}: ${closes}`);
      }
      // A line every 10 calls or 10 s, and the last.
      if (done % 10 === 0 || done === total || performance.now() - lastLine > 10_000) {
        lastLine = performance.now();
        progress(progressLine(result, done, total, counts));
      }
    },
  });
}

async function main(): Promise<number> {
  const args = parseSoakArgs(process.argv.slice(2));
  // Never reach a real Gemini or flip to Vertex from the developer's shell.
  process.env.GOOGLE_GENAI_USE_VERTEXAI = '';
  process.env.GOOGLE_GENAI_USE_ENTERPRISE = '';
  // The plugin logs each failed connect attempt as an error even when the call recovers: the
  // report says what happened, so only fatal lines show (LOG_LEVEL=error to see them).
  process.env.LOG_LEVEL ??= 'fatal';
  initializeLogger({ pretty: false, level: process.env.LOG_LEVEL });
  progress(`machine    ${machineLine()}`);
  const round = (_key: string, v: unknown) =>
    typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v;

  if (args.long) {
    const report: LongReport = await runLongCall({
      minutes: args.minutes,
      measureAv: args.measureAv,
      onProgress: progress,
    });
    const out = args.json ? [JSON.stringify(report, round, 2)] : longLines(report);
    process.stdout.write(`${out.join('\n')}\n`);
    return report.unanswered === 0 ? 0 : 1;
  }
  progress(
    `soak       ${args.only ? args.only.length : args.calls} calls, seed ${args.seed} (repeat with --seed ${args.seed})`,
  );
  const report = await soak(args);
  if (args.json) {
    const { results, ...summary } = report;
    const perCall = results.map((r) => ({
      index: r.scenario.index,
      label: r.scenario.label,
      outcome: r.outcome,
      recoveryMs: r.recoveryMs,
      connections: r.connections,
      unexplainedCloses: r.unexplainedCloses,
      wallMs: r.wallMs,
    }));
    process.stdout.write(
      `${JSON.stringify({ machine: machine(), ...summary, perCall }, round, 2)}\n`,
    );
  } else {
    process.stdout.write(`${soakLines(report).join('\n')}\n`);
  }
  return report.dropped === 0 && report.hung === 0 ? 0 : 1;
}

const fail = failWith('soak');
// An error no call handled would end a worker's job process: counted and shown, and the run fails.
const stray: string[] = [];
const strayError = (error: unknown) => {
  stray.push(oneLine(error));
  progress(`UNCAUGHT ${oneLine(error)}`);
};
process.on('uncaughtException', strayError);
process.on('unhandledRejection', strayError);

runCli(
  'soak',
  USAGE,
  async () => {
    const code = await main();
    if (stray.length)
      progress(`${stray.length} uncaught error(s) during the run (see UNCAUGHT lines)`);
    return stray.length ? 1 : code;
  },
  fail,
);

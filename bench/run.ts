/**
 * `npm run bench [-- --replies N --starts N --suite gemini,avatar --long --json]`:
 * - gemini: forwarding latency and session start overhead against the in-process fake Gemini Live
 *   server, through the real plugin and AgentSession;
 * - avatar: lip-sync and per-frame cost, and the A/V offset through a real AudioSource (10 minutes
 *   with --long).
 * - video: JPEG encode cost per 1280x720 camera frame, and the forwarding latency with video input
 *   on versus off (not in the default run: `--suite video`).
 * - gemini-avatar: Gemini's face (Live Avatar): decode + publish cost per 704x1280 picture, memory,
 *   first bytes to first picture, A/V offset and drift (2 minutes, 10 with --long; not in the
 *   default run: `--suite gemini-avatar`).
 * - cold starts (with gemini, `--cold N`): N fresh processes each making one start without, and N
 *   with, the worker's prewarm (job processes are one-shot: every call is a cold start).
 * - turns: end of the user's speech to the start of the reply, with Gemini's turn detection and
 *   with LiveKit's (each STT), on the same speech against the fake (`--turns N` per mode).
 * - capacity: N concurrent calls, each in its own job process, avatar and video input on, ramping
 *   N (`--calls 1,4,8`, `--seconds S`); per N the cost per call and whether any call degraded,
 *   then the WebRTC encoding of the avatar's video, estimated apart (not in the default run:
 *   `--suite capacity`; see bench/capacity/).
 * Prints numbers and targets; asserts nothing. Exit 0 when done, 1 (one line) when a run failed.
 */
import { initializeLogger } from '@livekit/agents';
import {
  failWith,
  integerOption,
  listOption,
  machine,
  oneOption,
  parseOptions,
  positiveOption,
  runCli,
} from './cli.ts';
import { type AvatarReport, avatarLines, runAvatarBench } from './avatar.ts';
import { MODELS, type ModelId } from './bench_call.ts';
import { type ForwardingResult, SPIKE_MS, type Spike, benchForwarding } from './forwarding.ts';
import {
  type ColdStartResult,
  type StartSample,
  type StartupResult,
  benchColdStarts,
  benchStartup,
  startupFake,
} from './startup.ts';
import { type Summary, ms, summarize } from './stats.ts';
import { type TurnLatencyResult, TURN_MODES, benchTurnLatency } from './turns.ts';
import { type VideoReport, runVideoBench, videoLines } from './video.ts';
import {
  type CapacityReport,
  RUNTIMES,
  type Runtime,
  capacityLines,
  runCapacityBench,
} from './capacity/capacity.ts';
import {
  type GeminiAvatarReport,
  geminiAvatarLines,
  runGeminiAvatarBench,
} from './gemini_avatar.ts';

export const TARGETS = { forwardingP99Ms: 5, startOverheadMs: 50 } as const;

const USAGE =
  'usage: npm run bench -- [--suite gemini,avatar,turns,video,gemini-avatar,capacity] [--long] [--replies N] [--starts N] [--cold N] [--turns N] [--reply-ms MS] [--pace X] [--chunk-ms MS] [--models 3.8,3.1,2.5] [--calls 1,4,8] [--seconds S] [--runtime tsx|strip|js] [--webrtc-seconds S] [--keep-going] [--json]';

const SUITES = ['gemini', 'avatar', 'turns', 'video', 'gemini-avatar', 'capacity'] as const;
type Suite = (typeof SUITES)[number];
/** What runs without --suite. */
const DEFAULT_SUITES: readonly Suite[] = ['gemini', 'avatar', 'turns'];

interface BenchArgs {
  replies: number;
  starts: number;
  /** Fresh processes per cold-start variant (without / with the worker's prewarm). */
  cold: number;
  /** Spoken turns per turn-detection mode (the turns suite). */
  turns: number;
  replyMs: number;
  paceFactor: number;
  chunkMs: number;
  models: ModelId[];
  json: boolean;
  suites: Suite[];
  long: boolean;
  /** Capacity: concurrent calls per step, seconds per call, go on past a full step. */
  calls: number[];
  seconds: number;
  /** Capacity: how the job processes run the TypeScript (tsx, Node's stripping, compiled). */
  runtime: Runtime;
  /** Capacity: seconds of each WebRTC estimate (0: none). */
  webrtcSeconds: number;
  keepGoing: boolean;
}

function parseBenchArgs(argv: string[]): BenchArgs {
  const values = parseOptions(argv, {
    replies: { type: 'string', default: '30' },
    starts: { type: 'string', default: '20' },
    cold: { type: 'string', default: '5' },
    turns: { type: 'string', default: '10' },
    'reply-ms': { type: 'string', default: '2000' },
    pace: { type: 'string', default: '4' },
    'chunk-ms': { type: 'string', default: '40' },
    models: { type: 'string', default: Object.keys(MODELS).join(',') },
    json: { type: 'boolean', default: false },
    suite: { type: 'string', default: DEFAULT_SUITES.join(',') },
    long: { type: 'boolean', default: false },
    calls: { type: 'string', default: '1,4,8,12,16,20,24' },
    seconds: { type: 'string', default: '60' },
    runtime: { type: 'string', default: 'tsx' },
    'webrtc-seconds': { type: 'string', default: '10' },
    'keep-going': { type: 'boolean', default: false },
  });
  const modelKeys = Object.keys(MODELS) as (keyof typeof MODELS)[];
  return {
    replies: integerOption('replies', values.replies, 0),
    starts: integerOption('starts', values.starts, 0),
    cold: integerOption('cold', values.cold, 0),
    turns: integerOption('turns', values.turns, 1),
    replyMs: positiveOption('reply-ms', values['reply-ms']),
    paceFactor: positiveOption('pace', values.pace),
    chunkMs: positiveOption('chunk-ms', values['chunk-ms']),
    models: listOption('models', values.models, modelKeys).map((key) => MODELS[key]),
    json: values.json,
    suites: listOption('suite', values.suite, SUITES),
    long: values.long,
    calls: values.calls.split(',').map((n) => integerOption('calls', n.trim(), 1)),
    seconds: positiveOption('seconds', values.seconds),
    runtime: oneOption('runtime', values.runtime, RUNTIMES),
    webrtcSeconds: integerOption('webrtc-seconds', values['webrtc-seconds'], 0),
    keepGoing: values['keep-going'],
  };
}

interface StartupReport {
  model: ModelId;
  overhead: Summary;
  total: Summary;
  /** p50 of each phase, ms from just before createCallSession. */
  phasesP50: Record<keyof StartSample, number>;
  /** Every start, in run order (the first of the process is the cold one). */
  samples: StartSample[];
}

function startupReport(result: StartupResult): StartupReport {
  const keys = Object.keys(result.samples[0] ?? {}) as (keyof StartSample)[];
  const phasesP50 = Object.fromEntries(
    keys.map((k) => [k, summarize(result.samples.map((s) => s[k])).p50]),
  ) as Record<keyof StartSample, number>;
  return {
    model: result.model,
    overhead: summarize(result.samples.map((s) => s.overhead)),
    total: summarize(result.samples.map((s) => s.firstFrame)),
    phasesP50,
    samples: result.samples,
  };
}

interface ColdReport {
  model: ModelId;
  /** Start overhead of each process's first start, without / with the worker's prewarm. */
  without: Summary;
  with: Summary;
  /** How long the worker's prewarm took. */
  prewarmMs: Summary;
  samples: ColdStartResult;
}

function coldReport(result: ColdStartResult): ColdReport {
  return {
    model: result.model,
    without: summarize(result.without.map((s) => s.overhead)),
    with: summarize(result.with.map((s) => s.overhead)),
    prewarmMs: summarize(result.prewarmMs),
    samples: result,
  };
}

interface ForwardingReport {
  model: ModelId;
  replies: number;
  latency: Summary;
  /** The first chunk of each reply (also waits for the framework to set up the generation). */
  firstChunk: Summary;
  /** generateReply() -> first frame at the output, per reply (includes the fake's turn). */
  replyToFirstFrame: Summary;
  /** Chunks slower than `spikeMs`, and how many of them overlapped a GC pause. */
  spikeMs: number;
  spikes: number;
  spikesDuringGc: number;
  /** The slowest chunks, slowest first. */
  worst: Spike[];
}

function forwardingReport(result: ForwardingResult): ForwardingReport {
  return {
    model: result.model,
    replies: result.replies,
    latency: summarize(result.latenciesMs),
    firstChunk: summarize(result.firstChunkMs),
    replyToFirstFrame: summarize(result.firstFrameMs),
    spikeMs: SPIKE_MS,
    spikes: result.spikes.length,
    spikesDuringGc: result.spikes.filter((s) => s.gcMs > 0).length,
    worst: [...result.spikes].sort((a, b) => b.ms - a.ms).slice(0, 5),
  };
}

/** A start's phases as `name=time`, in the order they happen. */
function phases(p: StartSample): string {
  return [
    `created=${ms(p.created)}`,
    `started=${ms(p.started)}`,
    `setup#1@fake=${ms(p.firstSetupReceived)}`,
    `setup@fake=${ms(p.setupReceived)}`,
    `setupComplete=${ms(p.setupComplete)}`,
    `request@fake=${ms(p.requestReceived)}`,
    `audio@fake=${ms(p.firstAudioSent)}`,
    `frame=${ms(p.firstFrame)}`,
    `sockets=${p.connections}`,
  ].join(' ');
}

interface TurnReport {
  mode: string;
  latency: Summary;
  /** The end-of-turn model's probabilities (livekit modes), lowest and highest. */
  eot?: { min: number; max: number };
}

function turnReport(result: TurnLatencyResult): TurnReport {
  const p = result.eotProbabilities;
  return {
    mode: result.mode,
    latency: summarize(result.latenciesMs),
    ...(p.length ? { eot: { min: Math.min(...p), max: Math.max(...p) } } : {}),
  };
}

function turnLines(turns: TurnReport[]): string[] {
  return turns.map((t) => {
    const l = t.latency;
    const eot = t.eot ? `  end-of-turn p=${t.eot.min.toFixed(2)}..${t.eot.max.toFixed(2)}` : '';
    return `turn       ${t.mode.padEnd(16)}  n=${l.n}  end of speech -> reply p50=${ms(l.p50)} p90=${ms(l.p90)} max=${ms(l.max)}${eot}`;
  });
}

function verdict(ok: boolean): string {
  return ok ? 'ok' : 'MISSED';
}

function printTable(
  args: BenchArgs,
  forwarding: ForwardingReport[],
  startup: StartupReport[],
  cold: ColdReport[],
  avatar: AvatarReport | undefined,
  turns: TurnReport[],
  video?: VideoReport,
  geminiAvatar?: GeminiAvatarReport,
  capacity?: CapacityReport,
): void {
  const m = machine();
  const lines = [
    `machine    ${m.cpu} x${m.cores}, node ${m.node}, ${m.platform}`,
    `fake       chunk=${args.chunkMs}ms pace=${args.paceFactor}x reply=${args.replyMs}ms`,
  ];
  const width = Math.max(...Object.values(MODELS).map((id) => id.length));
  for (const f of forwarding) {
    const l = f.latency;
    const ok = l.p99 <= TARGETS.forwardingP99Ms;
    lines.push(
      `forwarding ${f.model.padEnd(width)}  n=${l.n}  p50=${ms(l.p50)} p90=${ms(l.p90)} p99=${ms(l.p99)} max=${ms(l.max)}  (target p99<=${TARGETS.forwardingP99Ms}ms: ${verdict(ok)})`,
    );
    const worst = f.worst[0];
    const where = worst
      ? ` worst=${ms(worst.ms)} at reply ${worst.reply} chunk ${worst.chunk}`
      : '';
    lines.push(
      `           ${''.padEnd(width)}  first chunk of a reply p50=${ms(f.firstChunk.p50)} max=${ms(f.firstChunk.max)}  >${f.spikeMs}ms: ${f.spikes} (${f.spikesDuringGc} overlapping GC)${where}`,
    );
  }
  for (const s of startup) {
    const o = s.overhead;
    const t = s.total;
    const ok = o.p50 <= TARGETS.startOverheadMs;
    lines.push(
      `start      ${s.model.padEnd(width)}  n=${o.n}  overhead p50=${ms(o.p50)} p99=${ms(o.p99)} max=${ms(o.max)}  total p50=${ms(t.p50)} p99=${ms(t.p99)} max=${ms(t.max)}  (target overhead<=${TARGETS.startOverheadMs}ms at p50: ${verdict(ok)})`,
    );
    const pad = `           ${''.padEnd(width)}  `;
    // The process's first start, with no prewarm (the `cold` lines measure it in fresh processes).
    const first =
      s === startup[0]
        ? `first in the process, no prewarm: overhead=${ms(o.first)}`
        : `first of this model: overhead=${ms(o.first)}`;
    lines.push(`${pad}first start, ${first} total=${ms(t.first)}  ${phases(s.samples[0]!)}`);
    lines.push(`${pad}p50 from job start: ${phases(s.phasesP50)}`);
  }
  for (const c of cold) {
    // Job processes are one-shot: every call is the first start of its process, after prewarm.
    const ok = c.with.p50 <= TARGETS.startOverheadMs;
    lines.push(
      `cold       ${c.model.padEnd(width)}  processes=${c.with.n}+${c.without.n}  overhead p50 with the worker's prewarm=${ms(c.with.p50)} (max ${ms(c.with.max)})  without=${ms(c.without.p50)} (max ${ms(c.without.max)})  prewarm p50=${ms(c.prewarmMs.p50)}  (target p50<=${TARGETS.startOverheadMs}ms with prewarm: ${verdict(ok)})`,
    );
  }
  if (avatar) lines.push(...avatarLines(avatar));
  lines.push(...turnLines(turns));
  if (video) lines.push(...videoLines(video));
  if (geminiAvatar) lines.push(...geminiAvatarLines(geminiAvatar));
  if (capacity) lines.push(...capacityLines(capacity));
  process.stdout.write(lines.join('\n') + '\n');
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  // Never reach a real Gemini or flip to Vertex from the developer's shell.
  process.env.GOOGLE_GENAI_USE_VERTEXAI = '';
  process.env.GOOGLE_GENAI_USE_ENTERPRISE = '';
  initializeLogger({ pretty: false, level: 'error' });

  // Starts first, so the first start is the process's cold one (as a fresh job process is).
  const gemini = args.suites.includes('gemini');
  const startup: StartupReport[] = [];
  if (gemini && args.starts > 0) {
    const fake = await startupFake(300);
    try {
      for (const model of args.models) {
        startup.push(startupReport(await benchStartup(fake, { model, starts: args.starts })));
      }
    } finally {
      await fake.close();
    }
  }
  const cold: ColdReport[] = [];
  if (gemini && args.cold > 0) {
    for (const model of args.models) cold.push(coldReport(await benchColdStarts(model, args.cold)));
  }
  const forwarding: ForwardingReport[] = [];
  if (gemini && args.replies > 0) {
    for (const model of args.models) {
      const result = await benchForwarding({
        model,
        replies: args.replies,
        replyMs: args.replyMs,
        paceFactor: args.paceFactor,
        chunkMs: args.chunkMs,
      });
      forwarding.push(forwardingReport(result));
    }
  }

  const avatar = args.suites.includes('avatar')
    ? await runAvatarBench({ long: args.long })
    : undefined;

  const turns: TurnReport[] = [];
  if (args.suites.includes('turns')) {
    for (const mode of TURN_MODES) turns.push(turnReport(await benchTurnLatency(mode, args.turns)));
  }

  const video = args.suites.includes('video')
    ? await runVideoBench({
        models: args.models,
        replies: args.replies,
        replyMs: args.replyMs,
        paceFactor: args.paceFactor,
        chunkMs: args.chunkMs,
      })
    : undefined;

  const geminiAvatar = args.suites.includes('gemini-avatar')
    ? await runGeminiAvatarBench(args.long)
    : undefined;

  const capacity = args.suites.includes('capacity')
    ? await runCapacityBench({
        ramp: args.calls,
        seconds: args.seconds,
        replyMs: args.replyMs,
        keepGoing: args.keepGoing,
        runtime: args.runtime,
        webrtcSeconds: args.webrtcSeconds,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      })
    : undefined;

  if (args.json) {
    const json = {
      machine: machine(),
      args,
      targets: TARGETS,
      forwarding,
      startup,
      cold,
      avatar,
      turns,
      video,
      geminiAvatar,
      capacity,
    };
    // Microsecond resolution is all the clocks give.
    const round = (_key: string, v: unknown) =>
      typeof v === 'number' && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v;
    process.stdout.write(JSON.stringify(json, round, 2) + '\n');
  } else {
    printTable(args, forwarding, startup, cold, avatar, turns, video, geminiAvatar, capacity);
  }
}

// A stray error from the framework or the fake ends the run with one line, like any failure.
const fail = failWith('bench');
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

runCli('bench', USAGE, async () => {
  await main();
  return 0;
});

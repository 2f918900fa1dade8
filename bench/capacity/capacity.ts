/**
 * `npm run bench -- --suite capacity`: how many avatar calls one machine carries.
 *
 * For each N of a ramp, N job processes (job_process.ts, forked as the framework forks them) each
 * import the worker's agent module, run its prewarm, and then all run one call at once for
 * `seconds`: avatar on (512x512 at 30 fps by default), video input on (a 30 fps 1280x720 camera),
 * the user and the agent speaking in turns against the fake Gemini Live server, which runs here,
 * in the bench's own process, so its work is not counted as the calls'.
 *
 * Per N: CPU per call (CPU ms per second of call, every thread of the job process, from the
 * kernel's accounting), RSS and heap per job process (idle after prewarm, and at the end of the
 * call), avatar frames late or dropped, dry audio chunks, the Gemini forwarding latency (the fake
 * sending a reply chunk to that audio reaching the call's audio output, across processes on the
 * wall clock) and the A/V offset. How busy the whole machine was is printed too: other work on
 * it (other processes) shows there, not in the per-call figures.
 *
 * The ramp stops after the first N with a late frame, a dry chunk or an unanswered turn.
 */
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { MIN_UNCHANGED_FPS } from '../../src/avatar/publisher.ts';
import { FakeGeminiServer, type Json } from '../../tools/fake_gemini/server.ts';
import { MODELS } from '../bench_call.ts';
import { matchBySamples } from '../forwarding.ts';
import { type Summary, ms, percentile, summarize } from '../stats.ts';
import type { CallReport, ChildMessage, ReadyReport } from './reports.ts';
import { type WebrtcCost, avatarFrames, cameraI420, webrtcCost } from './webrtc_cost.ts';

const JOB_SCRIPT = fileURLToPath(new URL('./job_process.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** Where `--runtime js` compiles the job process and the worker (bench/capacity/tsconfig.js.json). */
const JS_OUT = fileURLToPath(new URL('../../out/capacity-js/', import.meta.url));

/**
 * How the job processes run the worker's TypeScript: through tsx, as `npm start` does (the bench's
 * own exec arguments); with Node's type stripping (`node src/agent.ts`, Node 22.18+); or compiled
 * to JavaScript, as the Docker image runs it (`npm run build`).
 */
export const RUNTIMES = ['tsx', 'strip', 'js'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/**
 * A frame that found at least this much audio queued in the avatar's source (200 ms) may have
 * waited for room: its latency is not counted as forwarding.
 */
const HELD_BACK_MS = 200 - 2 * 40;

export const CAPACITY_TARGETS = { calls: 16, rssMb: 150, forwardingP99DeltaMs: 5 } as const;

export interface CapacityOptions {
  /** Concurrent calls per step, in order. */
  ramp: number[];
  /** How long each call runs, s. */
  seconds: number;
  /** Reply audio per turn, ms. */
  replyMs: number;
  /** Extra environment for the job processes (e.g. AVATAR_SIZE). */
  env?: Record<string, string>;
  /** How the job processes run the TypeScript. Default 'tsx'. */
  runtime?: Runtime;
  /** Go on after a step that failed. */
  keepGoing?: boolean;
  /** Seconds of each WebRTC estimate (0: none). Default 10. */
  webrtcSeconds?: number;
  onProgress?: (line: string) => void;
}

export interface StepReport {
  calls: number;
  /** CPU ms per second of call, per job process. */
  cpuMsPerS: Summary;
  /** Idle (prewarmed) and end-of-call memory per job process, MB. */
  idleRssMb: Summary;
  idleHeapMb: Summary;
  endRssMb: Summary;
  /** RSS through the calls (once a second, every job process): its median and its peak. */
  callRssMb: Summary;
  /** Private pages per job process, idle and at the end (what each adds to the machine). */
  idlePrivateMb: Summary;
  endPrivateMb: Summary;
  endHeapMb: Summary;
  importCpuMs: Summary;
  prewarmCpuMs: Summary;
  turns: number;
  unanswered: number;
  frames: number;
  /** Frames that went to the avatar's video track (the WebRTC estimate scales with them). */
  capturedFrames: number;
  /** Frames that missed their slot (skipped), and frames rendered over half a slot late. */
  dropped: number;
  lateHalf: number;
  frameDelayP99Ms: number;
  dryChunks: number;
  forwarding: Summary;
  /** Replies whose audio could not be matched to what the fake sent (none expected). */
  unmatchedReplies: number;
  avOffsetP99Ms: number;
  cameraFrames: number;
  cameraFramesRead: number;
  jpegsSent: number;
  /** CPU ms per second of call by thread name, summed over the calls and divided by N. */
  threadsCpuMsPerS: Record<string, number>;
  /** The fake Gemini server and the bench (this process): CPU ms per second. */
  fakeCpuMsPerS: number;
  /** The whole machine during the calls: busy share of all cores, and what these calls used. */
  machineBusy: number;
  callsShare: number;
  ok: boolean;
}

export interface CapacityReport {
  runtime: Runtime;
  seconds: number;
  replyMs: number;
  cores: number;
  steps: StepReport[];
  /** Largest N with no dropped frame, no dry chunk and every turn answered (0: none). */
  capacity: number;
  /** The WebRTC work a call adds (estimated apart): the avatar sent, the user's camera received. */
  webrtc?: { avatar: WebrtcCost; camera: WebrtcCost };
}

/**
 * The bitrates LiveKit picks by default (its video presets): up to 960x540 (the 512x512 avatar)
 * 800 kbps, up to 1280x720 (a webcam) 1.7 Mbps.
 */
export const LIVEKIT_BITRATES = { h540: 800_000, h720: 1_700_000 } as const;

interface Job {
  index: number;
  child: ChildProcess;
  ready: Promise<ReadyReport>;
  result: Promise<CallReport>;
  stderr: () => string;
}

interface JobCommand {
  script: string;
  execArgv: string[];
}

/** The job process's script and exec arguments for `runtime` (compiling it for 'js'). */
function jobCommand(runtime: Runtime): JobCommand {
  if (runtime === 'tsx') return { script: JOB_SCRIPT, execArgv: process.execArgv };
  if (runtime === 'strip') {
    // `process.features.typescript` is newer than the Node 20 types.
    if (!(process.features as { typescript?: string | false }).typescript) {
      throw new Error(
        `--runtime strip needs Node's type stripping (Node 22.18 or newer; this is ${process.version})`,
      );
    }
    return { script: JOB_SCRIPT, execArgv: [] };
  }
  execFileSync(
    process.execPath,
    [
      fileURLToPath(import.meta.resolve('typescript/bin/tsc')),
      '-p',
      fileURLToPath(new URL('./tsconfig.js.json', import.meta.url)),
    ],
    { stdio: 'inherit' },
  );
  // The compiled settings module finds avatars/ and contexts/ two levels above it, as in src/.
  for (const dir of ['avatars', 'contexts']) {
    try {
      symlinkSync(`${REPO}${dir}`, `${JS_OUT}${dir}`);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return { script: `${JS_OUT}bench/capacity/job_process.js`, execArgv: [] };
}

function forkJob(index: number, env: Record<string, string>, command: JobCommand): Job {
  // As the framework forks a job process: the worker's exec arguments (tsx, when it runs TS).
  const child = fork(command.script, [], {
    cwd: REPO,
    env,
    execArgv: command.execArgv,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_resolve, reject) =>
    child.once('exit', (code, signal) =>
      reject(
        new Error(
          `job process ${index} exited (${signal ?? code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
        ),
      ),
    ),
  );
  exited.catch(() => {});
  const next = <T extends ChildMessage>(type: T['type']) =>
    Promise.race([
      new Promise<T>((resolve) => {
        const on = (message: ChildMessage) => {
          if (message.type !== type) return;
          child.off('message', on);
          resolve(message as T);
        };
        child.on('message', on);
      }),
      exited,
    ]);
  const ready = next<ReadyReport>('ready');
  const result = next<CallReport>('result');
  ready.catch(() => {});
  result.catch(() => {});
  return { index, child, ready, result, stderr: () => stderr };
}

function exitOrKill(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Busy and total jiffies of the whole machine (/proc/stat); undefined where there is none. */
function machineTimes(): { busy: number; total: number } | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
    const values = cpu.map(Number);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const total = values.reduce((s, v) => s + v, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** Reply audio chunks the fake sent on `conns`, grouped by reply (a turnComplete ends one). */
function sentReplies(fake: FakeGeminiServer, conns: Set<number>) {
  const replies: { at: number; samples: number }[][] = [];
  let current: { at: number; samples: number }[] = [];
  for (const entry of fake.sent) {
    if (!conns.has(entry.conn)) continue;
    const content: Json = entry.msg?.serverContent;
    for (const part of content?.modelTurn?.parts ?? []) {
      const data = part?.inlineData?.data;
      if (typeof data === 'string') {
        current.push({
          at: performance.timeOrigin + entry.at,
          samples: Buffer.byteLength(data, 'base64') / 2,
        });
      }
    }
    if (content?.turnComplete && current.length) {
      replies.push(current);
      current = [];
    }
  }
  return replies;
}

/** Forwarding latencies of one call: each reply's chunks matched to its output frames. */
function callLatencies(
  fake: FakeGeminiServer,
  apiKey: string,
  result: CallReport,
): { latencies: number[]; unmatched: number } {
  const conns = new Set(
    fake.connections.filter((c) => c.path.includes(`key=${apiKey}`)).map((c) => c.index),
  );
  const sent = sentReplies(fake, conns);
  const latencies: number[] = [];
  let unmatched = Math.abs(sent.length - result.replies.length);
  for (let i = 0; i < Math.min(sent.length, result.replies.length); i++) {
    let cumulative = 0;
    const frames = result.replies[i]!.map(([at, samples, queuedMs]) => {
      cumulative += samples;
      return { at, samples, cumulative, queuedMs };
    });
    try {
      const arrivals = matchBySamples(sent[i]!, frames);
      let j = 0;
      arrivals.forEach((arrived, k) => {
        while (frames[j]!.at < arrived) j++;
        // Gemini sends faster than real time: once the source's queue is full, the sink holds
        // frames back until there is room, and their wait is playout, not forwarding.
        if (frames[j]!.queuedMs <= HELD_BACK_MS) latencies.push(arrived - sent[i]![k]!.at);
      });
    } catch {
      unmatched++;
    }
  }
  return { latencies, unmatched };
}

function perThread(results: readonly CallReport[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    for (const [name, used] of Object.entries(r.threadsCpuMs)) {
      out[name] = (out[name] ?? 0) + used / (r.callMs / 1000) / results.length;
    }
  }
  return out;
}

async function runStep(
  calls: number,
  options: CapacityOptions,
  command: JobCommand,
): Promise<StepReport> {
  const say = options.onProgress ?? (() => {});
  const fake = await FakeGeminiServer.start({
    respond: () => ({ text: 'A capacity bench reply.', audioMs: options.replyMs }),
  });
  const jobs: Job[] = [];
  try {
    const baseEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      GOOGLE_GEMINI_BASE_URL: fake.baseUrl,
      GOOGLE_GENAI_USE_VERTEXAI: 'false',
      GEMINI_MODEL: MODELS['3.8'],
      AGENT_GREETING: '',
      AVATAR_ENABLED: 'true',
      VIDEO_INPUT: 'camera',
      LOG_LEVEL: 'error',
      ...options.env,
    };
    for (let i = 0; i < calls; i++) {
      jobs.push(forkJob(i, { ...baseEnv, GOOGLE_API_KEY: `capacity-${i}` }, command));
    }
    const ready = await Promise.all(jobs.map((j) => j.ready));
    say(`capacity   ${calls} job process(es) prewarmed; calls running for ${options.seconds} s`);
    const machineStart = machineTimes();
    const fakeCpu = process.cpuUsage();
    const started = performance.now();
    for (const job of jobs) job.child.send({ type: 'start', durationMs: options.seconds * 1000 });
    const results = await Promise.all(jobs.map((j) => j.result));
    const wallS = (performance.now() - started) / 1000;
    const fakeUsed = process.cpuUsage(fakeCpu);
    const machineEnd = machineTimes();

    const latencies: number[] = [];
    let unmatchedReplies = 0;
    results.forEach((r, i) => {
      const call = callLatencies(fake, `capacity-${i}`, r);
      latencies.push(...call.latencies);
      unmatchedReplies += call.unmatched;
    });
    const cpuMsPerS = results.map((r) => r.cpuMs / (r.callMs / 1000));
    const sum = (f: (r: CallReport) => number) => results.reduce((s, r) => s + f(r), 0);
    const delays = results.flatMap((r) => r.frameDelaysMs).sort((a, b) => a - b);
    const offsets = results.flatMap((r) => r.avOffsetsMs).sort((a, b) => a - b);
    const busy =
      machineStart && machineEnd
        ? (machineEnd.busy - machineStart.busy) / (machineEnd.total - machineStart.total)
        : NaN;
    const cores = os.cpus().length;
    const callsShare = cpuMsPerS.reduce((s, v) => s + v, 0) / 1000 / cores;
    const dropped = sum((r) => r.skipped);
    const dryChunks = sum((r) => r.dryChunks);
    const unanswered = sum((r) => r.unanswered);
    return {
      calls,
      cpuMsPerS: summarize(cpuMsPerS),
      idleRssMb: summarize(ready.map((r) => r.idle.rssMb)),
      idleHeapMb: summarize(ready.map((r) => r.idle.heapUsedMb)),
      endRssMb: summarize(results.map((r) => r.end.rssMb)),
      callRssMb: summarize(results.flatMap((r) => r.rssMb)),
      idlePrivateMb: summarize(ready.map((r) => r.idle.privateMb)),
      endPrivateMb: summarize(results.map((r) => r.end.privateMb)),
      endHeapMb: summarize(results.map((r) => r.end.heapUsedMb)),
      importCpuMs: summarize(ready.map((r) => r.importCpuMs)),
      prewarmCpuMs: summarize(ready.map((r) => r.prewarmCpuMs)),
      turns: sum((r) => r.turns),
      unanswered,
      frames: sum((r) => r.frames),
      capturedFrames: sum((r) => r.capturedFrames),
      dropped,
      lateHalf: sum((r) => r.lateHalf),
      frameDelayP99Ms: percentile(delays, 99),
      dryChunks,
      forwarding: summarize(latencies),
      unmatchedReplies,
      avOffsetP99Ms: percentile(offsets, 99),
      cameraFrames: sum((r) => r.cameraFrames),
      cameraFramesRead: sum((r) => r.cameraFramesRead),
      jpegsSent: sum((r) => r.jpegsSent),
      threadsCpuMsPerS: perThread(results),
      fakeCpuMsPerS: (fakeUsed.user + fakeUsed.system) / 1000 / wallS,
      machineBusy: busy,
      callsShare,
      ok: dropped === 0 && dryChunks === 0 && unanswered === 0,
    };
  } finally {
    // A job process exits on its own once it has reported; one that does not is killed.
    await Promise.all(jobs.map((job) => exitOrKill(job.child, 10_000)));
    await fake.close();
  }
}

export async function runCapacityBench(options: CapacityOptions): Promise<CapacityReport> {
  const runtime = options.runtime ?? 'tsx';
  const command = jobCommand(runtime);
  const steps: StepReport[] = [];
  for (const calls of options.ramp) {
    const step = await runStep(calls, options, command);
    steps.push(step);
    options.onProgress?.(stepLines(step)[0]!);
    if (!step.ok && !options.keepGoing) break;
  }
  const passed = steps.filter((s) => s.ok).map((s) => s.calls);
  const seconds = options.webrtcSeconds ?? 10;
  let webrtc: CapacityReport['webrtc'];
  if (seconds > 0) {
    options.onProgress?.(`capacity   estimating WebRTC encode and decode (${seconds} s each)`);
    const avatar = await webrtcCost({
      width: 512,
      height: 512,
      fps: 30,
      bitrate: LIVEKIT_BITRATES.h540,
      seconds,
      frames: await avatarFrames(512, 512, 30),
    });
    const camera = await webrtcCost({
      width: 1280,
      height: 720,
      fps: 30,
      bitrate: LIVEKIT_BITRATES.h720,
      seconds,
      frames: cameraI420(),
    });
    webrtc = { avatar, camera };
  }
  return {
    runtime,
    seconds: options.seconds,
    replyMs: options.replyMs,
    cores: os.cpus().length,
    steps,
    capacity: passed.length ? Math.max(...passed) : 0,
    ...(webrtc ? { webrtc } : {}),
  };
}

const pct = (v: number) => (Number.isFinite(v) ? `${Math.round(v * 100)}%` : '-');
const mb = (v: number) => `${v.toFixed(0)}MB`;

function stepLines(s: StepReport): string[] {
  const c = s.cpuMsPerS;
  return [
    `N=${String(s.calls).padEnd(3)} cpu/call p50=${c.p50.toFixed(0)}ms/s max=${c.max.toFixed(0)}ms/s  rss idle=${mb(s.idleRssMb.p50)} in call p50=${mb(s.callRssMb.p50)} max=${mb(s.callRssMb.max)} end p50=${mb(s.endRssMb.p50)}  private idle=${mb(s.idlePrivateMb.p50)} end=${mb(s.endPrivateMb.p50)}  heap end=${mb(s.endHeapMb.p50)}  frames=${s.frames} (to the track ${s.capturedFrames}) dropped=${s.dropped} late>½=${s.lateHalf} delay p99=${ms(s.frameDelayP99Ms)}  dry=${s.dryChunks}  fwd p50=${ms(s.forwarding.p50)} p99=${ms(s.forwarding.p99)}  a/v p99=${ms(s.avOffsetP99Ms)}  turns=${s.turns} unanswered=${s.unanswered}  ${s.ok ? 'ok' : 'FULL'}`,
    `      by thread (ms/s per call): ${Object.entries(s.threadsCpuMsPerS)
      .sort((a, b) => b[1] - a[1])
      .filter(([, v]) => v >= 1)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ')}`,
    `      machine busy ${pct(s.machineBusy)} of ${os.cpus().length} cores (these calls ${pct(s.callsShare)}, fake Gemini + bench ${(s.fakeCpuMsPerS / 10).toFixed(0)}% of a core); import ${s.importCpuMs.p50.toFixed(0)}ms + prewarm ${s.prewarmCpuMs.p50.toFixed(0)}ms CPU per process; camera frames ${s.cameraFrames} (read ${s.cameraFramesRead}), JPEGs to Gemini ${s.jpegsSent}${s.unmatchedReplies ? `; ${s.unmatchedReplies} replies unmatched` : ''}`,
  ];
}

export function capacityLines(r: CapacityReport): string[] {
  const ok = (pass: boolean) => (pass ? 'ok' : 'MISSED');
  const lines = [
    `capacity   ${r.seconds}s calls, avatar + video input on, user ${1.5}s / agent ${r.replyMs / 1000}s turns, job processes on ${r.runtime === 'js' ? 'compiled JavaScript' : r.runtime === 'strip' ? "Node's type stripping" : 'tsx'}; per step:`,
    ...r.steps.flatMap(stepLines),
  ];
  const one = r.steps.find((s) => s.calls === 1);
  const best = r.steps.find((s) => s.calls === r.capacity);
  lines.push(
    `capacity   largest N with no dropped frame, no dry audio, every turn answered: ${r.capacity} on ${r.cores} cores, WebRTC encoding excluded  (target >=${CAPACITY_TARGETS.calls}: ${ok(r.capacity >= CAPACITY_TARGETS.calls)})`,
  );
  if (r.webrtc) lines.push(...webrtcLines(r, one));
  if (one && best) {
    const delta = best.forwarding.p99 - one.forwarding.p99;
    lines.push(
      `           forwarding p99 at N=${best.calls} is ${ms(delta)} over N=1 (target <=${CAPACITY_TARGETS.forwardingP99DeltaMs}ms: ${ok(delta <= CAPACITY_TARGETS.forwardingP99DeltaMs)})`,
    );
  }
  return lines;
}

/**
 * The WebRTC work one call adds: encoding the avatar (plus its send transport: pacing, RTP, half
 * the network thread) and decoding the user's camera (plus the receive side). LiveKit also sends
 * the avatar's lower simulcast layers, about a third more encoding. The avatar's part scales with
 * `capturedShare`, the share of the 30 fps frames that go to its track: VP8's cost is per frame
 * whatever the picture (a silent avatar at 30 fps encodes at 66-71 ms/s, at 15 fps 33-37).
 */
export function webrtcPerCallMsPerS(
  { avatar, camera }: { avatar: WebrtcCost; camera: WebrtcCost },
  capturedShare = 1,
) {
  const send = (avatar.encodeMsPerS * (1 + 1 / 3) + avatar.transportMsPerS / 2) * capturedShare;
  const receive = camera.decodeMsPerS + camera.transportMsPerS / 2;
  return { send, receive, total: send + receive };
}

function webrtcLines(r: CapacityReport, one: StepReport | undefined): string[] {
  const { avatar, camera } = r.webrtc!;
  const step = one ?? r.steps[0];
  const share = step && step.frames > 0 ? step.capturedFrames / step.frames : 1;
  const cost = webrtcPerCallMsPerS(r.webrtc!, share);
  const lines = [
    `webrtc     ESTIMATE (@roamhq/wrtc's libwebrtc, VP8 over loopback, not LiveKit's build): avatar ${avatar.width}x${avatar.height}@30 at ${avatar.bitrate / 1000} kbps encode ${avatar.encodeMsPerS.toFixed(0)}ms/s, transport ${avatar.transportMsPerS.toFixed(0)}ms/s (both sides); user camera ${camera.width}x${camera.height}@30 at ${camera.bitrate / 1000} kbps decode ${camera.decodeMsPerS.toFixed(0)}ms/s`,
    `           per call: sending the avatar ~${cost.send.toFixed(0)}ms/s (a third more for simulcast layers; ${Math.round(share * 100)}% of its frames go to the track, unchanged ones at ${MIN_UNCHANGED_FPS} fps), receiving the camera ~${cost.receive.toFixed(0)}ms/s: ~${cost.total.toFixed(0)}ms/s on top of the figures above`,
  ];
  if (one) {
    const perCall = one.cpuMsPerS.p50 + cost.total;
    lines.push(
      `           so one call needs ~${perCall.toFixed(0)}ms of CPU per second: ~${Math.floor((r.cores * 1000 * 0.8) / perCall)} calls on ${r.cores} cores at 80% (without the camera: ~${Math.floor((r.cores * 1000 * 0.8) / (perCall - cost.receive))})`,
    );
  }
  return lines;
}

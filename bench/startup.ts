/**
 * Session start overhead: from just before createCallSession (a job starting) to the first
 * greeting audio frame at the output, minus the fake's own time (greeting request received ->
 * first reply audio chunk sent). Each start is a fresh session on a shared fake, greeting through
 * CallSession.greet() as the worker does.
 *
 * Cold starts (benchColdStarts): job processes are one-shot, so every call is the first start of
 * its process. Each cold sample is a fresh Node process (this file run with `--cold-child`) that
 * makes one start, without or with the worker's prewarm (src/prewarm.ts, run as the worker runs
 * it) before it.
 */
import { execFile } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { JobProcess, initializeLogger } from '@livekit/agents';
import { prewarmWorker } from '../src/prewarm.ts';
import { FakeGeminiServer, type Json } from '../tools/fake_gemini/server.ts';
import { BENCH_API_KEY, MODELS, type ModelId, startBenchCall, withTimeout } from './bench_call.ts';

export const BENCH_GREETING = 'Greet the benchmark in one word.';

export interface StartupOptions {
  model: ModelId;
  starts: number;
}

/** One start, every time in ms from `begin` (just before createCallSession). */
export interface StartSample {
  /** createCallSession returned. */
  created: number;
  /** session.start() returned. */
  started: number;
  /** The fake got the session's first setup message (on whichever socket opened first). */
  firstSetupReceived: number;
  /** On the socket that carried the greeting: the fake got setup / sent setupComplete. */
  setupReceived: number;
  setupComplete: number;
  /** The fake got the greeting request / sent the first reply audio. */
  requestReceived: number;
  firstAudioSent: number;
  /** The first greeting frame reached the output. */
  firstFrame: number;
  /** firstFrame minus the fake's time (firstAudioSent - requestReceived). */
  overhead: number;
  /** Gemini Live sockets the session opened before its first greeting frame. */
  connections: number;
}

export interface StartupResult {
  model: ModelId;
  samples: StartSample[];
}

/** The client's greeting request: realtimeInput.text (3.x) or clientContent with turnComplete (2.5). */
function isGreetingRequest(msg: Json): boolean {
  return typeof msg?.realtimeInput?.text === 'string' || msg?.clientContent?.turnComplete === true;
}

function isReplyAudio(msg: Json): boolean {
  const parts: Json[] = msg?.serverContent?.modelTurn?.parts ?? [];
  return parts.some((p) => typeof p?.inlineData?.data === 'string');
}

export async function benchStartup(
  fake: FakeGeminiServer,
  { model, starts }: StartupOptions,
): Promise<StartupResult> {
  const samples: StartSample[] = [];
  for (let i = 0; i < starts; i++) {
    const bench = await startBenchCall(fake, { model, greeting: BENCH_GREETING });
    const { firstConn } = bench;
    try {
      await withTimeout(bench.call.greet(), 15_000, `${model} greeting ${i + 1}`, bench.describe);
      bench.check(`${model} start ${i + 1}`);
      const { begin, created, started } = bench.marks;
      const mine = (e: { conn: number }) => e.conn >= firstConn;
      const at = (what: string, entry: { at: number } | undefined): number => {
        if (!entry) throw new Error(`${model} start ${i + 1}: no ${what} in the fake's log`);
        return entry.at - begin;
      };
      const request = fake.received.find((e) => mine(e) && isGreetingRequest(e.msg));
      const requestReceived = at('greeting request', request);
      const conn = fake.connections[request!.conn]!;
      const on = (e: { conn: number }) => e.conn === conn.index;
      const firstSetupReceived = at(
        'setup',
        fake.received.find((e) => mine(e) && 'setup' in e.msg),
      );
      const setupReceived = at(
        'setup',
        fake.received.find((e) => on(e) && 'setup' in e.msg),
      );
      const setupComplete = at(
        'setupComplete',
        fake.sent.find((e) => on(e) && 'setupComplete' in e.msg),
      );
      const firstAudioSent = at(
        'reply audio',
        fake.sent.find((e) => on(e) && e.at >= request!.at && isReplyAudio(e.msg)),
      );
      const frame = bench.speaker.frames[0];
      if (!frame) throw new Error(`${model} start ${i + 1}: no greeting audio reached the output`);
      const firstFrame = frame.at - begin;
      const connections = new Set(
        fake.received.filter((e) => mine(e) && e.at <= frame.at).map((e) => e.conn),
      ).size;
      samples.push({
        created: created - begin,
        started: started - begin,
        firstSetupReceived,
        setupReceived,
        setupComplete,
        requestReceived,
        firstAudioSent,
        firstFrame,
        overhead: firstFrame - (firstAudioSent - requestReceived),
        connections,
      });
    } finally {
      await bench.close();
    }
  }
  return { model, samples };
}

/** A fake for the start benchmark: greetings of `greetingMs` audio (short: greet() waits for playout). */
export function startupFake(greetingMs: number): Promise<FakeGeminiServer> {
  return FakeGeminiServer.start({
    apiKey: BENCH_API_KEY,
    respond: () => ({ text: 'Hello.', audioMs: greetingMs }),
  });
}

/** Cold starts of one model, each in a fresh process, in alternating order. */
export interface ColdStartResult {
  model: ModelId;
  /** The first start of a process that ran no prewarm. */
  without: StartSample[];
  /** The first start of a process that ran the worker's prewarm first. */
  with: StartSample[];
  /** How long the prewarm took in each `with` process, ms. */
  prewarmMs: number[];
}

const CHILD_FLAG = '--cold-child';
const PREWARM_FLAG = '--prewarm';

/** `runs` processes without and `runs` with the worker's prewarm, alternating (same machine state). */
export async function benchColdStarts(model: ModelId, runs: number): Promise<ColdStartResult> {
  const result: ColdStartResult = { model, without: [], with: [], prewarmMs: [] };
  for (let i = 0; i < runs; i++) {
    result.without.push((await coldChild(model, false)).sample);
    const warmed = await coldChild(model, true);
    result.with.push(warmed.sample);
    result.prewarmMs.push(warmed.prewarmMs);
  }
  return result;
}

interface ChildReport {
  sample: StartSample;
  prewarmMs: number;
}

function coldChild(model: ModelId, prewarm: boolean): Promise<ChildReport> {
  const script = fileURLToPath(import.meta.url);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const args = ['--import', 'tsx', script, CHILD_FLAG, model, ...(prewarm ? [PREWARM_FLAG] : [])];
  // A clean environment: the developer's .env or shell must not change what is measured.
  const env = { PATH: process.env.PATH ?? '', GOOGLE_API_KEY: BENCH_API_KEY, GEMINI_MODEL: model };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: root, env, timeout: 60_000 },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').at(-1) ?? '';
        if (error) {
          const why = stderr.trim().split('\n').at(-1) ?? error.message;
          reject(new Error(`cold start ${model}${prewarm ? ' with prewarm' : ''}: ${why}`));
          return;
        }
        resolve(JSON.parse(line) as ChildReport);
      },
    );
  });
}

/** The child: optionally the worker's prewarm, exactly as the worker runs it, then one start. */
async function coldChildMain(model: ModelId, prewarm: boolean): Promise<void> {
  initializeLogger({ pretty: false, level: 'error' });
  const fake = await startupFake(300);
  try {
    let prewarmMs = 0;
    if (prewarm) {
      const started = performance.now();
      const report = await prewarmWorker(new JobProcess());
      prewarmMs = performance.now() - started;
      const failed = Object.keys(report.failed);
      if (failed.length) throw new Error(`prewarm steps failed: ${failed.join(', ')}`);
    }
    const { samples } = await benchStartup(fake, { model, starts: 1 });
    process.stdout.write(JSON.stringify({ sample: samples[0], prewarmMs }) + '\n');
  } finally {
    await fake.close();
  }
}

function isMain(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain() && process.argv[2] === CHILD_FLAG) {
  const model = process.argv[3] as ModelId;
  if (!Object.values(MODELS).includes(model)) throw new Error(`unknown model ${model}`);
  coldChildMain(model, process.argv.includes(PREWARM_FLAG)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

/**
 * `npm run soak -- --long`: one long conversation, the way the worker runs it (createCallSession,
 * the guarded Gemini model, AgentSession) with the avatar on (a room-less AvatarPublisher, 512 x
 * 512 at 30 fps, as bench/av_offset.ts and test/avatar_publisher.test.ts use it) and the user
 * speaking again as soon as each reply has played.
 *
 * Memory: RSS and V8 heap after a forced GC, once the call is warm (a minute in; a quarter of a
 * shorter call) and at the end, and each minute between. The fake Gemini server runs in a child
 * process so its traffic log is not counted.
 *
 * A/V offset: the clock offset of bench/av_offset.ts (a frame's audio position minus the position
 * leaving the AudioSource, observed by an AudioExitMonitor on the published track). Agent audio
 * is stamped with its timeline position on its way into the sink (StampingOutput, at most 3 LSB);
 * the measurement restarts between turns every `windowMs` (a new monitor, stamps from 0) so it
 * holds one window of chunks and frames, not the whole call. Drift is the slope of the windows'
 * median offsets over time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { avatarPublisherFor } from '../../src/avatar/from_settings.ts';
import {
  AVATAR_SAMPLE_RATE,
  type AvatarPublisher,
  type PublishedFrame,
} from '../../src/avatar/publisher.ts';
import { loadSettings } from '../../src/config/settings.ts';
import { MIC_RATE, OfflineCall } from '../../src/console/offline_call.ts';
import { createCallSession } from '../../src/session.ts';
import { REPO, killGroup, startChild } from '../../test/support/child_run.ts';
import { tonePcm16 } from '../../tools/fake_gemini/server.ts';
import {
  AudioExitMonitor,
  type FrameRecord,
  StampingOutput,
  TrackCatcher,
  clockOffsets,
  frameRecorder,
  percentile,
  sleep,
  slopePerMinute,
} from '../av_offset.ts';
import { BENCH_API_KEY, MODELS } from '../bench_call.ts';

export const LONG_TARGETS = { rssGrowthMb: 10, driftMsPerMin: 1 } as const;

const FAKE_SCRIPT = fileURLToPath(new URL('./fake_server.ts', import.meta.url));
const WORDS = tonePcm16(300, MIC_RATE);
const MB = 1024 * 1024;

export interface LongOptions {
  minutes: number;
  /** Reply audio per turn (ms). Default 2000. */
  replyMs?: number;
  /** Measuring window of the A/V offset. Default 30 s (a quarter of the call when shorter). */
  windowMs?: number;
  onProgress?: (line: string) => void;
  /** Measure the A/V offset (default true); false runs the avatar as the worker does, unmeasured. */
  measureAv?: boolean;
  /**
   * End after this many answered turns instead of at `minutes` (which still sets the warm-up and
   * window lengths): a run whose length does not depend on the machine's speed (the test's).
   */
  turns?: number;
}

export interface MemorySample {
  rssMb: number;
  heapUsedMb: number;
  externalMb: number;
  /** Minutes since the call started. */
  atMin: number;
}

export interface AvWindow {
  /** Minutes since the call started (the window's median frame time). */
  atMin: number;
  /** Frames measured (shown while audio was leaving). */
  n: number;
  /** Clock offset: median (signed) and p99 of |offset|, ms. */
  p50Ms: number;
  p99Ms: number;
  /** Slope of the offset inside this window, ms per minute. */
  slopeMsPerMin: number;
}

export interface LongReport {
  model: string;
  minutes: number;
  turns: number;
  /** User turns with no reply within 30 s. */
  unanswered: number;
  /** Replies cut by an interruption (none expected: the user waits for each reply). */
  interruptions: number;
  /** Memory (after forced GC) once warm (`warmMs` in) and at the end; growth is end - start. */
  start: MemorySample;
  end: MemorySample;
  rssGrowthMb: number;
  heapGrowthMb: number;
  /** Least-squares slope of RSS and heap over the samples from `start` on, MB per minute. */
  rssMbPerMin: number;
  heapMbPerMin: number;
  /** Every sample: after the first turns, when warm, each minute, at the end. */
  samples: MemorySample[];
  /** GC was forced (node --expose-gc, or enabled at run time). */
  gcForced: boolean;
  frames: number;
  skipped: number;
  windows: AvWindow[];
  /** Slope of the windows' median clock offsets, ms per minute. */
  driftMsPerMin: number;
  /** Median of the slopes inside each window, ms per minute (blind to steps between windows). */
  windowSlopeMsPerMin: number;
  /** Median and p99 of the windows' offsets, ms. */
  offsetP50Ms: number;
  offsetP99Ms: number;
}

/** `gc()`: node's own with --expose-gc, else enabled at run time (as in vitest). */
function gcFunction(): (() => void) | undefined {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

async function memory(gc: (() => void) | undefined, since: number): Promise<MemorySample> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await sleep(20);
  }
  const m = process.memoryUsage();
  return {
    rssMb: m.rss / MB,
    heapUsedMb: m.heapUsed / MB,
    externalMb: m.external / MB,
    atMin: (performance.now() - since) / 60_000,
  };
}

function trends(samples: readonly MemorySample[]): { rssMbPerMin: number; heapMbPerMin: number } {
  const slope = (y: (m: MemorySample) => number) =>
    slopePerMinute(samples.map((m) => ({ x: m.atMin * 60_000, y: y(m) })));
  return { rssMbPerMin: slope((m) => m.rssMb), heapMbPerMin: slope((m) => m.heapUsedMb) };
}

/** One measuring window: its monitor, its frames, and where its stamps start on the timeline. */
interface Window {
  monitor: AudioExitMonitor;
  frames: FrameRecord[];
  originMs: number;
}

async function closeWindow(w: Window, since: number): Promise<AvWindow | undefined> {
  await w.monitor.close();
  const offsets = clockOffsets(w.frames, w.monitor).map((c) => ({
    at: c.at,
    offsetMs: c.offsetMs - w.originMs,
  }));
  if (offsets.length === 0) return undefined;
  const slope = slopePerMinute(offsets.map((o) => ({ x: o.at, y: o.offsetMs })));
  return {
    slopeMsPerMin: slope,
    atMin:
      (percentile(
        offsets.map((o) => o.at),
        50,
      ) -
        since) /
      60_000,
    n: offsets.length,
    p50Ms: percentile(
      offsets.map((o) => o.offsetMs),
      50,
    ),
    p99Ms: percentile(
      offsets.map((o) => Math.abs(o.offsetMs)),
      99,
    ),
  };
}

export async function runLongCall(options: LongOptions): Promise<LongReport> {
  const say = options.onProgress ?? (() => {});
  const durationMs = options.minutes * 60_000;
  const windowMs = options.windowMs ?? Math.min(30_000, durationMs / 4);
  const warmMs = Math.min(60_000, durationMs / 4);
  const model = MODELS['3.8'];
  const gc = gcFunction();

  const fake = startChild(
    FAKE_SCRIPT,
    [String(options.replyMs ?? 2000)],
    { FAKE_API_KEY: BENCH_API_KEY },
    REPO,
  );
  let publisher: AvatarPublisher | undefined;
  let offline: OfflineCall | undefined;
  let window: Window | undefined;
  try {
    await fake.waitForOutput(/listening: http:\S+\n/, 30_000);
    const baseUrl = /listening: (http:\S+)\n/.exec(fake.stdout())![1]!;
    const settings = loadSettings({
      GOOGLE_API_KEY: BENCH_API_KEY,
      GOOGLE_GEMINI_BASE_URL: baseUrl,
      GEMINI_MODEL: model,
      AGENT_GREETING: '',
    });
    const call = await createCallSession({ settings, echoFree: true, outputCanPause: false });

    let frames = 0;
    let record: (frame: PublishedFrame) => void = () => {};
    // As the worker builds it: the settings' avatar, size and frame rate (512 x 512 at 30 fps).
    publisher = avatarPublisherFor(settings, {
      onFrame: (f) => {
        frames++;
        record(f);
      },
    })!;
    const room = new TrackCatcher();
    await publisher.start(call.session, room);
    const stamper = options.measureAv === false ? undefined : new StampingOutput(publisher.sink);
    const openWindow = (): Window | undefined => {
      if (!stamper) return undefined;
      const frames: FrameRecord[] = [];
      record = frameRecorder(frames);
      const originMs = (stamper.restart() * 1000) / AVATAR_SAMPLE_RATE;
      return { monitor: new AudioExitMonitor(room.audioTrack), frames, originMs };
    };
    window = openWindow();
    offline = await OfflineCall.start(call, { speaker: stamper ?? publisher.sink });
    const since = performance.now();

    let turns = 0;
    let unanswered = 0;
    const turn = async () => {
      const from = offline!.events.events.length;
      await offline!.say(WORDS);
      const answered = await offline!.untilAnswered({
        deadline: Date.now() + 30_000,
        since: from,
        settleMs: 200,
      });
      if (answered) turns++;
      else unanswered++;
    };
    const windows: AvWindow[] = [];
    const samples: MemorySample[] = [];
    const progress = (m: MemorySample, note = '') =>
      say(
        `[${m.atMin.toFixed(1).padStart(4)} min] turns ${turns} (unanswered ${unanswered})  rss ${m.rssMb.toFixed(1)} MB  heap ${m.heapUsedMb.toFixed(1)} MB  frames ${frames} skipped ${publisher!.skippedFrames}  A/V offset p50 ${windows.at(-1)?.p50Ms.toFixed(1) ?? '-'} ms${note}`,
      );
    const sample = async (note = '') => {
      const m = await memory(gc, since);
      samples.push(m);
      progress(m, note);
      return m;
    };
    // The first turns, then a sample: RSS still settles after start-up (it falls a few tens of
    // MB in the first half minute), so growth is counted from `warmMs` on.
    while (turns < 2 && unanswered < 3) await turn();
    await sample('  (first turns)');
    let start: MemorySample | undefined;
    let windowStart = performance.now();
    let nextMinute = since + 60_000;
    const more = () =>
      options.turns === undefined ? performance.now() - since < durationMs : turns < options.turns;
    while (more()) {
      await turn();
      if (window && performance.now() - windowStart >= windowMs) {
        const done = window;
        window = openWindow();
        windowStart = performance.now();
        const w = await closeWindow(done, since);
        if (w) windows.push(w);
      }
      if (!start && performance.now() - since >= warmMs) {
        start = await sample('  (warm: growth counted from here)');
        if (nextMinute - performance.now() < 30_000) nextMinute += 60_000;
      } else if (performance.now() >= nextMinute && performance.now() - since < durationMs) {
        nextMinute += 60_000;
        await sample();
      }
      if (unanswered > 10) {
        throw new Error(`${unanswered} turns went unanswered; fake: ${fake.describe()}`);
      }
    }
    start ??= samples[0]!;
    const last = window && (await closeWindow(window, since));
    window = undefined;
    if (last) windows.push(last);
    const end = await sample('  (end)');

    const points = windows.map((w) => ({ x: w.atMin * 60_000, y: w.p50Ms }));
    return {
      model,
      minutes: options.minutes,
      turns,
      unanswered,
      interruptions: offline.events.events.filter(
        (e) => e.type === 'message' && e.role === 'assistant' && e.interrupted,
      ).length,
      start,
      end,
      rssGrowthMb: end.rssMb - start.rssMb,
      heapGrowthMb: end.heapUsedMb - start.heapUsedMb,
      ...trends(samples.filter((m) => m.atMin >= start.atMin)),
      samples,
      gcForced: gc !== undefined,
      frames,
      skipped: publisher.skippedFrames,
      windows,
      driftMsPerMin: slopePerMinute(points),
      windowSlopeMsPerMin: percentile(
        windows.map((w) => w.slopeMsPerMin).filter(Number.isFinite),
        50,
      ),
      offsetP50Ms: percentile(
        windows.map((w) => w.p50Ms),
        50,
      ),
      offsetP99Ms: percentile(
        windows.map((w) => w.p99Ms),
        99,
      ),
    };
  } finally {
    await window?.monitor.close().catch(() => {});
    await offline?.close().catch(() => {});
    await publisher?.close().catch(() => {});
    fake.process.kill('SIGTERM');
    await Promise.race([fake.exited, sleep(5000)]);
    killGroup(fake);
  }
}

const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

export function longLines(r: LongReport): string[] {
  const ok = (good: boolean) => (good ? 'ok' : 'MISSED');
  const drift = Math.abs(r.driftMsPerMin);
  return [
    `long call  ${r.model}, ${fmt(r.minutes)} min, avatar on: ${r.turns} turns, ${r.unanswered} unanswered, ${r.interruptions} interruptions`,
    `memory     start (warm) rss ${fmt(r.start.rssMb)} MB heap ${fmt(r.start.heapUsedMb)} MB  end rss ${fmt(r.end.rssMb)} MB heap ${fmt(r.end.heapUsedMb)} MB${r.gcForced ? ' (after forced GC)' : ' (GC not forced)'}`,
    `growth     rss ${fmt(r.rssGrowthMb)} MB heap ${fmt(r.heapGrowthMb)} MB over ${fmt(r.end.atMin - r.start.atMin)} min  (target rss <= ${LONG_TARGETS.rssGrowthMb} MB: ${ok(r.rssGrowthMb <= LONG_TARGETS.rssGrowthMb)})`,
    `trend      rss ${fmt(r.rssMbPerMin, 2)} MB/min heap ${fmt(r.heapMbPerMin, 2)} MB/min (least squares from the warm sample on)`,
    `rss        ${r.samples.map((m) => `${fmt(m.atMin)}m:${fmt(m.rssMb)}`).join(' ')}`,
    `heap       ${r.samples.map((m) => `${fmt(m.atMin)}m:${fmt(m.heapUsedMb)}`).join(' ')}`,
    `a/v        drift ${fmt(r.driftMsPerMin, 2)} ms/min over ${r.windows.length} windows (${r.windows.length >= 5 ? `target |drift| <= ${LONG_TARGETS.driftMsPerMin} ms/min: ${ok(drift <= LONG_TARGETS.driftMsPerMin)}` : 'too few windows to judge'})  clock offset p50 ${fmt(r.offsetP50Ms, 2)} ms p99 ${fmt(r.offsetP99Ms, 2)} ms  frames ${r.frames} skipped ${r.skipped}`,
    `           median slope inside a window ${fmt(r.windowSlopeMsPerMin, 2)} ms/min; window medians (min:ms) ${r.windows.map((w) => `${fmt(w.atMin)}:${fmt(w.p50Ms)}`).join(' ')}`,
  ];
}

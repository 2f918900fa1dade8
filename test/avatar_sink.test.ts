/**
 * The avatar sink's playout contract (the framework's AudioOutput) through a REAL rtc-node
 * AudioSource, which paces in real time with no room.
 *
 * What left the source is observed, not modelled: an AudioStream on a local track of the source
 * receives each 10 ms chunk as the native source hands it to WebRTC. Segment audio says what it
 * is: sample i of a segment is sign * (1 + floor(i / 2)), the sign alternating between the
 * segments of a test, so the output tells which segment and how much of it left.
 */
import { AudioFrame, AudioSource } from '@livekit/rtc-node';
import { initializeLogger, voice } from '@livekit/agents';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AudioTap, AvatarAudioSink } from '../src/avatar/audio_sink.ts';
import { AudioExitMonitor, percentile, prng, pushSegment, sleep } from '../bench/av_offset.ts';
import { LoopWatch, REAL_TIME_RETRY } from './support/loop_watch.ts';

const RATE = 24_000;
const QUEUE_MS = 200;

beforeAll(() => {
  initializeLogger({ pretty: false, level: 'error' });
});

/** `ms` of segment audio (see the module comment); `sign` +1 or -1. */
function segmentAudio(ms: number, sign: 1 | -1): Int16Array {
  const n = Math.round((ms * RATE) / 1000);
  if (n > 64_000) throw new Error('segmentAudio: at most 64000 samples');
  return Int16Array.from({ length: n }, (_, i) => sign * (1 + Math.floor(i / 2)));
}

/** How many samples of the segment with `sign` left the source, from chunk `fromChunk` on. */
function leftOf(monitor: AudioExitMonitor, sign: 1 | -1, fromChunk = 0): number {
  let count = 0;
  for (const { samples } of monitor.chunks.slice(fromChunk)) {
    for (const x of samples) if (Math.sign(x) === sign) count = Math.max(count, 2 * Math.abs(x));
  }
  return count;
}

/** Keeps the tap's view of the timeline: pushes appended, truncations applied. */
class RecordingTap implements AudioTap {
  timeline = new Int16Array(0);
  length = 0;
  readonly truncations: number[] = [];

  push(samples: Int16Array): void {
    if (this.length + samples.length > this.timeline.length) {
      const grown = new Int16Array(
        Math.max(2 * this.timeline.length, this.length + samples.length),
      );
      grown.set(this.timeline.subarray(0, this.length));
      this.timeline = grown;
    }
    this.timeline.set(samples, this.length);
    this.length += samples.length;
  }

  truncate(positionMs: number): void {
    this.truncations.push(positionMs);
    this.length = Math.min(this.length, Math.round((positionMs * RATE) / 1000));
  }

  slice(from: number): Int16Array {
    return this.timeline.slice(from, this.length);
  }
}

type PlayoutEvent =
  | { kind: 'started'; at: number }
  | { kind: 'finished'; at: number; position: number; interrupted: boolean };

interface Harness {
  /** Upper bounds on times leave out this process's event-loop stalls (a loaded machine). */
  loop: LoopWatch;
  source: AudioSource;
  sink: AvatarAudioSink;
  monitor: AudioExitMonitor;
  tap: RecordingTap;
  events: PlayoutEvent[];
  finished(): Extract<PlayoutEvent, { kind: 'finished' }>[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function harness(): Harness {
  const loop = new LoopWatch().start();
  const source = new AudioSource(RATE, 1, QUEUE_MS);
  const monitor = AudioExitMonitor.forSource(source);
  const tap = new RecordingTap();
  const sink = new AvatarAudioSink({ source, sampleRate: RATE, tap });
  const events: PlayoutEvent[] = [];
  sink.on(voice.AudioOutput.EVENT_PLAYBACK_STARTED, () =>
    events.push({ kind: 'started', at: performance.now() }),
  );
  sink.on(voice.AudioOutput.EVENT_PLAYBACK_FINISHED, (ev: voice.PlaybackFinishedEvent) =>
    events.push({
      kind: 'finished',
      at: performance.now(),
      position: ev.playbackPosition,
      interrupted: ev.interrupted,
    }),
  );
  cleanups.push(async () => {
    loop.stop();
    sink.close();
    await monitor.close();
    await source.close();
  });
  const finished = () =>
    events.filter((e): e is Extract<PlayoutEvent, { kind: 'finished' }> => e.kind === 'finished');
  return { loop, source, sink, monitor, tap, events, finished };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Capture frames of 10-40 ms, chosen by `random`. */
const framesOf = (random: () => number) => () => 10 + 30 * random();

describe('AvatarAudioSink: normal playout', () => {
  it('reports one start and one finish per segment, the full position, after the audio played', async () => {
    const { loop, sink, monitor, finished, events } = harness();
    const random = prng(11);
    // Lengths in samples: odd ones, one under a frame, one not a whole number of ms.
    const lengths = [1_200, 3_301, 9_600, 24_007, 480];
    for (const [k, length] of lengths.entries()) {
      const sign = k % 2 === 0 ? 1 : -1;
      const audio = segmentAudio((length * 1000) / RATE, sign);
      const durationMs = (audio.length * 1000) / RATE;
      const from = events.length;
      const chunkStart = monitor.chunks.length;
      const t0 = performance.now();
      await pushSegment(sink, audio, framesOf(random));
      const result = await withTimeout(sink.waitForPlayout(), durationMs + 2_000, 'waitForPlayout');

      const mine = events.slice(from);
      expect(mine.map((e) => e.kind)).toEqual(['started', 'finished']);
      const done = finished().at(-1)!;
      expect(done).toMatchObject({ interrupted: false, position: audio.length / RATE });
      expect(result).toEqual({ playbackPosition: audio.length / RATE, interrupted: false });
      // Not before the audio could have played (one capture frame of slack), nor much after.
      expect(done.at - t0).toBeGreaterThanOrEqual(durationMs - 40);
      expect(done.at - t0 - loop.stalledMs(t0, done.at)).toBeLessThanOrEqual(durationMs + 150);
      expect(sink.pendingPlayoutSegments).toBe(0);
      // What left the source: all of it, to the last sample (the source sends whole 10 ms chunks
      // only; the sink completes the last one with silence).
      const last = sign * (1 + Math.floor((audio.length - 1) / 2));
      await monitor.waitFor((chunk) => chunk.includes(last), 1_000, chunkStart);
      expect(leftOf(monitor, sign, chunkStart)).toBeGreaterThanOrEqual(audio.length);
    }
  });

  it('finishes back-to-back segments in order, each with its own position', async () => {
    const { loop, sink, events, finished } = harness();
    const random = prng(12);
    const lengthsMs = [250, 130, 400, 60];
    const t0 = performance.now();
    // Each segment is captured while the previous one is still playing (the queue holds 200 ms).
    for (const [k, ms] of lengthsMs.entries()) {
      await pushSegment(sink, segmentAudio(ms, k % 2 === 0 ? 1 : -1), framesOf(random));
    }
    const totalMs = lengthsMs.reduce((a, b) => a + b, 0);
    await withTimeout(sink.waitForPlayout(), totalMs + 2_000, 'waitForPlayout');

    const done = finished();
    expect(done.map((e) => e.position)).toEqual(lengthsMs.map((ms) => ms / 1000));
    expect(done.every((e) => !e.interrupted)).toBe(true);
    expect(events.filter((e) => e.kind === 'started')).toHaveLength(lengthsMs.length);
    // Each finishes when its own audio has played: at the running total, in order.
    let endMs = 0;
    for (const [k, ms] of lengthsMs.entries()) {
      endMs += ms;
      expect(done[k]!.at - t0).toBeGreaterThanOrEqual(endMs - 40);
      expect(done[k]!.at - t0 - loop.stalledMs(t0, done[k]!.at)).toBeLessThanOrEqual(endMs + 150);
    }
    // Started k+1 is not announced before segment k's audio ran out.
    const started = events.filter((e) => e.kind === 'started');
    for (let k = 1; k < started.length; k++) {
      expect(started[k]!.at).toBeGreaterThanOrEqual(done[k - 1]!.at - 20);
    }
    expect(sink.pendingPlayoutSegments).toBe(0);
  });

  it('handles flush without frames and zero-length frames without hanging', async () => {
    const { sink, events, finished } = harness();
    sink.flush();
    sink.flush();
    expect(events).toEqual([]);
    expect(sink.pendingPlayoutSegments).toBe(0);

    // A segment of zero-length frames only.
    await sink.captureFrame(new AudioFrame(new Int16Array(0), RATE, 1, 0));
    await sink.captureFrame(new AudioFrame(new Int16Array(0), RATE, 1, 0));
    sink.flush();
    await withTimeout(sink.waitForPlayout(), 1_000, 'waitForPlayout (empty segment)');
    expect(finished()).toEqual([expect.objectContaining({ position: 0, interrupted: false })]);

    // Zero-length frames inside a real segment change nothing.
    const audio = segmentAudio(100, 1);
    await sink.captureFrame(new AudioFrame(new Int16Array(0), RATE, 1, 0));
    await sink.captureFrame(new AudioFrame(audio.slice(0, 1_200), RATE, 1, 1_200));
    await sink.captureFrame(new AudioFrame(new Int16Array(0), RATE, 1, 0));
    await sink.captureFrame(new AudioFrame(audio.slice(1_200), RATE, 1, audio.length - 1_200));
    sink.flush();
    sink.flush();
    await withTimeout(sink.waitForPlayout(), 1_000, 'waitForPlayout');
    expect(finished().map((e) => e.position)).toEqual([0, 0.1]);
    expect(events.filter((e) => e.kind === 'started')).toHaveLength(2);
    expect(sink.pendingPlayoutSegments).toBe(0);
  });
});

describe('AvatarAudioSink: interruption', () => {
  it(
    'reports the position really played when cleared at random points (60 seeded trials)',
    { ...REAL_TIME_RETRY, timeout: 120_000 },
    async () => {
      const { loop, sink, monitor, tap, finished } = harness();
      const random = prng(2024);
      const wallErrors: number[] = [];
      const sourceErrors: number[] = [];
      let interrupted = 0;
      for (let trial = 0; trial < 60; trial++) {
        const label = `trial ${trial}`;
        const durationMs = 300 + 900 * random();
        const audio = segmentAudio(durationMs, 1);
        const segmentMs = (audio.length * 1000) / RATE;
        const waitMs = (segmentMs + 150) * random();
        // Framework order: the forwarding stops, flushes, then clearBuffer(). Direct order: a
        // clearBuffer() lands while a capture is in flight, the flush follows.
        const frameworkOrder = random() < 0.5;
        const before = finished().length;
        const tapStart = tap.length;
        const chunkStart = monitor.chunks.length;

        let stop = false;
        const t0 = performance.now();
        const push = pushSegment(sink, audio, framesOf(random), () => stop);
        await sleep(waitMs);
        stop = true;
        if (frameworkOrder) await withTimeout(push, 1_000, `${label}: capture`);
        const clearedAt = performance.now();
        sink.clearBuffer();
        await withTimeout(push, 1_000, `${label}: capture`);

        const mine = finished().slice(before);
        expect(mine, label).toHaveLength(1);
        const { position, interrupted: cut } = mine[0]!;
        const positionMs = position * 1000;
        if (cut) interrupted++;
        else expect(position, label).toBe(audio.length / RATE);
        expect(positionMs, label).toBeGreaterThanOrEqual(0);
        expect(positionMs, label).toBeLessThanOrEqual(segmentMs + 1e-9);
        // Against the wall clock: the segment started playing at its first capture, so no more
        // than the time since then can have played. (Less can: on a loaded machine the source
        // plays late; what really left it is checked below.)
        const wallMs = Math.min(clearedAt - t0, segmentMs);
        wallErrors.push(positionMs - wallMs);
        expect(positionMs - wallMs, label).toBeLessThanOrEqual(40);

        // The tap: the segment's samples up to the position, nothing after.
        const kept = tap.slice(tapStart);
        expect(kept.length, label).toBe(Math.round(position * RATE));
        expect(kept, label).toEqual(audio.slice(0, kept.length));
        if (cut)
          expect(tap.truncations.at(-1), label).toBeCloseTo(
            ((tapStart + kept.length) * 1000) / RATE,
            6,
          );

        // The timeline rewound: a following segment plays in full and finishes with its own length.
        const follow = segmentAudio(60, -1);
        await pushSegment(sink, follow, () => 20);
        const after = await withTimeout(sink.waitForPlayout(), 2_000, `${label}: follow-up`);
        expect(after, label).toEqual({
          playbackPosition: follow.length / RATE,
          interrupted: false,
        });
        expect(sink.pendingPlayoutSegments, label).toBe(0);

        // Against the source: what left of the segment (the follow-up's arrival proves all of it
        // arrived) matches the position. The source sends whole 10 ms chunks on its own tick while
        // the sink's estimate is continuous (rtc-node's, from the wall clock), so they differ by up
        // to a chunk or two; and by what a loaded machine held the source's thread back, allowed
        // for as long as this process's loop was held back meanwhile (none on a quiet machine).
        await monitor.waitFor((s) => s.some((x) => x < 0), 1_000, chunkStart);
        const leftMs = (leftOf(monitor, 1, chunkStart) * 1000) / RATE;
        sourceErrors.push(positionMs - leftMs);
        expect(Math.abs(positionMs - leftMs), label).toBeLessThanOrEqual(
          30 + loop.stalledMs(t0, clearedAt),
        );
      }
      console.log(
        `interruption trials: ${interrupted} of 60 interrupted` +
          `\n  position - wall time played, ms: p50 ${percentile(wallErrors, 50).toFixed(1)}, min ${Math.min(...wallErrors).toFixed(1)}, max ${Math.max(...wallErrors).toFixed(1)}` +
          `\n  position - audio that left the source, ms: p50 ${percentile(sourceErrors, 50).toFixed(1)}, min ${Math.min(...sourceErrors).toFixed(1)}, max ${Math.max(...sourceErrors).toFixed(1)}`,
      );
      expect(interrupted).toBeGreaterThanOrEqual(40);
    },
  );

  it('releases a capture blocked on back-pressure, counts none of the rest, and takes the next segment', async () => {
    const { loop, sink, source, monitor, tap, finished } = harness();
    const a = segmentAudio(1_000, 1);
    let aReturned = false;
    const t0 = performance.now();
    // One big frame: the sink hands it over in pieces; once 200 ms are queued, a piece waits.
    const captureA = sink.captureFrame(new AudioFrame(a.slice(), RATE, 1, a.length)).then(() => {
      aReturned = true;
    });
    await sleep(150);
    expect(aReturned).toBe(false);
    expect(source.queuedDuration).toBeGreaterThan(QUEUE_MS - 60);
    const tapBefore = tap.length;
    const clearedAt = performance.now();
    sink.clearBuffer();
    sink.flush();
    // The next segment starts at once, while A's capture may still be pending in the source.
    const b = segmentAudio(200, -1);
    const pushB = pushSegment(sink, b, () => 20);
    await withTimeout(captureA, 500, 'blocked capture');
    await withTimeout(pushB, 2_000, 'next segment');
    await withTimeout(sink.waitForPlayout(), 2_000, 'waitForPlayout');

    const [first, second] = finished();
    expect(finished()).toHaveLength(2);
    expect(first!.interrupted).toBe(true);
    // No more than the time since the first capture can have played (less can, on a loaded
    // machine: what really left the source is checked below).
    expect(first!.position * 1000 - (clearedAt - t0)).toBeLessThanOrEqual(40);
    expect(second).toMatchObject({ interrupted: false, position: b.length / RATE });
    // Nothing of A after the cut reached the tap: the tap holds A up to the position, then B.
    const aKept = Math.round(first!.position * RATE);
    expect(tapBefore).toBeGreaterThanOrEqual(aKept);
    expect(tap.slice(0)).toEqual(Int16Array.from([...a.slice(0, aKept), ...b]));
    // Nor the source: what left of A matches the position, within the allowance of the trials
    // above. (B's end leaving the source, after all of A that left, is what the monitor waits for.)
    await monitor.waitFor((s) => s.some((x) => x < 0 && -2 * x > b.length - RATE / 100), 2_000);
    expect(Math.abs(leftOf(monitor, 1) - aKept) / (RATE / 1000)).toBeLessThanOrEqual(
      30 + loop.stalledMs(t0, clearedAt),
    );
    expect(leftOf(monitor, -1)).toBeGreaterThan(b.length - RATE / 100);
    expect(sink.pendingPlayoutSegments).toBe(0);
  });
});

describe('AvatarAudioSink: close', () => {
  it('ends an open segment as interrupted and ignores captures after', async () => {
    const { sink, source, monitor, tap, finished, events } = harness();
    const audio = segmentAudio(500, 1);
    await sink.captureFrame(new AudioFrame(audio.slice(0, 2_400), RATE, 1, 2_400));
    await sleep(50);
    sink.close();
    expect(finished()).toEqual([expect.objectContaining({ interrupted: true })]);
    expect(finished()[0]!.position).toBeGreaterThan(0.02);
    expect(finished()[0]!.position).toBeLessThanOrEqual(0.1);
    expect(sink.pendingPlayoutSegments).toBe(0);

    const eventCount = events.length;
    const tapLength = tap.length;
    sink.flush();
    await sink.captureFrame(new AudioFrame(audio.slice(2_400), RATE, 1, audio.length - 2_400));
    sink.flush();
    await withTimeout(sink.waitForPlayout(), 500, 'waitForPlayout after close');
    expect(events).toHaveLength(eventCount);
    expect(tap.length).toBe(tapLength);
    expect(sink.pendingPlayoutSegments).toBe(0);
    expect(source.queuedDuration).toBe(0);
    await sleep(50);
    expect(leftOf(monitor, 1)).toBeLessThanOrEqual(2_400);
  });
});

describe('AvatarAudioSink: tap', () => {
  it('sees exactly the pushed samples in order, and truncate(played) on interruption', async () => {
    const { sink, tap, finished } = harness();
    const random = prng(5);
    const first = segmentAudio(150, 1);
    const second = segmentAudio(800, -1);
    const third = segmentAudio(120, 1);

    await pushSegment(sink, first, framesOf(random));
    await sink.waitForPlayout();
    let stop = false;
    const push = pushSegment(sink, second, framesOf(random), () => stop);
    await sleep(300);
    stop = true;
    await push;
    sink.clearBuffer();
    const cut = finished()[1]!;
    expect(cut.interrupted).toBe(true);
    await pushSegment(sink, third, framesOf(random));
    await sink.waitForPlayout();

    const played = Math.round(cut.position * RATE);
    expect(played).toBeGreaterThan(0);
    expect(played).toBeLessThan(second.length);
    expect(tap.truncations).toEqual([((first.length + played) * 1000) / RATE]);
    expect(tap.slice(0)).toEqual(Int16Array.from([...first, ...second.slice(0, played), ...third]));
  });
});

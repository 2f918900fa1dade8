/**
 * The y4m writer and the A/V recorder: file format, skipped-frame repeats, the audio timeline
 * (placement, silence, interruptions) with a hand-driven tap, and the whole path through a real
 * AvatarPublisher sink paced by a real AudioSource (no room).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { initializeLogger } from '@livekit/agents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frames } from '../src/audio/wav.ts';
import type { AvatarAudioSink } from '../src/avatar/audio_sink.ts';
import { TeeTap } from '../src/avatar/audio_tap.ts';
import { AvRecorder, type RecordedFrame } from '../src/avatar/av_recorder.ts';
import { AvatarPublisher, type PublishedFrame } from '../src/avatar/publisher.ts';
import { CLOSED_MOUTH } from '../src/avatar/visemes.ts';
import { Y4mWriter, i420Bytes } from '../src/avatar/y4m_writer.ts';
import { findWithGaps, indexOfRun } from './support/signals.ts';
import { readY4m } from './support/y4m.ts';

const RATE = 24_000;
let dir: string;

beforeAll(() => {
  initializeLogger({ pretty: false, level: process.env.LOG_LEVEL ?? 'error' });
  dir = mkdtempSync(path.join(tmpdir(), 'av-recorder-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function solid(width: number, height: number, [r, g, b]: readonly number[]): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < rgba.length; i += 4) rgba.set([r!, g!, b!, 255], i);
  return rgba;
}

/** Collects the recorder's audio timeline in memory. */
class AudioCollector {
  readonly parts: Int16Array[] = [];
  closed = false;
  write(samples: Int16Array): void {
    this.parts.push(samples.slice());
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  get samples(): Int16Array {
    const out = new Int16Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

describe('Y4mWriter', () => {
  it('writes the header, then FRAME + one I420 image per frame (BT.601 limited range)', async () => {
    const file = path.join(dir, 'colours.y4m');
    const [width, height] = [34, 20];
    const writer = new Y4mWriter(file, { width, height, fps: 25 });
    writer.writeRgba(solid(width, height, [255, 255, 255]));
    writer.writeRgba(solid(width, height, [0, 0, 0]));
    writer.writeRgba(solid(width, height, [255, 0, 0]));
    await writer.close();

    const y4m = readY4m(file);
    expect(y4m.header).toBe('YUV4MPEG2 W34 H20 F25:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED');
    expect(y4m.frameBytes).toBe(34 * 20 + 2 * 17 * 10);
    expect(writer.frameBytes).toBe(y4m.frameBytes);
    expect(y4m.frames).toHaveLength(3);
    const [white, black, red] = y4m.frames;
    const planes = (f: Uint8Array) => ({ y: f[0], u: f[width * height], v: f.at(-1) });
    expect(planes(white!)).toEqual({ y: 235, u: 128, v: 128 });
    expect(planes(black!)).toEqual({ y: 16, u: 128, v: 128 });
    const r = planes(red!);
    expect(Math.abs(r.y! - 82)).toBeLessThanOrEqual(1);
    expect(r.v).toBeGreaterThan(230);
    expect(r.u).toBeLessThan(100);
  });

  it('sizes odd frames by rounding the chroma planes up', async () => {
    const file = path.join(dir, 'odd.y4m');
    const writer = new Y4mWriter(file, { width: 33, height: 17, fps: 30 });
    writer.writeRgba(solid(33, 17, [10, 200, 30]));
    await writer.close();
    expect(i420Bytes(33, 17)).toBe(33 * 17 + 2 * 17 * 9);
    const y4m = readY4m(file);
    expect(y4m.frames).toHaveLength(1);
    expect(y4m.frameBytes).toBe(i420Bytes(33, 17));
  });

  it('converts RGBA given as a view into a larger buffer like an owned one', async () => {
    const writer = new Y4mWriter(path.join(dir, 'view.y4m'), { width: 16, height: 16, fps: 30 });
    const owned = solid(16, 16, [40, 90, 200]);
    const padded = new Uint8Array(owned.length + 64);
    padded.set(owned, 32);
    expect(Array.from(writer.toI420(padded.subarray(32, 32 + owned.length)))).toEqual(
      Array.from(writer.toI420(owned)),
    );
    expect(() => writer.toI420(new Uint8Array(10))).toThrow(/RGBA frame of 10 bytes is not valid/);
    await writer.close();
  });

  it('respects back-pressure: frames wait in the writer, the stream stays near its mark', async () => {
    const received: Buffer[] = [];
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, done) {
        received.push(Buffer.from(chunk));
        maxBuffered = Math.max(maxBuffered, slow.writableLength);
        setTimeout(done, 1);
      },
    });
    const writer = new Y4mWriter(slow, { width: 32, height: 32, fps: 30 });
    const results: boolean[] = [];
    for (let i = 0; i < 20; i++) results.push(writer.writeRgba(solid(32, 32, [i * 10, 0, 0])));
    // The first frame already fills the stream past its mark: the rest wait in the writer.
    expect(results.every((ok) => !ok)).toBe(true);
    expect(writer.backlog).toBeGreaterThan(10);
    await writer.drained();
    expect(writer.backlog).toBe(0);
    expect(writer.writeRgba(solid(32, 32, [0, 0, 0]))).toBe(false);
    await writer.close();

    const bytes = Buffer.concat(received);
    const header = bytes.indexOf(0x0a) + 1;
    expect(bytes.length).toBe(header + 21 * (6 + i420Bytes(32, 32)));
    // Never more than the mark plus one frame (header, frame marker and image) queued in the stream.
    expect(maxBuffered).toBeLessThanOrEqual(1024 + header + 6 + i420Bytes(32, 32));
    // In order: the luma of frame i rises with its red.
    const lumas = Array.from({ length: 20 }, (_, i) => bytes[header + i * (6 + 1536) + 6]!);
    expect(lumas).toEqual(lumas.toSorted((a, b) => a - b));
    expect(new Set(lumas).size).toBeGreaterThan(15);
  });
});

describe('AvRecorder (hand-driven)', () => {
  const published = (
    frame: number,
    audioMs: number,
    rgba: Uint8Array,
    size: number,
    tMs = frame * 40,
  ): PublishedFrame => ({
    frame,
    tMs,
    audioMs,
    mouth: CLOSED_MOUTH,
    captured: true,
    rgba,
    width: size,
    height: size,
  });

  it('repeats the previous frame in slots the clock skipped, and pads their audio', async () => {
    const file = path.join(dir, 'skipped.y4m');
    const audio = new AudioCollector();
    const recorded: RecordedFrame[] = [];
    const recorder = new AvRecorder({
      fps: 25,
      video: new Y4mWriter(file, { width: 16, height: 16, fps: 25 }),
      audio,
      onRecordedFrame: (f) => recorded.push(f),
    });
    const colours = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [255, 255, 0],
      [0, 255, 255],
    ];
    // The clock skipped slots 3 and 4.
    [0, 1, 2, 5, 6].forEach((n, i) =>
      recorder.onFrame(published(n, 0, solid(16, 16, colours[i]!), 16)),
    );
    await recorder.close();

    const y4m = readY4m(file);
    expect(y4m.frames).toHaveLength(7);
    expect(recorder.frames).toBe(7);
    expect(recorder.repeatedFrames).toBe(2);
    expect(Buffer.compare(y4m.frames[3]!, y4m.frames[2]!)).toBe(0);
    expect(Buffer.compare(y4m.frames[4]!, y4m.frames[2]!)).toBe(0);
    expect(Buffer.compare(y4m.frames[5]!, y4m.frames[2]!)).not.toBe(0);
    expect(recorded.map((f) => f.repeated)).toEqual([
      false,
      false,
      false,
      true,
      true,
      false,
      false,
    ]);
    expect(recorded.map((f) => f.tMs)).toEqual([0, 40, 80, 120, 160, 200, 240]);
    // Seven frames of silence: the audio length is the video length.
    expect(audio.samples.length).toBe(7 * (RATE / 25));
    expect(audio.samples.every((s) => s === 0)).toBe(true);
    expect(audio.closed).toBe(true);
  });

  it('places a late frame by its render time: the slot before repeats, the next frame drops', async () => {
    const file = path.join(dir, 'late.y4m');
    const recorded: RecordedFrame[] = [];
    const recorder = new AvRecorder({
      fps: 25,
      video: new Y4mWriter(file, { width: 16, height: 16, fps: 25 }),
      onRecordedFrame: (f) => recorded.push(f),
    });
    const grey = (v: number) => solid(16, 16, [v, v, v]);
    recorder.onFrame(published(0, 0, grey(0), 16));
    recorder.onFrame(published(1, 0, grey(50), 16));
    // Frame 2 ran 45 ms late (it shows the audio of that moment): it belongs in slot 3...
    recorder.onFrame(published(2, 0, grey(100), 16, 125));
    // ...so frame 3, on time, finds its slot taken.
    recorder.onFrame(published(3, 0, grey(150), 16, 121));
    recorder.onFrame(published(4, 0, grey(200), 16));
    await recorder.close();

    const lumas = readY4m(file).frames.map((f) => f[0]);
    const luma = (v: number) => 16 + Math.round((v * 219) / 255); // BT.601 limited range
    expect(lumas).toEqual([luma(0), luma(50), luma(50), luma(100), luma(200)]);
    expect({ repeated: recorder.repeatedFrames, dropped: recorder.droppedFrames }).toEqual({
      repeated: 1,
      dropped: 1,
    });
    expect(recorded.map((f) => [f.frame, f.repeated])).toEqual([
      [0, false],
      [1, false],
      [2, true],
      [3, false],
      [4, false],
    ]);
  });

  it('writes played audio on the grid: onsets end at their frame, cut audio never appears', async () => {
    const audio = new AudioCollector();
    const recorder = new AvRecorder({
      fps: 25, // 960 samples a frame
      video: new Y4mWriter(path.join(dir, 'timeline.y4m'), { width: 16, height: 16, fps: 25 }),
      audio,
    });
    const rgba = solid(16, 16, [0, 0, 0]);
    const a = Int16Array.from({ length: 4800 }, (_, i) => (i % 1000) + 1);
    const b = Int16Array.from({ length: 1000 }, (_, i) => -(i + 1));

    recorder.onFrame(published(0, 0, rgba, 16));
    recorder.tap.push(a.subarray(0, 2400));
    recorder.tap.push(a.subarray(2400));
    recorder.onFrame(published(1, 10, rgba, 16)); // 240 samples played: an onset
    recorder.onFrame(published(2, 50, rgba, 16)); // 1200
    recorder.onFrame(published(3, 88, rgba, 16)); // 2112: a late frame, 48 samples off the grid
    recorder.onFrame(published(4, 130, rgba, 16)); // 3120
    recorder.tap.truncate(130); // interrupted: a[3120..4800) never played
    recorder.tap.push(b);
    recorder.onFrame(published(5, 150, rgba, 16)); // b[0..480) played
    recorder.onFrame(published(6, 150, rgba, 16)); // nothing more played
    await recorder.close();

    const expected = new Int16Array(7 * 960);
    expected.set(a.subarray(0, 3120), 720);
    expected.set(b.subarray(0, 480), 720 + 3120);
    expect(Array.from(audio.samples)).toEqual(Array.from(expected));
  });
});

describe('AvRecorder on a real AvatarPublisher sink', () => {
  const FPS = 30;
  const FRAME_MS = 1000 / FPS;

  /** A tone with a little deterministic noise, so no stretch of it repeats another. */
  function tone(hz: number, ms: number, amplitude = 9000): Int16Array {
    const n = Math.round((RATE * ms) / 1000);
    let seed = hz;
    return Int16Array.from({ length: n }, (_, i) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      const noise = (seed / 2 ** 31 - 0.5) * 400;
      return Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / RATE) + noise);
    });
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Feed 20 ms frames as the framework does, each awaited; stop early when told. */
  async function feed(sink: AvatarAudioSink, samples: Int16Array, stop = () => false) {
    let pushed = 0;
    for (const frame of frames({ sampleRate: RATE, channels: 1, samples }, 20)) {
      if (stop()) break;
      pushed += frame.samplesPerChannel;
      await sink.captureFrame(frame);
    }
    return pushed;
  }

  let recorded: RecordedFrame[];
  let audio: AudioCollector;
  let recorder: AvRecorder;
  let y4mFile: string;
  const burst1 = tone(220, 400);
  const burst2 = tone(330, 1500);
  const burst3 = tone(550, 300);
  let pushed2 = 0;
  let played2 = 0;

  beforeAll(async () => {
    recorded = [];
    audio = new AudioCollector();
    y4mFile = path.join(dir, 'live.y4m');
    recorder = new AvRecorder({
      fps: FPS,
      video: new Y4mWriter(y4mFile, { width: 64, height: 64, fps: FPS }),
      audio,
      onRecordedFrame: (f) => recorded.push(f),
    });
    const publisher = new AvatarPublisher({
      width: 64,
      height: 64,
      fps: FPS,
      audioTap: recorder.tap,
      onFrame: (f) => recorder.onFrame(f),
    });
    try {
      const sink = await publisher.prepare();
      await sleep(300);
      await feed(sink, burst1);
      sink.flush();
      await sink.waitForPlayout();
      await sleep(400);
      // The second burst is interrupted 500 ms in, with ~200 ms still queued in the source.
      let stopped = false;
      const feeding = feed(sink, burst2, () => stopped);
      await sleep(500);
      stopped = true;
      // What the framework's audio forwarding does when a reply is interrupted.
      sink.flush();
      sink.clearBuffer();
      const finished = await sink.waitForPlayout();
      expect(finished.interrupted).toBe(true);
      played2 = Math.round(finished.playbackPosition * RATE);
      pushed2 = await feeding;
      // New audio after the cut reuses its timeline positions: the dropped audio must not return.
      await sleep(300);
      await feed(sink, burst3);
      sink.flush();
      await sink.waitForPlayout();
      await sleep(300);
    } finally {
      await publisher.close();
      await recorder.close();
    }
  }, 20_000);

  it('records each burst once, contiguous, where its frames are', () => {
    const rec = audio.samples;
    const first = findWithGaps(rec, burst1);
    const start1 = first.start;
    expect(start1).toBeGreaterThan(0.2 * RATE);
    expect(played2).toBeGreaterThan(0.3 * RATE);
    const start2 = findWithGaps(rec, burst2.subarray(0, played2), first.end).start;
    expect(start2).toBeGreaterThan(first.end + 0.3 * RATE);
    // Silence between them is silence.
    expect(rec.subarray(first.end, start2).every((s) => s === 0)).toBe(true);
    // Contiguous unless the source really ran dry (a feeder stalled over 200 ms): then a little.
    expect(first.inserted).toBeLessThan(0.1 * RATE);

    // The mouth opens on video within one frame of where each burst is in the audio.
    const opening = (fromMs: number) => recorded.find((f) => f.tMs >= fromMs && f.mouth.open > 0.1);
    const open1 = opening(0)!;
    const closedAfter1 = recorded.find(
      (f) => f.tMs > first.end / (RATE / 1000) && f.mouth.open === 0,
    )!;
    const open2 = opening(closedAfter1.tMs)!;
    // A frame clock that skipped slots just before (the process stalled on a loaded machine)
    // shows the opening late by the slots it skipped: that is the CPU, not the sync.
    const FLOAT_SLACK_MS = 1e-6; // one frame is 33.333... ms: sums of thirds round either way
    const skippedBefore = (f: RecordedFrame) => {
      let skipped = 0;
      while (recorded[f.frame - 1 - skipped]?.repeated) skipped++;
      return skipped * FRAME_MS;
    };
    for (const [open, start] of [
      [open1, start1],
      [open2, start2],
    ] as const) {
      expect(Math.abs(open.tMs - start / (RATE / 1000))).toBeLessThanOrEqual(
        FRAME_MS + skippedBefore(open) + FLOAT_SLACK_MS,
      );
    }
  });

  it('never records audio an interruption dropped', () => {
    const rec = audio.samples;
    // A real cut: audio was queued and dropped (~200 ms on a quiet machine; a loaded one keeps
    // less queued), at least the 20 ms looked for below.
    expect(pushed2 - played2).toBeGreaterThan(0.02 * RATE);
    const second = findWithGaps(rec, burst2.subarray(0, played2));
    expect(second.start).toBeGreaterThan(0);
    const third = findWithGaps(rec, burst3, second.end);
    expect(third.start).toBeGreaterThan(second.end + 0.2 * RATE);
    // Between the cut and the next burst: silence, not one dropped sample.
    expect(rec.subarray(second.end, third.start).every((s) => s === 0)).toBe(true);
    expect(indexOfRun(rec, burst2.subarray(played2, played2 + 480))).toBe(-1);
    expect(rec.subarray(third.end).every((s) => s === 0)).toBe(true);
  });

  it('keeps the audio as long as the video, within one frame', () => {
    const y4m = readY4m(y4mFile);
    expect(y4m.frames).toHaveLength(recorder.frames);
    expect(recorded).toHaveLength(recorder.frames);
    expect(recorded.map((f) => f.frame)).toEqual(recorded.map((_, i) => i));
    const videoSamples = (recorder.frames * RATE) / FPS;
    expect(Math.abs(audio.samples.length - videoSamples)).toBeLessThanOrEqual(RATE / FPS);
    expect(recorder.audioSamples).toBe(audio.samples.length);
    // About the wall time of the run: 0.3 + 0.4 + 0.4 + 0.5 + 0.3 + 0.3 + 0.3 s, plus playouts.
    expect(recorder.frames / FPS).toBeGreaterThan(2.4);
    expect(recorder.frames / FPS).toBeLessThan(4.5);
  });
});

describe('TeeTap', () => {
  it('hands every push and truncate to each tap, in order', () => {
    const log: string[] = [];
    const tap = (name: string) => ({
      push: (s: Int16Array) => log.push(`${name} push ${s.length}`),
      truncate: (ms: number) => log.push(`${name} truncate ${ms}`),
    });
    const tee = new TeeTap([tap('a'), tap('b')]);
    tee.push(new Int16Array(3));
    tee.truncate(12.5);
    expect(log).toEqual(['a push 3', 'b push 3', 'a truncate 12.5', 'b truncate 12.5']);
  });
});

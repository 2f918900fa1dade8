/**
 * A/V offset of the avatar publisher, measured from outside the sink: `benchAvOffset({ seconds })`
 * loops speech (test/fixtures/count.wav, 24 kHz) through a real AvatarPublisher with no room and
 * reports how far the mouth is from the audio leaving the AudioSource. Prints nothing.
 *
 * "Left the AudioSource" is observed, not modelled: an AudioStream on the published audio track
 * receives every 10 ms chunk the native source hands to WebRTC (the same sink the encoder uses).
 * Its arrival in JS is an upper bound on the exit time; `exitTimes()` tightens it with the
 * source's own pacing (chunks leave at least 10 ms apart), which removes the bunching left by a
 * busy event loop. Nothing here reads the sink's queue estimate (`queuedDuration`), the thing
 * under test.
 *
 * Which audio a chunk holds is read from the audio itself: `stampTimeline()` sets bit 1 of every
 * pushed sample (so it is never zero; zero chunks are the source's padding when it runs dry) and
 * bit 0 to a pseudo-random function of its timeline position (at most 3 LSB, about -80 dBFS).
 * 240 such bits place a chunk exactly, even when the stream lost chunks on a stalled event loop.
 *
 * Two offsets:
 * - onset offset (what a viewer sees): for each sound onset, the presentation time of the first
 *   video frame whose mouth opens past a threshold, minus the time the onset left the source;
 * - clock offset (the pacer's error, per frame): the audio position a frame claims to show
 *   (`audioMs`) minus the position leaving the source at the frame's time. It has no frame-grid
 *   quantisation and does not depend on the audio content or the lip-sync shape, so drift is its
 *   slope.
 */
import { fileURLToPath } from 'node:url';
import { AudioFrame, type AudioSource, AudioStream, LocalAudioTrack } from '@livekit/rtc-node';
import type {
  ConnectionState,
  LocalTrack,
  LocalTrackPublication,
  RoomEvent,
  TrackPublishOptions,
} from '@livekit/rtc-node';
import { voice } from '@livekit/agents';
import { monoSamples } from '../src/audio/frames.ts';
import { readMonoAt } from '../src/audio/wav.ts';
import type { AvatarAudioSink } from '../src/avatar/audio_sink.ts';
import {
  AVATAR_SAMPLE_RATE,
  AvatarPublisher,
  type PublishedFrame,
  type RoomLike,
} from '../src/avatar/publisher.ts';

const RATE = AVATAR_SAMPLE_RATE;
/** The native source emits one chunk of 10 ms per tick. */
const TICK_MS = 10;
const CHUNK = RATE / 100;
const COUNT_WAV = fileURLToPath(new URL('../test/fixtures/count.wav', import.meta.url));

export interface AvOffsetResult {
  /** |onset offset|: median, nearest-rank p99 and maximum, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Slope of the per-frame clock offset over the run, ms per minute (+ = video drifts ahead). */
  driftMsPerMin: number;
  /** Video frames published, and frames the clock skipped because the process was late. */
  frames: number;
  skipped: number;
  /** Onsets measured, and onsets with no mouth opening near them. */
  onsets: number;
  unmatched: number;
  /** Median signed onset offset, ms (+ = the mouth opens after the sound leaves). */
  signedP50Ms: number;
  /** Per-frame clock offset while audio flows: median (signed) and p99 of |offset|, ms. */
  clockP50Ms: number;
  clockP99Ms: number;
  /** Slope of the onset offsets over the run, ms per minute (noisier than driftMsPerMin). */
  onsetDriftMsPerMin: number;
  /** 10 ms chunks of padding (the source ran dry: an audible gap) after audio first left. */
  dryChunks: number;
}

// --- marking and observing the audio timeline --------------------------------------------------

function positionBit(position: number): number {
  let h = Math.imul(position ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) & 1;
}

/**
 * `samples` marked with their timeline positions (the first is at `start`): bit 1 set, bit 0 a
 * pseudo-random bit of the position. A copy; changes each sample by at most 3 LSB.
 */
export function stampTimeline(samples: Int16Array, start: number): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    out[i] = (samples[i]! & ~3) | 2 | positionBit(start + i);
  }
  return out;
}

export function stampedAt(samples: Int16Array, start: number): boolean {
  return stampedPrefix(samples, start) === samples.length;
}

/** How many leading samples of `samples` carry the marks of positions `start`, `start + 1`, ... */
export function stampedPrefix(samples: Int16Array, start: number): number {
  for (let i = 0; i < samples.length; i++) {
    const x = samples[i]!;
    if ((x & 2) === 0 || (x & 1) !== positionBit(start + i)) return i;
  }
  return samples.length;
}

/** One chunk as it left the source. */
export interface LeftChunk {
  /** performance.now() when the chunk reached JS. */
  arrivedAt: number;
  samples: Int16Array;
}

/**
 * When each chunk left the source, from when it reached JS: the tightest time consistent with its
 * arrival and with the source's pacing (a chunk leaves at least one tick before the next arrives).
 */
export function exitTimesOf(arrivals: Float64Array): Float64Array {
  const n = arrivals.length;
  const times = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    const arrived = arrivals[i]!;
    times[i] = i === n - 1 ? arrived : Math.min(arrived, times[i + 1]! - TICK_MS);
  }
  return times;
}

/**
 * Records every chunk leaving an AudioSource, through an AudioStream on a local track of it. The
 * stream does not resample (same rate, mono), so the samples are exactly those pushed, with zero
 * chunks where the source ran dry.
 */
export class AudioExitMonitor {
  readonly chunks: LeftChunk[] = [];
  readonly #reader: ReadableStreamDefaultReader<AudioFrame>;
  readonly #done: Promise<void>;
  #exitCache?: Float64Array;
  #startCache?: Float64Array;

  constructor(track: LocalAudioTrack) {
    const stream = new AudioStream(track, { sampleRate: RATE, numChannels: 1 });
    this.#reader = stream.getReader();
    this.#done = this.#read();
  }

  /** A monitor on a source that has no track yet. */
  static forSource(source: AudioSource): AudioExitMonitor {
    return new AudioExitMonitor(LocalAudioTrack.createAudioTrack('exit_monitor', source));
  }

  async #read(): Promise<void> {
    for (;;) {
      const { done, value } = await this.#reader.read();
      if (done) return;
      this.chunks.push({ arrivedAt: performance.now(), samples: value.data.slice() });
    }
  }

  /**
   * When each chunk left the source: the tightest time consistent with its arrival and with the
   * source's pacing (a chunk leaves at least one tick before the next one arrives).
   */
  exitTimes(): Float64Array {
    const n = this.chunks.length;
    if (this.#exitCache?.length === n) return this.#exitCache;
    this.#exitCache = exitTimesOf(Float64Array.from(this.chunks, (c) => c.arrivedAt));
    return this.#exitCache;
  }

  /**
   * Timeline position of each chunk's first sample, read from `stampTimeline()` marks; NaN for
   * padding (the source ran dry) and for chunks that carry no marks.
   */
  timelineStarts(): Float64Array {
    const n = this.chunks.length;
    if (this.#startCache?.length === n) return this.#startCache;
    const starts = new Float64Array(n);
    let next = 0; // where the next chunk starts if none was lost
    this.chunks.forEach(({ samples }, i) => {
      starts[i] = NaN;
      if (samples.every((x) => x === 0)) return;
      // Chunks lost on the way to JS move the rest on (by whole chunks; up to 10 s is searched).
      for (let shift = 0; shift <= 10 * RATE; shift++) {
        if (stampedAt(samples, next + shift)) {
          starts[i] = next + shift;
          next += shift + samples.length;
          return;
        }
      }
    });
    this.#startCache = starts;
    return starts;
  }

  /**
   * When timeline sample `position` left the source: its chunk's exit time plus its offset in the
   * chunk (a chunk plays for 10 ms from its exit). If its chunk was lost on the way to JS, the
   * next chunk that arrived stands in (the source keeps ticking every 10 ms). Undefined if it has
   * not left.
   */
  exitOf(position: number): number | undefined {
    const starts = this.timelineStarts();
    const exits = this.exitTimes();
    for (let i = 0; i < starts.length; i++) {
      const start = starts[i]!;
      if (!(start + CHUNK > position)) continue; // NaN or before
      return exits[i]! + ((position - start) * 1000) / RATE;
    }
    return undefined;
  }

  /** Padding chunks (the source ran dry) between the first and the last audio chunk. */
  dryChunks(): number {
    const starts = this.timelineStarts();
    let first = -1;
    let last = -1;
    starts.forEach((s, i) => {
      if (Number.isNaN(s)) return;
      if (first < 0) first = i;
      last = i;
    });
    let dry = 0;
    for (let i = first + 1; i < last; i++) if (this.chunks[i]!.samples.every((x) => x === 0)) dry++;
    return dry;
  }

  /** Resolves once a chunk from index `from` on matches `test`; rejects after `timeoutMs`. */
  async waitFor(
    test: (samples: Int16Array) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (let i = from; ;) {
      for (; i < this.chunks.length; i++) if (test(this.chunks[i]!.samples)) return;
      if (performance.now() > deadline) throw new Error(`no such chunk within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  async close(): Promise<void> {
    await this.#reader.cancel();
    await this.#done;
  }
}

/**
 * Sound onsets in mono s16 audio, as sample positions: the start of the first 10 ms hop (counted
 * from the start of `samples`) at `level` dBFS RMS or louder after at least `quietMs` of hops below
 * `quietDb` (a softer rise in between is allowed). The start of `samples` counts as quiet.
 */
export function soundOnsets(
  samples: Int16Array,
  options: { level: number; quietDb: number; quietMs: number },
): number[] {
  const quietHops = Math.ceil(options.quietMs / TICK_MS);
  const onsets: number[] = [];
  let quietRun = 0;
  let armed = true;
  for (let at = 0; at + CHUNK <= samples.length; at += CHUNK) {
    let sum = 0;
    for (let i = at; i < at + CHUNK; i++) sum += samples[i]! ** 2;
    const db = 10 * Math.log10(sum / CHUNK / 32768 ** 2);
    if (armed && db >= options.level) {
      onsets.push(at);
      armed = false;
    }
    quietRun = db < options.quietDb ? quietRun + 1 : 0;
    if (quietRun >= quietHops) armed = true;
  }
  return onsets;
}

/**
 * The avatar sink with each agent sample stamped with its position (`stampTimeline`) on the way
 * in. Stamps count from `restart()`; the sink's own timeline is the samples captured so far (no
 * clearBuffer() in the calls that use it). `onCapture` and `onFlush` see each frame as it arrives
 * and each segment's end (a position on the stamped timeline).
 */
export class StampingOutput extends voice.AudioOutput {
  readonly #sink: AvatarAudioSink;
  readonly #onCapture?: (samples: number) => void;
  readonly #onFlush?: (position: number) => void;
  #captured = 0;
  #origin = 0;

  constructor(
    sink: AvatarAudioSink,
    hooks: { onCapture?: (samples: number) => void; onFlush?: (position: number) => void } = {},
  ) {
    super(sink.rate, sink);
    this.#sink = sink;
    if (hooks.onCapture) this.#onCapture = hooks.onCapture;
    if (hooks.onFlush) this.#onFlush = hooks.onFlush;
  }

  /** Stamps start again at 0; returns the sink timeline position (samples) they start at. */
  restart(): number {
    this.#origin = this.#captured;
    return this.#origin;
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    this.#onCapture?.(frame.samplesPerChannel);
    await super.captureFrame(frame);
    const samples = stampTimeline(monoSamples(frame), this.#captured - this.#origin);
    this.#captured += samples.length;
    await this.#sink.captureFrame(new AudioFrame(samples, frame.sampleRate, 1, samples.length));
  }

  override flush(): void {
    super.flush();
    this.#onFlush?.(this.#captured - this.#origin);
    this.#sink.flush();
  }

  override clearBuffer(): void {
    this.#sink.clearBuffer();
  }

  close(): void {
    this.#sink.close();
  }
}

// --- video frames ------------------------------------------------------------------------------

/** What a test or bench keeps of each published frame. */
export interface FrameRecord {
  frame: number;
  tMs: number;
  audioMs: number;
  open: number;
  /** performance.now() in the onFrame callback (after the frame was rendered and captured). */
  calledAt: number;
}

/** An onFrame callback that records into `frames`. */
export function frameRecorder(frames: FrameRecord[]): (frame: PublishedFrame) => void {
  return (f) =>
    frames.push({
      frame: f.frame,
      tMs: f.tMs,
      audioMs: f.audioMs,
      open: f.mouth.open,
      calledAt: performance.now(),
    });
}

/**
 * The publisher's clock origin on the performance.now() scale. Its frame clock counts
 * performance.now() from its start, so `calledAt - tMs` is the origin plus that frame's render
 * time; the smallest value over all frames is the origin, late by the fastest render.
 */
export function clockOrigin(frames: readonly FrameRecord[]): number {
  let origin = Infinity;
  for (const f of frames) origin = Math.min(origin, f.calledAt - f.tMs);
  return origin;
}

export interface EdgeOptions {
  /** The mouth counts as open above this. */
  open: number;
  /** Search for the opening this long before and after the onset left the source. */
  beforeMs: number;
  afterMs: number;
}

/**
 * Per onset (the time it left the source): presentation time of the first frame in the window
 * whose mouth opened past `options.open` (the frame before at or below it) minus that time; null
 * when the window holds no such edge.
 */
export function onsetOffsets(
  exits: readonly number[],
  frames: readonly FrameRecord[],
  options: EdgeOptions,
): (number | null)[] {
  const origin = clockOrigin(frames);
  return exits.map((exitAt) => {
    for (let i = 1; i < frames.length; i++) {
      const at = origin + frames[i]!.tMs;
      if (at < exitAt - options.beforeMs) continue;
      if (at > exitAt + options.afterMs) break;
      if (frames[i]!.open > options.open && frames[i - 1]!.open <= options.open) {
        return at - exitAt;
      }
    }
    return null;
  });
}

/**
 * Per frame shown while stamped audio was leaving the source: the frame's `audioMs` minus the
 * timeline position leaving the source at the frame's presentation time. Valid while the sink's
 * timeline equals the stamped one (no clearBuffer()).
 */
export function clockOffsets(
  frames: readonly FrameRecord[],
  monitor: Pick<AudioExitMonitor, 'exitTimes' | 'timelineStarts'>,
): { at: number; offsetMs: number }[] {
  const exits = monitor.exitTimes();
  const starts = monitor.timelineStarts();
  const origin = clockOrigin(frames);
  const out: { at: number; offsetMs: number }[] = [];
  let chunk = -1;
  for (const f of frames) {
    const at = origin + f.tMs;
    while (chunk + 1 < exits.length && exits[chunk + 1]! <= at) chunk++;
    // Only inside a run of audio: the chunk playing now and the next one both carry audio.
    if (chunk < 0 || chunk + 1 >= exits.length) continue;
    const start = starts[chunk]!;
    if (Number.isNaN(start) || Number.isNaN(starts[chunk + 1]!)) continue;
    const within = Math.min(at - exits[chunk]!, TICK_MS);
    const playing = start + (within * RATE) / 1000;
    out.push({ at, offsetMs: f.audioMs - (playing * 1000) / RATE });
  }
  return out;
}

// --- small statistics --------------------------------------------------------------------------

/** Nearest-rank percentile (p in 0..100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Least-squares slope of y over x (x in ms), per minute. */
export function slopePerMinute(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx > 0 ? (sxy / sxx) * 60_000 : NaN;
}

// --- driving the publisher ---------------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A connected room stand-in that only keeps what was published. */
export class TrackCatcher implements RoomLike {
  readonly isConnected = true;
  readonly tracks: LocalTrack[] = [];
  readonly localParticipant = {
    publishTrack: async (track: LocalTrack, _options: TrackPublishOptions) => {
      this.tracks.push(track);
      return {} as LocalTrackPublication;
    },
  };

  on(_event: RoomEvent.ConnectionStateChanged, _listener: (state: ConnectionState) => void): this {
    return this;
  }

  off(_event: RoomEvent.ConnectionStateChanged, _listener: (state: ConnectionState) => void): this {
    return this;
  }

  get audioTrack(): LocalAudioTrack {
    const track = this.tracks.find((t) => t instanceof LocalAudioTrack);
    if (!track) throw new Error('no audio track was published');
    return track as LocalAudioTrack;
  }
}

/**
 * Push `samples` into the sink as one segment, the way the framework forwards audio: frames of
 * `frameMs()` each, every capture awaited (the source's back-pressure paces it), then flush().
 * Stops early when `stop()` turns true.
 */
export async function pushSegment(
  sink: AvatarAudioSink,
  samples: Int16Array,
  frameMs: () => number,
  stop: () => boolean = () => false,
): Promise<void> {
  try {
    for (let at = 0; at < samples.length && !stop();) {
      const n = Math.min(Math.max(1, Math.round((frameMs() * RATE) / 1000)), samples.length - at);
      // A copy: AudioFrame hands its buffer to the FFI and ignores a view's offset.
      await sink.captureFrame(new AudioFrame(samples.slice(at, at + n), RATE, 1, n));
      at += n;
    }
  } finally {
    sink.flush();
  }
}

/** A seeded PRNG (mulberry32), uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Word onsets in count.wav: a hop at -33 dBFS RMS (what the lip sync maps to a jaw opening of 0.2,
 * the edge threshold) after a comma pause (~200 ms) or the trailing silence.
 */
const SPEECH_ONSETS = { level: -33, quietDb: -45, quietMs: 150 };
const SPEECH_EDGE: EdgeOptions = { open: 0.2, beforeMs: 100, afterMs: 100 };

/**
 * Loop count.wav through a real publisher (512 x 512, 30 fps, no room) for `seconds`, utterances
 * back to back, and measure both offsets. The onset offsets include how the lip sync reads each
 * word: "one" starts with w, which it draws as near-closed lips, so its mouth passes 0.2 some
 * 40-80 ms after the -33 dBFS onset and sets the p99; the clock offset is the pure sync error.
 */
export async function benchAvOffset(opts: { seconds: number }): Promise<AvOffsetResult> {
  const speech = readMonoAt(COUNT_WAV, RATE).samples;
  const speechOnsets = soundOnsets(speech, SPEECH_ONSETS);
  const frames: FrameRecord[] = [];
  const publisher = new AvatarPublisher({ onFrame: frameRecorder(frames) });
  const room = new TrackCatcher();
  let monitor: AudioExitMonitor | undefined;
  let loops = 0;
  try {
    await publisher.start(new voice.AgentSession({}), room);
    monitor = new AudioExitMonitor(room.audioTrack);
    const sink = publisher.sink;
    const random = prng(1);
    const end = performance.now() + opts.seconds * 1000;
    // One utterance per loop, back to back: the source queue stays full the whole run, the
    // hardest case for a queue estimate (nothing resynchronises it).
    while (performance.now() < end) {
      const utterance = stampTimeline(speech, loops * speech.length);
      await pushSegment(sink, utterance, () => 20 + 40 * random());
      loops += 1;
    }
    await sink.waitForPlayout();
    await sleep(200);
  } finally {
    await publisher.close();
    await monitor?.close();
  }

  const exits: number[] = [];
  for (let loop = 0; loop < loops; loop++) {
    for (const onset of speechOnsets) {
      const exit = monitor.exitOf(loop * speech.length + onset);
      if (exit !== undefined) exits.push(exit);
    }
  }
  const offsets = onsetOffsets(exits, frames, SPEECH_EDGE);
  const matched: { x: number; y: number }[] = [];
  offsets.forEach((y, i) => {
    if (y !== null) matched.push({ x: exits[i]!, y });
  });
  const absolute = matched.map((p) => Math.abs(p.y));
  const clock = clockOffsets(frames, monitor).map((c) => ({ x: c.at, y: c.offsetMs }));
  return {
    p50Ms: percentile(absolute, 50),
    p99Ms: percentile(absolute, 99),
    maxMs: absolute.length ? Math.max(...absolute) : NaN,
    driftMsPerMin: slopePerMinute(clock),
    frames: frames.length,
    skipped: publisher.skippedFrames,
    onsets: matched.length,
    unmatched: offsets.length - matched.length,
    signedP50Ms: percentile(
      matched.map((p) => p.y),
      50,
    ),
    clockP50Ms: percentile(
      clock.map((c) => c.y),
      50,
    ),
    clockP99Ms: percentile(
      clock.map((c) => Math.abs(c.y)),
      99,
    ),
    onsetDriftMsPerMin: slopePerMinute(matched),
    dryChunks: monitor.dryChunks(),
  };
}

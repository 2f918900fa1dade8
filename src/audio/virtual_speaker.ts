/**
 * An AudioOutput that plays into nothing at real-time speed: the agent's "speaker" when there is
 * no room (console, tests). It keeps the framework's playout contract exactly: playback started on
 * the first frame of a segment, one playback-finished per segment when its audio has played, and on
 * clearBuffer() an interrupted finish at the position really played. What played is handed to
 * `onPlayed`, in order, so a caller can record it.
 */
import type { AudioFrame } from '@livekit/rtc-node';
import { voice } from '@livekit/agents';
import { monoSamples } from './frames.ts';

export interface VirtualSpeakerOptions {
  sampleRate?: number;
  /** Receives each segment's played samples (mono s16) once it finished or was cut. */
  onPlayed?: (samples: Int16Array, info: { interrupted: boolean }) => void;
  /** Clock in ms; injectable for tests. */
  now?: () => number;
}

interface Segment {
  chunks: Int16Array[];
  pushed: number;
  /** When the first frame started to play. */
  startedAt: number;
  /** When everything pushed so far will have played (later frames queue behind it). */
  endsAt: number;
  /** Per chunk: when it starts to play. */
  starts: number[];
  flushed: boolean;
  timer?: NodeJS.Timeout;
}

export class VirtualSpeaker extends voice.AudioOutput {
  readonly #rate: number;
  readonly #onPlayed?: VirtualSpeakerOptions['onPlayed'];
  readonly #now: () => number;
  #segment?: Segment;
  #closed = false;

  constructor(options: VirtualSpeakerOptions = {}) {
    const rate = options.sampleRate ?? 24_000;
    super(rate);
    this.#rate = rate;
    this.#onPlayed = options.onPlayed;
    this.#now = options.now ?? Date.now;
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    await super.captureFrame(frame);
    if (this.#closed) return;
    const now = this.#now();
    const samples = monoSamples(frame).slice();
    let seg = this.#segment;
    if (!seg) {
      seg = { chunks: [], pushed: 0, startedAt: now, endsAt: now, starts: [], flushed: false };
      this.#segment = seg;
      this.onPlaybackStarted(now);
    }
    const start = Math.max(now, seg.endsAt);
    seg.starts.push(start);
    seg.chunks.push(samples);
    seg.pushed += samples.length;
    seg.endsAt = start + (samples.length / this.#rate) * 1000;
  }

  override flush(): void {
    super.flush();
    const seg = this.#segment;
    if (!seg || seg.flushed) return;
    seg.flushed = true;
    const wait = Math.max(0, seg.endsAt - this.#now());
    seg.timer = setTimeout(() => this.#finish(seg, seg.pushed, false), wait);
  }

  override clearBuffer(): void {
    const seg = this.#segment;
    if (!seg) return;
    // Close the open segment too, so the next frame starts a new one with its own events.
    super.flush();
    this.#finish(seg, this.#playedSamples(seg, this.#now()), true);
  }

  /** Samples of `seg` that have played by `at`. */
  #playedSamples(seg: Segment, at: number): number {
    let played = 0;
    seg.chunks.forEach((chunk, i) => {
      const elapsed = Math.max(0, at - seg.starts[i]!);
      played += Math.min(chunk.length, Math.floor((elapsed / 1000) * this.#rate));
    });
    return played;
  }

  #finish(seg: Segment, played: number, interrupted: boolean): void {
    if (this.#segment !== seg) return;
    clearTimeout(seg.timer);
    this.#segment = undefined;
    this.#onPlayed?.(concat(seg.chunks, played), { interrupted });
    this.onPlaybackFinished({ playbackPosition: played / this.#rate, interrupted });
  }

  /** Stop: an open segment ends as interrupted so nobody waits on it. */
  close(): void {
    this.clearBuffer();
    this.#closed = true;
  }
}

/** The first `count` samples of `chunks`, as one array. */
function concat(chunks: Int16Array[], count: number): Int16Array {
  const out = new Int16Array(count);
  let offset = 0;
  for (const chunk of chunks) {
    if (offset >= count) break;
    const part = chunk.subarray(0, count - offset);
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

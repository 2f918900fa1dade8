/**
 * Frames of one video track -> sampled -> JPEG -> the model, with bounded work:
 *
 * - every arriving frame costs a comparison; only sampled frames are converted and encoded; a
 *   source that can hold frames back (a room track: track_frames.ts) asks `nextFrameInMs()` and
 *   delivers frames only when one is due;
 * - at most one encode is in flight; a frame due meanwhile waits in a single slot, replaced by
 *   each newer frame (newest wins), and a due frame that finds the slot taken drops the older one;
 * - encoding runs in sharp's thread pool, so a slow encoder delays frames, never the audio;
 * - `endTrack()` (the track ended, unpublished, or another one was chosen) drops the waiting
 *   frame and discards an encode in flight: no frame of an ended track is sent after it.
 */
import { log } from '@livekit/agents';
import type { VideoFrame } from '@livekit/rtc-node';
import type { VideoPlan } from '../config/video.ts';
import type { FrameSink, SendOutcome } from './gemini_sink.ts';
import { type Encoder, type JpegOptions, encodeJpeg } from './jpeg.ts';
import { FrameSampler } from './sampler.ts';

type Rotation = NonNullable<JpegOptions['rotate']>;

export interface PipelineOptions {
  plan: Pick<VideoPlan, 'speakingIntervalMs' | 'idleIntervalMs' | 'maxSize' | 'jpegQuality'>;
  sink: FrameSink;
  encode?: Encoder;
  now?: () => number;
}

export interface PipelineStats {
  /** Frames that arrived. */
  frames: number;
  /** Frames the sampler took. */
  sampled: number;
  encoded: number;
  sent: number;
  /** Sampled frames dropped because the encoder was still busy with an earlier one. */
  droppedBusy: number;
  /** Encoded frames discarded because their track had ended meanwhile. */
  discardedEnded: number;
  /** Encoded frames the model could not take at that moment, by reason. */
  unsent: Partial<Record<Exclude<SendOutcome, 'sent'>, number>>;
  encodeErrors: number;
}

export class FramePipeline {
  readonly sampler: FrameSampler;
  readonly stats: PipelineStats = {
    frames: 0,
    sampled: 0,
    encoded: 0,
    sent: 0,
    droppedBusy: 0,
    discardedEnded: 0,
    unsent: {},
    encodeErrors: 0,
  };
  readonly #options: PipelineOptions;
  readonly #encode: Encoder;
  #track = 0;
  #active = false;
  #encoding?: Promise<void>;
  #waiting?: { frame: VideoFrame; rotate: Rotation };
  #closed = false;
  readonly #demandListeners = new Set<() => void>();

  constructor(options: PipelineOptions) {
    this.#options = options;
    this.#encode = options.encode ?? encodeJpeg;
    this.sampler = new FrameSampler({
      speakingIntervalMs: options.plan.speakingIntervalMs,
      idleIntervalMs: options.plan.idleIntervalMs,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  set speaking(speaking: boolean) {
    if (this.sampler.speaking === speaking) return;
    this.sampler.speaking = speaking;
    this.#demandChanged();
  }

  /** A track starts delivering frames. */
  startTrack(): void {
    if (this.#closed) return;
    this.endTrack();
    this.#active = true;
    this.sampler.reset();
    this.#demandChanged();
  }

  /** The track is gone: nothing of it is sent from now on. */
  endTrack(): void {
    this.#track++;
    this.#active = false;
    this.#waiting = undefined;
  }

  /**
   * How long until a frame of the current track would be taken, ms: 0 now, undefined when none
   * will be until something changes (no track, closed, or a silent user with no idle interval).
   */
  nextFrameInMs(): number | undefined {
    return this.#active ? this.sampler.dueInMs() : undefined;
  }

  /** Calls `listener` when a frame may be due sooner than nextFrameInMs() said; returns an unsubscribe. */
  onDemandChange(listener: () => void): () => void {
    this.#demandListeners.add(listener);
    return () => this.#demandListeners.delete(listener);
  }

  #demandChanged(): void {
    for (const listener of this.#demandListeners) listener();
  }

  /**
   * Every frame of the current track, as it arrives; `rotate`: clockwise degrees that turn it
   * upright (WebRTC's frame rotation, set by phone cameras).
   */
  pushFrame(frame: VideoFrame, rotate: Rotation = 0): void {
    if (!this.#active) return;
    this.stats.frames++;
    if (this.#waiting) {
      // The encoder is busy with an earlier frame: keep the freshest pixels for the slot.
      if (this.sampler.take()) {
        this.stats.sampled++;
        this.stats.droppedBusy++;
      }
      this.#waiting = { frame, rotate };
      return;
    }
    if (!this.sampler.take()) return;
    this.stats.sampled++;
    if (this.#encoding) this.#waiting = { frame, rotate };
    else this.#startEncode(frame, rotate);
  }

  /** Resolves once no encode is in flight (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#encoding) await this.#encoding;
  }

  async close(): Promise<void> {
    this.endTrack();
    this.#closed = true;
    await this.idle();
  }

  #startEncode(frame: VideoFrame, rotate: Rotation): void {
    const track = this.#track;
    const { maxSize, jpegQuality } = this.#options.plan;
    this.#encoding = this.#encode(frame, { maxSize, quality: jpegQuality, rotate })
      .then((encoded) => {
        this.stats.encoded++;
        if (track !== this.#track) {
          this.stats.discardedEnded++;
          return;
        }
        const outcome = this.#options.sink(encoded);
        if (outcome === 'sent') this.stats.sent++;
        else this.stats.unsent[outcome] = (this.stats.unsent[outcome] ?? 0) + 1;
      })
      .catch((error: unknown) => {
        this.stats.encodeErrors++;
        log().warn({ error }, 'video frame could not be encoded; dropped it');
      })
      .finally(() => {
        this.#encoding = undefined;
        const next = this.#waiting;
        this.#waiting = undefined;
        if (next && this.#active) this.#startEncode(next.frame, next.rotate);
      });
  }
}

/**
 * One video track's frames -> the frame pipeline, pulled out of the native core only when the
 * pipeline will take one.
 *
 * rtc-node's VideoStream copies every decoded frame into a new buffer (1.4 MB at 1280x720) and
 * hands it to JavaScript, 30 times a second for a webcam, whether or not anyone wants it; the
 * pipeline takes one a second while the user speaks and fewer otherwise. So the stream is open
 * only while a frame is due: opened when the sampler's next frame comes due (or when the user
 * starts speaking makes one due sooner), read until the pipeline has taken a frame, then closed.
 * WebRTC still decodes every frame (that is LiveKit's subscription); what is saved is the copy,
 * the FFI event and the garbage they leave: continuous reading of a 720p30 camera costs 15-90
 * ms/s of CPU on Node 20 and ~135 ms/s on Node 24 (`npm run bench -- --suite video`).
 */
import { log } from '@livekit/agents';
import { type Track, type VideoFrameEvent, VideoStream } from '@livekit/rtc-node';
import type { ReadableStream, ReadableStreamDefaultReader } from 'node:stream/web';
import { type Clock, type ClockTimer, REAL_CLOCK } from '../avatar/clock.ts';
import type { FramePipeline } from './frame_pipeline.ts';

/** WebRTC's frame rotation (VIDEO_ROTATION_0..270) as clockwise degrees. */
const ROTATIONS = [0, 90, 180, 270] as const;

export interface TrackFramesOptions {
  track: Track;
  pipeline: FramePipeline;
  /** How the track's frames are read (default rtc-node's VideoStream). */
  openStream?: (track: Track) => ReadableStream<VideoFrameEvent>;
  /**
   * Called once when the track's stream ends on its own (`failed` false) or a read fails (true);
   * never after stop().
   */
  onEnd?: (failed: boolean) => void;
  /** The timers it waits with for the next frame. Default: real time. */
  clock?: Clock;
}

export class TrackFrames {
  readonly #options: TrackFramesOptions;
  readonly #clock: Clock;
  readonly #unlisten: () => void;
  #reader?: ReadableStreamDefaultReader<VideoFrameEvent>;
  #timer?: ClockTimer;
  #wake?: () => void;
  #stopped = false;
  #opened = 0;

  constructor(options: TrackFramesOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#unlisten = options.pipeline.onDemandChange(() => this.#wake?.());
  }

  /** Start reading (frames go to the pipeline whenever it will take one). */
  start(): void {
    void this.#run();
  }

  /** Streams opened so far: about one per frame taken when the track delivers steadily. */
  get opened(): number {
    return this.#opened;
  }

  /** Stop reading; no frame of this track reaches the pipeline afterwards. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#closeStream();
    this.#wake?.();
  }

  /** Never throws: a failed read ends this track (onEnd), the call goes on. */
  async #run(): Promise<void> {
    const { pipeline } = this.#options;
    let ended: { failed: boolean } | undefined;
    try {
      while (!this.#stopped) {
        const dueInMs = pipeline.nextFrameInMs();
        if (dueInMs !== 0) {
          // No frame wanted yet: none leaves the native core until one is.
          this.#closeStream();
          await this.#sleep(dueInMs);
          continue;
        }
        this.#reader ??= this.#open();
        const { done, value } = await this.#reader.read();
        if (this.#stopped) break;
        if (done) {
          ended = { failed: false };
          break;
        }
        pipeline.pushFrame(value.frame, ROTATIONS[value.rotation] ?? 0);
      }
    } catch (error) {
      if (!this.#stopped) {
        ended = { failed: true };
        log().warn({ error }, 'video track read failed');
      }
    } finally {
      this.#closeStream();
      this.#unlisten();
      if (ended && !this.#stopped) this.#options.onEnd?.(ended.failed);
    }
  }

  #open(): ReadableStreamDefaultReader<VideoFrameEvent> {
    const open = this.#options.openStream ?? ((track: Track) => new VideoStream(track));
    this.#opened++;
    return open(this.#options.track).getReader();
  }

  #closeStream(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.cancel().catch(() => {});
  }

  /** Until `ms` have passed (forever when undefined), the pipeline's demand changes, or stop(). */
  #sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#clock.clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = wake;
      if (ms !== undefined) this.#timer = this.#clock.setTimeout(wake, ms);
    });
  }
}

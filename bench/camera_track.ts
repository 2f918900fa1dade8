/**
 * The user's camera as rtc-node hands it to the worker, without a room: a frame every 1/fps s,
 * and each open stream gets its own fresh copy of it, as rtc-node's VideoStream copies every
 * decoded frame out of the native core into a new buffer while it is open (and copies nothing
 * for a track with no stream). `openStream` stands in for `new VideoStream(track)` (the seam of
 * src/video/track_frames.ts).
 */
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { VideoFrame, type VideoFrameEvent, VideoRotation } from '@livekit/rtc-node';

export class CameraTrackStandIn {
  readonly fps: number;
  readonly #frames: readonly VideoFrame[];
  readonly #open = new Set<ReadableStreamDefaultController<VideoFrameEvent>>();
  readonly #startedAt = performance.now();
  #timer?: NodeJS.Timeout;
  #produced = 0;
  #copied = 0;

  constructor(frames: readonly VideoFrame[], fps = 30) {
    this.fps = fps;
    this.#frames = frames;
    this.#timer = setTimeout(this.#tick, 0);
  }

  /** Frames the camera produced, and frames copied out to an open stream. */
  get produced(): number {
    return this.#produced;
  }

  get copied(): number {
    return this.#copied;
  }

  openStream = (): ReadableStream<VideoFrameEvent> => {
    let controller: ReadableStreamDefaultController<VideoFrameEvent> | undefined;
    return new ReadableStream<VideoFrameEvent>({
      start: (c) => {
        controller = c;
        this.#open.add(c);
      },
      cancel: () => {
        if (controller) this.#open.delete(controller);
      },
    });
  };

  stop(): void {
    clearTimeout(this.#timer);
    for (const controller of this.#open) controller.close();
    this.#open.clear();
  }

  #tick = (): void => {
    const frame = this.#frames[this.#produced++ % this.#frames.length]!;
    for (const controller of this.#open) {
      this.#copied++;
      const copy = new VideoFrame(
        new Uint8Array(frame.data),
        frame.width,
        frame.height,
        frame.type,
      );
      controller.enqueue({
        frame: copy,
        timestampUs: 0n,
        rotation: VideoRotation.VIDEO_ROTATION_0,
      });
    }
    const due = this.#startedAt + (this.#produced * 1000) / this.fps;
    this.#timer = setTimeout(this.#tick, Math.max(0, due - performance.now()));
  };
}

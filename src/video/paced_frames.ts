/**
 * A camera made of frames: calls `onFrame` at `fps` in real time, the schedule anchored to the
 * start so it does not drift. `nextFrame` returns undefined when there are no more (the source
 * then ends). Used by the console's --camera file and by tests.
 */
import type { VideoFrame } from '@livekit/rtc-node';
import type { FrameSource } from './video_input.ts';

export class PacedFrameSource implements FrameSource {
  readonly fps: number;
  readonly #nextFrame: () => VideoFrame | undefined;
  #timer?: NodeJS.Timeout;
  #stopped = false;
  #sent = 0;

  constructor(fps: number, nextFrame: () => VideoFrame | undefined) {
    if (!(fps > 0)) throw new RangeError(`fps must be > 0 (got ${fps})`);
    this.fps = fps;
    this.#nextFrame = nextFrame;
  }

  /** Frames delivered so far. */
  get sent(): number {
    return this.#sent;
  }

  start(onFrame: (frame: VideoFrame) => void, onEnd: () => void): void {
    const startedAt = performance.now();
    const tick = () => {
      if (this.#stopped) return;
      const frame = this.#nextFrame();
      if (!frame) {
        this.#stopped = true;
        onEnd();
        return;
      }
      onFrame(frame);
      this.#sent++;
      const due = startedAt + (this.#sent * 1000) / this.fps;
      this.#timer = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

/**
 * A frame clock: calls `onTick` once per video frame at a fixed rate, on a schedule anchored to
 * its start so it never drifts. When the process falls behind (a long GC pause), late frames are
 * skipped rather than bunched, so the video stays on its grid and never runs slow.
 */
import { type Clock, type ClockTimer, REAL_CLOCK } from './clock.ts';
export interface FrameTick {
  /** Frame number on the grid (skipped frames leave gaps). */
  frame: number;
  /** When this frame is due, ms since the clock started. */
  dueMs: number;
  /** When the tick actually ran, ms since the clock started. */
  nowMs: number;
}

export interface FrameClockOptions {
  fps: number;
  onTick: (tick: FrameTick) => void;
  /** The time and timers it runs on. Default: real time (a VirtualClock for the preview). */
  clock?: Clock;
  /** Monotonic time in ms, instead of the clock's; for tests. */
  now?: () => number;
  /** Called when onTick throws; the clock keeps running. */
  onError?: (error: unknown) => void;
}

export class FrameClock {
  readonly fps: number;
  readonly frameMs: number;
  readonly #onTick: (tick: FrameTick) => void;
  readonly #clock: Clock;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  #startedAt = 0;
  #frame = 0;
  #timer?: ClockTimer;
  #running = false;
  #skipped = 0;

  constructor({ fps, onTick, clock = REAL_CLOCK, now, onError = () => {} }: FrameClockOptions) {
    if (!(fps > 0 && fps <= 120)) throw new Error(`fps: ${fps} is not valid (allowed: 1 to 120)`);
    this.fps = fps;
    this.frameMs = 1000 / fps;
    this.#onTick = onTick;
    this.#clock = clock;
    this.#now = now ?? (() => clock.now());
    this.#onError = onError;
  }

  /** Frames skipped because the process was late. */
  get skipped(): number {
    return this.#skipped;
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#startedAt = this.#now();
    this.#frame = 0;
    this.#run();
  }

  stop(): void {
    this.#running = false;
    this.#clock.clearTimeout(this.#timer);
  }

  #run = (): void => {
    if (!this.#running) return;
    const nowMs = this.#now() - this.#startedAt;
    const behind = Math.floor(nowMs / this.frameMs) - this.#frame;
    if (behind >= 1) {
      // This frame's slot is over: jump to the current slot instead of emitting a burst.
      this.#skipped += behind;
      this.#frame += behind;
    }
    try {
      this.#onTick({ frame: this.#frame, dueMs: this.#frame * this.frameMs, nowMs });
    } catch (error) {
      // One bad frame must not stop the video: log it and keep the clock running.
      this.#onError(error);
    }
    this.#frame += 1;
    const nextDue = this.#frame * this.frameMs;
    const wait = nextDue - (this.#now() - this.#startedAt);
    this.#timer = this.#clock.setTimeout(this.#run, Math.max(0, wait));
  };
}

/**
 * Which incoming frames to take: one per `speakingIntervalMs` while the user speaks, one per
 * `idleIntervalMs` otherwise (0: none), as LiveKit's Python agents sample (1 fps / one per 3 s).
 * Frames are judged as they arrive; the clock is injectable so tests are exact.
 */
export interface SamplerOptions {
  speakingIntervalMs: number;
  /** 0: no frames while the user is silent. */
  idleIntervalMs: number;
  now?: () => number;
}

export class FrameSampler {
  readonly speakingIntervalMs: number;
  readonly idleIntervalMs: number;
  readonly #now: () => number;
  #speaking = false;
  #lastTakenAt?: number;

  constructor(options: SamplerOptions) {
    this.speakingIntervalMs = options.speakingIntervalMs;
    this.idleIntervalMs = options.idleIntervalMs;
    this.#now = options.now ?? (() => performance.now());
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  set speaking(speaking: boolean) {
    this.#speaking = speaking;
  }

  /** The interval that applies now; 0 means take nothing. */
  get intervalMs(): number {
    return this.#speaking ? this.speakingIntervalMs : this.idleIntervalMs;
  }

  /** Take the frame arriving now? Marks it taken when it says yes. */
  take(): boolean {
    const interval = this.intervalMs;
    if (interval <= 0) return false;
    const now = this.#now();
    if (this.#lastTakenAt !== undefined && now - this.#lastTakenAt < interval) return false;
    this.#lastTakenAt = now;
    return true;
  }

  /**
   * How long until `take()` would say yes, ms: 0 now, undefined while the current interval takes
   * nothing (the user silent with no idle interval).
   */
  dueInMs(): number | undefined {
    const interval = this.intervalMs;
    if (interval <= 0) return undefined;
    if (this.#lastTakenAt === undefined) return 0;
    return Math.max(0, this.#lastTakenAt + interval - this.#now());
  }

  /** A new track starts: its first frame is taken as soon as the rate allows any. */
  reset(): void {
    this.#lastTakenAt = undefined;
  }
}

/**
 * The time the avatar paces itself by. In a call it is real time (`REAL_CLOCK`); the preview
 * renders on a `VirtualClock`, which moves only when told to, so the same sink, lip sync, renderer
 * and frame clock run as fast as the machine allows and put every frame exactly on its grid.
 */

/** A timer handle from `Clock.setTimeout`. */
export type ClockTimer = object;

export interface Clock {
  /** Monotonic time, ms. */
  now(): number;
  /** Run `fn` once `ms` have passed on this clock. */
  setTimeout(fn: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

export const REAL_CLOCK: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

interface VirtualTimer {
  due: number;
  /** Creation order: timers due at the same time run in the order they were set. */
  order: number;
  fn: () => void;
}

/**
 * A clock that stands still until `runUntil` moves it: it jumps to the next timer that is due, runs
 * it, and lets the promise callbacks it caused run before the next (one event-loop turn), so code
 * that awaits between timers sees the order it would in real time.
 */
export class VirtualClock implements Clock {
  #now = 0;
  #order = 0;
  /** Pending timers, soonest first. */
  readonly #timers: VirtualTimer[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): ClockTimer {
    const timer: VirtualTimer = { due: this.#now + Math.max(0, ms), order: this.#order++, fn };
    const at = this.#timers.findIndex(
      (t) => t.due > timer.due || (t.due === timer.due && t.order > timer.order),
    );
    this.#timers.splice(at < 0 ? this.#timers.length : at, 0, timer);
    return timer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    const at = this.#timers.indexOf(timer as VirtualTimer);
    if (at >= 0) this.#timers.splice(at, 1);
  }

  /** A promise that resolves `ms` from now on this clock. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /**
   * Run timers in order until `done()` holds, letting the work each one starts settle (one
   * event-loop turn) before the next. Throws when `done()` does not hold and no timer is left
   * (nothing could ever make it true).
   */
  async runUntil(done: () => boolean | Promise<boolean>): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (await done()) return;
      const timer = this.#timers.shift();
      if (!timer) throw new Error('VirtualClock: nothing left to run');
      this.#now = Math.max(this.#now, timer.due);
      timer.fn();
    }
  }
}

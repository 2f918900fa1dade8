/**
 * A call's time limit: LiveAvatar's `max_session_duration`, enforced by the worker itself so the
 * call ends on time whatever the avatar source (LiveAvatar also ends its own avatar session
 * then). When the time is up, `onExpired` gets the reason once; the owner ends the call.
 *
 * The end can move later: `extend()` is for a keep-alive (LiveAvatar's `/v1/sessions/keep-alive`
 * as a session service offers it) that grants more time.
 */

/** The reason a call ended at its time limit, as LiveAvatar names it in `/v1/sessions/stop`. */
export const MAX_DURATION_REACHED = 'MAX_DURATION_REACHED';

export interface CallDeadlineOptions {
  /** How long the call may last, in milliseconds from construction. */
  durationMs: number;
  /** Called once, with MAX_DURATION_REACHED, when the time is up (not after stop()). */
  onExpired: (reason: string) => void;
  /** The clock, in ms; injectable for tests. Default Date.now. */
  now?: () => number;
}

export class CallDeadline {
  readonly #onExpired: (reason: string) => void;
  readonly #now: () => number;
  #endsAt: number;
  #timer?: NodeJS.Timeout;
  #done = false;
  #expired = false;

  constructor({ durationMs, onExpired, now = Date.now }: CallDeadlineOptions) {
    this.#onExpired = onExpired;
    this.#now = now;
    this.#endsAt = now() + durationMs;
    this.#arm();
  }

  /** When the call ends, in the clock's ms. */
  get endsAt(): number {
    return this.#endsAt;
  }

  get remainingMs(): number {
    return Math.max(0, this.#endsAt - this.#now());
  }

  /** The time ran out (onExpired was called). */
  get expired(): boolean {
    return this.#expired;
  }

  /** Move the end `ms` later (a keep-alive). Does nothing once the call has ended or stopped. */
  extend(ms: number): void {
    if (this.#done || !(ms > 0)) return;
    this.#endsAt += ms;
    this.#arm();
  }

  /** The call ended some other way: never call onExpired. */
  stop(): void {
    this.#done = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    // Re-checked on firing: a timer may fire a little early, and extend() may have run.
    this.#timer = setTimeout(() => this.#check(), this.remainingMs);
    this.#timer.unref();
  }

  #check(): void {
    if (this.#done) return;
    if (this.remainingMs > 0) {
      this.#arm();
      return;
    }
    this.#done = true;
    this.#expired = true;
    this.#onExpired(MAX_DURATION_REACHED);
  }
}

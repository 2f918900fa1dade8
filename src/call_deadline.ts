/**
 * A call's time limit: LiveAvatar's `max_session_duration`, enforced by the worker itself so the
 * call ends on time whatever the avatar source (LiveAvatar also ends its own avatar session
 * then). When the time is up, `onExpired` gets the reason once; the owner ends the call.
 *
 * CallDeadline is the timer: a limit fixed at construction, and an end that `endAt()` moves
 * within it. CallTimeLimit feeds it from where a limit comes from: the dispatch's
 * `max_session_duration`, and, in a room the session API made, the session's end in the room's
 * metadata (src/sessions/room_metadata.ts), which the service moves later on a keep-alive.
 */
import { readSessionDeadline } from './sessions/room_metadata.ts';

/** The reason a call ended at its time limit, as LiveAvatar names it in `/v1/sessions/stop`. */
export const MAX_DURATION_REACHED = 'MAX_DURATION_REACHED';

export interface CallDeadlineOptions {
  /**
   * How long the call may last, in milliseconds from construction: when it ends, unless `endAt()`
   * moves the end earlier; no `endAt()` moves it past this limit.
   */
  durationMs: number;
  /** Called once, with MAX_DURATION_REACHED, when the time is up (not after stop()). */
  onExpired: (reason: string) => void;
  /** The clock, in ms; injectable for tests. Default Date.now. */
  now?: () => number;
}

export class CallDeadline {
  readonly #onExpired: (reason: string) => void;
  readonly #now: () => number;
  readonly #limit: number;
  #endsAt: number;
  #timer?: NodeJS.Timeout;
  #done = false;
  #expired = false;

  constructor({ durationMs, onExpired, now = Date.now }: CallDeadlineOptions) {
    this.#onExpired = onExpired;
    this.#now = now;
    this.#limit = now() + durationMs;
    this.#endsAt = this.#limit;
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

  /**
   * Move the end to `at` (the clock's ms), earlier or later (a keep-alive), but never past the
   * limit. An end already past fires at once. Does nothing once the call has ended or stopped.
   */
  endAt(at: number): void {
    if (this.#done || !Number.isFinite(at)) return;
    this.#endsAt = Math.min(at, this.#limit);
    this.#arm();
  }

  /** The call ended some other way: never call onExpired. */
  stop(): void {
    this.#done = true;
    clearTimeout(this.#timer);
  }

  #arm(): void {
    clearTimeout(this.#timer);
    // Re-checked on firing: a timer may fire a little early, and endAt() may have run.
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

export interface CallTimeLimitOptions {
  /** The dispatch's `max_session_duration`, in seconds, when it sets one. */
  maxSessionDurationSeconds?: number;
  /** Called once, with MAX_DURATION_REACHED, when the time is up (not after stop()). */
  onExpired: (reason: string) => void;
  /** The clock, in ms; injectable for tests. Default Date.now. */
  now?: () => number;
}

/**
 * A call's time limit from the dispatch and the room. The call ends at the session's end when the
 * room's metadata names one, and never past the shorter `max_session_duration` (the dispatch's,
 * the session's) counted from construction, whatever the metadata says later.
 */
export class CallTimeLimit {
  readonly #options: CallTimeLimitOptions;
  readonly #now: () => number;
  readonly #startedAt: number;
  #deadline?: CallDeadline;
  #stopped = false;

  constructor(options: CallTimeLimitOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    const seconds = options.maxSessionDurationSeconds;
    if (seconds !== undefined) this.#deadline = this.#deadlineOf(seconds * 1000);
  }

  /** When the call ends, in the clock's ms, or undefined when it has no limit. */
  get endsAt(): number | undefined {
    return this.#deadline?.endsAt;
  }

  /** The time ran out (onExpired was called). */
  get expired(): boolean {
    return this.#deadline?.expired ?? false;
  }

  /**
   * Take the session's end from the room's metadata (as the job got it, as it joined, and each
   * change). Metadata that names no session changes nothing.
   */
  followRoomMetadata(metadata: string | undefined): void {
    const session = readSessionDeadline(metadata);
    if (!session || this.#stopped) return;
    const cap = this.#startedAt + session.maxSessionDurationS * 1000;
    this.#deadline ??= this.#deadlineOf(cap - this.#now());
    this.#deadline.endAt(Math.min(session.endsAt, cap));
  }

  /** The call ended some other way: never call onExpired. */
  stop(): void {
    this.#stopped = true;
    this.#deadline?.stop();
  }

  #deadlineOf(durationMs: number): CallDeadline {
    const { onExpired } = this.#options;
    return new CallDeadline({ durationMs, onExpired, now: this.#now });
  }
}

/**
 * Scripted faults for the fake Gemini Live server: what can go wrong, and when.
 *
 * A fault names a moment in the protocol and what the server does then. Moments are events, not
 * clock times, so a script fires at the same point of the conversation on every run. A fault
 * fires on the `nth` occurrence of its moment (counted across connections, 0-based), optionally
 * only on one connection, and on the `times - 1` occurrences after it.
 */

/**
 * - `connect`: an upgrade request arrived (before the socket opens);
 * - `setup`: the setup frame passed validation, before `setupComplete`;
 * - `user_turn`: a user turn was recognised, before the model answers it;
 * - `reply`: `afterChunks` audio chunks of a reply were sent (mid-reply);
 * - `turn_complete`: between turns, after `turnComplete` and the resumption update;
 * - `tool_call`: a `toolCall` was sent and the model waits for the response.
 */
export type FaultMoment =
  'connect' | 'setup' | 'user_turn' | 'reply' | 'turn_complete' | 'tool_call';

export type FaultAction =
  /** Close the socket with `code`; 1006 drops it with no close frame (`terminate()`). */
  | { type: 'close'; code: number; reason?: string }
  /** Send `goAway{timeLeft}`; at the deadline the server closes with `closeCode` unless the client left. */
  | { type: 'go_away'; timeLeftMs: number; closeCode?: number }
  /** (`user_turn`) Answer this turn with `turnComplete` and no audio (agents-js#1450). */
  | { type: 'empty_turn' }
  /** (`setup`) Send `setupComplete` only after `ms`. */
  | { type: 'delay_setup'; ms: number }
  /** Fail the next `attempts` connection attempts: HTTP 503 on the upgrade, or a reset socket. */
  | { type: 'refuse'; attempts: number; mode?: 'http_503' | 'reset' }
  /** Send a text frame that is not JSON. */
  | { type: 'malformed_frame'; text?: string }
  /** Forget every resumption handle issued so far: resuming with one is refused (1007). */
  | { type: 'expire_handles' };

export interface FaultSpec {
  at: FaultMoment;
  do: FaultAction | readonly FaultAction[];
  /** Fire on this occurrence of the moment (0-based, across connections). Default 0. */
  nth?: number;
  /** Fire on this many occurrences in a row from `nth` (Infinity: every one). Default 1. */
  times?: number;
  /** Only count occurrences on this connection index. */
  connection?: number;
  /** For `reply`: after this many audio chunks (default 1). */
  afterChunks?: number;
}

export interface FiredFault {
  spec: FaultSpec;
  /** Connection index, or -1 for `connect` (no connection yet). */
  connection: number;
  /** performance.now() when it fired. */
  at: number;
}

/** Reason texts close to what Google sends for each code. */
export const CLOSE_REASONS: Readonly<Record<number, string>> = {
  1000: '',
  1001: 'Going away.',
  1007: 'Request contains an invalid argument.',
  1008: 'Policy violation.',
  1011: 'Internal error encountered.',
  1013: 'Try again later.',
};

export const HANDLE_EXPIRED = 'Session resumption handle is invalid or has expired.';

/** Which scripted faults fire at each occurrence of a moment. */
export class FaultPlan {
  readonly #pending: { spec: FaultSpec; seen: number }[] = [];
  readonly #fired: FiredFault[] = [];

  constructor(specs: readonly FaultSpec[] = []) {
    for (const spec of specs) this.add(spec);
  }

  add(spec: FaultSpec): void {
    if (spec.at === 'reply' && spec.afterChunks !== undefined && !(spec.afterChunks >= 1)) {
      throw new RangeError('afterChunks must be >= 1');
    }
    this.#pending.push({ spec, seen: 0 });
  }

  get fired(): readonly FiredFault[] {
    return this.#fired;
  }

  /**
   * Count one occurrence of `moment` on `connection` and return the actions due now, in script
   * order. `chunks` is the reply's audio chunk count so far (for `reply`).
   */
  take(moment: FaultMoment, connection: number, chunks = 0): FaultAction[] {
    const due: FaultAction[] = [];
    for (const entry of [...this.#pending]) {
      const { spec } = entry;
      if (spec.at !== moment) continue;
      if (spec.connection !== undefined && spec.connection !== connection) continue;
      if (moment === 'reply' && chunks !== (spec.afterChunks ?? 1)) continue;
      const first = spec.nth ?? 0;
      const seen = entry.seen++;
      if (seen < first) continue;
      if (seen + 1 >= first + (spec.times ?? 1)) {
        this.#pending.splice(this.#pending.indexOf(entry), 1);
      }
      this.#fired.push({ spec, connection, at: performance.now() });
      due.push(...(Array.isArray(spec.do) ? spec.do : [spec.do as FaultAction]));
    }
    return due;
  }
}

/** Protobuf Duration JSON, as Google sends `goAway.timeLeft` (e.g. "2.500s"). */
export function durationJson(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return Number.isInteger(seconds) ? `${seconds}s` : `${seconds.toFixed(3)}s`;
}

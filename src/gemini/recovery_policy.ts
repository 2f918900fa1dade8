/**
 * How hard a session fights for the call, and the count that says when to stop.
 *
 * Faults come in runs (a region down, a handle that keeps being refused), so retries back off
 * exponentially and each kind of failure has its own bound; past any bound the call ends with one
 * clear error instead of retrying forever.
 */
export interface RecoveryPolicy {
  /** Failed connection attempts in a row (refused, closed during setup, timed out) before the call ends. */
  connectAttempts: number;
  /** Delay before the first retry of a failed attempt; doubles per failure up to `maxRetryDelayMs`. */
  retryDelayMs: number;
  maxRetryDelayMs: number;
  /** `setupComplete` must arrive this soon after the connect starts. */
  setupTimeoutMs: number;
  /** Established connections lost in a row, with no answered turn between, before the call ends. */
  sessionFaults: number;
  /** Closes for a rejected request (1007, 1008) in a row before the call ends: they tend to repeat. */
  ruleCloses: number;
  /** Microphone audio held while the socket is down (oldest dropped beyond). */
  micBufferMs: number;
}

export const DEFAULT_RECOVERY_POLICY: RecoveryPolicy = {
  connectAttempts: 10,
  retryDelayMs: 100,
  // Caps the wait after Gemini is reachable again (the target: recovery p99 <= 2 s).
  maxRetryDelayMs: 1000,
  setupTimeoutMs: 10_000,
  sessionFaults: 5,
  ruleCloses: 2,
  micBufferMs: 10_000,
};

/** Close codes for a request the server rejected (invalid argument, policy). */
const RULE_CODES = new Set([1007, 1008]);

export function isRuleClose(code: number): boolean {
  return RULE_CODES.has(code);
}

/** The failures in a row that `RecoveryPolicy` bounds. */
export class FaultBudget {
  readonly policy: RecoveryPolicy;
  /** Failed connect attempts since the last one that completed setup. */
  connectFailures = 0;
  #sessionFaults = 0;
  #ruleCloses = 0;

  constructor(policy: RecoveryPolicy) {
    this.policy = policy;
  }

  get sessionFaults(): number {
    return this.#sessionFaults;
  }

  /** Wait before the next connect attempt: exponential in the failures so far, capped. */
  backoffMs(): number {
    const { retryDelayMs, maxRetryDelayMs } = this.policy;
    return Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.max(0, this.connectFailures - 1));
  }

  /** A connect attempt failed; `ruleClose`: the server rejected the request. True: give up. */
  connectFailed(ruleClose: boolean): boolean {
    this.connectFailures++;
    if (ruleClose) this.#ruleCloses++;
    return (
      this.connectFailures >= this.policy.connectAttempts ||
      this.#ruleCloses > this.policy.ruleCloses
    );
  }

  /** An established connection was lost with close `code`. True: give up. */
  connectionLost(code: number): boolean {
    this.#sessionFaults++;
    if (isRuleClose(code)) this.#ruleCloses++;
    return (
      this.#sessionFaults > this.policy.sessionFaults || this.#ruleCloses > this.policy.ruleCloses
    );
  }

  setupCompleted(): void {
    this.connectFailures = 0;
  }

  /** The model answered a turn: the connection works again. */
  answered(): void {
    this.#sessionFaults = 0;
    this.#ruleCloses = 0;
  }
}

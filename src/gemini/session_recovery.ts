/**
 * How a session fights for its call when Gemini fails: the count of faults against the
 * policy's bounds (recovery_policy.ts), the backoff between connect attempts, whether the
 * connection is up, and what the call went through (stats). The session (session.ts) does the
 * reconnecting; this decides whether to go on and says so in the log, at warning level for a
 * fault the call survives and at error level once, when it gives up and the call ends.
 */
import { log } from '@livekit/agents';
import type { ModelCapabilities } from '../config/models.ts';
import { type CloseInfo, describeClose } from './connect_attempt.ts';
import {
  DEFAULT_RECOVERY_POLICY,
  FaultBudget,
  type RecoveryPolicy,
  isRuleClose,
} from './recovery_policy.ts';
import { type RecoveryStats, emptyRecoveryStats } from './recovery_stats.ts';

export { DEFAULT_RECOVERY_POLICY, type RecoveryPolicy } from './recovery_policy.ts';
export type { Reconnect, RecoveryStats } from './recovery_stats.ts';

/** What to do after a failed connect attempt. */
export type AttemptVerdict = { retryInMs: number } | { gaveUp: string };

export class SessionRecovery {
  readonly row: ModelCapabilities;
  readonly policy: RecoveryPolicy;
  readonly stats: RecoveryStats = emptyRecoveryStats();
  readonly #logger = log();
  readonly #budget: FaultBudget;
  #up = false;
  #everUp = false;
  #down = { since: performance.now(), cause: 'start' };
  /** Failed connect attempts since the socket went down (for the stats). */
  #outageFailures = 0;

  constructor(row: ModelCapabilities, policy: Partial<RecoveryPolicy> = {}) {
    this.row = row;
    this.policy = { ...DEFAULT_RECOVERY_POLICY, ...policy };
    this.#budget = new FaultBudget(this.policy);
  }

  get up(): boolean {
    return this.#up;
  }

  /** The recovery gave up: the call ends, no connection may be made any more. */
  get ended(): boolean {
    return this.stats.gaveUp !== undefined;
  }

  /** A connection completed setup. */
  connected(resumed: boolean): void {
    this.#budget.setupCompleted();
    const downMs = performance.now() - this.#down.since;
    if (this.#everUp) {
      const { cause } = this.#down;
      this.stats.reconnects.push({ cause, downMs, resumed, failedAttempts: this.#outageFailures });
      this.#logger.info(
        { model: this.row.id, downMs: Math.round(downMs), resumed, cause },
        'Gemini Live reconnected',
      );
    }
    this.#everUp = true;
    this.#up = true;
    this.#outageFailures = 0;
  }

  /** The connection is gone (a fault, or a close we asked for: `cause`). */
  markDown(cause: string): void {
    if (!this.#up) return;
    this.#up = false;
    this.#down = { since: performance.now(), cause };
  }

  /**
   * A connect attempt failed with `cause` (`close`: the server closed it during setup).
   * `handleRefused`: it was a resumption the server refused, which the session answers with a
   * fresh session instead of counting it as a rejected request.
   */
  connectFailed(
    cause: string,
    close: CloseInfo | undefined,
    handleRefused: boolean,
  ): AttemptVerdict {
    this.#outageFailures++;
    if (handleRefused) {
      this.#logger.warn(
        { model: this.row.id, code: close?.code, reason: close?.reason },
        'Gemini Live refused to resume the session; starting a fresh one with the conversation',
      );
    }
    const ruleClose = close !== undefined && isRuleClose(close.code) && !handleRefused;
    const failures = this.#budget.connectFailures + 1;
    if (this.#budget.connectFailed(ruleClose)) {
      return this.#giveUp(
        `could not connect to Gemini Live after ${failures} attempts (last: ${cause})`,
      );
    }
    const retryInMs = this.#budget.backoffMs();
    this.#logger.warn(
      { model: this.row.id, attempt: failures, of: this.policy.connectAttempts, retryInMs },
      `Gemini Live connect failed (${cause}); retrying`,
    );
    return { retryInMs };
  }

  /** An established connection was lost; returns the reason the call ends, if it must. */
  connectionLost(
    close: CloseInfo,
    networkError: string | undefined,
    resumable: boolean,
  ): string | undefined {
    const described = describeClose(close, networkError);
    const exhausted = this.#budget.connectionLost(close.code);
    const faults = this.#budget.sessionFaults;
    if (exhausted) {
      return this.#giveUp(
        `Gemini Live closed the connection ${faults} times without an answered turn (last: ${described})`,
      ).gaveUp;
    }
    this.#logger.warn(
      {
        model: this.row.id,
        code: close.code,
        reason: close.reason,
        fault: faults,
        resume: resumable,
      },
      `Gemini Live connection lost (${described}); reconnecting`,
    );
    return undefined;
  }

  /** The model answered a turn: the connection works again. */
  answered(): void {
    this.#budget.answered();
  }

  #giveUp(message: string): { gaveUp: string } {
    this.stats.gaveUp ??= message;
    this.#logger.error({ model: this.row.id }, `${message}; ending the call`);
    return { gaveUp: message };
  }
}

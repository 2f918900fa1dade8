/**
 * Asking the model again for a reply it did not give.
 *
 * Gemini sometimes completes a turn with no audio (agents-js#1450; on 3.1 often after a function
 * call), and a fault can cut a user turn before any answer. Left alone, the agent "speaks"
 * silence and the user waits. The turn is asked once more, the way the model's row takes text
 * turns (turn_routes.ts); a retry that is answered with no audio again is not retried, so a
 * model that keeps failing cannot loop.
 */
import { log } from '@livekit/agents';
import type { ModelCapabilities } from '../config/models.ts';
import type { Generation } from './generation.ts';
import { CONTINUE_PROMPT } from './prompts.ts';
import type { RecoveryStats } from './recovery_stats.ts';
import { type Outgoing, askTurn, replyNow } from './turn_routes.ts';

export class TurnReAsk {
  readonly #row: ModelCapabilities;
  readonly #send: (message: Outgoing) => void;
  readonly #stats: RecoveryStats;
  readonly #logger = log();
  /** A question sent on the user's behalf is waiting for its answer. */
  #awaiting = false;
  readonly #interrupted = new WeakSet<Generation>();

  constructor(row: ModelCapabilities, send: (message: Outgoing) => void, stats: RecoveryStats) {
    this.#row = row;
    this.#send = send;
    this.#stats = stats;
  }

  /** The connection went down: a retry in flight went down with it. */
  connectionLost(): void {
    this.#awaiting = false;
  }

  /** The user interrupted this generation: its silence is not a failure. */
  interrupted(gen: Generation): void {
    this.#interrupted.add(gen);
  }

  /** `gen` just ended: ask again if it said nothing. */
  turnCompleted(gen: Generation): void {
    const retried = this.#awaiting;
    this.#awaiting = false;
    if (gen.hasOutput || this.#interrupted.has(gen)) return;
    if (retried) {
      this.#logger.warn({ model: this.#row.id }, 'Gemini answered the retry with no audio too');
      return;
    }
    this.#logger.warn(
      { model: this.#row.id },
      'Gemini ended a turn with no audio; asking once more',
    );
    this.askAgain();
  }

  /**
   * Ask the model for the reply it did not give. Not through `generateReply`: the framework
   * plays only the generations it did not request itself. `lostText`: the user's words, when
   * the server may not have them (rows that take no client content mid-session get them again
   * as text; the others had them seeded back as history).
   */
  askAgain(lostText?: string): void {
    this.#stats.reAsks++;
    this.#awaiting = true;
    if (this.#row.textTurnRoute === 'realtime_text') {
      return this.#send(askTurn(this.#row, lostText || CONTINUE_PROMPT));
    }
    this.#send(replyNow(this.#row));
  }

  /** Send `text` as a user turn that asks for an answer (e.g. a function result). */
  ask(text: string): void {
    this.#awaiting = true;
    this.#send(askTurn(this.#row, text));
  }
}

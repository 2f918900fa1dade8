/**
 * The user's transcript when the call's own STT writes it (TURN_DETECTION=livekit with Gemini's
 * input transcription off): the session publishes it as this realtime model's user transcript,
 * so the framework shows each user turn once (interim text while the user speaks, the whole turn
 * once it ends) and records it once in the conversation. With a realtime model the framework
 * itself never adds an STT transcript to the conversation (agents 1.9.0, AgentActivity:
 * "ignore stt transcription for realtime model").
 */
import { type llm, shortuuid } from '@livekit/agents';

/** What one STT result says of the current turn. */
export interface SttSegment {
  text: string;
  /** The STT will not revise this segment (a final result); later speech adds new segments. */
  final: boolean;
}

export class SttTranscripts {
  #turn?: { itemId: string; startedAt: number; settled: string };
  #lastTurn = '';

  /** The last turn that ended: what the user said, to ask again if a fault cuts its answer. */
  get lastTurn(): string {
    return this.#lastTurn;
  }

  /** An STT result: the turn's transcript so far, as an interim transcript; undefined if empty. */
  heard(segment: SttSegment): llm.InputTranscriptionCompleted | undefined {
    const text = segment.text.trim();
    if (!text) return undefined;
    const turn = (this.#turn ??= {
      itemId: shortuuid('item_'),
      startedAt: Date.now(),
      settled: '',
    });
    const transcript = join(turn.settled, text);
    if (segment.final) turn.settled = transcript;
    return { itemId: turn.itemId, transcript, isFinal: false };
  }

  /**
   * The turn ended with `transcript` (what the end-of-turn decision saw): its final transcript,
   * or undefined when it is empty. The next result starts a new turn.
   */
  ended(
    transcript: string,
  ): (llm.InputTranscriptionCompleted & { turnStartedAt: number }) | undefined {
    const turn = this.#turn;
    this.#turn = undefined;
    const text = transcript.trim();
    if (!text) return undefined;
    this.#lastTurn = text;
    return {
      itemId: turn?.itemId ?? shortuuid('item_'),
      transcript: text,
      isFinal: true,
      turnStartedAt: turn?.startedAt ?? Date.now(),
    };
  }
}

function join(before: string, after: string): string {
  return before ? `${before} ${after}` : after;
}

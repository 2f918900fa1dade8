/**
 * The STT's results on their way to the framework's turn detection, also handed to the model's
 * Gemini session, which publishes them as the user's transcript (see gemini/stt_transcripts.ts).
 * Read through the agent's public `sttNode` hook; every event still reaches the framework as is.
 */
import { stt } from '@livekit/agents';
import { TransformStream, type ReadableStream } from 'node:stream/web';
import type { GeminiRealtimeModel } from '../gemini/model.ts';

const TRANSCRIPTS = new Set([
  stt.SpeechEventType.INTERIM_TRANSCRIPT,
  stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
  stt.SpeechEventType.FINAL_TRANSCRIPT,
]);

export class SttTap {
  readonly #model: GeminiRealtimeModel;

  constructor(model: GeminiRealtimeModel) {
    this.#model = model;
  }

  /** `events`, passed through unchanged, each transcript also given to the session. */
  tap(events: ReadableStream<stt.SpeechEvent | string>): ReadableStream<stt.SpeechEvent | string> {
    return events.pipeThrough(
      new TransformStream<stt.SpeechEvent | string, stt.SpeechEvent | string>({
        transform: (event, controller) => {
          this.#heard(event);
          controller.enqueue(event);
        },
      }),
    );
  }

  /** The framework ended the user's turn with `transcript`. */
  turnEnded(transcript: string): void {
    this.#model.latestSession?.sttTurnEnded(transcript);
  }

  #heard(event: stt.SpeechEvent | string): void {
    const session = this.#model.latestSession;
    if (!session) return;
    // A custom sttNode may yield plain text: a final transcript.
    if (typeof event === 'string') return session.sttSegment({ text: event, final: true });
    if (!TRANSCRIPTS.has(event.type)) return;
    session.sttSegment({
      text: event.alternatives?.[0]?.text ?? '',
      final: event.type === stt.SpeechEventType.FINAL_TRANSCRIPT,
    });
  }
}

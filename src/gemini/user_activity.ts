/**
 * The user's turns when the client detects them (Gemini's automatic activity detection off,
 * TURN_DETECTION=livekit): `activityStart`, the turn's audio, `activityEnd`, which asks for the
 * answer (Google's live guide: "the client is responsible for detecting user speech and sending
 * activityStart and activityEnd messages at the appropriate times").
 *
 * Google counts only audio inside an activity toward the user's turn (turn coverage: "activity").
 * The framework opens an activity once its VAD has heard `interruption.minDuration` (500 ms) of
 * speech, so the words before that would be lost. Between activities the microphone is held here
 * instead of sent, and a new activity starts with the last `leadInMs` of it.
 */
import type { AudioFrame } from '@livekit/rtc-node';
import { MicBuffer } from './mic_buffer.ts';

/**
 * The audio an activity starts with: the framework's 500 ms before it calls `startUserActivity`,
 * plus Silero's detection lag (its 50 ms minimum speech and 32 ms windows) with room to spare.
 */
export const ACTIVITY_LEAD_IN_MS = 1_000;

export class UserActivity {
  /** Gemini's automatic activity detection is off: the client marks each turn. */
  readonly explicit: boolean;
  readonly #leadIn: MicBuffer;
  #open = false;

  constructor(explicit: boolean, leadInMs = ACTIVITY_LEAD_IN_MS) {
    this.explicit = explicit;
    this.#leadIn = new MicBuffer(leadInMs);
  }

  /** An activity is open: the user's audio goes to the model. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** Hold `frame` as the lead-in of the next activity; false when it should be sent now. */
  hold(frame: AudioFrame): boolean {
    if (!this.explicit || this.#open) return false;
    this.#leadIn.push(frame);
    return true;
  }

  /**
   * Open an activity: returns the lead-in to send right after `activityStart`, or undefined when
   * there is nothing to open (automatic detection, or one is open already).
   */
  open(): AudioFrame[] | undefined {
    if (!this.explicit || this.#open) return undefined;
    this.#open = true;
    return this.#leadIn.drain();
  }

  /** Close the open activity; false when none was open (then no `activityEnd` is due). */
  close(): boolean {
    const wasOpen = this.#open;
    this.#open = false;
    return wasOpen;
  }
}

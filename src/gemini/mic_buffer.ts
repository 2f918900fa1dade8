/**
 * Microphone audio held while the Gemini socket is down, sent once it is back, so what the user
 * says during a reconnect still reaches the model. Bounded: past `maxMs` the oldest audio goes
 * first (the newest words are the ones a reply should answer).
 */
import type { AudioFrame } from '@livekit/rtc-node';

export class MicBuffer {
  readonly maxMs: number;
  readonly #frames: AudioFrame[] = [];
  #heldMs = 0;
  #droppedMs = 0;

  constructor(maxMs: number) {
    this.maxMs = maxMs;
  }

  /** Milliseconds of audio held now. */
  get heldMs(): number {
    return this.#heldMs;
  }

  /** Milliseconds dropped (oldest first) since the last `drain()`. */
  get droppedMs(): number {
    return this.#droppedMs;
  }

  push(frame: AudioFrame): void {
    this.#frames.push(frame);
    this.#heldMs += frameMs(frame);
    while (this.#heldMs > this.maxMs && this.#frames.length > 1) {
      const oldest = this.#frames.shift()!;
      this.#heldMs -= frameMs(oldest);
      this.#droppedMs += frameMs(oldest);
    }
  }

  /** Take every held frame, oldest first, and start over. */
  drain(): AudioFrame[] {
    const frames = this.#frames.splice(0);
    this.#heldMs = 0;
    this.#droppedMs = 0;
    return frames;
  }
}

function frameMs(frame: AudioFrame): number {
  return (frame.samplesPerChannel * 1000) / frame.sampleRate;
}

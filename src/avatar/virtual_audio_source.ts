/**
 * An audio source that plays on a Clock instead of a sound card's: what rtc-node's AudioSource does
 * for the avatar sink (a queue of at most `queueMs`, played out at one second per second), with the
 * time taken from the clock. On a VirtualClock the preview's audio "plays" as fast as the clock
 * moves. Nothing is sent anywhere: the sink's tap records the samples.
 */
import type { AudioFrame } from '@livekit/rtc-node';
import type { PcmSource } from './audio_sink.ts';
import type { Clock, ClockTimer } from './clock.ts';

export class VirtualAudioSource implements PcmSource {
  readonly #clock: Clock;
  readonly #queueMs: number;
  /** When, on the clock, everything captured so far has played. */
  #endsAt = 0;
  /** Captures waiting for room in the queue, oldest first. */
  readonly #waiting: { ms: number; timer: ClockTimer; resolve: () => void }[] = [];
  #closed = false;

  constructor(clock: Clock, queueMs: number) {
    this.#clock = clock;
    this.#queueMs = queueMs;
  }

  /** Like rtc-node's estimate, it counts a frame from the moment it is handed over. */
  get queuedDuration(): number {
    return Math.max(0, this.#endsAt - this.#clock.now());
  }

  /** Resolves once the queue, this frame included, is no longer than `queueMs`. */
  captureFrame(frame: AudioFrame): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('VirtualAudioSource: closed'));
    const now = this.#clock.now();
    const ms = (frame.samplesPerChannel * 1000) / frame.sampleRate;
    this.#endsAt = Math.max(this.#endsAt, now) + ms;
    const waitMs = this.#endsAt - this.#queueMs - now;
    if (waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const waiting = {
        ms,
        resolve,
        timer: this.#clock.setTimeout(() => {
          this.#waiting.splice(this.#waiting.indexOf(waiting), 1);
          resolve();
        }, waitMs),
      };
      this.#waiting.push(waiting);
    });
  }

  /**
   * Drop what is queued. Captures waiting for room then go in at once, as with rtc-node's source
   * (whose native side takes a waiting frame after a clear): the sink clears again for those.
   */
  clearQueue(): void {
    this.#endsAt = this.#clock.now() + this.#waiting.reduce((sum, w) => sum + w.ms, 0);
    this.#release();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#endsAt = this.#clock.now();
    this.#release();
  }

  #release(): void {
    for (const { timer, resolve } of this.#waiting.splice(0)) {
      this.#clock.clearTimeout(timer);
      resolve();
    }
  }
}

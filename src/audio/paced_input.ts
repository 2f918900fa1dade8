/**
 * A microphone made of samples: an AudioInput that sends one frame every `frameMs` in real time,
 * from a queue of audio when there is some and silence otherwise, as a live microphone would.
 * The schedule is anchored to the start time, so it does not drift over a long call.
 */
import { AudioFrame } from '@livekit/rtc-node';
import { ReadableStream } from 'node:stream/web';
import { voice } from '@livekit/agents';

export interface PacedAudioInputOptions {
  sampleRate: number;
  frameMs?: number;
}

interface Pending {
  samples: Int16Array;
  offset: number;
  done: () => void;
}

export class PacedAudioInput extends voice.AudioInput {
  readonly sampleRate: number;
  readonly frameMs: number;
  readonly #frameSamples: number;
  readonly #queue: Pending[] = [];
  #controller?: ReadableStreamDefaultController<AudioFrame>;
  #timer?: NodeJS.Timeout;
  #startedAt = 0;
  #framesSent = 0;
  #closed = false;

  constructor({ sampleRate, frameMs = 20 }: PacedAudioInputOptions) {
    super();
    this.sampleRate = sampleRate;
    this.frameMs = frameMs;
    this.#frameSamples = Math.round((sampleRate * frameMs) / 1000);
    const stream = new ReadableStream<AudioFrame>({
      start: (controller) => {
        this.#controller = controller;
      },
    });
    this.multiStream.addInputStream(stream);
  }

  /** Milliseconds of audio (speech and silence) sent so far. */
  get sentMs(): number {
    return this.#framesSent * this.frameMs;
  }

  /** Begin sending frames (silence until something is queued). */
  start(): void {
    if (this.#timer || this.#closed) return;
    this.#startedAt = performance.now();
    this.#tick();
  }

  /** Queue `samples` (mono s16 at sampleRate); resolves once the last of them has been sent. */
  play(samples: Int16Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((done) => this.#queue.push({ samples, offset: 0, done }));
  }

  #nextFrame(): Int16Array {
    const frame = new Int16Array(this.#frameSamples);
    let filled = 0;
    while (filled < frame.length && this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const part = head.samples.subarray(head.offset, head.offset + frame.length - filled);
      frame.set(part, filled);
      filled += part.length;
      head.offset += part.length;
      if (head.offset >= head.samples.length) {
        this.#queue.shift();
        // Resolve after this frame is enqueued below, on the next turn.
        setImmediate(head.done);
      }
    }
    return frame;
  }

  #tick = (): void => {
    if (this.#closed) return;
    const data = this.#nextFrame();
    this.#controller?.enqueue(new AudioFrame(data, this.sampleRate, 1, data.length));
    this.#framesSent += 1;
    const due = this.#startedAt + this.#framesSent * this.frameMs;
    this.#timer = setTimeout(this.#tick, Math.max(0, due - performance.now()));
  };

  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const pending of this.#queue.splice(0)) pending.done();
    try {
      this.#controller?.close();
    } catch {
      // already closed by the reader side
    }
    await super.close();
  }
}

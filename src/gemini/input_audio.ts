/**
 * Microphone audio as Gemini Live takes it: 16 kHz mono PCM16, sent in 50 ms chunks (base64).
 * Resamples whatever rate the framework hands over (the room's 24 or 48 kHz).
 */
import { AudioResampler, type AudioFrame } from '@livekit/rtc-node';

export const INPUT_SAMPLE_RATE = 16_000;
export const INPUT_MIME_TYPE = `audio/pcm;rate=${INPUT_SAMPLE_RATE}`;
const CHUNK_SAMPLES = INPUT_SAMPLE_RATE / 20;

export class InputAudio {
  #resampler?: AudioResampler;
  #resamplerRate?: number;
  readonly #chunk = new Int16Array(CHUNK_SAMPLES);
  #filled = 0;

  /** The base64 chunks `frame` completes (none, one or several). */
  push(frame: AudioFrame): string[] {
    const chunks: string[] = [];
    for (const resampled of this.#resample(frame)) this.#append(resampled.data, chunks);
    return chunks;
  }

  close(): void {
    this.#resampler?.close();
    this.#resampler = undefined;
  }

  *#resample(frame: AudioFrame): Generator<AudioFrame> {
    if (frame.sampleRate === INPUT_SAMPLE_RATE && frame.channels === 1) {
      yield frame;
      return;
    }
    if (this.#resamplerRate !== frame.sampleRate) {
      this.#resampler?.close();
      this.#resampler = new AudioResampler(frame.sampleRate, INPUT_SAMPLE_RATE, 1);
      this.#resamplerRate = frame.sampleRate;
    }
    yield* this.#resampler!.push(frame);
  }

  #append(samples: Int16Array, out: string[]): void {
    let read = 0;
    while (read < samples.length) {
      const take = Math.min(CHUNK_SAMPLES - this.#filled, samples.length - read);
      this.#chunk.set(samples.subarray(read, read + take), this.#filled);
      this.#filled += take;
      read += take;
      if (this.#filled < CHUNK_SAMPLES) break;
      out.push(Buffer.from(this.#chunk.buffer).toString('base64'));
      this.#filled = 0;
    }
  }
}

/** A base64 PCM16 24 kHz part of a model turn, as samples (copied: base64 buffers may be unaligned). */
export function decodePcm16(base64: string): Int16Array {
  const bytes = Buffer.from(base64, 'base64');
  const samples = new Int16Array(bytes.length >> 1);
  Buffer.from(samples.buffer).set(bytes.subarray(0, samples.length * 2));
  return samples;
}

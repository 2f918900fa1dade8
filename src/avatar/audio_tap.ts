/**
 * The sink has one AudioTap; TeeTap lets several listeners share it (the lip-sync analyzer and a
 * recorder), each seeing every sample and every truncation, in the same order.
 */
import type { AudioTap } from './audio_sink.ts';

export class TeeTap implements AudioTap {
  readonly #taps: readonly AudioTap[];

  constructor(taps: readonly AudioTap[]) {
    this.#taps = [...taps];
  }

  push(samples: Int16Array): void {
    for (const tap of this.#taps) tap.push(samples);
  }

  truncate(positionMs: number): void {
    for (const tap of this.#taps) tap.truncate(positionMs);
  }
}

/** One tap for `taps`: the tap itself when there is one, a TeeTap when there are more. */
export function teeTaps(...taps: (AudioTap | undefined)[]): AudioTap | undefined {
  const present = taps.filter((tap): tap is AudioTap => tap !== undefined);
  return present.length <= 1 ? present[0] : new TeeTap(present);
}

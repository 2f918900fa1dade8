/**
 * Where the audio leaving the avatar's sink sits on the Gemini stream's timeline: the clock the
 * pictures follow (audio is the master clock, as for our own face).
 *
 * It is the sink's AudioTap. The sink's timeline counts the samples it pushed; before each
 * decoded frame the Gemini sink names the frame's place (`tag`), and the first piece pushed
 * after that becomes an anchor: timeline position <-> (stream, presentation time). The position
 * playing now (`playedSamples`) then maps to a presentation time, and the picture with that time
 * is the one to show. Audio without a tag, or no audio, maps to nothing: the face rests.
 *
 * It also keeps the loudness of the last seconds, per 10 ms, so a picture shown while the avatar
 * was silent is known to be a resting face (held between turns and after an interruption,
 * never a mouth frozen mid-word).
 */
import type { AudioTap } from '../audio_sink.ts';
import type { MediaTag } from './media_output.ts';

interface Anchor {
  /** Timeline position of the anchor's first sample. */
  pos: number;
  count: number;
  stream: number;
  pts: number;
}

export interface MediaPosition {
  stream: number;
  /** Presentation time playing now, seconds. */
  pts: number;
}

const LEVEL_BLOCK_MS = 10;
/** Seconds of anchors and levels kept behind the played position. */
const KEEP_SECONDS = 4;
/** A block this quiet (RMS, dBFS) is silence; the fixture's gaps and Gemini's pauses are far below. */
const QUIET_DBFS = -45;

export class MediaTimeline implements AudioTap {
  readonly rate: number;
  readonly #anchors: Anchor[] = [];
  /** Sum of squares and count per level block, by block index. */
  readonly #levels = new Map<number, { sum: number; n: number }>();
  readonly #blockSamples: number;
  readonly #quiet: number;
  #end = 0;
  #tag?: { tag: MediaTag; count: number };
  readonly #onAnchor: () => void;

  /** `onAnchor`: tagged audio was pushed (a resting face wakes up for it). */
  constructor(rate: number, onAnchor: () => void = () => {}) {
    this.rate = rate;
    this.#onAnchor = onAnchor;
    this.#blockSamples = (rate * LEVEL_BLOCK_MS) / 1000;
    this.#quiet = (32768 * 10 ** (QUIET_DBFS / 20)) ** 2;
  }

  /** The next frame the sink pushes is `count` samples at `tag` (untagged: undefined). */
  tag(tag: MediaTag | undefined, count: number): void {
    this.#tag = tag ? { tag, count } : undefined;
  }

  push(samples: Int16Array): void {
    const pending = this.#tag;
    this.#tag = undefined;
    this.#addLevels(samples);
    if (pending) this.#anchors.push({ pos: this.#end, count: pending.count, ...pending.tag });
    this.#end += samples.length;
    if (pending) this.#onAnchor();
  }

  truncate(positionMs: number): void {
    const at = Math.round((positionMs * this.rate) / 1000);
    if (at >= this.#end) return;
    this.#end = Math.max(0, at);
    while (this.#anchors.length > 0 && this.#anchors.at(-1)!.pos >= this.#end) this.#anchors.pop();
    const last = this.#anchors.at(-1);
    if (last) last.count = Math.min(last.count, this.#end - last.pos);
    const block = Math.floor(this.#end / this.#blockSamples);
    for (const key of [...this.#levels.keys()]) if (key >= block) this.#levels.delete(key);
  }

  /** What plays at timeline position `pos`; undefined for silence or untagged audio. */
  at(pos: number): MediaPosition | undefined {
    this.#forget(pos - KEEP_SECONDS * this.rate);
    for (let i = this.#anchors.length - 1; i >= 0; i--) {
      const anchor = this.#anchors[i]!;
      if (anchor.pos > pos) continue;
      if (pos >= anchor.pos + anchor.count) return undefined;
      return { stream: anchor.stream, pts: anchor.pts + (pos - anchor.pos) / this.rate };
    }
    return undefined;
  }

  /**
   * The timeline position at which the audio after `pos` reaches presentation time `pts` of
   * `stream` (the start of the first anchor past a gap in the stream's times), or undefined when
   * no audio pushed reaches it yet.
   */
  positionOf(stream: number, pts: number, pos: number): number | undefined {
    for (const anchor of this.#anchors) {
      if (anchor.stream !== stream || anchor.pos + anchor.count <= pos) continue;
      const end = anchor.pts + anchor.count / this.rate;
      if (pts < anchor.pts) return anchor.pos;
      if (pts < end) return anchor.pos + Math.ceil((pts - anchor.pts) * this.rate);
    }
    return undefined;
  }

  /** Where the next tagged audio after `pos` starts, or undefined when none was pushed yet. */
  nextStart(pos: number): number | undefined {
    return this.#anchors.find((anchor) => anchor.pos > pos)?.pos;
  }

  /** The audio within `windowMs` either side of `pos` is silence. */
  quietAround(pos: number, windowMs = 20): boolean {
    const from = Math.floor((pos - (windowMs * this.rate) / 1000) / this.#blockSamples);
    const to = Math.floor((pos + (windowMs * this.rate) / 1000) / this.#blockSamples);
    for (let block = from; block <= to; block++) {
      const level = this.#levels.get(block);
      if (level && level.sum / level.n > this.#quiet) return false;
    }
    return true;
  }

  #addLevels(samples: Int16Array): void {
    let pos = this.#end;
    for (let i = 0; i < samples.length;) {
      const block = Math.floor(pos / this.#blockSamples);
      const upto = Math.min(samples.length, i + ((block + 1) * this.#blockSamples - pos));
      let sum = 0;
      for (let j = i; j < upto; j++) sum += samples[j]! * samples[j]!;
      const level = this.#levels.get(block) ?? { sum: 0, n: 0 };
      level.sum += sum;
      level.n += upto - i;
      this.#levels.set(block, level);
      pos += upto - i;
      i = upto;
    }
  }

  #forget(before: number): void {
    while (this.#anchors.length > 1 && this.#anchors[1]!.pos <= before) this.#anchors.shift();
    const block = Math.floor(before / this.#blockSamples);
    for (const key of this.#levels.keys()) {
      if (key < block) this.#levels.delete(key);
      else break;
    }
  }
}

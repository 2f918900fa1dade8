/**
 * What left one call's avatar AudioSource, observed as bench/av_offset.ts does (an AudioStream on
 * the published track gets every 10 ms chunk the native source hands to WebRTC) but kept compact:
 * two numbers per chunk and no samples, so a call of minutes does not weigh on the memory of the
 * job process it measures.
 *
 * Agent audio arrives stamped with its timeline position (StampingOutput). A chunk of zeros is the
 * source's padding when its queue is empty: between replies that is silence, inside a reply it is
 * a gap the user hears (a dry chunk). A reply ends where StampingOutput saw its flush(), or at a
 * chunk the sink completed with silence.
 */
import { type AudioFrame, AudioStream, type LocalAudioTrack } from '@livekit/rtc-node';
import { AVATAR_SAMPLE_RATE } from '../../src/avatar/publisher.ts';
import { exitTimesOf, stampedAt, stampedPrefix } from '../av_offset.ts';

/** How far ahead a chunk's marks are looked for when chunks were lost on the way to JS (2 s). */
const SEARCH_SAMPLES = 2 * AVATAR_SAMPLE_RATE;

export class AudioExitLog {
  #arrivals = new Float64Array(4096);
  #starts = new Float64Array(4096);
  #count = 0;
  /** Where the next chunk starts on the stamped timeline, if none was lost. */
  #next = 0;
  /** The last chunk left mid-reply: a chunk of zeros now is a gap. */
  #inReply = false;
  #dry = 0;
  readonly #replyEnds = new Set<number>();
  readonly #reader: ReadableStreamDefaultReader<AudioFrame>;
  readonly #done: Promise<void>;

  constructor(track: LocalAudioTrack) {
    const stream = new AudioStream(track, { sampleRate: AVATAR_SAMPLE_RATE, numChannels: 1 });
    this.#reader = stream.getReader();
    this.#done = this.#read();
  }

  /** A reply's audio ends at `position` on the stamped timeline (StampingOutput's onFlush). */
  replyEnded(position: number): void {
    this.#replyEnds.add(position);
  }

  /** 10 ms chunks of zeros inside a reply: audible gaps. */
  get dryChunks(): number {
    return this.#dry;
  }

  /** When each chunk left the source (see exitTimesOf). */
  exitTimes(): Float64Array {
    return exitTimesOf(this.#arrivals.subarray(0, this.#count));
  }

  /** Timeline position of each chunk's first sample; NaN for silence and partial chunks. */
  timelineStarts(): Float64Array {
    return this.#starts.subarray(0, this.#count);
  }

  async #read(): Promise<void> {
    for (;;) {
      const { done, value } = await this.#reader.read();
      if (done) return;
      this.#chunk(value.data, performance.now());
    }
  }

  #chunk(samples: Int16Array, arrivedAt: number): void {
    let start = NaN;
    if (samples.every((x) => x === 0)) {
      if (this.#inReply) this.#dry++;
    } else {
      const prefix = stampedPrefix(samples, this.#next);
      if (prefix === samples.length) {
        start = this.#next;
      } else if (prefix > 0 && samples.subarray(prefix).every((x) => x === 0)) {
        // The sink completed the reply's last chunk with silence: the reply ended here.
        this.#next += prefix;
        this.#inReply = false;
      } else {
        start = this.#search(samples);
        if (Number.isNaN(start)) this.#inReply = false;
      }
      if (!Number.isNaN(start)) {
        this.#next = start + samples.length;
        this.#inReply = !this.#replyEnds.has(this.#next);
      }
    }
    this.#push(arrivedAt, start);
  }

  /** The chunk's position when chunks before it were lost on the way to JS; NaN if not found. */
  #search(samples: Int16Array): number {
    for (let shift = 1; shift <= SEARCH_SAMPLES; shift++) {
      if (stampedAt(samples, this.#next + shift)) return this.#next + shift;
    }
    return NaN;
  }

  #push(arrivedAt: number, start: number): void {
    if (this.#count === this.#arrivals.length) {
      this.#arrivals = grown(this.#arrivals);
      this.#starts = grown(this.#starts);
    }
    this.#arrivals[this.#count] = arrivedAt;
    this.#starts[this.#count] = start;
    this.#count++;
  }

  async close(): Promise<void> {
    await this.#reader.cancel();
    await this.#done;
  }
}

function grown(array: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(array.length * 2);
  bigger.set(array);
  return bigger;
}

/**
 * Records the live A/V path as a video file and an audio file that play in sync: what a room
 * participant would have seen and heard, with no room.
 *
 * Video: every published frame (`onFrame`) goes in the slot of a constant-fps grid nearest to the
 * time it was rendered (`tMs`), which is when its mouth's audio was leaving the source. When the
 * frame clock skipped slots (the process was late), the previous frame is repeated in them, so the
 * video's length stays equal to the wall time it covered; a frame so late that the next one lands
 * in the same slot is dropped from the recording (the room got it, late).
 *
 * Audio: ONE continuous timeline (24 kHz mono by default) starting at the first video frame. The
 * recorder's `tap` (teed into the sink) keeps the pushed samples by timeline position; at each
 * frame, the samples that left the source since the previous frame (the frame's `audioMs`, the
 * sink's `playedSamples`) are written, then silence up to the frame's time on the grid. So silence
 * is recorded as silence, and audio dropped by an interruption (cut from the tap before it played)
 * is never written. Audio that starts after a silence is placed to end at its frame (it is the
 * newest audio that left the source); audio that continues is placed right after what was written,
 * with no silence cut into it unless it fell a whole frame behind (the source ran dry). Each sample
 * lands within about a frame of the video frame that showed it, and the audio length tracks the
 * video length (off by timer jitter, never drifting).
 */
import type { AudioTap } from './audio_sink.ts';
import type { PublishedFrame } from './publisher.ts';
import type { MouthState } from './visemes.ts';
import type { Y4mWriter } from './y4m_writer.ts';

/** Where the audio timeline goes (a WavWriter fits). */
export interface AudioTimelineWriter {
  /** Takes mono s16 samples; must copy them (the recorder reuses its buffers). */
  write(samples: Int16Array): void;
  close(): Promise<void>;
}

/** A frame as recorded: repeats of skipped slots included. */
export interface RecordedFrame {
  /** Index in the recording (0 = the first recorded frame). */
  frame: number;
  /** Presentation time in the recording, ms. */
  tMs: number;
  /** Audio position the frame shows, ms on the sink's timeline. */
  audioMs: number;
  mouth: MouthState;
  /** True for a copy of the previous frame, written in a slot the clock skipped. */
  repeated: boolean;
}

export interface AvRecorderOptions {
  /** The publisher's frame rate (the grid frame numbers are on). */
  fps: number;
  video: Y4mWriter;
  /** Without it, only video is recorded. */
  audio?: AudioTimelineWriter;
  /** Rate of the sink's audio, Hz. Default 24000. */
  sampleRate?: number;
  /** Called for every recorded frame, in order (traces). */
  onRecordedFrame?: (frame: RecordedFrame) => void;
}

/** Silence is written from this buffer, in pieces. */
const SILENCE_SAMPLES = 4800;

export class AvRecorder {
  readonly fps: number;
  readonly sampleRate: number;
  /** Tee this into the sink (AvatarPublisher's `audioTap` option). */
  readonly tap: AudioTap;
  readonly #video: Y4mWriter;
  readonly #audio: AudioTimelineWriter | undefined;
  readonly #onRecordedFrame: ((frame: RecordedFrame) => void) | undefined;
  readonly #timeline: AudioTimeline;
  readonly #silence = new Int16Array(SILENCE_SAMPLES);
  readonly #frameSamples: number;
  /** Grid slots (tMs / frame duration) of the first recorded frame and of the last one. */
  #firstSlot = -1;
  #lastSlot = -1;
  /** The last recorded frame, repeated into skipped slots. */
  #lastI420: Uint8Array | undefined;
  #lastAudioMs = 0;
  #lastMouth: MouthState | undefined;
  #repeated = 0;
  #dropped = 0;
  /** Timeline position (samples) up to which audio has been written. */
  #written = 0;
  /** Samples in the audio file. */
  #out = 0;
  /** Audio left the source in the previous frame interval. */
  #flowing = false;
  #error: unknown;
  #closing: Promise<void> | undefined;

  constructor(options: AvRecorderOptions) {
    const { fps, video, audio, sampleRate = 24_000, onRecordedFrame } = options;
    if (fps !== video.fps) {
      throw new RangeError(
        `AvRecorder: fps ${fps} is not valid (allowed: the video's ${video.fps})`,
      );
    }
    this.fps = fps;
    this.sampleRate = sampleRate;
    this.#frameSamples = sampleRate / fps;
    this.#video = video;
    this.#audio = audio;
    this.#onRecordedFrame = onRecordedFrame;
    this.#timeline = new AudioTimeline(sampleRate);
    const timeline = this.#timeline;
    this.tap = {
      push: (samples) => timeline.push(samples),
      truncate: (positionMs) => {
        timeline.truncate(positionMs);
        // The next pushes start at the cut; never skip them.
        this.#written = Math.min(this.#written, timeline.end);
      },
    };
  }

  /** Video frames recorded (repeats included). */
  get frames(): number {
    return this.#firstSlot < 0 ? 0 : this.#lastSlot - this.#firstSlot + 1;
  }

  /** Frames repeated because the clock skipped their slot. */
  get repeatedFrames(): number {
    return this.#repeated;
  }

  /** Frames left out because an earlier, late frame already took their slot. */
  get droppedFrames(): number {
    return this.#dropped;
  }

  /** Samples in the audio timeline so far. */
  get audioSamples(): number {
    return this.#out;
  }

  /** Give every published frame here (AvatarPublisher's `onFrame`). Never throws. */
  onFrame(frame: PublishedFrame): void {
    if (this.#closing || this.#error !== undefined) return;
    try {
      this.#record(frame);
    } catch (error) {
      // A failed writer stops the recording; close() reports it. The call itself goes on.
      this.#error = error;
    }
  }

  /** Pad the audio to the end of the last frame and close both files. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= this.#finish();
    return this.#closing;
  }

  #record(frame: PublishedFrame): void {
    // By render time, not frame number: a late tick shows later audio, so it belongs later.
    const slot = Math.round((frame.tMs * this.fps) / 1000);
    if (slot <= this.#lastSlot) {
      this.#dropped += 1;
      return;
    }
    const played = Math.round((frame.audioMs * this.sampleRate) / 1000);
    if (this.#firstSlot < 0) {
      this.#firstSlot = slot;
      // The recording starts here: audio that played before it is not part of it.
      this.#written = Math.min(played, this.#timeline.end);
    } else {
      this.#repeatSkipped(slot);
      this.#appendAudio(played, this.#samplesAt(slot - this.#firstSlot));
    }
    this.#timeline.release(this.#written);
    // Kept by reference until written: a picture's buffer is reused, so copy it.
    const i420 = frame.i420 ? frame.i420.slice() : this.#video.toI420(frame.rgba);
    this.#video.writeFrame(i420);
    this.#lastSlot = slot;
    this.#lastI420 = i420;
    this.#lastAudioMs = frame.audioMs;
    this.#lastMouth = frame.mouth;
    this.#onRecordedFrame?.({
      frame: slot - this.#firstSlot,
      tMs: this.#msAt(slot - this.#firstSlot),
      audioMs: frame.audioMs,
      mouth: frame.mouth,
      repeated: false,
    });
  }

  /** Fill slots the clock skipped with the previous frame, so video time stays wall time. */
  #repeatSkipped(upTo: number): void {
    for (let slot = this.#lastSlot + 1; slot < upTo; slot++) {
      this.#video.writeFrame(this.#lastI420!);
      this.#repeated += 1;
      const index = slot - this.#firstSlot;
      this.#onRecordedFrame?.({
        frame: index,
        tMs: this.#msAt(index),
        audioMs: this.#lastAudioMs,
        mouth: this.#lastMouth!,
        repeated: true,
      });
    }
  }

  /** Write the audio that left the source up to `played`, with silence up to `target` samples. */
  #appendAudio(played: number, target: number): void {
    const to = Math.min(played, this.#timeline.end);
    const fresh = Math.max(0, to - this.#written);
    // Audio after a silence is the newest that left the source: it ends at this frame.
    if (fresh > 0 && !this.#flowing) this.#writeSilence(target - this.#out - fresh);
    if (fresh > 0) {
      this.#writeAudio(this.#timeline.view(this.#written, to));
      this.#written = to;
    }
    // While audio flows, frame-timer jitter leaves it a little off the grid; padding then would cut
    // clicks into speech. Silence goes in when nothing played, or when a frame behind (underrun).
    const behind = target - this.#out;
    if (fresh === 0 || behind > this.#frameSamples) this.#writeSilence(behind);
    this.#flowing = fresh > 0;
  }

  #writeAudio(samples: Int16Array): void {
    this.#out += samples.length;
    this.#audio?.write(samples);
  }

  #writeSilence(count: number): void {
    for (let left = count; left > 0; left -= SILENCE_SAMPLES) {
      this.#writeAudio(this.#silence.subarray(0, Math.min(left, SILENCE_SAMPLES)));
    }
  }

  /** Audio samples before frame `index` of the recording. */
  #samplesAt(index: number): number {
    return Math.round((index * this.sampleRate) / this.fps);
  }

  #msAt(index: number): number {
    return (index * 1000) / this.fps;
  }

  async #finish(): Promise<void> {
    try {
      // The last frame lasts 1/fps too: its audio slot is silence (the recording stops here).
      if (this.#error === undefined && this.frames > 0) {
        this.#writeSilence(this.#samplesAt(this.frames) - this.#out);
      }
    } catch (error) {
      this.#error ??= error;
    }
    const results = await Promise.allSettled([this.#video.close(), this.#audio?.close()]);
    for (const result of results) {
      if (result.status === 'rejected') this.#error ??= result.reason;
    }
    if (this.#error !== undefined) throw this.#error;
  }
}

/**
 * The sink's audio by timeline position, from the first position not yet written to the newest
 * pushed sample; truncate() drops what an interruption removed from the timeline.
 */
class AudioTimeline {
  readonly #rate: number;
  #data: Int16Array;
  /** Timeline position of #data[0], and one past the newest sample. */
  #start = 0;
  #end = 0;
  /** Samples before this position are no longer needed. */
  #keepFrom = 0;

  constructor(rate: number) {
    this.#rate = rate;
    this.#data = new Int16Array(rate); // one second; grows when audio is pushed far ahead
  }

  get end(): number {
    return this.#end;
  }

  push(samples: Int16Array): void {
    this.#makeRoom(samples.length);
    this.#data.set(samples, this.#end - this.#start);
    this.#end += samples.length;
  }

  truncate(positionMs: number): void {
    const at = Math.round((positionMs * this.#rate) / 1000);
    if (at >= this.#end) return;
    this.#end = Math.max(at, 0);
    if (this.#end < this.#start) this.#start = this.#end;
    this.#keepFrom = Math.min(this.#keepFrom, this.#end);
  }

  /** Samples [from, to): a view, valid until the next push. */
  view(from: number, to: number): Int16Array {
    const lo = Math.max(from, this.#start) - this.#start;
    const hi = Math.min(to, this.#end) - this.#start;
    return this.#data.subarray(lo, Math.max(lo, hi));
  }

  /** Audio before `position` may be dropped. */
  release(position: number): void {
    this.#keepFrom = Math.max(this.#keepFrom, Math.min(position, this.#end));
  }

  #makeRoom(count: number): void {
    const used = this.#end - this.#start;
    if (used + count <= this.#data.length) return;
    const keep = this.#end - this.#keepFrom;
    const from = this.#keepFrom - this.#start;
    if (keep + count <= this.#data.length) {
      this.#data.copyWithin(0, from, used);
    } else {
      let size = this.#data.length * 2;
      while (keep + count > size) size *= 2;
      const data = new Int16Array(size);
      data.set(this.#data.subarray(from, used));
      this.#data = data;
    }
    this.#start = this.#keepFrom;
  }
}

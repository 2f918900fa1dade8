/**
 * The avatar's audio sink: the session's AudioOutput. Agent audio goes into an rtc-node
 * AudioSource (the room's audio track, paced in real time by the SDK) and, at the same moment,
 * into the lip-sync analyzer, which therefore sees each sample before it plays (look-ahead).
 *
 * The sink keeps one continuous audio timeline, in samples: `pushed` counts what entered the
 * source, and what has left it (played) is `pushed - queued`, from the source's own queue
 * estimate. Audio is the master clock: the video pacer asks `playedMs` for every frame.
 *
 * Playout contract (the framework's AudioOutput): playback started when a segment's first frame
 * starts to play; exactly one playback-finished per segment, in order, with the position really
 * played; clearBuffer() drops all queued audio at once and reports `interrupted: true`.
 *
 * The source sends whole 10 ms chunks and keeps a partial one until more audio comes, so flush()
 * completes the last chunk with silence: a segment's end plays when it is due, not in front of the
 * next segment. That silence is not on the timeline (the tap never sees it): the position stands
 * still while it plays, so the timeline stays exactly the agent's samples.
 */
import { AudioFrame } from '@livekit/rtc-node';
import { log, voice } from '@livekit/agents';
import { monoSamples } from '../audio/frames.ts';
import { type Clock, type ClockTimer, REAL_CLOCK } from './clock.ts';

/** What the sink needs of an rtc-node AudioSource (the real one in rooms, tests and preview). */
export interface PcmSource {
  captureFrame(frame: AudioFrame): Promise<void>;
  clearQueue(): void;
  /** Milliseconds captured but not yet played. */
  readonly queuedDuration: number;
}

/** Gets every pushed sample in timeline order, and the position to cut back to on interruption. */
export interface AudioTap {
  push(samples: Int16Array): void;
  truncate(positionMs: number): void;
}

export interface AvatarAudioSinkOptions {
  source: PcmSource;
  sampleRate?: number;
  tap?: AudioTap;
  /** Largest piece handed to the source, so little can slip out after an interruption. */
  maxFrameMs?: number;
  /** The clock the source plays on, for the segment-finished checks. Default: real time. */
  clock?: Clock;
}

interface Segment {
  start: number;
  end: number;
  flushed: boolean;
  started: boolean;
  timer?: ClockTimer;
}

export class AvatarAudioSink extends voice.AudioOutput {
  readonly rate: number;
  readonly #source: PcmSource;
  readonly #tap?: AudioTap;
  readonly #maxFrameSamples: number;
  readonly #chunkSamples: number;
  readonly #clock: Clock;
  readonly #logger = log();
  /** Segments not yet reported finished, oldest first; the last may still be capturing. */
  readonly #segments: Segment[] = [];
  #pushed = 0;
  /** Samples handed to the source since clearBuffer() emptied it: it sends whole 10 ms chunks. */
  #sourceSamples = 0;
  /** Bumped by clearBuffer(), so a capture that was waiting for room does not count as new audio. */
  #epoch = 0;
  #closed = false;
  /**
   * The source capture in flight, if any. The native source holds one capture at a time: one
   * abandoned by clearBuffer() stays pending there until its next 10 ms tick, and a capture
   * handed over meanwhile fails ("failed to capture frame").
   */
  #inFlight?: Promise<void>;

  constructor({
    source,
    sampleRate = 24_000,
    tap,
    maxFrameMs = 20,
    clock = REAL_CLOCK,
  }: AvatarAudioSinkOptions) {
    super(sampleRate);
    this.rate = sampleRate;
    this.#source = source;
    this.#tap = tap;
    this.#maxFrameSamples = Math.round((sampleRate * maxFrameMs) / 1000);
    this.#chunkSamples = Math.round(sampleRate / 100);
    this.#clock = clock;
  }

  /** Samples that have left the source (the continuous timeline position). */
  get playedSamples(): number {
    const queued = Math.round((this.#source.queuedDuration * this.rate) / 1000);
    return Math.max(0, this.#pushed - queued);
  }

  get playedMs(): number {
    return (this.playedSamples * 1000) / this.rate;
  }

  /** Audio is queued or playing right now. */
  get speaking(): boolean {
    return this.#segments.some((s) => s.started && this.playedSamples < s.end);
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    // After close() a frame is ignored, and not counted as a segment that nothing would finish.
    if (this.#closed) return;
    await super.captureFrame(frame);
    if (this.#closed) return;
    const samples = monoSamples(frame);
    let segment = this.#segments.at(-1);
    if (!segment || segment.flushed) {
      segment = { start: this.#pushed, end: this.#pushed, flushed: false, started: false };
      this.#segments.push(segment);
    }
    this.#announceStart(segment);
    for (let offset = 0; offset < samples.length; offset += this.#maxFrameSamples) {
      const epoch = this.#epoch;
      // The source takes one capture at a time; one cut short by clearBuffer() may still hold it.
      while (this.#inFlight) {
        await this.#inFlight;
        if (epoch !== this.#epoch || this.#closed) return;
      }
      const capture = this.#send(samples.slice(offset, offset + this.#maxFrameSamples), true);
      segment.end = this.#pushed;
      await capture;
      if (epoch !== this.#epoch || this.#closed) return;
    }
  }

  /**
   * Hand `piece` to the source once the capture in flight, if any, has settled (unless
   * clearBuffer() came first); agent audio goes on the timeline at once. Resolves when the source
   * took it.
   */
  #send(piece: Int16Array, onTimeline: boolean): Promise<void> {
    const epoch = this.#epoch;
    if (onTimeline) {
      this.#tap?.push(piece);
      this.#pushed += piece.length;
    }
    this.#sourceSamples += piece.length;
    const frame = new AudioFrame(piece, this.rate, 1, piece.length);
    const capture = this.#inFlight
      ? this.#inFlight.then(() =>
          epoch === this.#epoch && !this.#closed ? this.#source.captureFrame(frame) : undefined,
        )
      : this.#source.captureFrame(frame);
    const settled: Promise<void> = capture
      .then(
        () => {},
        () => {},
      )
      .then(() => {
        // The source queues a piece asynchronously, after this call: a clearBuffer() in between
        // missed it, and it would play after the interruption. Drop it now, before any newer
        // audio is handed over (newer captures wait for this).
        if (epoch !== this.#epoch && !this.#closed) this.#clearSource();
        if (this.#inFlight === settled) this.#inFlight = undefined;
      });
    this.#inFlight = settled;
    return capture;
  }

  override flush(): void {
    super.flush();
    const segment = this.#segments.at(-1);
    if (!segment || segment.flushed) return;
    segment.flushed = true;
    // Complete the source's last 10 ms chunk with silence, so the segment's end leaves now.
    const partial = this.#sourceSamples % this.#chunkSamples;
    if (partial > 0 && !this.#closed) {
      this.#send(new Int16Array(this.#chunkSamples - partial), false).catch((error: unknown) =>
        this.#logger.error({ error }, 'avatar audio: padding the last chunk failed'),
      );
    }
    this.#finishWhenPlayed(segment);
  }

  override clearBuffer(): void {
    if (this.#segments.length === 0) return;
    // Close the open segment too (as the room's ParticipantAudioOutput does), so the next frame
    // starts a new one that gets its own playback events.
    super.flush();
    this.#epoch += 1;
    const played = this.playedSamples;
    this.#source.clearQueue();
    this.#sourceSamples = 0;
    this.#pushed = played;
    this.#tap?.truncate((played * 1000) / this.rate);
    for (const segment of this.#segments.splice(0)) {
      this.#clock.clearTimeout(segment.timer);
      const position = Math.min(Math.max(played - segment.start, 0), segment.end - segment.start);
      this.#finish(position, true);
    }
  }

  #clearSource(): void {
    try {
      this.#source.clearQueue();
    } catch (error) {
      this.#logger.error({ error }, 'avatar audio: clearing the source failed');
    }
  }

  /** Stop: anything still open ends as interrupted, so nobody waits on it. */
  close(): void {
    this.clearBuffer();
    this.#closed = true;
  }

  #announceStart(segment: Segment): void {
    if (segment.started) return;
    segment.started = true;
    // Audio already queued ahead of this segment plays first.
    const delay = Math.max(0, ((segment.start - this.playedSamples) * 1000) / this.rate);
    if (delay < 1) {
      this.onPlaybackStarted(Date.now());
      return;
    }
    setTimeout(() => {
      if (this.#segments.includes(segment)) this.onPlaybackStarted(Date.now());
    }, delay).unref();
  }

  #finishWhenPlayed(segment: Segment): void {
    const remainingMs = ((segment.end - this.playedSamples) * 1000) / this.rate;
    if (remainingMs <= 0 && this.#segments[0] === segment) {
      this.#segments.shift();
      this.#finish(segment.end - segment.start, false);
      return;
    }
    // Re-check at the expected end; the queue estimate has millisecond resolution.
    segment.timer = this.#clock.setTimeout(
      () => this.#finishWhenPlayed(segment),
      Math.max(1, remainingMs),
    );
  }

  #finish(samples: number, interrupted: boolean): void {
    const playbackPosition = samples / this.rate;
    this.#logger.debug({ playbackPosition, interrupted }, 'avatar segment finished');
    this.onPlaybackFinished({ playbackPosition, interrupted });
  }
}

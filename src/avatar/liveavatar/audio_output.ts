/**
 * The session's audio output for a LiveAvatar avatar: the agent's audio goes over the LITE
 * WebSocket, and the framework learns what LiveAvatar actually played.
 *
 * - Audio: PCM16 24 kHz mono, base64, in `agent.speak` chunks of about a second (a smaller first
 *   chunk so the avatar starts sooner; what waits less than a chunk goes after a short idle), one
 *   event id per utterance (one framework segment), `agent.speak_end` when it ends.
 * - Playback: started / finished from LiveAvatar's events in either dialect (see events.ts), one
 *   playback-finished per segment, in order. A lost event never hangs a turn: a segment LiveAvatar
 *   has not reported started soon after its audio went, or ended when its audio must have played,
 *   is taken as started / played.
 * - Interruption: clearBuffer() sends `agent.interrupt` at once (before any more audio), reports
 *   each open segment interrupted at the position played, and holds the next reply's audio until
 *   LiveAvatar acknowledges the clear (or a timeout), so the clear cannot eat the new reply.
 * - Failure: until the socket is ready the audio waits here; if LiveAvatar fails (before or during
 *   the call: HTTP errors, the socket lost, `video_starvation`, the session ended), one warning
 *   is logged and the call goes on with a fallback speaker (our own face's sink): what LiveAvatar
 *   had not played yet is replayed there, later audio goes there, and its playback events are
 *   passed on, so the framework keeps one continuous account of each segment.
 */
import { randomUUID } from 'node:crypto';
import { AudioFrame } from '@livekit/rtc-node';
import { log, voice } from '@livekit/agents';
import { monoSamples } from '../../audio/frames.ts';
import type { LiteEvent } from './events.ts';
import type { LiteSocket } from './lite_socket.ts';

export const LIVEAVATAR_SAMPLE_RATE = 24_000;
/** LiveAvatar refuses packets over 1 MB: 10 s of audio is 640 KB of base64. */
const MAX_CHUNK_MS = 10_000;

/** A speaker to fall back to: an AudioOutput that can be stopped. */
export type FallbackSpeaker = voice.AudioOutput & { close(): void };

export interface LiveAvatarAudioOutputOptions {
  /** Builds what plays the agent's audio once LiveAvatar has failed (called once, on failure). */
  fallback: () => Promise<FallbackSpeaker>;
  /** Told once, with why, when LiveAvatar fails (the owner stops the LiveAvatar session). */
  onFailed?: (why: string) => void;
  /** Gets each piece of audio sent to LiveAvatar, in order (the console's --output). */
  onSent?: (samples: Int16Array) => void;
  /** Audio per `agent.speak`. Default 1000 ms (LiveAvatar's recommendation); at most 10000. */
  chunkMs?: number;
  /** The first chunk of an utterance. Default 300 ms. */
  firstChunkMs?: number;
  /**
   * Audio waits at most this long for its chunk to fill: a reply that arrives in real time goes in
   * pieces of about this length, so the avatar never starves waiting for a whole chunk. Default 200 ms.
   */
  maxWaitMs?: number;
  /** The next reply waits at most this long for LiveAvatar to acknowledge an interrupt. Default 500 ms. */
  interruptAckTimeoutMs?: number;
  /** A playback event this late is taken as lost. Default 1500 ms. */
  playbackGraceMs?: number;
}

interface Segment {
  eventId: string;
  /** Every sample captured, in [0, captured). */
  pcm: Int16Array;
  captured: number;
  /** Samples handed on (sent to LiveAvatar, or forwarded to the fallback speaker). */
  delivered: number;
  /** With the fallback speaker: samples LiveAvatar had played before it failed. */
  base: number;
  flushed: boolean;
  /** `agent.speak_end` sent, or the fallback speaker flushed. */
  ended: boolean;
  /** playbackStarted was reported for it. */
  started: boolean;
  target: 'liveavatar' | 'speaker';
  /** When LiveAvatar started playing it (reported, or assumed when the event was lost). */
  playingSince?: number;
  firstSentAt?: number;
  /** When the oldest audio not yet sent arrived. */
  waitingSince?: number;
  /** At least one frame went to the fallback speaker, which then owes it a finish. */
  forwarded: boolean;
  timer?: NodeJS.Timeout;
}

type Mode = 'waiting' | 'live' | 'switching' | 'fallback' | 'closed';

export class LiveAvatarAudioOutput extends voice.AudioOutput {
  readonly #options: LiveAvatarAudioOutputOptions;
  readonly #logger = log();
  readonly #chunk: number;
  readonly #firstChunk: number;
  /** Open segments, oldest first. */
  readonly #segments: Segment[] = [];
  #mode: Mode = 'waiting';
  #socket?: LiteSocket;
  #held = false;
  #ackTimer?: NodeJS.Timeout;
  /** Sends audio that has waited maxWaitMs. */
  #waitTimer?: NodeJS.Timeout;
  #speaker?: FallbackSpeaker;
  /** Segments forwarded to the speaker, in order, awaiting its playback-finished. */
  readonly #speakerQueue: Segment[] = [];
  #speakerStarts: Segment[] = [];
  /** Forwarding to the speaker runs one step at a time; clearBuffer() bumps the epoch to stop it. */
  #chain: Promise<void> = Promise.resolve();
  #epoch = 0;
  readonly #warned = new Set<string>();

  constructor(options: LiveAvatarAudioOutputOptions) {
    super(LIVEAVATAR_SAMPLE_RATE);
    this.#options = options;
    const ms = (value: number) => Math.round((value * LIVEAVATAR_SAMPLE_RATE) / 1000);
    this.#chunk = ms(Math.min(options.chunkMs ?? 1000, MAX_CHUNK_MS));
    this.#firstChunk = Math.min(this.#chunk, ms(options.firstChunkMs ?? 300));
  }

  /** 'waiting' for LiveAvatar, 'live' on it, 'fallback' on our face after a failure. */
  get mode(): Mode {
    return this.#mode;
  }

  /** LiveAvatar is ready: send what waited, and everything from now on. */
  attach(socket: LiteSocket): void {
    if (this.#mode !== 'waiting') {
      socket.close();
      return;
    }
    this.#socket = socket;
    this.#mode = 'live';
    this.#pump(false);
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    await super.captureFrame(frame);
    if (this.#mode === 'closed') return;
    if (frame.sampleRate !== LIVEAVATAR_SAMPLE_RATE)
      this.#warnOnce('rate', { rate: frame.sampleRate });
    const samples = monoSamples(frame);
    let segment = this.#segments.at(-1);
    if (!segment || segment.flushed) {
      segment = this.#newSegment();
      this.#segments.push(segment);
    }
    if (segment.captured === segment.delivered) segment.waitingSince = Date.now();
    append(segment, samples);
    if (this.#mode === 'live') this.#pump(false);
    else if (this.#mode === 'fallback') await this.#forward();
  }

  override flush(): void {
    super.flush();
    const segment = this.#segments.at(-1);
    if (!segment || segment.flushed) return;
    segment.flushed = true;
    // Deferred: the framework ends an interrupted segment with flush() then clearBuffer(), and a
    // cut reply's tail or speak_end should not go out in front of the interrupt.
    if (this.#mode === 'live') queueMicrotask(() => this.#pump(true));
    else if (this.#mode === 'fallback') void this.#forward();
  }

  override clearBuffer(): void {
    if (this.#segments.length === 0) return;
    // Close the open segment too, so the next frame starts a new one with its own events.
    super.flush();
    clearTimeout(this.#waitTimer);
    const now = Date.now();
    if (this.#mode === 'live' && this.#socket?.open) {
      const sent = this.#segments.some((s) => s.target === 'liveavatar' && s.delivered > 0);
      if (sent) {
        this.#socket.send({ type: 'agent.interrupt', event_id: randomUUID() });
        this.#hold();
      }
    }
    if (this.#mode === 'fallback') {
      this.#epoch += 1;
      // The speaker reports its own segments interrupted (passed on in order by #onSpeakerFinished).
      this.#speaker?.clearBuffer();
    }
    for (const segment of [...this.#segments]) {
      this.#finish(segment, this.#played(segment, now), true);
    }
  }

  /** An event from the LITE socket. */
  receive(event: LiteEvent): void {
    if (this.#mode !== 'live') return;
    const now = Date.now();
    switch (event.kind) {
      case 'speaking': {
        const segment = this.#liveSegment(event.eventId, (s) => !s.started && s.delivered > 0);
        if (segment) this.#markStarted(segment, now);
        return;
      }
      case 'stopped': {
        const segment = this.#liveSegment(event.eventId, (s) => s.started);
        if (!segment) {
          // Not one of ours any more: the utterance an interrupt cut has stopped.
          this.#release();
          return;
        }
        // A stop while audio is still to come is LiveAvatar waiting for it, not the end.
        if (segment.ended && segment.delivered === segment.captured) {
          this.#finish(segment, segment.captured, false);
        }
        return;
      }
      case 'cleared':
        this.#release();
        return;
      case 'session_ended':
        this.fail(`LiveAvatar ended the session (${event.state})`);
        return;
      case 'error':
        if (event.type === 'video_starvation' || event.type === 'server_error') {
          this.fail(`LiveAvatar error ${event.type}${event.message ? `: ${event.message}` : ''}`);
        } else {
          this.#warnOnce(`error ${event.type}`, { message: event.message });
        }
        return;
      case 'warning':
        this.#warnOnce(`warning ${event.message}`, {});
        return;
      default:
        return;
    }
  }

  /**
   * LiveAvatar failed: log one warning, tell the owner, and go on with the fallback speaker,
   * replaying there what LiveAvatar had not played. Later calls do nothing.
   */
  fail(why: string): void {
    if (this.#mode !== 'waiting' && this.#mode !== 'live') return;
    this.#logger.warn(
      { reason: why },
      'LiveAvatar failed; the call goes on with the built-in avatar',
    );
    this.#mode = 'switching';
    this.#socket?.close();
    this.#socket = undefined;
    clearTimeout(this.#waitTimer);
    this.#release();
    const now = Date.now();
    for (const segment of [...this.#segments]) {
      clearTimeout(segment.timer);
      segment.base = segment.target === 'liveavatar' ? this.#played(segment, now) : 0;
      segment.delivered = segment.base;
      segment.target = 'speaker';
      segment.ended = false;
      if (segment.flushed && segment.base >= segment.captured) {
        this.#finish(segment, segment.captured, false);
      }
    }
    try {
      this.#options.onFailed?.(why);
    } catch (error) {
      this.#logger.error({ error }, 'LiveAvatar: the failure handler threw');
    }
    this.#options
      .fallback()
      .then((speaker) => this.#useSpeaker(speaker))
      .catch((error: unknown) => {
        this.#logger.error({ error }, 'LiveAvatar: the fallback avatar failed to start');
        this.close();
      });
  }

  /** Stop: anything still open ends as interrupted, so nobody waits on it. */
  close(): void {
    if (this.#mode === 'closed') return;
    this.clearBuffer();
    this.#mode = 'closed';
    clearTimeout(this.#ackTimer);
    this.#socket?.close();
    this.#speaker?.close();
  }

  // ---- LiveAvatar ------------------------------------------------------------------------------

  /**
   * Send what is due: whole chunks, audio that waited maxWaitMs, the rest of flushed segments
   * (`force`: of the open one too).
   */
  #pump(force: boolean): void {
    clearTimeout(this.#waitTimer);
    const socket = this.#socket;
    if (this.#mode !== 'live' || !socket?.open || this.#held) return;
    const maxWait = this.#options.maxWaitMs ?? 200;
    const now = Date.now();
    for (const segment of this.#segments) {
      if (segment.ended) continue;
      segment.target = 'liveavatar';
      const waited = now - (segment.waitingSince ?? now) >= maxWait;
      for (;;) {
        const pending = segment.captured - segment.delivered;
        const size = segment.delivered === 0 ? this.#firstChunk : this.#chunk;
        const last = segment.flushed || force || waited;
        if (pending === 0 || (pending < size && !last)) break;
        this.#send(socket, segment, Math.min(pending, size));
      }
      if (segment.flushed) {
        socket.send({ type: 'agent.speak_end', event_id: segment.eventId });
        segment.ended = true;
        this.#armEndTimer(segment);
      } else if (segment.captured > segment.delivered) {
        // Audio that keeps coming does not push the send later: the wait counts from its arrival.
        const due = (segment.waitingSince ?? now) + maxWait;
        this.#waitTimer = setTimeout(() => this.#pump(false), Math.max(0, due - now));
        this.#waitTimer.unref();
      }
    }
  }

  #send(socket: LiteSocket, segment: Segment, count: number): void {
    const samples = segment.pcm.subarray(segment.delivered, segment.delivered + count);
    const audio = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
    socket.send({
      type: 'agent.speak',
      event_id: segment.eventId,
      audio: audio.toString('base64'),
    });
    this.#options.onSent?.(samples.slice());
    segment.delivered += count;
    segment.waitingSince = Date.now();
    if (segment.firstSentAt === undefined) {
      segment.firstSentAt = Date.now();
      // The started event may be lost: then it is taken as playing since its audio went.
      segment.timer = setTimeout(() => {
        if (segment.started || !this.#segments.includes(segment)) return;
        this.#logger.debug({ eventId: segment.eventId }, 'LiveAvatar: no speak start; assumed');
        this.#markStarted(segment, segment.firstSentAt!);
      }, this.#grace());
      segment.timer.unref();
    }
  }

  #markStarted(segment: Segment, at: number): void {
    if (segment.started) return;
    segment.started = true;
    segment.playingSince = at;
    this.onPlaybackStarted(at);
    if (segment.ended) this.#armEndTimer(segment);
  }

  /** Finish a segment LiveAvatar has not reported ended once all of it must have played. */
  #armEndTimer(segment: Segment): void {
    clearTimeout(segment.timer);
    const since = segment.playingSince ?? segment.firstSentAt ?? Date.now();
    const endsAt = since + (segment.captured * 1000) / LIVEAVATAR_SAMPLE_RATE + this.#grace();
    segment.timer = setTimeout(
      () => {
        if (!this.#segments.includes(segment) || this.#mode !== 'live') return;
        this.#logger.debug({ eventId: segment.eventId }, 'LiveAvatar: no speak end; assumed');
        this.#finish(segment, segment.captured, false);
      },
      Math.max(0, endsAt - Date.now()),
    );
    segment.timer.unref();
  }

  /** The live segment an event is about: by event id, or the oldest that `fits`. */
  #liveSegment(eventId: string | undefined, fits: (s: Segment) => boolean): Segment | undefined {
    const live = this.#segments.filter((s) => s.target === 'liveavatar');
    return eventId === undefined ? live.find(fits) : live.find((s) => s.eventId === eventId);
  }

  #hold(): void {
    this.#held = true;
    clearTimeout(this.#ackTimer);
    const timeoutMs = this.#options.interruptAckTimeoutMs ?? 500;
    this.#ackTimer = setTimeout(() => {
      this.#logger.debug({ timeoutMs }, 'LiveAvatar: interrupt not acknowledged; going on');
      this.#release();
    }, timeoutMs);
    this.#ackTimer.unref();
  }

  #release(): void {
    if (!this.#held) return;
    this.#held = false;
    clearTimeout(this.#ackTimer);
    this.#pump(false);
  }

  // ---- the fallback speaker ----------------------------------------------------------------------

  #useSpeaker(speaker: FallbackSpeaker): void {
    if (this.#mode !== 'switching') {
      speaker.close();
      return;
    }
    this.#speaker = speaker;
    speaker.on(voice.AudioOutput.EVENT_PLAYBACK_STARTED, (ev: voice.PlaybackStartedEvent) => {
      const segment = this.#speakerStarts.shift();
      if (segment && !segment.started) {
        segment.started = true;
        this.onPlaybackStarted(ev.createdAt);
      }
    });
    speaker.on(voice.AudioOutput.EVENT_PLAYBACK_FINISHED, (ev: voice.PlaybackFinishedEvent) => {
      const segment = this.#speakerQueue.shift();
      if (!segment) return;
      const played = segment.base + Math.round(ev.playbackPosition * LIVEAVATAR_SAMPLE_RATE);
      this.#finish(segment, Math.min(played, segment.captured), ev.interrupted);
    });
    this.#mode = 'fallback';
    void this.#forward();
  }

  /** Hand what is due to the speaker, one step at a time, in order. */
  #forward(): Promise<void> {
    const epoch = this.#epoch;
    this.#chain = this.#chain
      .then(() => this.#forwardNow(epoch))
      .catch((error: unknown) =>
        this.#logger.error({ error }, 'LiveAvatar: fallback audio failed'),
      );
    return this.#chain;
  }

  async #forwardNow(epoch: number): Promise<void> {
    const speaker = this.#speaker;
    if (!speaker) return;
    for (const segment of [...this.#segments]) {
      if (epoch !== this.#epoch || this.#mode !== 'fallback') return;
      if (segment.ended) continue;
      const pending = segment.captured - segment.delivered;
      if (pending > 0) {
        const samples = segment.pcm.slice(segment.delivered, segment.captured);
        segment.delivered = segment.captured;
        if (!segment.forwarded) {
          segment.forwarded = true;
          this.#speakerQueue.push(segment);
          this.#speakerStarts.push(segment);
        }
        await speaker.captureFrame(
          new AudioFrame(samples, LIVEAVATAR_SAMPLE_RATE, 1, samples.length),
        );
        if (epoch !== this.#epoch) return;
      }
      if (segment.flushed && segment.delivered === segment.captured && !segment.ended) {
        segment.ended = true;
        if (segment.forwarded) speaker.flush();
        else this.#finish(segment, segment.base, false);
      }
    }
  }

  // ---- both ----------------------------------------------------------------------------------------

  #newSegment(): Segment {
    return {
      eventId: randomUUID(),
      pcm: new Int16Array(LIVEAVATAR_SAMPLE_RATE),
      captured: 0,
      delivered: 0,
      base: 0,
      flushed: false,
      ended: false,
      started: false,
      target: this.#mode === 'fallback' || this.#mode === 'switching' ? 'speaker' : 'liveavatar',
      forwarded: false,
    };
  }

  /** Samples of `segment` played by now. */
  #played(segment: Segment, now: number): number {
    if (segment.target === 'speaker') return segment.base;
    if (segment.playingSince === undefined) return 0;
    const elapsed = Math.round(((now - segment.playingSince) * LIVEAVATAR_SAMPLE_RATE) / 1000);
    return Math.max(0, Math.min(segment.delivered, elapsed));
  }

  /** Report one segment finished; earlier open ones end first (their end event was lost). */
  #finish(segment: Segment, samples: number, interrupted: boolean): void {
    const index = this.#segments.indexOf(segment);
    if (index < 0) return;
    for (const earlier of this.#segments.slice(0, index)) {
      this.#finish(
        earlier,
        interrupted ? this.#played(earlier, Date.now()) : earlier.captured,
        interrupted,
      );
    }
    this.#segments.splice(this.#segments.indexOf(segment), 1);
    clearTimeout(segment.timer);
    const queued = this.#speakerQueue.indexOf(segment);
    if (queued >= 0) this.#speakerQueue.splice(queued, 1);
    this.#speakerStarts = this.#speakerStarts.filter((s) => s !== segment);
    if (!segment.started && !interrupted) {
      // It played although no start was reported (a lost event).
      segment.started = true;
      this.onPlaybackStarted(Date.now());
    }
    this.onPlaybackFinished({
      playbackPosition: samples / LIVEAVATAR_SAMPLE_RATE,
      interrupted,
    });
  }

  #grace(): number {
    return this.#options.playbackGraceMs ?? 1500;
  }

  #warnOnce(what: string, details: Record<string, unknown>): void {
    if (this.#warned.has(what)) return;
    this.#warned.add(what);
    this.#logger.warn({ ...details }, `LiveAvatar: ${what}`);
  }
}

/** Append to a segment's growing buffer (doubling, so appends stay cheap). */
function append(segment: Segment, samples: Int16Array): void {
  const needed = segment.captured + samples.length;
  if (needed > segment.pcm.length) {
    const grown = new Int16Array(Math.max(needed, segment.pcm.length * 2));
    grown.set(segment.pcm.subarray(0, segment.captured));
    segment.pcm = grown;
  }
  segment.pcm.set(samples, segment.captured);
  segment.captured = needed;
}

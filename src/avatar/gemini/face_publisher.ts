/**
 * Gemini's face in the room: the avatar publisher's second source. The model's sessions decode
 * the speech of Gemini's fMP4 (media_output.ts) into the agent's audio; this publisher is that
 * audio's output (a sink on an AudioSource, as for our own face) and shows the pictures, each
 * decoded just before it is due.
 *
 * Audio is the master clock. The sink knows which presentation time is leaving the AudioSource
 * now (media_timeline.ts); a picture is published when the audio reaches its presentation time,
 * with a capture timestamp of that moment, so lips and sound leave together (within a timer's
 * jitter, not a frame) and cannot drift: every picture is placed by the audio, never by a clock
 * of its own.
 *
 * Between turns the face rests: the picture held is the latest one shown while the avatar was
 * silent, republished at the stream's frame rate, so there is no black and no mouth frozen
 * mid-word. On an interruption (the sink's clearBuffer) the rest of the cut reply's pictures are
 * never shown and the resting face is published at once; the sink reports to the framework
 * exactly the audio that played, as for our own face.
 */
import {
  AudioSource,
  ConnectionState,
  LocalAudioTrack,
  LocalVideoTrack,
  RoomEvent,
  TrackPublishOptions,
  TrackSource,
  VideoBufferType,
  VideoFrame,
  VideoSource,
} from '@livekit/rtc-node';
import { log, type voice } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import { type AudioTap, AvatarAudioSink, type AvatarAudioSinkOptions } from '../audio_sink.ts';
import { teeTaps } from '../audio_tap.ts';
import { type Clock, type ClockTimer, REAL_CLOCK, type VirtualClock } from '../clock.ts';
import type { PublishedFrame, RoomLike } from '../publisher.ts';
import { VirtualAudioSource } from '../virtual_audio_source.ts';
import { CLOSED_MOUTH } from '../visemes.ts';
import type { MediaTrack } from './fmp4_demuxer.ts';
import { H264Decoder, type Picture } from './h264_decoder.ts';
import { type GeminiAvatarMedia, type VideoSampleEvent, mediaTagOf } from './media_output.ts';
import { type MediaPosition, MediaTimeline } from './media_timeline.ts';

export const GEMINI_FACE_SAMPLE_RATE = 24_000;
/** Gemini streams 24 fps (Vertex AI's 3.8 page); the stream's own rate is not announced. */
export const GEMINI_FACE_FPS = 24;
/** A picture is due once the audio is this close to its time (timers fire late, never early). */
const DUE_EARLY_S = 0.002;
/** While resting, pictures of cut replies are decoded (as references) a few per tick. */
const BACKLOG_PER_TICK = 4;

export interface GeminiFaceFrame {
  /** Published pictures so far, this one included, minus one. */
  frame: number;
  /** When it was published, ms since the publisher started (on its clock). */
  tMs: number;
  /** Audio position playing then, ms on the sink's timeline. */
  audioMs: number;
  /** I420 pixels; valid only during the callback (buffers are reused). */
  i420: Uint8Array;
  width: number;
  height: number;
  /** The picture's presentation time and stream, and the audio's at that moment. */
  pts: number;
  stream: number;
  audioPts?: number;
  /** A resting face (the avatar was silent around it). */
  rest: boolean;
  /** A copy of the held picture, republished to keep the frame rate. */
  repeat: boolean;
}

/** A picture as the publisher's recorder takes frames (Gemini draws the mouth: none is known). */
export function asPublishedFrame(frame: GeminiFaceFrame): PublishedFrame {
  const { frame: index, tMs, audioMs, i420, width, height } = frame;
  return {
    frame: index,
    tMs,
    audioMs,
    mouth: CLOSED_MOUTH,
    // Every picture, a repeat of the held one too, goes to the track.
    captured: true,
    rgba: NO_RGBA,
    i420,
    width,
    height,
  };
}
const NO_RGBA = new Uint8Array(0);

export interface GeminiFaceStats {
  /** Pictures decoded and shown (repeats not counted). */
  shown: number;
  /** Pictures decoded but not shown: late, superseded, cut, or after a broken reference. */
  hidden: number;
  repeats: number;
  /** Time spent decoding and publishing pictures, ms. */
  decodeMs: number;
  publishMs: number;
  /** performance.now() of the first picture published. */
  firstPictureAt?: number;
  /** Audio time minus picture time at each shown picture, ms (positive: the picture is late). */
  offsetsMs: number[];
}

export interface GeminiFaceOptions {
  media: GeminiAvatarMedia;
  /** Audio held in the source queue. Default 200 ms. */
  audioQueueMs?: number;
  /** Run on this clock (tests, bench, preview): audio plays from a VirtualAudioSource, no room. */
  clock?: VirtualClock;
  /** Every picture published (the console's --video, traces). */
  onFrame?: (frame: GeminiFaceFrame) => void;
  /** Also gets every sample the sink pushes (a recorder). */
  audioTap?: AudioTap;
  /** Keep this many offsets in stats (bench). Default 0. */
  keepOffsets?: number;
}

interface QueuedSample {
  sample: VideoSampleEvent['sample'];
  show: boolean;
}

/** One stream's pictures: its decoder and its samples not decoded yet, in order. */
class StreamVideo {
  readonly queue: QueuedSample[] = [];
  readonly media: GeminiAvatarMedia;
  #decoder?: H264Decoder;

  constructor(media: GeminiAvatarMedia) {
    this.media = media;
  }

  decode(item: QueuedSample, wanted: boolean, into?: Uint8Array): Picture | undefined {
    const decoder = this.#decoderFor(item.sample.track);
    return decoder?.decode(item.sample, wanted, into);
  }

  get hidden(): number {
    return this.#decoder?.hidden ?? 0;
  }

  close(): void {
    this.#decoder?.close();
  }

  #decoderFor(track: MediaTrack): H264Decoder | undefined {
    if (this.#decoder?.track === track) return this.#decoder;
    this.#decoder?.close();
    this.#decoder = undefined;
    try {
      this.#decoder = new H264Decoder(this.media.av, track);
    } catch (error) {
      this.media.fault(0, `the H.264 decoder did not open: ${(error as Error).message}`);
    }
    return this.#decoder;
  }
}

/** The sink: tags each frame's place on the stream's timeline, and tells the face of a cut. */
class GeminiFaceSink extends AvatarAudioSink {
  readonly #timeline: MediaTimeline;
  readonly #onCut: (at: MediaPosition | undefined) => void;

  constructor(
    options: AvatarAudioSinkOptions,
    timeline: MediaTimeline,
    onCut: (at: MediaPosition | undefined) => void,
  ) {
    super(options);
    this.#timeline = timeline;
    this.#onCut = onCut;
  }

  override async captureFrame(frame: AudioFrame): Promise<void> {
    this.#timeline.tag(mediaTagOf(frame), frame.samplesPerChannel);
    await super.captureFrame(frame);
  }

  override clearBuffer(): void {
    const at = this.#timeline.at(this.playedSamples);
    super.clearBuffer();
    this.#onCut(at);
  }
}

export class GeminiFace {
  readonly stats: GeminiFaceStats = {
    shown: 0,
    hidden: 0,
    repeats: 0,
    decodeMs: 0,
    publishMs: 0,
    offsetsMs: [],
  };
  readonly #options: GeminiFaceOptions;
  readonly #clock: Clock;
  readonly #frameMs = 1000 / GEMINI_FACE_FPS;
  /** Tagged audio arriving while the face rests wakes it at once (not at its next tick). */
  readonly #timeline = new MediaTimeline(GEMINI_FACE_SAMPLE_RATE, () => {
    if (!this.#speaking && this.#timer && !this.#closed) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = this.#clock.setTimeout(this.#tick, 0);
    }
  });
  readonly #streams = new Map<number, StreamVideo>();
  #audioSource?: AudioSource | VirtualAudioSource;
  #videoSource?: VideoSource;
  #sink?: GeminiFaceSink;
  #prepared?: Promise<GeminiFaceSink>;
  #unsubscribe?: () => void;
  #timer?: ClockTimer;
  #startedAt = 0;
  #frames = 0;
  #lastPublishAt = -Infinity;
  /** The picture on screen, the resting face, and buffers free for decoding into. */
  #current?: Picture & { stream: number };
  #rest?: Picture & { stream: number };
  readonly #free: Uint8Array[] = [];
  #speaking = false;
  #room?: RoomLike;
  #videoPublished = false;
  #unlisten?: () => void;
  #closed = false;
  #tickFailed = false;

  constructor(options: GeminiFaceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? REAL_CLOCK;
  }

  get sink(): AvatarAudioSink {
    if (!this.#sink) throw new Error('GeminiFace: call prepare() first');
    return this.#sink;
  }

  get videoSource(): VideoSource | undefined {
    return this.#videoSource;
  }

  /** Create the sources and the sink, and start following the model's stream. */
  prepare(): Promise<AvatarAudioSink> {
    this.#prepared ??= Promise.resolve().then(() => this.#prepare());
    return this.#prepared;
  }

  #prepare(): GeminiFaceSink {
    const { audioQueueMs = 200, clock, media } = this.#options;
    this.#audioSource = clock
      ? new VirtualAudioSource(clock, audioQueueMs)
      : new AudioSource(GEMINI_FACE_SAMPLE_RATE, 1, audioQueueMs);
    this.#sink = new GeminiFaceSink(
      {
        source: this.#audioSource,
        sampleRate: GEMINI_FACE_SAMPLE_RATE,
        tap: teeTaps(this.#timeline, this.#options.audioTap),
        clock: this.#clock,
      },
      this.#timeline,
      (at) => this.#cut(at),
    );
    this.#unsubscribe = media.onVideo((event) => this.#onSample(event));
    this.#startedAt = this.#clock.now();
    this.#timer = this.#clock.setTimeout(this.#tick, 0);
    return this.#sink;
  }

  /** Attach to `session` (before session.start) and publish into `room` once connected. */
  async start(session: voice.AgentSession, room?: RoomLike): Promise<void> {
    session.output.audio = await this.prepare();
    if (room) await this.publishTo(room);
  }

  /** Publish the audio track now (or once the room connects); the video with the first picture. */
  async publishTo(room: RoomLike): Promise<void> {
    await this.prepare();
    this.#room = room;
    if (room.isConnected) return this.#publishAudio(room);
    const onState = (state: ConnectionState) => {
      if (state !== ConnectionState.CONN_CONNECTED) return;
      this.#unlisten?.();
      this.#publishAudio(room).catch((error: unknown) =>
        log().error({ error }, 'failed to publish the Gemini avatar tracks'),
      );
    };
    room.on(RoomEvent.ConnectionStateChanged, onState);
    this.#unlisten = () => {
      room.off(RoomEvent.ConnectionStateChanged, onState);
      this.#unlisten = undefined;
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unlisten?.();
    this.#unsubscribe?.();
    this.#clock.clearTimeout(this.#timer);
    for (const stream of this.#streams.values()) stream.close();
    this.#streams.clear();
    this.#sink?.close();
    await this.#audioSource?.close();
    await this.#videoSource?.close();
  }

  // ---------------- pictures ----------------

  #onSample(event: VideoSampleEvent): void {
    if (this.#closed) return;
    let stream = this.#streams.get(event.stream);
    if (!stream) {
      stream = new StreamVideo(this.#options.media);
      this.#streams.set(event.stream, stream);
    }
    stream.queue.push({ sample: event.sample, show: event.show });
  }

  #tick = (): void => {
    this.#timer = undefined;
    if (this.#closed) return;
    let waitMs = this.#frameMs;
    try {
      waitMs = this.#present();
    } catch (error) {
      // One bad picture must not stop the face: log once, hold what is on screen.
      if (!this.#tickFailed) log().warn({ error }, 'Gemini avatar: a picture failed');
      this.#tickFailed = true;
    }
    this.#timer = this.#clock.setTimeout(this.#tick, Math.max(1, waitMs));
  };

  /** Show what the audio has reached; returns when to look again, ms. */
  #present(): number {
    const played = this.#sink!.playedSamples;
    const at = this.#timeline.at(played);
    let waitMs = this.#frameMs;
    if (at) {
      this.#dropStreamsBefore(at.stream);
      const video = this.#streams.get(at.stream);
      if (video) {
        const picture = this.#decodeUpTo(video, at.pts + DUE_EARLY_S);
        if (picture) {
          const rest = this.#timeline.quietAround(played);
          this.#show({ ...picture, stream: at.stream }, rest, at, played);
          this.#speaking = true;
        }
        const next = video.queue[0];
        // Wait in audio time: the audio may jump ahead in presentation time (a new fragment).
        const due = next && this.#timeline.positionOf(at.stream, next.sample.pts, played);
        if (due !== undefined) waitMs = this.#msUntil(due, played);
      }
    } else {
      if (this.#speaking) {
        this.#speaking = false;
        this.#showResting();
      }
      this.#decodeBacklog();
      const starts = this.#timeline.nextStart(played);
      if (starts !== undefined) waitMs = this.#msUntil(starts, played);
    }
    const now = this.#clock.now();
    if (now - this.#lastPublishAt >= this.#frameMs - 1) this.#repeat(played);
    return Math.max(1, waitMs);
  }

  /** Ms until the audio reaches timeline position `pos` (at most a frame: timers drift). */
  #msUntil(pos: number, played: number): number {
    return Math.min(this.#frameMs, ((pos - played) * 1000) / GEMINI_FACE_SAMPLE_RATE);
  }

  /** Decode every sample due by `due`; the picture of the last, if it is to be shown. */
  #decodeUpTo(video: StreamVideo, due: number): Picture | undefined {
    let picture: Picture | undefined;
    const start = performance.now();
    while (video.queue.length > 0 && video.queue[0]!.sample.pts <= due) {
      const item = video.queue.shift()!;
      const last = !(video.queue.length > 0 && video.queue[0]!.sample.pts <= due);
      const decoded = video.decode(item, item.show && last, this.#spare(item));
      if (decoded) picture = decoded;
      else this.stats.hidden++;
    }
    this.stats.decodeMs += performance.now() - start;
    return picture;
  }

  /** While resting: decode a few pictures nobody will see (references for what follows). */
  #decodeBacklog(): void {
    const start = performance.now();
    for (const video of this.#streams.values()) {
      for (let n = 0; n < BACKLOG_PER_TICK && video.queue[0]?.show === false; n++) {
        video.decode(video.queue.shift()!, false);
        this.stats.hidden++;
      }
    }
    this.stats.decodeMs += performance.now() - start;
  }

  /** The audio moved on to a newer connection: the older streams' pictures will never play. */
  #dropStreamsBefore(stream: number): void {
    for (const [id, video] of this.#streams) {
      if (id >= stream) continue;
      video.close();
      this.#streams.delete(id);
    }
  }

  /** The reply playing was interrupted: none of its remaining pictures is shown. */
  #cut(at: MediaPosition | undefined): void {
    if (this.#closed) return;
    for (const [id, video] of this.#streams) {
      for (const item of video.queue) {
        if (!at || id !== at.stream || item.sample.pts > at.pts) item.show = false;
      }
    }
    if (this.#speaking) {
      this.#speaking = false;
      this.#showResting();
    }
  }

  /** Back to the resting face (a picture already shown, so a repeat). */
  #showResting(): void {
    const picture = this.#rest ?? this.#current;
    if (picture) this.#publish(picture, true, true, undefined, this.#sink!.playedSamples);
  }

  #repeat(played: number): void {
    const picture = this.#speaking ? this.#current : (this.#rest ?? this.#current);
    if (!picture) return;
    this.stats.repeats++;
    this.#publish(picture, picture === this.#rest, true, undefined, played);
  }

  #show(
    picture: Picture & { stream: number },
    rest: boolean,
    at: MediaPosition,
    played: number,
  ): void {
    this.stats.shown++;
    const previous = this.#current;
    this.#current = picture;
    if (rest || !this.#rest) {
      const old = this.#rest;
      this.#rest = picture;
      if (old && old !== previous) this.#free.push(old.i420);
    }
    if (previous && previous !== this.#rest && previous.i420 !== picture.i420) {
      this.#free.push(previous.i420);
    }
    this.#publish(picture, rest, false, at, played);
    const keep = this.#options.keepOffsets ?? 0;
    if (this.stats.offsetsMs.length < keep) {
      this.stats.offsetsMs.push((at.pts - picture.pts) * 1000);
    }
  }

  /** A buffer to decode into: a free one of the track's size, else a new one. */
  #spare(item: QueuedSample): Uint8Array | undefined {
    const { width = 0, height = 0 } = item.sample.track;
    const size = width * height + 2 * (width >> 1) * (height >> 1);
    while (this.#free.length > 0) {
      const buffer = this.#free.pop()!;
      if (buffer.length === size) return buffer;
    }
    return undefined;
  }

  #publish(
    picture: Picture & { stream: number },
    rest: boolean,
    repeat: boolean,
    at: MediaPosition | undefined,
    played: number,
  ): void {
    const start = performance.now();
    this.#lastPublishAt = this.#clock.now();
    if (!this.#options.clock) {
      if (!this.#videoSource) this.#videoSource = new VideoSource(picture.width, picture.height);
      const frame = new VideoFrame(
        picture.i420,
        picture.width,
        picture.height,
        VideoBufferType.I420,
      );
      // Captured now, when its audio is leaving the AudioSource: receivers line the two up.
      this.#videoSource.captureFrame(frame, process.hrtime.bigint() / 1000n);
      if (!this.#videoPublished && this.#room?.isConnected) this.#publishVideo(this.#room);
    }
    this.stats.firstPictureAt ??= performance.now();
    this.#options.onFrame?.({
      frame: this.#frames++,
      tMs: this.#lastPublishAt - this.#startedAt,
      audioMs: (played * 1000) / GEMINI_FACE_SAMPLE_RATE,
      i420: picture.i420,
      width: picture.width,
      height: picture.height,
      pts: picture.pts,
      stream: picture.stream,
      ...(at ? { audioPts: at.pts } : {}),
      rest,
      repeat,
    });
    this.stats.publishMs += performance.now() - start;
  }

  // ---------------- room tracks ----------------

  async #publishAudio(room: RoomLike): Promise<void> {
    const participant = room.localParticipant;
    const source = this.#audioSource;
    if (!participant || this.#closed || !(source instanceof AudioSource)) return;
    const audio = LocalAudioTrack.createAudioTrack('avatar_audio', source);
    await participant.publishTrack(
      audio,
      new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
    );
    // The first picture may already be here.
    if (this.#videoSource) this.#publishVideo(room);
  }

  /** The video track goes out with the first picture: before it there is nothing to show. */
  #publishVideo(room: RoomLike): void {
    const participant = room.localParticipant;
    if (this.#videoPublished || !participant || !this.#videoSource || this.#closed) return;
    this.#videoPublished = true;
    const video = LocalVideoTrack.createVideoTrack('avatar_video', this.#videoSource);
    participant
      .publishTrack(video, new TrackPublishOptions({ source: TrackSource.SOURCE_CAMERA }))
      .then(() => log().info({ source: 'gemini' }, 'avatar published'))
      .catch((error: unknown) =>
        log().error({ error }, 'failed to publish the Gemini avatar video'),
      );
  }
}

/**
 * The avatar publisher plugin: `await new AvatarPublisher(options).start(session, room)` before
 * `session.start()`, the way LiveKit avatar plugins attach.
 *
 * It installs its sink as the session's audio output, and publishes from the agent participant
 * itself an audio track (microphone source) and a video track (camera source). Publishing as the
 * agent (rather than as a second participant with `lk.publish_on_behalf`) needs no extra token,
 * join, or RoomServiceClient clean-up, cannot leave an orphan avatar in the room, and is what the
 * Agents Playground and LiveKit's React components already show as the agent's own video.
 *
 * Audio is the master clock: every frame of the FrameClock renders the mouth for the audio that
 * is leaving the AudioSource at that moment, and frames keep flowing when the agent is silent.
 */
import {
  AudioSource,
  ConnectionState,
  LocalAudioTrack,
  LocalVideoTrack,
  type LocalTrack,
  type LocalTrackPublication,
  RoomEvent,
  TrackPublishOptions,
  TrackSource,
  VideoBufferType,
  VideoFrame,
  VideoSource,
} from '@livekit/rtc-node';
import { log, type voice } from '@livekit/agents';
import { DEFAULT_AVATARS_DIR } from '../config/settings.ts';
import { type AudioTap, AvatarAudioSink } from './audio_sink.ts';
import { teeTaps } from './audio_tap.ts';
import { resolveAvatar } from './avatar_source.ts';
import type { VirtualClock } from './clock.ts';
import { FrameClock, type FrameTick } from './frame_clock.ts';
import { LipSyncAnalyzer } from './lip_sync.ts';
import { AvatarRenderer } from './renderer.ts';
import { VirtualAudioSource } from './virtual_audio_source.ts';
import { CLOSED_MOUTH, type MouthState } from './visemes.ts';

export const AVATAR_SAMPLE_RATE = 24_000;

/**
 * The lowest frame rate the video track is fed while the picture stands still, frames per second.
 * A frame that differs from the last is always sent; an unchanged one only as often as this needs.
 * LiveKit's SFU tracks each simulcast layer by its packets (livekit-server streamtracker, the
 * defaults for video): a layer with fewer than 5 packets in a 500 ms cycle is "stopped", its
 * subscribers move to a lower layer, and an upper layer needs 20 good cycles (10 s) to come back.
 * An unchanged VP8 frame is about one packet per layer, so 10 fps sits on that edge and 15 fps
 * keeps a margin; it also answers a new subscriber's keyframe request within 67 ms. Encoding is
 * per frame whatever the picture (VP8 at 512x512: 66-71 ms/s for a silent avatar at 30 fps, 33-37
 * at 15), so a silent avatar at 15 fps halves the encoder's work.
 */
export const MIN_UNCHANGED_FPS = 15;

export interface AvatarPublisherOptions {
  /** 'default' (built in), an avatar id in `avatarsDir`, or a folder path. Default 'default'. */
  avatar?: string;
  /** Where avatar ids are looked up. Default: avatars/ in this repository. */
  avatarsDir?: string;
  /** Video size in pixels. Default 512 x 512. */
  width?: number;
  height?: number;
  /** Video frame rate. Default 30. */
  fps?: number;
  /**
   * Frames per second the video track gets while the picture does not change (at least this, at
   * most `fps`). Default MIN_UNCHANGED_FPS.
   */
  minUnchangedFps?: number;
  /** Audio held in the source queue; lip sync sees this much ahead. Default 200 ms. */
  audioQueueMs?: number;
  /** Every frame that was published, for the preview, the console's --video and traces. */
  onFrame?: (frame: PublishedFrame) => void;
  /** Also gets every sample the sink pushes (teed with the lip-sync analyzer): a recorder. */
  audioTap?: AudioTap;
  /**
   * Run on this clock instead of real time (the preview): the audio plays from a
   * VirtualAudioSource and frames tick as the clock moves. No room tracks: nothing is published.
   */
  clock?: VirtualClock;
}

export interface PublishedFrame {
  frame: number;
  /** Presentation time: ms since the publisher started. */
  tMs: number;
  /** Audio position the frame shows, ms on the sink's timeline. */
  audioMs: number;
  mouth: MouthState;
  /**
   * The frame went to the video track: it differs from the last one, or the picture has stood
   * still long enough that the track needs a frame (`minUnchangedFps`).
   */
  captured: boolean;
  /** RGBA pixels; valid only during the callback (the buffer is reused). */
  rgba: Uint8Array;
  /** I420 pixels instead of `rgba` (Gemini's face); valid only during the callback. */
  i420?: Uint8Array;
  width: number;
  height: number;
}

/** The part of an rtc-node Room the publisher uses (a stand-in in tests). */
export interface RoomLike {
  readonly isConnected: boolean;
  readonly localParticipant?: {
    publishTrack(track: LocalTrack, options: TrackPublishOptions): Promise<LocalTrackPublication>;
  };
  on(event: RoomEvent.ConnectionStateChanged, listener: (state: ConnectionState) => void): unknown;
  off(event: RoomEvent.ConnectionStateChanged, listener: (state: ConnectionState) => void): unknown;
}

/** Rendered atlases by avatar and size: loading one takes ~0.1 s, rendering from it ~0.1 ms. */
const renderers = new Map<string, Promise<AvatarRenderer>>();

function loadRenderer(avatar: string, avatarsDir: string, width: number, height: number) {
  const source = resolveAvatar(avatar, avatarsDir);
  const key = JSON.stringify([source, width, height]);
  let renderer = renderers.get(key);
  if (!renderer) {
    renderer = AvatarRenderer.load(source, { width, height });
    renderers.set(key, renderer);
    renderer.catch(() => renderers.delete(key));
  }
  return renderer;
}

/**
 * Render an avatar's atlas ahead of a call (the worker's prewarm), so the first frame of the call
 * does not wait for it. Rendering is read-only, so publishers share the atlas.
 */
export async function preloadAvatar(
  options: Pick<AvatarPublisherOptions, 'avatar' | 'avatarsDir' | 'width' | 'height'>,
): Promise<void> {
  const { avatar = 'default', avatarsDir = DEFAULT_AVATARS_DIR } = options;
  await loadRenderer(avatar, avatarsDir, options.width ?? 512, options.height ?? 512);
}

export class AvatarPublisher {
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly #options: AvatarPublisherOptions;
  readonly #logger = log();
  #renderer?: AvatarRenderer;
  #audioSource?: AudioSource | VirtualAudioSource;
  #videoSource?: VideoSource;
  #sink?: AvatarAudioSink;
  #analyzer?: LipSyncAnalyzer;
  #clock?: FrameClock;
  #rgba?: Uint8Array;
  /** An unchanged frame goes to the track when this many frames have passed since the last one. */
  readonly #repeatEvery: number;
  #lastCapturedFrame = -Infinity;
  #captured = 0;
  #closed = false;
  #prepared?: Promise<AvatarAudioSink>;
  /** Removes the connection listener of a room that has not connected yet. */
  #unlisten?: () => void;

  constructor(options: AvatarPublisherOptions = {}) {
    this.#options = options;
    this.width = options.width ?? 512;
    this.height = options.height ?? 512;
    this.fps = options.fps ?? 30;
    const minFps = Math.min(this.fps, options.minUnchangedFps ?? MIN_UNCHANGED_FPS);
    if (!(minFps > 0)) {
      throw new RangeError(
        `minUnchangedFps: ${options.minUnchangedFps} is not valid (allowed: more than 0)`,
      );
    }
    this.#repeatEvery = Math.max(1, Math.floor(this.fps / minFps));
  }

  /** The session's audio output (valid after `prepare()` or `start()`). */
  get sink(): AvatarAudioSink {
    if (!this.#sink) throw new Error('AvatarPublisher: call start() first');
    return this.#sink;
  }

  get videoSource(): VideoSource | undefined {
    return this.#videoSource;
  }

  /** Frames skipped because the process fell behind the frame rate. */
  get skippedFrames(): number {
    return this.#clock?.skipped ?? 0;
  }

  /** Frames that went to the video track (the rest repeated an unchanged picture). */
  get capturedFrames(): number {
    return this.#captured;
  }

  /**
   * Load the avatar and create the sources, then start the video clock. Separate from start() so
   * the preview can drive the sink without a session.
   */
  prepare(): Promise<AvatarAudioSink> {
    // Concurrent callers share one set of sources and one clock.
    this.#prepared ??= this.#prepare();
    return this.#prepared;
  }

  async #prepare(): Promise<AvatarAudioSink> {
    const {
      avatar = 'default',
      avatarsDir = DEFAULT_AVATARS_DIR,
      audioQueueMs = 200,
      clock,
    } = this.#options;
    this.#renderer = await loadRenderer(avatar, avatarsDir, this.width, this.height);
    this.#rgba = new Uint8Array(this.width * this.height * 4);
    this.#analyzer = new LipSyncAnalyzer({ sampleRate: AVATAR_SAMPLE_RATE });
    if (clock) {
      this.#audioSource = new VirtualAudioSource(clock, audioQueueMs);
    } else {
      this.#audioSource = new AudioSource(AVATAR_SAMPLE_RATE, 1, audioQueueMs);
      this.#videoSource = new VideoSource(this.width, this.height);
    }
    this.#sink = new AvatarAudioSink({
      source: this.#audioSource,
      sampleRate: AVATAR_SAMPLE_RATE,
      tap: teeTaps(this.#analyzer, this.#options.audioTap),
      ...(clock ? { clock } : {}),
    });
    this.#clock = new FrameClock({
      fps: this.fps,
      ...(clock ? { clock } : {}),
      onTick: (tick) => this.#renderFrame(tick),
      onError: (error) => this.#logger.error({ error }, 'avatar frame failed'),
    });
    this.#clock.start();
    return this.#sink;
  }

  /** Attach to `session` (call before session.start) and publish into `room` once connected. */
  async start(session: voice.AgentSession, room?: RoomLike): Promise<void> {
    const sink = await this.prepare();
    session.output.audio = sink;
    if (room) await this.publishTo(room);
  }

  /**
   * Publish into `room` now, or once it connects. Alone (without start()), for a source that
   * plays through this sink when its own avatar fails (LiveAvatar).
   */
  async publishTo(room: RoomLike): Promise<void> {
    await this.prepare();
    if (room.isConnected) {
      await this.#publish(room);
      return;
    }
    // rtc-node announces the connection only as a state change.
    const onState = (state: ConnectionState) => {
      if (state !== ConnectionState.CONN_CONNECTED) return;
      this.#unlisten?.();
      this.#publish(room).catch((error) =>
        this.#logger.error({ error }, 'failed to publish the avatar tracks'),
      );
    };
    room.on(RoomEvent.ConnectionStateChanged, onState);
    this.#unlisten = () => {
      room.off(RoomEvent.ConnectionStateChanged, onState);
      this.#unlisten = undefined;
    };
  }

  async #publish(room: RoomLike): Promise<void> {
    const participant = room.localParticipant;
    const source = this.#audioSource;
    // A publisher on a virtual clock has no room tracks.
    if (!participant || this.#closed || !(source instanceof AudioSource) || !this.#videoSource) {
      return;
    }
    const audio = LocalAudioTrack.createAudioTrack('avatar_audio', source);
    const video = LocalVideoTrack.createVideoTrack('avatar_video', this.#videoSource);
    await participant.publishTrack(
      audio,
      new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }),
    );
    await participant.publishTrack(
      video,
      new TrackPublishOptions({ source: TrackSource.SOURCE_CAMERA }),
    );
    this.#logger.info(
      { width: this.width, height: this.height, fps: this.fps },
      'avatar published',
    );
  }

  #renderFrame(tick: FrameTick): void {
    const sink = this.#sink!;
    const audioMs = sink.playedMs;
    const mouth = sink.speaking ? this.#analyzer!.stateAt(audioMs) : CLOSED_MOUTH;
    const changed = this.#renderer!.render({ mouth, timeMs: tick.nowMs }, this.#rgba!);
    // WebRTC shows the last frame until the next: an unchanged one is sent only as often as the
    // track needs (MIN_UNCHANGED_FPS).
    const captured = changed || tick.frame - this.#lastCapturedFrame >= this.#repeatEvery;
    if (captured) {
      this.#lastCapturedFrame = tick.frame;
      this.#captured++;
    }
    if (captured && this.#videoSource) {
      const frame = new VideoFrame(this.#rgba!, this.width, this.height, VideoBufferType.RGBA);
      // Capture time on the monotonic clock WebRTC uses, so receivers line it up with the audio.
      this.#videoSource.captureFrame(frame, process.hrtime.bigint() / 1000n);
    }
    this.#analyzer!.forget(audioMs - 2_000);
    this.#options.onFrame?.({
      frame: tick.frame,
      tMs: tick.nowMs,
      audioMs,
      mouth,
      captured,
      rgba: this.#rgba!,
      width: this.width,
      height: this.height,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unlisten?.();
    this.#clock?.stop();
    this.#sink?.close();
    await this.#audioSource?.close();
    await this.#videoSource?.close();
  }
}

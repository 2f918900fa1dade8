/**
 * Gemini sees the user: one call's video input, built from its settings.
 *
 * The plan (src/config/video.ts) says whether video goes out at all; when it does not, one log
 * line says why and nothing else runs. Otherwise frames come from the room (the linked user's
 * camera or screen share, `attachRoom`) or from any other source (`useSource`: the console's
 * --camera file, tests), are sampled by the user's speaking state, encoded and sent.
 */
import { log, voice } from '@livekit/agents';
import type { Room, VideoFrame } from '@livekit/rtc-node';
import type { Settings } from '../config/settings.ts';
import { type VideoPlan, videoPlan } from '../config/video.ts';
import type { GeminiRealtimeModel } from '../gemini/model.ts';
import { FramePipeline, type PipelineStats } from './frame_pipeline.ts';
import { type FrameSink, geminiFrameSink } from './gemini_sink.ts';
import type { Encoder } from './jpeg.ts';
import { RoomVideoInput } from './room_video.ts';
import { EnergySpeechDetector, SessionUserState, type UserSpeech } from './user_speech.ts';

/** Frames from somewhere other than a room; `start` calls `onEnd` when it runs out. */
export interface FrameSource {
  start(onFrame: (frame: VideoFrame) => void, onEnd: () => void): void;
  stop(): void;
}

export interface VideoInputOptions {
  settings: Pick<Settings, 'call' | 'capabilities' | 'turnDetection'>;
  model: Pick<GeminiRealtimeModel, 'latestSession' | 'onInputAudio'>;
  session: voice.AgentSession;
  /** Test seams. */
  encode?: Encoder;
  sink?: FrameSink;
  speech?: UserSpeech;
  now?: () => number;
}

export class VideoInput {
  readonly plan: VideoPlan;
  /** Undefined when the plan is off. */
  readonly pipeline?: FramePipeline;
  readonly speech?: UserSpeech;
  #room?: RoomVideoInput;
  #source?: FrameSource;
  #closed = false;

  constructor(options: VideoInputOptions) {
    this.plan = videoPlan(options.settings);
    if (!this.plan.enabled) {
      log().info({ reason: this.plan.reason }, `video input off: ${this.plan.reason}`);
      return;
    }
    this.pipeline = new FramePipeline({
      plan: this.plan,
      sink: options.sink ?? geminiFrameSink(options.model),
      ...(options.encode ? { encode: options.encode } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
    this.speech =
      options.speech ??
      (options.settings.turnDetection === 'livekit'
        ? new SessionUserState(options.session)
        : new EnergySpeechDetector().attach((l) => options.model.onInputAudio(l)));
    // A session that ends on its own (an unrecoverable error) stops the video with it.
    options.session.on(voice.AgentSessionEventTypes.Close, () => {
      this.close().catch((error: unknown) => log().warn({ error }, 'video input close failed'));
    });
    const pipeline = this.pipeline;
    pipeline.speaking = this.speech.speaking;
    this.speech.onChange((speaking) => {
      pipeline.speaking = speaking;
    });
  }

  get stats(): PipelineStats | undefined {
    return this.pipeline?.stats;
  }

  /** Send the linked user's camera / screen share from `room`. */
  attachRoom(room: Room, linkedIdentity: () => string | undefined): void {
    if (!this.pipeline || this.#closed) return;
    this.#room?.close();
    this.#room = new RoomVideoInput({
      room,
      linkedIdentity,
      mode: this.plan.source,
      pipeline: this.pipeline,
    });
  }

  /**
   * Send frames from `source` as the user's camera until it ends or the call closes. False when
   * the call takes no camera (video off, closed, or VIDEO_INPUT=screen).
   */
  useSource(source: FrameSource): boolean {
    const pipeline = this.pipeline;
    if (!pipeline || this.#closed || this.plan.source === 'screen') return false;
    this.#source?.stop();
    this.#source = source;
    pipeline.startTrack();
    source.start(
      (frame) => {
        if (this.#source === source) pipeline.pushFrame(frame);
      },
      () => {
        if (this.#source === source) pipeline.endTrack();
      },
    );
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#room?.close();
    this.#source?.stop();
    this.speech?.close();
    await this.pipeline?.close();
    const stats = this.pipeline?.stats;
    if (stats?.frames) log().info({ video: stats }, 'video input: frames sent to Gemini this call');
  }
}

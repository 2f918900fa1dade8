/**
 * Video input settings as one call uses them: the call options (environment, then dispatch) with
 * their defaults filled in, and the model's row deciding whether video goes out at all and how
 * often frames go while the user is silent.
 */
import type { VideoSource } from './call_options.ts';
import type { ModelCapabilities } from './models.ts';
import type { Settings } from './settings.ts';

export const DEFAULT_VIDEO = {
  source: 'auto' as VideoSource,
  speakingIntervalMs: 1000,
  /** One frame per 3 s while the user is silent, as LiveKit's Python agents sample. */
  idleIntervalMs: 3000,
  maxSize: 1024,
  jpegQuality: 75,
} as const;

export interface VideoPlan {
  /** Frames go to the model. False: `reason` says why, for one log line. */
  enabled: boolean;
  reason?: string;
  source: VideoSource;
  speakingIntervalMs: number;
  /** 0: no frames while the user is silent. */
  idleIntervalMs: number;
  maxSize: number;
  jpegQuality: number;
}

/**
 * The video plan for `settings`. On models where every video frame counts toward the turn (3.1),
 * frames sent while the user is silent are billed with the next turn, so the default there is
 * "only while the user speaks"; an explicit idle interval still applies.
 */
export function videoPlan(settings: Pick<Settings, 'call' | 'capabilities'>): VideoPlan {
  const { call, capabilities } = settings;
  const source = call.videoInput ?? DEFAULT_VIDEO.source;
  const plan: VideoPlan = {
    enabled: true,
    source,
    speakingIntervalMs: call.videoSpeakingIntervalMs ?? DEFAULT_VIDEO.speakingIntervalMs,
    idleIntervalMs: call.videoIdleIntervalMs ?? defaultIdleIntervalMs(capabilities),
    maxSize: call.videoMaxSize ?? DEFAULT_VIDEO.maxSize,
    jpegQuality: call.videoJpegQuality ?? DEFAULT_VIDEO.jpegQuality,
  };
  if (source === 'off') return { ...plan, enabled: false, reason: 'VIDEO_INPUT is off' };
  if (!capabilities.videoInput) {
    return {
      ...plan,
      enabled: false,
      reason: `${capabilities.id} does not take video input (its row in the model table)`,
    };
  }
  return plan;
}

export function defaultIdleIntervalMs(capabilities: ModelCapabilities): number {
  return capabilities.videoCountsTowardTurn ? 0 : DEFAULT_VIDEO.idleIntervalMs;
}

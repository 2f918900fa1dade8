/**
 * Settings -> the call's Gemini Live Avatar: which one (avatar_choice.ts), and the media output
 * the model's sessions decode into (media_output.ts). One decision for the model (VIDEO in its
 * setup) and for the avatar source (Gemini's face in the room), so the two always agree.
 */
import type { Settings } from '../../config/settings.ts';
import { type GeminiAvatar, avatarConfigOf, geminiAvatarOf } from './avatar_choice.ts';
import { decoderUnavailable, loadAv } from './av.ts';
import { GEMINI_FACE_SAMPLE_RATE } from './face_publisher.ts';
import { GeminiAvatarMedia } from './media_output.ts';

/** The Gemini Live Avatar the settings name (the avatar on), or undefined. Throws AvatarError. */
export function geminiAvatarFor(settings: Settings): GeminiAvatar | undefined {
  if (!settings.avatar.enabled) return undefined;
  return geminiAvatarOf(settings.call.avatarId, settings.avatar.dir);
}

/**
 * Why the settings' Gemini avatar cannot run in this process (our own face stands in), or
 * undefined when it can or none is named.
 */
export function geminiAvatarUnavailable(settings: Settings): string | undefined {
  if (!geminiAvatarFor(settings) || !settings.capabilities.videoOutput) return undefined;
  return decoderUnavailable();
}

/**
 * The media output for the model, when the settings name a Gemini avatar the model renders and
 * this process can decode; undefined otherwise (the call then asks for AUDIO).
 */
export function geminiAvatarMediaFor(settings: Settings): GeminiAvatarMedia | undefined {
  const avatar = geminiAvatarFor(settings);
  if (!avatar || !settings.capabilities.videoOutput) return undefined;
  const av = loadAv();
  if (av instanceof Error) return undefined;
  return new GeminiAvatarMedia({
    config: avatarConfigOf(avatar),
    av,
    sampleRate: GEMINI_FACE_SAMPLE_RATE,
  });
}

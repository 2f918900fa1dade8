/**
 * Settings -> the avatar source for one call: our own face (the in-process publisher), a Gemini
 * Live Avatar (Gemini renders the face: a `gemini-<name>` id or a `"kind": "gemini"` folder), or
 * a LiveAvatar avatar when the avatar id is a UUID that is not the name of a local avatar folder.
 * The avatar id is checked here, before anything connects, so an unknown `avatar_id` (or a
 * LiveAvatar id on a worker without LIVEAVATAR_API_KEY) refuses that dispatch only, with one line.
 */
import type { voice } from '@livekit/agents';
import { fieldName } from '../config/call_options.ts';
import { ConfigError, showValue } from '../config/errors.ts';
import { geminiAvatarProblem } from '../config/model_rules.ts';
import type { Settings } from '../config/settings.ts';
import { AvatarError, resolveAvatar } from './avatar_source.ts';
import { GeminiFaceAvatar } from './gemini/call_avatar.ts';
import { geminiAvatarFor, geminiAvatarUnavailable } from './gemini/selection.ts';
import { LiveAvatarAvatar, type LiveAvatarAvatarOptions } from './liveavatar/avatar.ts';
import type { FallbackSpeaker } from './liveavatar/audio_output.ts';
import { AvatarPublisher, type AvatarPublisherOptions, type RoomLike } from './publisher.ts';

/** LiveAvatar's avatar ids are UUIDs. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What a call's avatar source does, whichever it is. */
export interface CallAvatar {
  /** Attach to the session (before session.start) and appear in `room` once it connects. */
  start(session: voice.AgentSession, room?: RoomLike): Promise<void>;
  /** End it; `reason` is LiveAvatar's stop reason (e.g. MAX_DURATION_REACHED). */
  close(reason?: string): Promise<void>;
}

/** Where the call runs, for a source with its own participant (LiveAvatar). */
export interface CallPlace {
  roomName: string;
  /** Our agent participant's identity. */
  agentIdentity: string;
}

/** The avatar id names a LiveAvatar avatar: a UUID that is not a local avatar folder. */
export function isLiveAvatarId(settings: Settings): boolean {
  const id = settings.call.avatarId;
  if (!UUID.test(id)) return false;
  try {
    resolveAvatar(id, settings.avatar.dir);
    return false;
  } catch {
    return true;
  }
}

/** Throws a ConfigError naming the field the avatar id came from when it names no avatar. */
export function checkAvatar(settings: Settings): void {
  if (!settings.avatar.enabled) return;
  const field = fieldName('avatarId', settings.origins);
  if (isGeminiAvatar(settings, field)) {
    const problem = geminiAvatarProblem(settings.call, settings.capabilities, settings.origins);
    if (problem) throw new ConfigError(problem);
    return;
  }
  if (isLiveAvatarId(settings)) {
    if (settings.liveavatar.apiKey) return;
    throw new ConfigError(
      `${field}: ${showValue(settings.call.avatarId)} is not a local avatar, and LiveAvatar avatars need LIVEAVATAR_API_KEY (the worker's LiveAvatar API key) in its environment`,
    );
  }
  try {
    resolveAvatar(settings.call.avatarId, settings.avatar.dir);
  } catch (error) {
    if (!(error instanceof AvatarError)) throw error;
    throw new ConfigError(`${field}: ${error.message}`);
  }
}

/** The (enabled) avatar id names a Gemini Live Avatar; a broken one is a ConfigError. */
export function isGeminiAvatarId(settings: Settings): boolean {
  return isGeminiAvatar(settings, fieldName('avatarId', settings.origins));
}

/** The avatar id names a Gemini Live Avatar; a broken one is a ConfigError naming `field`. */
function isGeminiAvatar(settings: Settings, field: string): boolean {
  try {
    return geminiAvatarFor(settings) !== undefined;
  } catch (error) {
    if (!(error instanceof AvatarError)) throw error;
    throw new ConfigError(`${field}: ${error.message}`);
  }
}

/** Our own face, as the settings size it ('default' stands in for another vendor's avatar). */
function ownFace(
  settings: Settings,
  extra: Pick<AvatarPublisherOptions, 'onFrame'> = {},
): AvatarPublisher {
  const { width, height, fps, dir } = settings.avatar;
  const elsewhere =
    isLiveAvatarId(settings) || isGeminiAvatar(settings, fieldName('avatarId', settings.origins));
  return new AvatarPublisher({
    avatar: elsewhere ? 'default' : settings.call.avatarId,
    avatarsDir: dir,
    width,
    height,
    fps,
    ...extra,
  });
}

/** Our own face's publisher for the settings, or undefined when the avatar is off. */
export function avatarPublisherFor(
  settings: Settings,
  extra: Pick<AvatarPublisherOptions, 'onFrame'> = {},
): AvatarPublisher | undefined {
  if (!settings.avatar.enabled) return undefined;
  checkAvatar(settings);
  return ownFace(settings, extra);
}

/** The avatar source the settings ask for (ours, Gemini's or LiveAvatar's), or undefined when off. */
export function callAvatarFor(settings: Settings, place: CallPlace): CallAvatar | undefined {
  if (!settings.avatar.enabled) return undefined;
  checkAvatar(settings);
  if (geminiAvatarFor(settings)) {
    return new GeminiFaceAvatar(() => ownFace(settings), geminiAvatarUnavailable(settings));
  }
  if (!isLiveAvatarId(settings)) return ownFace(settings);
  return new RoomLiveAvatar(settings, place, () => ownFace(settings));
}

/**
 * A LiveAvatar avatar in the call's room; on failure our own face is published in its place,
 * from the agent participant, and plays the agent's audio.
 */
class RoomLiveAvatar implements CallAvatar {
  readonly #settings: Settings;
  readonly #place: CallPlace;
  readonly #face: () => AvatarPublisher;
  #room?: RoomLike;
  #fallback?: Promise<AvatarPublisher>;
  #avatar?: LiveAvatarAvatar;
  #closed = false;

  constructor(settings: Settings, place: CallPlace, face: () => AvatarPublisher) {
    this.#settings = settings;
    this.#place = place;
    this.#face = face;
  }

  async start(session: voice.AgentSession, room?: RoomLike): Promise<void> {
    this.#room = room;
    this.#avatar = liveAvatarFor(this.#settings, this.#place, async () => {
      if (this.#closed) throw new Error('the call has ended');
      const face = this.#face();
      this.#fallback = face.prepare().then(() => face);
      await this.#fallback;
      if (this.#room) await face.publishTo(this.#room);
      return face.sink;
    });
    await this.#avatar.start(session);
  }

  async close(reason?: string): Promise<void> {
    this.#closed = true;
    try {
      await this.#avatar?.close(reason);
    } finally {
      // A face still being prepared is closed once ready, so its frame clock never outlives the call.
      const face = await this.#fallback?.catch(() => undefined);
      await face?.close();
    }
  }
}

/** A LiveAvatar avatar for the settings (a LiveAvatar avatar id), with `fallback` on failure. */
export function liveAvatarFor(
  settings: Settings,
  place: CallPlace,
  fallback: () => Promise<FallbackSpeaker>,
  tuning: Pick<LiveAvatarAvatarOptions, 'output' | 'keepAliveMs'> = {},
): LiveAvatarAvatar {
  const { call, liveavatar, livekit } = settings;
  return new LiveAvatarAvatar({
    avatarId: call.avatarId,
    apiKey: liveavatar.apiKey!,
    apiUrl: liveavatar.apiUrl,
    livekit: { url: livekit.url, apiKey: livekit.apiKey, apiSecret: livekit.apiSecret },
    roomName: place.roomName,
    agentIdentity: place.agentIdentity,
    fallback,
    ...(call.isSandbox !== undefined ? { isSandbox: call.isSandbox } : {}),
    ...(call.videoQuality ? { videoQuality: call.videoQuality } : {}),
    ...(call.videoEncoding ? { videoEncoding: call.videoEncoding } : {}),
    ...(call.maxSessionDurationSeconds !== undefined
      ? { maxSessionDurationSeconds: call.maxSessionDurationSeconds }
      : {}),
    ...tuning,
  });
}

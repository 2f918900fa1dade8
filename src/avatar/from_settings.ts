/**
 * Settings -> the avatar publisher for one call. The avatar id is checked here, before anything
 * connects, so an unknown `avatar_id` refuses that dispatch only, with one clear line.
 */
import { fieldName } from '../config/call_options.ts';
import { ConfigError } from '../config/errors.ts';
import type { Settings } from '../config/settings.ts';
import { AvatarError, resolveAvatar } from './avatar_source.ts';
import { AvatarPublisher, type AvatarPublisherOptions } from './publisher.ts';

/** Throws a ConfigError naming the field the avatar id came from when it names no avatar. */
export function checkAvatar(settings: Settings): void {
  if (!settings.avatar.enabled) return;
  try {
    resolveAvatar(settings.call.avatarId, settings.avatar.dir);
  } catch (error) {
    if (!(error instanceof AvatarError)) throw error;
    throw new ConfigError(`${fieldName('avatarId', settings.origins)}: ${error.message}`);
  }
}

/** The publisher the settings ask for, or undefined when the avatar is off. */
export function avatarPublisherFor(
  settings: Settings,
  extra: Pick<AvatarPublisherOptions, 'onFrame'> = {},
): AvatarPublisher | undefined {
  if (!settings.avatar.enabled) return undefined;
  checkAvatar(settings);
  const { width, height, fps, dir } = settings.avatar;
  return new AvatarPublisher({
    avatar: settings.call.avatarId,
    avatarsDir: dir,
    width,
    height,
    fps,
    ...extra,
  });
}

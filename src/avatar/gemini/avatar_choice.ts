/**
 * Which Gemini Live Avatar an avatar id names, checked before anything connects.
 *
 * The one field users set stays `avatar_id` (AVATAR_ID). It names a Gemini avatar two ways:
 * - `gemini-<name>`: a prebuilt avatar by name (`gemini-kira`), one of the names in Google's
 *   Live Avatar sample app (Google publishes no list);
 * - a folder of avatars/ whose manifest.json has `"kind": "gemini"`, with `avatar_name` (any
 *   prebuilt name) or `portrait` (a customer's photo: PNG or JPEG, a 9:16 portrait of at least
 *   704x1280, under 5 MB, as Google's avatar page asks). A folder wins over the `gemini-` form.
 *
 * Every problem is one line naming the file and the field, like the rest of the folder format.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AvatarConfig } from '@google/genai';
import { imageSize } from 'image-size';
import { z } from 'zod';
import { AvatarError, MANIFEST_FILE, shown } from '../avatar_source.ts';

/** Prebuilt avatars in Google's Live Avatar sample (gemini-live-studio presets). */
export const PREBUILT_AVATARS = [
  'Ben',
  'Carmen',
  'Ingrid',
  'Jay',
  'Kai',
  'Kira',
  'Leo',
  'Paul',
  'Piper',
  'Sam',
  'Vera',
] as const;

export const PREBUILT_PREFIX = 'gemini-';

/** Google's avatar page: at least 704x1280, 9:16, under 5 MB; PNG recommended. */
export const PORTRAIT = {
  minWidth: 704,
  minHeight: 1280,
  /** Width / height: 9:16, down to 704:1280 (the size Gemini streams itself). */
  minRatio: 704 / 1280,
  maxRatio: 9 / 16,
  maxBytes: 5 * 1024 * 1024,
  types: { png: 'image/png', jpg: 'image/jpeg' } as Record<string, string>,
} as const;

export type GeminiAvatar =
  | { kind: 'prebuilt'; name: string; bitrates: Bitrates }
  | {
      kind: 'portrait';
      file: string;
      mimeType: string;
      width: number;
      height: number;
      bitrates: Bitrates;
    };

interface Bitrates {
  audioBitrateBps?: number;
  videoBitrateBps?: number;
}

const AVATAR_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const bitrate = z.number().int().min(8_000).max(20_000_000);
const manifestSchema = z
  .strictObject({
    kind: z.literal('gemini'),
    name: z.string().min(1).max(100),
    avatar_name: z
      .string()
      .regex(AVATAR_NAME, 'expected a prebuilt avatar name such as "Kira"')
      .optional(),
    portrait: z.string().min(1).optional(),
    audio_bitrate_bps: bitrate.optional(),
    video_bitrate_bps: bitrate.optional(),
  })
  .refine((m) => (m.avatar_name === undefined) !== (m.portrait === undefined), {
    message: 'give exactly one of avatar_name (a prebuilt avatar) or portrait (an image file)',
  });

/**
 * The Gemini avatar `id` names (an id, or a folder path in local tools), or undefined when it
 * names none. Throws an AvatarError for a Gemini avatar that cannot work.
 */
export function geminiAvatarOf(id: string, avatarsDir: string): GeminiAvatar | undefined {
  const dir =
    id.includes('/') || path.isAbsolute(id) ? path.resolve(id) : path.resolve(avatarsDir, id);
  const manifest = readManifest(path.join(dir, MANIFEST_FILE));
  if (manifest !== undefined) return manifest === 'other' ? undefined : fromManifest(dir, manifest);
  if (!id.toLowerCase().startsWith(PREBUILT_PREFIX)) return undefined;
  const wanted = id.slice(PREBUILT_PREFIX.length).toLowerCase();
  const name = PREBUILT_AVATARS.find((n) => n.toLowerCase() === wanted);
  if (!name) {
    throw new AvatarError(
      `avatar ${JSON.stringify(id)}: not a prebuilt Gemini avatar (allowed: ${PREBUILT_AVATARS.map((n) => PREBUILT_PREFIX + n.toLowerCase()).join(', ')}; for another name use an avatar folder with "avatar_name")`,
    );
  }
  return { kind: 'prebuilt', name, bitrates: {} };
}

/** What the setup sends for the avatar (reads the portrait). */
export function avatarConfigOf(avatar: GeminiAvatar): AvatarConfig {
  const config: AvatarConfig = { ...avatar.bitrates };
  if (avatar.kind === 'prebuilt') config.avatarName = avatar.name;
  else {
    config.customizedAvatar = {
      imageMimeType: avatar.mimeType,
      imageData: readFileSync(avatar.file).toString('base64'),
    };
  }
  return config;
}

/** One line for the log: which avatar, never the image data. */
export function describeGeminiAvatar(avatar: GeminiAvatar): string {
  return avatar.kind === 'prebuilt'
    ? `Gemini prebuilt ${avatar.name}`
    : `Gemini portrait ${path.basename(avatar.file)} ${avatar.width}x${avatar.height}`;
}

type RawManifest = z.infer<typeof manifestSchema>;

/** The manifest if it is a Gemini one, 'other' for another kind, undefined when there is none. */
function readManifest(file: string): RawManifest | 'other' | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return 'other'; // the face-avatar loader reports broken JSON with its own line
  }
  if ((data as { kind?: unknown } | null)?.kind !== 'gemini') return 'other';
  const result = manifestSchema.safeParse(data);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(top level)';
    return issue.code === 'unrecognized_keys'
      ? `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`
      : `${field}: ${issue.message}`;
  });
  throw new AvatarError(`${shown(file)}: ${problems.join('; ')}`);
}

function fromManifest(dir: string, manifest: RawManifest): GeminiAvatar {
  const bitrates: Bitrates = {
    ...(manifest.audio_bitrate_bps ? { audioBitrateBps: manifest.audio_bitrate_bps } : {}),
    ...(manifest.video_bitrate_bps ? { videoBitrateBps: manifest.video_bitrate_bps } : {}),
  };
  if (manifest.avatar_name) return { kind: 'prebuilt', name: manifest.avatar_name, bitrates };
  return { ...checkPortrait(dir, manifest.portrait!), bitrates };
}

/** The portrait, checked as Google's avatar page asks, before it is sent. */
function checkPortrait(
  dir: string,
  name: string,
): Omit<Extract<GeminiAvatar, { kind: 'portrait' }>, 'bitrates'> {
  const where = `${shown(path.join(dir, MANIFEST_FILE))}: portrait ${JSON.stringify(name)}`;
  const file = path.resolve(dir, name);
  const inside = path.relative(dir, file);
  if (inside.startsWith('..') || path.isAbsolute(inside)) {
    throw new AvatarError(`${where} must be a file inside the avatar folder`);
  }
  let bytes: number;
  try {
    bytes = statSync(file).size;
  } catch {
    throw new AvatarError(`${where}: file not found in ${shown(dir)}`);
  }
  if (bytes > PORTRAIT.maxBytes) {
    throw new AvatarError(
      `${where}: ${(bytes / 1048576).toFixed(1)} MB is too large (allowed: under 5 MB)`,
    );
  }
  let size: { width?: number; height?: number; type?: string };
  try {
    size = imageSize(readFileSync(file));
  } catch (error) {
    throw new AvatarError(`${where}: not a readable image (${(error as Error).message})`);
  }
  const mimeType = PORTRAIT.types[size.type ?? ''];
  const { width = 0, height = 0 } = size;
  if (!mimeType) {
    throw new AvatarError(`${where}: a ${size.type ?? 'unknown'} image (allowed: PNG or JPEG)`);
  }
  const ratio = width / height;
  if (ratio < PORTRAIT.minRatio - 0.001 || ratio > PORTRAIT.maxRatio + 0.001) {
    throw new AvatarError(
      `${where}: ${width}x${height} is not a 9:16 portrait (allowed: width/height from 704/1280 to 9/16, e.g. 720x1280 or 1080x1920)`,
    );
  }
  if (width < PORTRAIT.minWidth || height < PORTRAIT.minHeight) {
    throw new AvatarError(`${where}: ${width}x${height} is too small (allowed: at least 704x1280)`);
  }
  return { kind: 'portrait', file, mimeType, width, height };
}

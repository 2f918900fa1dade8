/**
 * Which avatar to draw, and the bring-your-own avatar folder format (documented in
 * avatars/README.md): a folder with `manifest.json`, a face image and one image per viseme.
 *
 * Every problem is one line naming the file and the manifest field, so a broken avatar is fixed
 * from the error alone.
 */
import { readdirSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { z } from 'zod';
import type { Box } from './default_face.ts';
import { VISEMES, type Viseme } from './visemes.ts';

export type AvatarSource = { kind: 'builtin'; id: 'default' } | { kind: 'folder'; dir: string };

export class AvatarError extends Error {
  override name = 'AvatarError';
}

export const BUILTIN_AVATAR_IDS = ['default'] as const;
export const MANIFEST_FILE = 'manifest.json';
export const DEFAULT_BACKGROUND = '#e4ecf2';
export const DEFAULT_OPEN_SCALE = { min: 0.6, max: 1.1 } as const;

const AVATAR_ID = /^[A-Za-z0-9_-]{1,64}$/;
const IMAGE_EXTENSIONS = ['.png', '.svg', '.jpg', '.jpeg'];

/** A validated manifest with absolute file paths and the face image's size. */
export interface AvatarManifest {
  dir: string;
  name: string;
  face: { file: string; width: number; height: number };
  background: string;
  /** Where mouths go, in face-image pixels. */
  mouth: Box;
  mouths: Record<Viseme, string>;
  /** Mouth height factor at open = 0 and open = 1 (rest and closed are drawn as authored). */
  openScale: { min: number; max: number };
  eyes?: { region: Box; open: string; closed: string; half?: string };
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Paths in messages: relative to the working directory when below it, else absolute. */
export function shown(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

/** 'default' plus every folder of `avatarsDir` named like an id that holds a manifest.json. */
export function listAvatars(avatarsDir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(avatarsDir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && AVATAR_ID.test(entry.name))
      .map((entry) => entry.name)
      .filter((name) => !isBuiltin(name) && exists(path.join(avatarsDir, name, MANIFEST_FILE)))
      .sort();
  } catch {
    // No avatars folder: only the built-in face exists.
  }
  return [...BUILTIN_AVATAR_IDS, ...names];
}

function isBuiltin(id: string): id is 'default' {
  return (BUILTIN_AVATAR_IDS as readonly string[]).includes(id);
}

/**
 * An avatar id or folder path -> where to load it from. 'default' is built in; other ids are
 * folders `<avatarsDir>/<id>/`; a value containing `/` is a folder path.
 */
export function resolveAvatar(idOrDir: string, avatarsDir: string): AvatarSource {
  const label = `avatar ${JSON.stringify(idOrDir)}`;
  if (idOrDir.includes('/') || path.isAbsolute(idOrDir)) return folderSource(idOrDir, label);
  if (!AVATAR_ID.test(idOrDir)) {
    throw new AvatarError(
      `${label}: not an avatar id (1-64 letters, digits, - or _) nor a folder path (containing /)`,
    );
  }
  if (isBuiltin(idOrDir)) return { kind: 'builtin', id: idOrDir };
  const dir = path.resolve(avatarsDir, idOrDir);
  if (exists(path.join(dir, MANIFEST_FILE))) return { kind: 'folder', dir };
  throw new AvatarError(
    `${label}: unknown id (available: ${listAvatars(avatarsDir).join(', ')}; ids are folders of ${shown(path.resolve(avatarsDir))})`,
  );
}

function folderSource(value: string, label: string): AvatarSource {
  // Climbing out with '..' is how a path built from an id escapes its folder; name folders plainly.
  if (value.split(/[\\/]/).includes('..')) {
    throw new AvatarError(
      `${label}: '..' is not allowed in an avatar path (use a path below the working directory or an absolute one)`,
    );
  }
  const dir = path.resolve(value);
  if (!exists(dir)) throw new AvatarError(`${label}: folder not found (${dir})`);
  if (!isDirectory(dir)) {
    throw new AvatarError(
      `${label}: not a folder (an avatar is a folder holding ${MANIFEST_FILE})`,
    );
  }
  if (!exists(path.join(dir, MANIFEST_FILE))) {
    throw new AvatarError(
      `${label}: ${shown(path.join(dir, MANIFEST_FILE))} not found (see avatars/README.md)`,
    );
  }
  return { kind: 'folder', dir };
}

// --- the manifest ---

const imageFile = z.string().min(1);
const coordinate = z.number().min(0);
const extent = z.number().positive();
const regionShape = { x: coordinate, y: coordinate, width: extent, height: extent };

const manifestSchema = z.strictObject({
  name: z.string().min(1).max(100),
  face: imageFile,
  background: z
    .string()
    .regex(/^#[0-9a-fA-F]{6}$/, 'expected a colour like "#e4ecf2"')
    .optional(),
  mouth: z.strictObject(regionShape),
  mouths: z.strictObject({
    rest: imageFile,
    closed: imageFile,
    open: imageFile,
    spread: imageFile,
    rounded: imageFile,
    teeth_lip: imageFile,
  } satisfies Record<Viseme, typeof imageFile>),
  open_scale: z
    .strictObject({ min: z.number().min(0.1).max(3), max: z.number().min(0.1).max(3) })
    .refine((scale) => scale.min <= scale.max, 'min must not exceed max')
    .optional(),
  eyes: z
    .strictObject({
      ...regionShape,
      open: imageFile,
      closed: imageFile,
      half: imageFile.optional(),
    })
    .optional(),
});

type RawManifest = z.infer<typeof manifestSchema>;

function valueAt(data: unknown, keys: readonly PropertyKey[]): unknown {
  let value = data;
  for (const key of keys) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(data: unknown, issue: z.core.$ZodIssue): string {
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${field}: ` : '';
    return `${where}unknown field ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && valueAt(data, issue.path) === undefined) {
    return `${field}: missing (${issue.expected} required)`;
  }
  return `${field}: ${issue.message}`;
}

function parseManifest(text: string, file: string): RawManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new AvatarError(`${shown(file)}: not valid JSON (${(error as Error).message})`);
  }
  const result = manifestSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => describeIssue(data, issue));
    throw new AvatarError(`${shown(file)}: ${problems.join('; ')}`);
  }
  return result.data;
}

interface ImageInfo {
  file: string;
  width: number;
  height: number;
}

/** Resolve an image named by `field` inside `dir` and check it decodes. */
async function checkImage(
  dir: string,
  name: string,
  field: string,
  manifest: string,
): Promise<ImageInfo> {
  const where = `${manifest}: ${field}`;
  const file = path.resolve(dir, name);
  const inside = path.relative(dir, file);
  if (inside.startsWith('..') || path.isAbsolute(inside)) {
    throw new AvatarError(
      `${where}: ${JSON.stringify(name)} must be a file inside the avatar folder`,
    );
  }
  if (!IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase())) {
    throw new AvatarError(
      `${where}: ${JSON.stringify(name)} is not a .png, .svg, .jpg or .jpeg file`,
    );
  }
  const info = await stat(file).catch(() => null);
  if (!info?.isFile())
    throw new AvatarError(`${where}: file ${JSON.stringify(name)} not found in ${shown(dir)}`);
  try {
    const meta = await sharp(file).metadata();
    if (!meta.width || !meta.height) throw new Error('no size');
    return { file, width: meta.width, height: meta.height };
  } catch (error) {
    throw new AvatarError(
      `${where}: ${JSON.stringify(name)} is not a readable image (${(error as Error).message})`,
    );
  }
}

function checkRegion(
  region: Box,
  face: ImageInfo,
  field: string,
  manifest: string,
  faceName: string,
): void {
  if (region.x + region.width <= face.width && region.y + region.height <= face.height) return;
  throw new AvatarError(
    `${manifest}: ${field}: region x=${region.x} y=${region.y} ${region.width}x${region.height} ` +
      `lies outside ${faceName} (${face.width}x${face.height})`,
  );
}

function regionOf(raw: { x: number; y: number; width: number; height: number }): Box {
  return { x: raw.x, y: raw.y, width: raw.width, height: raw.height };
}

/** Read and check `<dir>/manifest.json` and every image it names. */
export async function loadManifest(dir: string): Promise<AvatarManifest> {
  const file = path.join(dir, MANIFEST_FILE);
  const label = shown(file);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new AvatarError(`${label}: cannot read (${error.code ?? error.message})`);
  });
  const raw = parseManifest(text, file);
  const [face, mouthFiles, eyeFiles] = await Promise.all([
    checkImage(dir, raw.face, 'face', label),
    Promise.all(
      VISEMES.map((viseme) => checkImage(dir, raw.mouths[viseme], `mouths.${viseme}`, label)),
    ),
    raw.eyes
      ? Promise.all([
          checkImage(dir, raw.eyes.open, 'eyes.open', label),
          checkImage(dir, raw.eyes.closed, 'eyes.closed', label),
          raw.eyes.half ? checkImage(dir, raw.eyes.half, 'eyes.half', label) : null,
        ])
      : null,
  ]);
  const mouth = regionOf(raw.mouth);
  checkRegion(mouth, face, 'mouth', label, raw.face);
  const manifest: AvatarManifest = {
    dir,
    name: raw.name,
    face,
    background: raw.background ?? DEFAULT_BACKGROUND,
    mouth,
    mouths: Object.fromEntries(VISEMES.map((viseme, i) => [viseme, mouthFiles[i]!.file])) as Record<
      Viseme,
      string
    >,
    openScale: raw.open_scale ?? { ...DEFAULT_OPEN_SCALE },
  };
  if (raw.eyes && eyeFiles) {
    const region = regionOf(raw.eyes);
    checkRegion(region, face, 'eyes', label, raw.face);
    manifest.eyes = { region, open: eyeFiles[0].file, closed: eyeFiles[1].file };
    if (eyeFiles[2]) manifest.eyes.half = eyeFiles[2].file;
  }
  return manifest;
}

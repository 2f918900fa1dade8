/**
 * The avatar renderer: everything is rasterised once at load into an atlas, so a frame is a few
 * memory copies and no allocation.
 *
 * The atlas holds
 * - the base: the whole frame without eyes and mouth, `motionPx` rows taller above and below so
 *   the idle head motion is just a different starting row (one `Uint8Array.set` per frame);
 * - eye patches (open, half, closed) and mouth patches (viseme × MOUTH_LEVELS openness levels):
 *   opaque rectangles already composited over the base pixels they cover, so drawing one is a
 *   straight row copy with no blending and no seams.
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { type AvatarManifest, type AvatarSource, loadManifest } from './avatar_source.ts';
import {
  type Box,
  EYES_BOX,
  type EyeState,
  FACE_UNITS,
  type FacePlacement,
  MOUTH_BOX,
  baseSvg,
  eyesSvg,
  mouthSvg,
} from './default_face.ts';
import { type MouthState, VISEMES, type Viseme } from './visemes.ts';

export interface RenderSize {
  width: number;
  height: number;
}

export interface FrameInput {
  mouth: MouthState;
  /** ms on a continuous clock, drives idle life */
  timeMs: number;
}

export type { Box, EyeState };

/** Openness levels pre-rendered per viseme; `open` picks the nearest (0, 1/8, ..., 1). */
export const MOUTH_LEVELS = 9;
export const EYE_STATES = ['open', 'half', 'closed'] as const satisfies readonly EyeState[];

const MIN_SIDE = 16;
const MAX_SIDE = 4096;

/** Blinks: one per BLINK_EPOCH_MS, starting at a pseudo-random point of it (3-6 s apart). */
const BLINK_EPOCH_MS = 4500;
const BLINK_JITTER_MS = 1500;
const BLINK_MS = 150;
const BLINK_HALF_MS = 45;
const DOUBLE_BLINK_CHANCE = 0.2;
const DOUBLE_BLINK_GAP_MS = 320;

/** A pre-rendered opaque patch; `rows[r]` views row r (made once, so drawing allocates nothing). */
interface Patch {
  rows: Uint8Array[];
}

interface PatchSet {
  /** In base-canvas pixels (the canvas is the frame plus `pad` rows above and below). */
  rect: Box;
  patches: Patch[];
}

interface Atlas {
  width: number;
  height: number;
  pad: number;
  /** width × (height + 2·pad) RGBA, opaque. */
  base: Uint8Array;
  eyes: PatchSet | null;
  /** patches[visemeIndex * MOUTH_LEVELS + level] */
  mouth: PatchSet;
}

export class AvatarRenderer {
  readonly width: number;
  readonly height: number;
  /** Largest vertical idle offset of the face, in pixels. */
  readonly motionPx: number;
  /** Where mouths are drawn, in frame pixels with the head at rest (offset 0). */
  readonly mouthRegion: Box;
  /** Where eyes are drawn (null when a bring-your-own avatar has no eye images). */
  readonly eyeRegion: Box | null;
  #windows: Uint8Array[];
  #eyes: PatchSet | null;
  #mouth: PatchSet;
  /** The buffer last rendered into and what it shows (top row, eyes, mouth), so an unchanged frame is not redrawn. */
  #lastOut?: Uint8Array;
  readonly #lastShown = [-1, -1, -1];

  private constructor(atlas: Atlas) {
    this.width = atlas.width;
    this.height = atlas.height;
    this.motionPx = atlas.pad;
    this.#eyes = atlas.eyes;
    this.#mouth = atlas.mouth;
    this.mouthRegion = shiftBox(atlas.mouth.rect, -atlas.pad);
    this.eyeRegion = atlas.eyes ? shiftBox(atlas.eyes.rect, -atlas.pad) : null;
    const frameBytes = atlas.width * atlas.height * 4;
    const rowBytes = atlas.width * 4;
    this.#windows = [];
    for (let top = 0; top <= 2 * atlas.pad; top++) {
      this.#windows.push(atlas.base.subarray(top * rowBytes, top * rowBytes + frameBytes));
    }
  }

  /** Pre-render everything once (an atlas): the built-in face ('default') or a bring-your-own avatar folder. */
  static async load(avatar: AvatarSource, size: RenderSize): Promise<AvatarRenderer> {
    checkSize(size);
    const atlas =
      avatar.kind === 'builtin'
        ? await builtinAtlas(size)
        : await folderAtlas(await loadManifest(avatar.dir), size);
    return new AvatarRenderer(atlas);
  }

  /**
   * Compose one RGBA frame into `out` (allocated once by the caller, width*height*4) — no
   * allocation per frame. When `out` was the last buffer rendered into and the frame would be the
   * same, nothing is drawn: the caller must not write into `out` between renders. True when the
   * picture in `out` changed (false: it already held this frame).
   */
  render(input: FrameInput, out: Uint8Array): boolean {
    if (out.length !== this.width * this.height * 4) {
      throw new RangeError(
        `render: out has ${out.length} bytes, expected ${this.width}*${this.height}*4 = ${this.width * this.height * 4}`,
      );
    }
    const timeMs = Number.isFinite(input.timeMs) ? input.timeMs : 0;
    const top = this.motionPx - headOffsetAt(timeMs, this.motionPx);
    const eyes = this.#eyes ? eyeIndexAt(timeMs) : -1;
    const mouth = mouthIndex(input.mouth);
    // Most frames of a silent avatar equal the one before (the head moves a pixel every few
    // hundred ms, the eyes blink every few seconds): `out` already holds it.
    const shown = this.#lastShown;
    if (this.#lastOut === out && shown[0] === top && shown[1] === eyes && shown[2] === mouth) {
      return false;
    }
    out.set(this.#windows[top]!);
    if (this.#eyes) {
      drawPatch(out, this.width, this.height, this.#eyes.patches[eyes]!, this.#eyes.rect, top);
    }
    drawPatch(out, this.width, this.height, this.#mouth.patches[mouth]!, this.#mouth.rect, top);
    this.#lastOut = out;
    shown[0] = top;
    shown[1] = eyes;
    shown[2] = mouth;
    return true;
  }
}

function checkSize(size: RenderSize): void {
  for (const side of ['width', 'height'] as const) {
    const value = size[side];
    if (!Number.isInteger(value) || value < MIN_SIDE || value > MAX_SIDE) {
      throw new RangeError(
        `avatar ${side}: ${value} is not valid (allowed: an integer from ${MIN_SIDE} to ${MAX_SIDE})`,
      );
    }
  }
}

function shiftBox(box: Box, dy: number): Box {
  return { x: box.x, y: box.y + dy, width: box.width, height: box.height };
}

/** Copy a patch row by row into the frame whose first row is base row `top`. */
function drawPatch(
  out: Uint8Array,
  width: number,
  height: number,
  patch: Patch,
  rect: Box,
  top: number,
): void {
  const rows = patch.rows;
  for (let r = 0; r < rows.length; r++) {
    const y = rect.y + r - top;
    if (y >= 0 && y < height) out.set(rows[r]!, (y * width + rect.x) * 4);
  }
}

function mouthIndex(mouth: MouthState): number {
  const viseme = Math.max(0, VISEMES.indexOf(mouth.viseme));
  const open = mouth.open > 0 ? Math.min(1, mouth.open) : 0; // NaN and negatives close
  return viseme * MOUTH_LEVELS + Math.round(open * (MOUTH_LEVELS - 1));
}

/** The openness drawn by level `level` of MOUTH_LEVELS. */
function levelOpen(level: number): number {
  return level / (MOUTH_LEVELS - 1);
}

// --- idle life: pure functions of the clock, so frames are reproducible ---

/** A well-mixed hash of an integer to [0, 1). */
function hash01(value: number): number {
  let h = Math.imul(value ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

function blinkPhase(sinceStartMs: number): number {
  if (sinceStartMs < 0 || sinceStartMs >= BLINK_MS) return 0;
  return sinceStartMs < BLINK_HALF_MS || sinceStartMs >= BLINK_MS - BLINK_HALF_MS ? 1 : 2;
}

/** 0 open, 1 half, 2 closed: a ~150 ms blink every 3-6 s, sometimes a double blink. */
function eyeIndexAt(timeMs: number): number {
  const epoch = Math.floor(timeMs / BLINK_EPOCH_MS);
  const start = epoch * BLINK_EPOCH_MS + 750 + hash01(epoch) * BLINK_JITTER_MS;
  const phase = blinkPhase(timeMs - start);
  if (phase !== 0 || hash01(epoch + 0x5bd1e995) >= DOUBLE_BLINK_CHANCE) return phase;
  return blinkPhase(timeMs - start - DOUBLE_BLINK_GAP_MS);
}

/** Which eye state the idle animation shows at `timeMs`. */
export function eyeStateAt(timeMs: number): EyeState {
  return EYE_STATES[eyeIndexAt(timeMs)]!;
}

/** Vertical head offset in whole pixels (breathing plus a slower sway), within ±amplitudePx. */
export function headOffsetAt(timeMs: number, amplitudePx: number): number {
  const wave =
    0.7 * Math.sin((2 * Math.PI * timeMs) / 4600) + 0.3 * Math.sin((2 * Math.PI * timeMs) / 7300);
  return Math.round(amplitudePx * wave);
}

/** 1-3 px of motion: visible as life at any size, never enough to look like a jump. */
function motionFor(height: number): number {
  return Math.min(3, Math.max(1, Math.round(height / 240)));
}

// --- rasterising ---

interface Raster {
  data: Uint8Array;
  width: number;
  height: number;
}

function toRaster(data: Buffer, info: { width: number; height: number }): Raster {
  return {
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
    width: info.width,
    height: info.height,
  };
}

async function rasterizeSvg(svg: string): Promise<Raster> {
  const { data, info } = await sharp(Buffer.from(svg))
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return toRaster(data, info);
}

/** Alpha-blend `src` (straight alpha) over the opaque `dst` at (x, y), clipped to `dst`. */
function blendOver(dst: Raster, src: Raster, x: number, y: number): void {
  const x0 = Math.max(0, x);
  const x1 = Math.min(dst.width, x + src.width);
  for (let sy = Math.max(0, -y); sy < src.height && y + sy < dst.height; sy++) {
    let d = ((y + sy) * dst.width + x0) * 4;
    let s = (sy * src.width + (x0 - x)) * 4;
    for (let dx = x0; dx < x1; dx++, d += 4, s += 4) {
      const a = src.data[s + 3]!;
      if (a === 0) continue;
      const keep = 255 - a;
      for (let c = 0; c < 3; c++) {
        dst.data[d + c] = Math.round((src.data[s + c]! * a + dst.data[d + c]! * keep) / 255);
      }
      dst.data[d + 3] = 255;
    }
  }
}

function crop(source: Raster, rect: Box): Raster {
  const data = new Uint8Array(rect.width * rect.height * 4);
  for (let r = 0; r < rect.height; r++) {
    const from = ((rect.y + r) * source.width + rect.x) * 4;
    data.set(source.data.subarray(from, from + rect.width * 4), r * rect.width * 4);
  }
  return { data, width: rect.width, height: rect.height };
}

function toPatch(raster: Raster): Patch {
  const rowBytes = raster.width * 4;
  const rows: Uint8Array[] = [];
  for (let r = 0; r < raster.height; r++) {
    rows.push(raster.data.subarray(r * rowBytes, (r + 1) * rowBytes));
  }
  return { rows };
}

/** The base crop under `rect` with `overlay` (rect-sized, or placed at `at`) blended on top. */
function patchOver(base: Raster, rect: Box, overlay: Raster, at = { x: 0, y: 0 }): Patch {
  const patch = crop(base, rect);
  blendOver(patch, overlay, at.x, at.y);
  return toPatch(patch);
}

/** A box from source units to canvas pixels, rounded outwards, grown by `margin`, clipped. */
function toCanvas(
  box: Box,
  offsetX: number,
  offsetY: number,
  scale: number,
  canvas: Raster,
  margin = 0,
): Box {
  const x0 = Math.max(0, Math.floor(offsetX + box.x * scale) - margin);
  const y0 = Math.max(0, Math.floor(offsetY + box.y * scale) - margin);
  const x1 = Math.min(canvas.width, Math.ceil(offsetX + (box.x + box.width) * scale) + margin);
  const y1 = Math.min(canvas.height, Math.ceil(offsetY + (box.y + box.height) * scale) + margin);
  return { x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) };
}

// --- the built-in face ---

async function builtinAtlas({ width, height }: RenderSize): Promise<Atlas> {
  const pad = motionFor(height);
  const side = Math.min(width, height);
  const at: FacePlacement = {
    canvasWidth: width,
    canvasHeight: height + 2 * pad,
    offsetX: (width - side) / 2,
    offsetY: pad + (height - side) / 2,
    scale: side / FACE_UNITS,
  };
  const base = await rasterizeSvg(baseSvg(at));
  // One pixel of margin keeps antialiased edges inside the patches.
  const mouthRect = toCanvas(MOUTH_BOX, at.offsetX, at.offsetY, at.scale, base, 1);
  const eyesRect = toCanvas(EYES_BOX, at.offsetX, at.offsetY, at.scale, base, 1);
  const mouthJobs = VISEMES.flatMap((viseme) =>
    Array.from({ length: MOUTH_LEVELS }, (_, level) =>
      rasterizeSvg(mouthSvg(viseme, levelOpen(level), at, mouthRect)),
    ),
  );
  const eyeJobs = EYE_STATES.map((state) => rasterizeSvg(eyesSvg(state, at, eyesRect)));
  const [mouths, eyes] = await Promise.all([Promise.all(mouthJobs), Promise.all(eyeJobs)]);
  return {
    width,
    height,
    pad,
    base: base.data,
    eyes: { rect: eyesRect, patches: eyes.map((overlay) => patchOver(base, eyesRect, overlay)) },
    mouth: {
      rect: mouthRect,
      patches: mouths.map((overlay) => patchOver(base, mouthRect, overlay)),
    },
  };
}

// --- bring-your-own avatars ---

/** Decode an image file to straight-alpha RGBA stretched to width × height. */
async function loadImage(bytes: Buffer, width: number, height: number): Promise<Raster> {
  const meta = await sharp(bytes).metadata();
  // Vectors are rasterised at the size they are drawn at, not scaled up from 72 dpi.
  const density =
    meta.format === 'svg' && meta.width && meta.height
      ? Math.min(100_000, Math.max(1, 72 * Math.max(width / meta.width, height / meta.height)))
      : undefined;
  const { data, info } = await sharp(bytes, density ? { density } : {})
    .resize(width, height, { fit: 'fill' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return toRaster(data, info);
}

function solidCanvas(width: number, height: number, hex: string): Raster {
  const data = new Uint8Array(width * height * 4);
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  for (let i = 0; i < data.length; i += 4) {
    data[i] = rgb[0]!;
    data[i + 1] = rgb[1]!;
    data[i + 2] = rgb[2]!;
    data[i + 3] = 255;
  }
  return { data, width, height };
}

/** How tall a viseme image is drawn at `open`: closed mouths stay as drawn. */
function openScale(manifest: AvatarManifest, viseme: Viseme, open: number): number {
  if (viseme === 'rest' || viseme === 'closed') return 1;
  return manifest.openScale.min + (manifest.openScale.max - manifest.openScale.min) * open;
}

/** Where an image for `box` (face-image pixels) is drawn: whole pixels, unclipped. */
function placeBox(box: Box, left: number, top: number, scale: number): Box {
  return {
    x: Math.round(left + box.x * scale),
    y: Math.round(top + box.y * scale),
    width: Math.max(1, Math.round(box.width * scale)),
    height: Math.max(1, Math.round(box.height * scale)),
  };
}

async function folderAtlas(
  manifest: AvatarManifest,
  { width, height }: RenderSize,
): Promise<Atlas> {
  const pad = motionFor(height);
  const face = manifest.face;
  const scale = Math.min(width / face.width, height / face.height);
  const drawnW = Math.max(1, Math.round(face.width * scale));
  const drawnH = Math.max(1, Math.round(face.height * scale));
  const left = Math.floor((width - drawnW) / 2);
  const top = pad + Math.floor((height - drawnH) / 2);
  const base = solidCanvas(width, height + 2 * pad, manifest.background);
  blendOver(base, await loadImage(await readFile(face.file), drawnW, drawnH), left, top);
  const eyes = manifest.eyes ? await folderEyes(manifest.eyes, base, left, top, scale) : null;
  const mouth = await folderMouths(manifest, base, left, top, scale);
  return { width, height, pad, base: base.data, eyes, mouth };
}

/** Eye patches over the eyeless face; then the base itself gets the open eyes. */
async function folderEyes(
  eyes: NonNullable<AvatarManifest['eyes']>,
  base: Raster,
  left: number,
  top: number,
  scale: number,
): Promise<PatchSet> {
  const place = placeBox(eyes.region, left, top, scale);
  const rect = toCanvas(eyes.region, left, top, scale, base);
  const files = [eyes.open, eyes.half ?? eyes.closed, eyes.closed];
  const images = await Promise.all(
    files.map(async (file) => loadImage(await readFile(file), place.width, place.height)),
  );
  const at = { x: place.x - rect.x, y: place.y - rect.y };
  const patches = images.map((image) => patchOver(base, rect, image, at));
  blendOver(base, images[0]!, place.x, place.y);
  return { rect, patches };
}

/** Every viseme at every openness level, scaled vertically around the region's centre. */
async function folderMouths(
  manifest: AvatarManifest,
  base: Raster,
  left: number,
  top: number,
  scale: number,
): Promise<PatchSet> {
  const region = manifest.mouth;
  const tallest = Math.max(1, manifest.openScale.max);
  const grown = {
    ...region,
    y: region.y - (region.height * (tallest - 1)) / 2,
    height: region.height * tallest,
  };
  const rect = toCanvas(grown, left, top, scale, base);
  const place = placeBox(region, left, top, scale);
  const centre = place.y + place.height / 2 - rect.y;
  const patches = await Promise.all(
    VISEMES.flatMap((viseme) => {
      const bytes = readFile(manifest.mouths[viseme]);
      return Array.from({ length: MOUTH_LEVELS }, async (_, level) => {
        const factor = openScale(manifest, viseme, levelOpen(level));
        const drawnHeight = Math.max(1, Math.round(place.height * factor));
        const image = await loadImage(await bytes, place.width, drawnHeight);
        const at = { x: place.x - rect.x, y: Math.round(centre - drawnHeight / 2) };
        return patchOver(base, rect, image, at);
      });
    }),
  );
  return { rect, patches };
}

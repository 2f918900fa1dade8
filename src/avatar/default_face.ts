/**
 * The built-in 'default' face, drawn as SVG strings in code (no assets on disk).
 *
 * The face is designed on a FACE_UNITS × FACE_UNITS canvas. The renderer places that square in
 * the frame (`FacePlacement`) and rasterises three kinds of layer, all in frame pixels so a crop
 * lines up with the base exactly:
 * - the base: background, body, head, hair, brows, nose and cheeks (no eyes, no mouth);
 * - eye sprites (open, half, closed) and mouth sprites (viseme × openness), each transparent
 *   outside the features, cropped to EYES_BOX / MOUTH_BOX.
 */
import type { Viseme } from './visemes.ts';

export const FACE_UNITS = 512;

/** A rectangle: in face units for the boxes below, in pixels elsewhere. */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type EyeState = 'open' | 'half' | 'closed';

/** Where the face square lands in a frame: `pixel = offset + unit * scale`. */
export interface FacePlacement {
  /** Size of the whole canvas being drawn (the base may be taller than the frame). */
  canvasWidth: number;
  canvasHeight: number;
  offsetX: number;
  offsetY: number;
  scale: number;
}

const MOUTH_X = 256;
const MOUTH_Y = 340;
const EYE_Y = 236;
const EYE_XS = [200, 312] as const;

/** Holds every mouth shape at every openness (checked by a test: sprites never touch its edge). */
export const MOUTH_BOX: Box = { x: MOUTH_X - 70, y: MOUTH_Y - 34, width: 140, height: 90 };
/** Holds both eyes in every state (brows stay in the base). */
export const EYES_BOX: Box = { x: 164, y: 206, width: 184, height: 62 };

const COLORS = {
  skin: '#f6cdb0',
  skinShade: '#e8ae8c',
  skinLine: '#d48d6c',
  hair: '#4a2d21',
  hairLight: '#6e4533',
  sweater: '#3f8f8c',
  sweaterDark: '#2f7370',
  blush: '#f28d86',
  browLine: '#4a2d21',
  lidLine: '#3a241b',
  iris: '#6b4526',
  irisDark: '#3b2415',
  pupil: '#1c120d',
  lipUpper: '#c45b66',
  lipLower: '#d8737a',
  lipLine: '#8e3441',
  mouthInside: '#5b1b27',
  teeth: '#fbf8f2',
  tongue: '#e07b84',
} as const;

/** Short, deterministic numbers for SVG attributes. */
function n(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** An SVG document covering `crop` (in canvas pixels) with the face group placed by `at`. */
function svgDocument(
  at: FacePlacement,
  crop: Box,
  defs: string,
  pixelBody: string,
  faceBody: string,
) {
  const transform = `translate(${n(at.offsetX)} ${n(at.offsetY)}) scale(${n(at.scale)})`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${crop.width}" height="${crop.height}" ` +
    `viewBox="${crop.x} ${crop.y} ${crop.width} ${crop.height}"><defs>${defs}</defs>` +
    `${pixelBody}<g transform="${transform}">${faceBody}</g></svg>`
  );
}

const BASE_DEFS =
  `<linearGradient id="bg" x1="0" y1="0" x2="0" y2="1">` +
  `<stop offset="0" stop-color="#bcdde6"/><stop offset="1" stop-color="#e6f2ee"/></linearGradient>` +
  `<radialGradient id="halo" cx="0.5" cy="0.5" r="0.5">` +
  `<stop offset="0" stop-color="#ffffff" stop-opacity="0.55"/>` +
  `<stop offset="1" stop-color="#ffffff" stop-opacity="0"/></radialGradient>` +
  `<radialGradient id="skin" gradientUnits="userSpaceOnUse" cx="236" cy="200" r="230">` +
  `<stop offset="0.55" stop-color="${COLORS.skin}"/><stop offset="1" stop-color="${COLORS.skinShade}"/></radialGradient>` +
  `<linearGradient id="hair" x1="0" y1="0" x2="1" y2="1">` +
  `<stop offset="0" stop-color="${COLORS.hairLight}"/><stop offset="0.6" stop-color="${COLORS.hair}"/></linearGradient>` +
  `<radialGradient id="blush" cx="0.5" cy="0.5" r="0.5">` +
  `<stop offset="0" stop-color="${COLORS.blush}" stop-opacity="0.5"/>` +
  `<stop offset="1" stop-color="${COLORS.blush}" stop-opacity="0"/></radialGradient>` +
  `<linearGradient id="sweater" x1="0" y1="0" x2="0" y2="1">` +
  `<stop offset="0" stop-color="${COLORS.sweater}"/><stop offset="1" stop-color="${COLORS.sweaterDark}"/></linearGradient>`;

const HEAD_PATH =
  'M256 74 C356 74 398 150 398 236 C398 330 336 404 256 404 C176 404 114 330 114 236 C114 150 156 74 256 74 Z';

function baseFace(): string {
  const backHair =
    `<path fill="${COLORS.hair}" d="M256 50 C384 50 430 150 424 262 C421 318 410 352 392 366 ` +
    `C370 380 350 372 340 356 L172 356 C162 372 142 380 120 366 C102 352 91 318 88 262 ` +
    `C82 150 128 50 256 50 Z"/>`;
  const body =
    `<path fill="url(#sweater)" d="M-300 660 L-300 570 C-170 500 70 466 204 446 L308 446 ` +
    `C442 466 682 500 812 570 L812 660 Z"/>` +
    `<path fill="${COLORS.skinShade}" d="M212 360 L300 360 L304 452 C286 470 226 470 208 452 Z"/>` +
    `<path fill="${COLORS.skinLine}" opacity="0.35" d="M212 372 C236 400 276 400 300 372 L300 392 C276 414 236 414 212 392 Z"/>` +
    `<path fill="${COLORS.sweaterDark}" d="M198 447 C222 484 290 484 314 447 L302 444 C284 468 228 468 210 444 Z"/>`;
  const ears =
    `<ellipse cx="116" cy="250" rx="20" ry="30" fill="${COLORS.skinShade}"/>` +
    `<ellipse cx="396" cy="250" rx="20" ry="30" fill="${COLORS.skinShade}"/>` +
    `<path d="M112 236 C104 246 106 262 116 268" fill="none" stroke="${COLORS.skinLine}" stroke-width="3" stroke-linecap="round"/>` +
    `<path d="M400 236 C408 246 406 262 396 268" fill="none" stroke="${COLORS.skinLine}" stroke-width="3" stroke-linecap="round"/>`;
  const head = `<path d="${HEAD_PATH}" fill="url(#skin)"/>`;
  const fringe =
    `<path fill="url(#hair)" d="M112 236 C100 128 170 62 262 62 C356 62 414 128 400 236 ` +
    `C392 196 376 164 348 142 C318 172 252 186 196 176 C168 172 146 160 134 150 ` +
    `C122 172 116 204 112 236 Z"/>` +
    `<path fill="none" stroke="${COLORS.hairLight}" stroke-width="5" stroke-linecap="round" opacity="0.8" ` +
    `d="M200 92 C240 78 290 78 326 96"/>` +
    `<g fill="none" stroke="#35201a" stroke-width="3" stroke-linecap="round" opacity="0.55">` +
    `<path d="M300 70 C286 112 246 152 198 172"/><path d="M352 104 C346 120 338 132 326 146"/></g>`;
  const brows =
    `<g fill="none" stroke="${COLORS.browLine}" stroke-width="8" stroke-linecap="round">` +
    `<path d="M172 194 Q198 180 226 190"/><path d="M286 190 Q314 180 340 194"/></g>`;
  const nose =
    `<path d="M258 262 C262 276 266 286 262 294" fill="none" stroke="${COLORS.skinLine}" ` +
    `stroke-width="3.5" stroke-linecap="round" opacity="0.7"/>` +
    `<path d="M244 296 Q256 304 268 296" fill="none" stroke="${COLORS.skinLine}" stroke-width="4" stroke-linecap="round"/>`;
  const cheeks =
    `<ellipse cx="176" cy="302" rx="36" ry="24" fill="url(#blush)"/>` +
    `<ellipse cx="336" cy="302" rx="36" ry="24" fill="url(#blush)"/>`;
  return backHair + body + ears + head + fringe + brows + nose + cheeks;
}

/** The face without eyes and mouth, over a background covering the whole canvas. */
export function baseSvg(at: FacePlacement): string {
  const { canvasWidth: w, canvasHeight: h } = at;
  const halo = `<ellipse cx="${n(at.offsetX + 256 * at.scale)}" cy="${n(at.offsetY + 230 * at.scale)}" rx="${n(300 * at.scale)}" ry="${n(300 * at.scale)}" fill="url(#halo)"/>`;
  const background = `<rect x="0" y="0" width="${w}" height="${h}" fill="url(#bg)"/>${halo}`;
  return svgDocument(at, { x: 0, y: 0, width: w, height: h }, BASE_DEFS, background, baseFace());
}

const EYE_DEFS =
  `<radialGradient id="iris" cx="0.5" cy="0.4" r="0.6">` +
  `<stop offset="0" stop-color="${COLORS.iris}"/><stop offset="1" stop-color="${COLORS.irisDark}"/></radialGradient>` +
  EYE_XS.map(
    (x, i) =>
      `<clipPath id="half${i}"><rect x="${x - 40}" y="${EYE_Y - 2}" width="80" height="40"/></clipPath>`,
  ).join('');

function openEye(x: number): string {
  return (
    `<ellipse cx="${x}" cy="${EYE_Y}" rx="24" ry="21" fill="#ffffff"/>` +
    `<circle cx="${x + 1}" cy="${EYE_Y + 2}" r="15" fill="url(#iris)"/>` +
    `<circle cx="${x + 1}" cy="${EYE_Y + 2}" r="7.5" fill="${COLORS.pupil}"/>` +
    `<circle cx="${x + 6}" cy="${EYE_Y - 4}" r="5" fill="#ffffff"/>` +
    `<circle cx="${x - 4}" cy="${EYE_Y + 8}" r="2.4" fill="#ffffff" opacity="0.85"/>`
  );
}

/** The upper lid line with a lash flick at the outer corner; `side` is -1 (left) or 1. */
function lidLine(x: number, y: number, side: number, arc: number): string {
  const outer = x + side * 25;
  return (
    `<path d="M${x - 25} ${y + 2} Q${x} ${y - arc} ${x + 25} ${y + 2}" fill="none" ` +
    `stroke="${COLORS.lidLine}" stroke-width="4.5" stroke-linecap="round"/>` +
    `<path d="M${outer} ${y + 2} L${outer + side * 7} ${y - 4}" stroke="${COLORS.lidLine}" ` +
    `stroke-width="3.5" stroke-linecap="round"/>`
  );
}

function eye(state: EyeState, x: number, index: number): string {
  const side = index === 0 ? -1 : 1;
  if (state === 'open') {
    // The lid hugs the top of the eye white, with a lash flick off its outer shoulder.
    return (
      openEye(x) +
      `<path d="M${x - 26} ${EYE_Y + 2} A26 23.5 0 0 1 ${x + 26} ${EYE_Y + 2}" fill="none" ` +
      `stroke="${COLORS.lidLine}" stroke-width="4.5" stroke-linecap="round"/>` +
      `<path d="M${x + side * 22} ${EYE_Y - 11} L${x + side * 31} ${EYE_Y - 17}" stroke="${COLORS.lidLine}" ` +
      `stroke-width="3.5" stroke-linecap="round"/>`
    );
  }
  if (state === 'half') {
    return `<g clip-path="url(#half${index})">${openEye(x)}</g>` + lidLine(x, EYE_Y - 2, side, 2);
  }
  return (
    `<path d="M${x - 24} ${EYE_Y + 4} Q${x} ${EYE_Y + 16} ${x + 24} ${EYE_Y + 4}" fill="none" ` +
    `stroke="${COLORS.lidLine}" stroke-width="4.5" stroke-linecap="round"/>` +
    `<path d="M${x + side * 24} ${EYE_Y + 4} L${x + side * 31} ${EYE_Y - 1}" stroke="${COLORS.lidLine}" ` +
    `stroke-width="3.5" stroke-linecap="round"/>`
  );
}

/** Both eyes in `state`, transparent elsewhere, cropped to `crop` (canvas pixels). */
export function eyesSvg(state: EyeState, at: FacePlacement, crop: Box): string {
  return svgDocument(at, crop, EYE_DEFS, '', EYE_XS.map((x, i) => eye(state, x, i)).join(''));
}

const MOUTH_DEFS =
  `<linearGradient id="lips" x1="0" y1="0" x2="0" y2="1">` +
  `<stop offset="0" stop-color="${COLORS.lipUpper}"/><stop offset="0.5" stop-color="${COLORS.lipUpper}"/>` +
  `<stop offset="0.5" stop-color="${COLORS.lipLower}"/><stop offset="1" stop-color="${COLORS.lipLower}"/></linearGradient>` +
  `<linearGradient id="pucker" x1="0" y1="0" x2="0" y2="1">` +
  `<stop offset="0.2" stop-color="${COLORS.lipUpper}"/><stop offset="0.8" stop-color="${COLORS.lipLower}"/></linearGradient>`;

interface OpenShape {
  /** Half the width of the opening, corner to centre. */
  halfWidth: number;
  /** Corner height (negative lifts the corners into a smile). */
  corner: number;
  /** Control heights of the opening's upper and lower edges (the curve reaches 3/4 of them). */
  top: number;
  bottom: number;
  upperLip: number;
  lowerLip: number;
  /** Depth of the upper and lower teeth below / above the edges (0 hides them). */
  upperTeeth: number;
  lowerTeeth: number;
  /** Tongue height showing at the bottom (0 hides it). */
  tongue: number;
}

function openingPath(hw: number, corner: number, top: number, bottom: number): string {
  const c = hw * 0.62;
  return (
    `M${n(-hw)} ${n(corner)} C${n(-c)} ${n(top)} ${n(c)} ${n(top)} ${n(hw)} ${n(corner)} ` +
    `C${n(c)} ${n(bottom)} ${n(-c)} ${n(bottom)} ${n(-hw)} ${n(corner)} Z`
  );
}

/** Outer lip outline with a cupid's bow dip in the upper lip. */
function lipsPath(s: OpenShape): string {
  const hw = s.halfWidth + 5;
  const top = s.top - s.upperLip * 1.25;
  const bottom = s.bottom + s.lowerLip * 1.3;
  const bow = Math.min(10, hw * 0.3);
  return (
    `M${n(-hw)} ${n(s.corner)} C${n(-hw * 0.7)} ${n(top + 2)} ${n(-bow * 1.6)} ${n(top - 3)} ${n(-bow * 0.6)} ${n(top - 1)} ` +
    `Q0 ${n(top + 3)} ${n(bow * 0.6)} ${n(top - 1)} C${n(bow * 1.6)} ${n(top - 3)} ${n(hw * 0.7)} ${n(top + 2)} ${n(hw)} ${n(s.corner)} ` +
    `C${n(hw * 0.6)} ${n(bottom)} ${n(-hw * 0.6)} ${n(bottom)} ${n(-hw)} ${n(s.corner)} Z`
  );
}

function openMouth(id: string, s: OpenShape): string {
  const opening = openingPath(s.halfWidth, s.corner, s.top, s.bottom);
  const upperEdge = s.corner + 0.75 * (s.top - s.corner);
  const lowerEdge = s.corner + 0.75 * (s.bottom - s.corner);
  const w = s.halfWidth * 2;
  const teeth =
    (s.upperTeeth > 0
      ? `<rect x="${n(-s.halfWidth)}" y="${n(upperEdge - 4)}" width="${n(w)}" height="${n(s.upperTeeth + 4)}" rx="3" fill="${COLORS.teeth}"/>`
      : '') +
    (s.lowerTeeth > 0
      ? `<rect x="${n(-s.halfWidth)}" y="${n(lowerEdge - s.lowerTeeth)}" width="${n(w)}" height="${n(s.lowerTeeth + 4)}" rx="3" fill="${COLORS.teeth}" opacity="0.92"/>`
      : '') +
    (s.tongue > 0
      ? `<ellipse cx="0" cy="${n(lowerEdge + 2)}" rx="${n(s.halfWidth * 0.6)}" ry="${n(s.tongue)}" fill="${COLORS.tongue}"/>`
      : '');
  return (
    `<clipPath id="${id}"><path d="${opening}"/></clipPath>` +
    `<path d="${lipsPath(s)}" fill="url(#lips)"/>` +
    `<path d="${opening}" fill="${COLORS.mouthInside}"/>` +
    `<g clip-path="url(#${id})">${teeth}</g>` +
    `<path d="${opening}" fill="none" stroke="${COLORS.lipLine}" stroke-width="1.5" opacity="0.6"/>`
  );
}

function smileLine(hw: number, depth: number, width: number): string {
  return (
    `<path d="M${n(-hw)} -3 Q0 ${n(depth)} ${n(hw)} -3" fill="none" stroke="${COLORS.lipLine}" ` +
    `stroke-width="${n(width)}" stroke-linecap="round"/>` +
    `<path d="M${n(-hw * 0.45)} ${n(depth * 0.5 + 9)} Q0 ${n(depth * 0.5 + 15)} ${n(hw * 0.45)} ${n(depth * 0.5 + 9)}" ` +
    `fill="none" stroke="${COLORS.lipLower}" stroke-width="3.5" stroke-linecap="round" opacity="0.55"/>`
  );
}

function restMouth(o: number): string {
  return smileLine(30 + 3 * o, 10 + 3 * o, 4.5);
}

function closedMouth(o: number): string {
  // Lips pressed together: a flatter, firmer line with the lips rolled in above and below.
  return (
    `<ellipse cx="0" cy="1" rx="${n(32 + 2 * o)}" ry="${n(11 + 2 * o)}" fill="${COLORS.lipUpper}" opacity="${n(0.28 + 0.12 * o)}"/>` +
    `<path d="M-30 0 Q0 ${n(4 + o)} 30 0" fill="none" stroke="${COLORS.lipLine}" ` +
    `stroke-width="${n(5 + 1.5 * o)}" stroke-linecap="round"/>` +
    `<path d="M-14 ${n(9 + o)} Q0 ${n(13 + o)} 14 ${n(9 + o)}" fill="none" stroke="${COLORS.skinLine}" ` +
    `stroke-width="2.5" stroke-linecap="round" opacity="0.55"/>`
  );
}

function mouthBody(viseme: Viseme, o: number): string {
  switch (viseme) {
    case 'rest':
      return restMouth(o);
    case 'closed':
      return closedMouth(o);
    case 'open':
      return openMouth('m-open', {
        halfWidth: 30 + 6 * o,
        corner: -2,
        top: -(6 + 6 * o),
        bottom: 12 + 42 * o,
        upperLip: 6,
        lowerLip: 7,
        upperTeeth: 5 + 2 * o,
        lowerTeeth: 0,
        tongue: 4 + 6 * o,
      });
    case 'spread':
      return openMouth('m-spread', {
        halfWidth: 44 + 6 * o,
        corner: -6,
        top: -(4 + 4 * o),
        bottom: 10 + 16 * o,
        upperLip: 4.5,
        lowerLip: 5.5,
        upperTeeth: 5 + 3 * o,
        lowerTeeth: 3 + 3 * o,
        tongue: 0,
      });
    case 'rounded':
      return roundedMouth(o);
    case 'teeth_lip':
      return teethLipMouth(o);
  }
}

function roundedMouth(o: number): string {
  const rx = 11 + 7 * o;
  const ry = 9 + 16 * o;
  const cy = 4 + 5 * o;
  return (
    `<ellipse cx="0" cy="${n(cy)}" rx="${n(rx + 9)}" ry="${n(ry + 8.5)}" fill="url(#pucker)"/>` +
    `<ellipse cx="0" cy="${n(cy)}" rx="${n(rx)}" ry="${n(ry)}" fill="${COLORS.mouthInside}"/>` +
    `<ellipse cx="0" cy="${n(cy + ry * 0.7)}" rx="${n(rx * 0.6)}" ry="${n(ry * 0.28)}" fill="${COLORS.tongue}" opacity="0.8"/>` +
    `<ellipse cx="0" cy="${n(cy)}" rx="${n(rx)}" ry="${n(ry)}" fill="none" stroke="${COLORS.lipLine}" stroke-width="1.5" opacity="0.6"/>` +
    `<path d="M${n(-rx * 0.5)} ${n(cy + ry + 5)} Q0 ${n(cy + ry + 7)} ${n(rx * 0.5)} ${n(cy + ry + 5)}" fill="none" ` +
    `stroke="#ffffff" stroke-width="2" stroke-linecap="round" opacity="0.35"/>`
  );
}

function teethLipMouth(o: number): string {
  // Upper teeth resting on a tucked-in lower lip.
  const hw = 28 + 2 * o;
  const top = -5;
  const edge = top + 8 + 5 * o; // where the teeth meet the lower lip
  const teeth =
    `<path d="M${-hw + 2} ${top - 1} L${hw - 2} ${top - 1} L${hw - 4} ${n(edge - 2)} ` +
    `Q${hw - 5} ${n(edge + 1)} ${hw - 9} ${n(edge + 1)} L${-hw + 9} ${n(edge + 1)} ` +
    `Q${-hw + 5} ${n(edge + 1)} ${-hw + 4} ${n(edge - 2)} Z" fill="${COLORS.teeth}"/>` +
    `<path d="M0 ${top} L0 ${n(edge - 1)} M${n(-hw * 0.42)} ${top} L${n(-hw * 0.4)} ${n(edge - 1)} ` +
    `M${n(hw * 0.42)} ${top} L${n(hw * 0.4)} ${n(edge - 1)}" stroke="#ded6ca" stroke-width="1.2"/>`;
  const upperLip =
    `<path d="M${-hw - 5} ${top + 2} C${n(-hw * 0.6)} ${top - 9} -8 ${top - 11} 0 ${top - 7} ` +
    `C8 ${top - 11} ${n(hw * 0.6)} ${top - 9} ${hw + 5} ${top + 2} Q0 ${top - 2} ${-hw - 5} ${top + 2} Z" fill="${COLORS.lipUpper}"/>`;
  const lowerLip =
    `<path d="M${-hw + 1} ${n(edge - 1)} Q0 ${n(edge - 4)} ${hw - 1} ${n(edge - 1)} ` +
    `Q${n(hw * 0.55)} ${n(edge + 10)} 0 ${n(edge + 10)} Q${n(-hw * 0.55)} ${n(edge + 10)} ${-hw + 1} ${n(edge - 1)} Z" ` +
    `fill="${COLORS.lipLower}"/>`;
  return teeth + upperLip + lowerLip;
}

/** One mouth shape, transparent elsewhere, cropped to `crop` (canvas pixels). */
export function mouthSvg(viseme: Viseme, open: number, at: FacePlacement, crop: Box): string {
  const o = Math.min(1, Math.max(0, open));
  const body = `<g transform="translate(${MOUTH_X} ${MOUTH_Y})">${mouthBody(viseme, o)}</g>`;
  return svgDocument(at, crop, MOUTH_DEFS, '', body);
}

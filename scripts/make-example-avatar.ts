/**
 * `node --import tsx scripts/make-example-avatar.ts [--output avatars/example]`
 *
 * Draws the example bring-your-own avatar (a friendly robot with a screen face) from SVG and
 * writes its PNGs and manifest.json. Run once; the outputs are committed, so this only needs
 * re-running when the drawing changes. avatars/README.md describes the format.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { Viseme } from '../src/avatar/visemes.ts';

const FACE = 768;
/** Regions in face pixels; the mouth and eye images are drawn at twice their region size. */
const MOUTH = { x: 264, y: 420, width: 240, height: 90 };
const EYES = { x: 236, y: 252, width: 296, height: 116 };
const DETAIL = 2;

const GLOW = '#5ff3ff';
const SCREEN = '#1b2433';
const METAL_LINE = '#56677a';

function svg(width: number, height: number, body: string, defs = ''): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><filter id="glow" x="-20%" y="-40%" width="140%" height="180%"><feGaussianBlur stdDeviation="5"/></filter>${defs}</defs>` +
    `${body}</svg>`
  );
}

/** A glowing line drawing: a blurred copy underneath, the crisp shape on top. */
function glowing(shape: string): string {
  return `<g filter="url(#glow)" opacity="0.8">${shape}</g>${shape}`;
}

function faceSvg(): string {
  const defs =
    `<linearGradient id="metal" x1="0" y1="0" x2="1" y2="1">` +
    `<stop offset="0" stop-color="#dce6ef"/><stop offset="1" stop-color="#9aadc1"/></linearGradient>` +
    `<linearGradient id="screen" x1="0" y1="0" x2="0" y2="1">` +
    `<stop offset="0" stop-color="#26334a"/><stop offset="1" stop-color="${SCREEN}"/></linearGradient>` +
    `<radialGradient id="bulb" cx="0.4" cy="0.35" r="0.7">` +
    `<stop offset="0" stop-color="#ffd3c4"/><stop offset="0.5" stop-color="#ff7a59"/><stop offset="1" stop-color="#d9532f"/></radialGradient>`;
  const body =
    `<path d="M96 768 C104 700 150 650 236 640 L532 640 C618 650 664 700 672 768 Z" fill="#8497ab" stroke="${METAL_LINE}" stroke-width="6"/>` +
    `<circle cx="384" cy="706" r="18" fill="${GLOW}" opacity="0.85"/>` +
    `<rect x="322" y="572" width="124" height="84" fill="#6f8296"/>` +
    `<path d="M322 596 H446 M322 620 H446 M322 644 H446" stroke="${METAL_LINE}" stroke-width="6"/>`;
  const antenna =
    `<path d="M384 126 V62" stroke="${METAL_LINE}" stroke-width="10" stroke-linecap="round"/>` +
    `<circle cx="384" cy="48" r="24" fill="url(#bulb)"/>` +
    `<circle cx="376" cy="40" r="7" fill="#ffffff" opacity="0.7"/>`;
  const ears =
    `<rect x="100" y="296" width="62" height="132" rx="20" fill="#8497ab" stroke="${METAL_LINE}" stroke-width="6"/>` +
    `<rect x="606" y="296" width="62" height="132" rx="20" fill="#8497ab" stroke="${METAL_LINE}" stroke-width="6"/>`;
  const head =
    `<rect x="144" y="118" width="480" height="478" rx="96" fill="url(#metal)" stroke="${METAL_LINE}" stroke-width="8"/>` +
    [176, 592].map((x) => `<circle cx="${x}" cy="160" r="9" fill="${METAL_LINE}"/>`).join('') +
    [176, 592].map((x) => `<circle cx="${x}" cy="556" r="9" fill="${METAL_LINE}"/>`).join('');
  const screen =
    `<rect x="196" y="186" width="376" height="356" rx="64" fill="url(#screen)" stroke="#3b4a5e" stroke-width="6"/>` +
    `<path d="M232 214 C300 200 380 200 430 206 C360 222 280 250 226 296 C218 260 218 232 232 214 Z" fill="#ffffff" opacity="0.07"/>` +
    `<rect x="220" y="430" width="36" height="18" rx="9" fill="#ff8fb1" opacity="0.75"/>` +
    `<rect x="512" y="430" width="36" height="18" rx="9" fill="#ff8fb1" opacity="0.75"/>`;
  return svg(FACE, FACE, body + antenna + ears + head + screen, defs);
}

type EyeImage = 'open' | 'half' | 'closed';

function eyesSvg(state: EyeImage): string {
  const w = EYES.width * DETAIL;
  const h = EYES.height * DETAIL;
  const centres = [148, 444].map((x) => ({ x, y: h / 2 }));
  const r = 72;
  const eye = ({ x, y }: { x: number; y: number }, i: number) => {
    if (state === 'closed') {
      return glowing(
        `<path d="M${x - r} ${y + 8} Q${x} ${y + 44} ${x + r} ${y + 8}" fill="none" stroke="${GLOW}" stroke-width="22" stroke-linecap="round"/>`,
      );
    }
    const disc =
      `<circle cx="${x}" cy="${y}" r="${r}" fill="${GLOW}"/>` +
      `<circle cx="${x + 24}" cy="${y - 26}" r="20" fill="#ffffff" opacity="0.85"/>`;
    if (state === 'open') return glowing(disc);
    return (
      `<clipPath id="lid${i}"><rect x="${x - r - 20}" y="${y - 6}" width="${2 * r + 40}" height="${r + 30}"/></clipPath>` +
      glowing(`<g clip-path="url(#lid${i})">${disc}</g>`)
    );
  };
  return svg(w, h, centres.map(eye).join(''));
}

/** Mouth drawings on a 480 × 180 canvas (the mouth region at DETAIL ×), centred on (240, 90). */
const MOUTH_SHAPES: Record<Viseme, string> = {
  rest: `<path d="M156 78 Q240 120 324 78" fill="none" stroke="${GLOW}" stroke-width="16" stroke-linecap="round"/>`,
  closed: `<path d="M168 90 H312" stroke="${GLOW}" stroke-width="22" stroke-linecap="round"/>`,
  open:
    `<rect x="176" y="22" width="128" height="136" rx="46" fill="${GLOW}" fill-opacity="0.22" stroke="${GLOW}" stroke-width="14"/>` +
    `<path d="M202 151 C210 112 270 112 278 151 Z" fill="#ff8fb1" opacity="0.85"/>`,
  spread:
    `<rect x="104" y="52" width="272" height="76" rx="32" fill="${GLOW}" fill-opacity="0.22" stroke="${GLOW}" stroke-width="12"/>` +
    `<path d="M112 90 H368 M160 58 V122 M208 58 V122 M256 58 V122 M304 58 V122 M352 62 V118" stroke="${GLOW}" stroke-width="6"/>`,
  rounded: `<circle cx="240" cy="90" r="54" fill="${GLOW}" fill-opacity="0.22" stroke="${GLOW}" stroke-width="16"/>`,
  teeth_lip:
    `<path d="M156 64 H324" stroke="${GLOW}" stroke-width="14" stroke-linecap="round"/>` +
    `<path d="M176 70 V100 M208 70 V104 M240 70 V104 M272 70 V104 M304 70 V100" stroke="${GLOW}" stroke-width="14" stroke-linecap="round"/>` +
    `<path d="M164 120 Q240 134 316 120" fill="none" stroke="${GLOW}" stroke-width="14" stroke-linecap="round"/>`,
};

function mouthSvg(viseme: Viseme): string {
  return svg(MOUTH.width * DETAIL, MOUTH.height * DETAIL, glowing(MOUTH_SHAPES[viseme]));
}

async function writePng(file: string, svgText: string): Promise<void> {
  await sharp(Buffer.from(svgText))
    .png({ palette: true, compressionLevel: 9, effort: 10 })
    .toFile(file);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { output: { type: 'string', default: 'avatars/example' } },
    strict: true,
  });
  const dir = values.output;
  await mkdir(dir, { recursive: true });
  const visemes = Object.keys(MOUTH_SHAPES) as Viseme[];
  const eyes: EyeImage[] = ['open', 'half', 'closed'];
  await Promise.all([
    writePng(path.join(dir, 'face.png'), faceSvg()),
    ...visemes.map((viseme) => writePng(path.join(dir, `mouth_${viseme}.png`), mouthSvg(viseme))),
    ...eyes.map((state) => writePng(path.join(dir, `eyes_${state}.png`), eyesSvg(state))),
  ]);
  const manifest = {
    name: 'Example robot',
    face: 'face.png',
    background: '#dfe9f0',
    mouth: MOUTH,
    mouths: Object.fromEntries(visemes.map((viseme) => [viseme, `mouth_${viseme}.png`])),
    eyes: { ...EYES, open: 'eyes_open.png', half: 'eyes_half.png', closed: 'eyes_closed.png' },
  };
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(
    `wrote ${dir}/: face.png, ${visemes.length} mouths, ${eyes.length} eye states, manifest.json`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});

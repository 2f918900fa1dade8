/**
 * `node --import tsx scripts/mouth-sheet.ts [--avatar default|<id>|<dir>] [--output docs/mouth-shapes.png] [--size 512]`
 *
 * Writes a PNG sheet of an avatar's mouth shapes, cropped around the mouth from real rendered
 * frames: one column per viseme in VISEMES order (rest, closed, open, spread, rounded, teeth_lip),
 * one row per openness (0, 0.5, 1, top to bottom), labelled when a font is available.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp, { type OverlayOptions } from 'sharp';
import { resolveAvatar } from '../src/avatar/avatar_source.ts';
import { type Box, AvatarRenderer } from '../src/avatar/renderer.ts';
import { VISEMES } from '../src/avatar/visemes.ts';

const OPEN_LEVELS = [0, 0.5, 1] as const;
const AVATARS_DIR = fileURLToPath(new URL('../avatars', import.meta.url));
const HEADER_PX = 34;
const LABEL_PX = 96;
const GAP_PX = 4;

/** The mouth region grown by a third on each side, kept inside the frame. */
function cellBox(renderer: AvatarRenderer): Box {
  const region = renderer.mouthRegion;
  const width = Math.min(renderer.width, Math.round(region.width * 1.6));
  const height = Math.min(renderer.height, Math.round(region.height * 1.6));
  const clamp = (value: number, max: number) => Math.min(Math.max(0, value), max);
  return {
    x: clamp(Math.round(region.x + region.width / 2 - width / 2), renderer.width - width),
    y: clamp(Math.round(region.y + region.height / 2 - height / 2), renderer.height - height),
    width,
    height,
  };
}

function labelsSvg(width: number, height: number, cell: Box): string {
  const text = (x: number, y: number, value: string, anchor: string) =>
    `<text x="${x}" y="${y}" text-anchor="${anchor}" font-family="DejaVu Sans, Arial, sans-serif" ` +
    `font-size="16" fill="#33414a">${value}</text>`;
  const columns = VISEMES.map((viseme, i) =>
    text(LABEL_PX + i * (cell.width + GAP_PX) + cell.width / 2, 23, viseme, 'middle'),
  );
  const rows = OPEN_LEVELS.map((open, i) =>
    text(
      LABEL_PX - 12,
      HEADER_PX + i * (cell.height + GAP_PX) + cell.height / 2 + 6,
      `open ${open}`,
      'end',
    ),
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${columns.join('')}${rows.join('')}</svg>`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      avatar: { type: 'string', default: 'default' },
      output: { type: 'string', default: 'docs/mouth-shapes.png' },
      size: { type: 'string', default: '512' },
    },
    strict: true,
  });
  const side = Number(values.size);
  const renderer = await AvatarRenderer.load(resolveAvatar(values.avatar, AVATARS_DIR), {
    width: side,
    height: side,
  });
  const cell = cellBox(renderer);
  const width = LABEL_PX + VISEMES.length * (cell.width + GAP_PX) - GAP_PX;
  const height = HEADER_PX + OPEN_LEVELS.length * (cell.height + GAP_PX) - GAP_PX;
  const frame = new Uint8Array(renderer.width * renderer.height * 4);
  const cells: OverlayOptions[] = [];
  for (const [row, open] of OPEN_LEVELS.entries()) {
    for (const [column, viseme] of VISEMES.entries()) {
      renderer.render({ mouth: { viseme, open }, timeMs: 0 }, frame);
      const input = await sharp(frame, {
        raw: { width: renderer.width, height: renderer.height, channels: 4 },
      })
        .extract({ left: cell.x, top: cell.y, width: cell.width, height: cell.height })
        .png()
        .toBuffer();
      cells.push({
        input,
        left: LABEL_PX + column * (cell.width + GAP_PX),
        top: HEADER_PX + row * (cell.height + GAP_PX),
      });
    }
  }
  cells.push({ input: Buffer.from(labelsSvg(width, height, cell)), left: 0, top: 0 });
  await mkdir(path.dirname(path.resolve(values.output)), { recursive: true });
  await sharp({ create: { width, height, channels: 4, background: '#f7f9fa' } })
    .composite(cells)
    .png({ palette: true, compressionLevel: 9, effort: 10 })
    .toFile(values.output);
  console.log(`wrote ${values.output} (${width}x${height})`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});

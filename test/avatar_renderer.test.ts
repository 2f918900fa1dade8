import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AvatarError, listAvatars, resolveAvatar } from '../src/avatar/avatar_source.ts';
import {
  AvatarRenderer,
  type Box,
  type FrameInput,
  eyeStateAt,
  headOffsetAt,
} from '../src/avatar/renderer.ts';
import { type MouthState, VISEMES } from '../src/avatar/visemes.ts';

const AVATARS_DIR = fileURLToPath(new URL('../avatars', import.meta.url));
const EXAMPLE_DIR = path.join(AVATARS_DIR, 'example');
const DEFAULT = { kind: 'builtin', id: 'default' } as const;

function frame(renderer: AvatarRenderer, mouth: MouthState, timeMs = 0): Uint8Array {
  const out = new Uint8Array(renderer.width * renderer.height * 4);
  renderer.render({ mouth, timeMs }, out);
  return out;
}

/** The smallest box holding every pixel that differs, or null when the frames are equal. */
function diffBox(a: Uint8Array, b: Uint8Array, width: number): Box | null {
  let [x0, y0, x1, y1] = [Infinity, Infinity, -1, -1];
  for (let i = 0; i < a.length; i += 4) {
    if (a[i] === b[i] && a[i + 1] === b[i + 1] && a[i + 2] === b[i + 2] && a[i + 3] === b[i + 3]) {
      continue;
    }
    const x = (i / 4) % width;
    const y = Math.floor(i / 4 / width);
    [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  }
  return x1 < 0 ? null : { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
}

function expectInside(inner: Box | null, outer: Box): void {
  expect(inner).not.toBeNull();
  expect(inner!.x).toBeGreaterThanOrEqual(outer.x);
  expect(inner!.y).toBeGreaterThanOrEqual(outer.y);
  expect(inner!.x + inner!.width).toBeLessThanOrEqual(outer.x + outer.width);
  expect(inner!.y + inner!.height).toBeLessThanOrEqual(outer.y + outer.height);
}

function shifted(box: Box, dy: number): Box {
  return { ...box, y: box.y + dy };
}

/** A moment with the eyes closed mid-blink and a nearby one with them open, at the same head offset. */
function blinkPair(motionPx: number): { open: number; closed: number; offset: number } {
  for (let closed = 0; closed < 120_000; closed += 5) {
    if (eyeStateAt(closed) !== 'closed') continue;
    const offset = headOffsetAt(closed, motionPx);
    for (let open = closed - 400; open < closed + 400; open += 5) {
      if (eyeStateAt(open) === 'open' && headOffsetAt(open, motionPx) === offset) {
        return { open, closed, offset };
      }
    }
  }
  throw new Error('no blink found');
}

describe('AvatarRenderer (built-in face)', () => {
  let square: AvatarRenderer;
  let wide: AvatarRenderer;

  beforeAll(async () => {
    [square, wide] = await Promise.all([
      AvatarRenderer.load(DEFAULT, { width: 512, height: 512 }),
      AvatarRenderer.load(DEFAULT, { width: 1280, height: 720 }),
    ]);
  });

  it('loads at 512x512 and 1280x720 with the features inside the frame', () => {
    for (const renderer of [square, wide]) {
      for (const box of [renderer.mouthRegion, renderer.eyeRegion!]) {
        expectInside(shifted(box, -renderer.motionPx), {
          x: 0,
          y: 0,
          width: renderer.width,
          height: renderer.height,
        });
        expectInside(shifted(box, renderer.motionPx), {
          x: 0,
          y: 0,
          width: renderer.width,
          height: renderer.height,
        });
      }
    }
    expect([square.width, square.height, wide.width, wide.height]).toEqual([512, 512, 1280, 720]);
    expect(square.motionPx).toBeGreaterThanOrEqual(1);
    expect(wide.motionPx).toBeLessThanOrEqual(3);
  });

  it('centres the face in a wide frame over a plain background (letterboxed)', () => {
    const centre = wide.mouthRegion.x + wide.mouthRegion.width / 2;
    expect(Math.abs(centre - 640)).toBeLessThanOrEqual(1);
    const out = frame(wide, { viseme: 'open', open: 1 });
    const column = (x: number) =>
      Array.from({ length: 720 }, (_, y) => out[(y * 1280 + x) * 4 + 1]!).slice(0, 360);
    // The upper left edge is background: a smooth vertical gradient, no face pixels.
    const greens = column(0);
    expect(Math.max(...greens) - Math.min(...greens)).toBeLessThan(30);
  });

  it('fills the buffer deterministically, across renders and across loads', async () => {
    const input: MouthState = { viseme: 'spread', open: 0.7 };
    const a = frame(square, input, 12_345);
    const b = frame(square, input, 12_345);
    const again = await AvatarRenderer.load(DEFAULT, { width: 512, height: 512 });
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, frame(again, input, 12_345))).toBe(0);
    const alpha = new Set(Array.from({ length: a.length / 4 }, (_, i) => a[i * 4 + 3]));
    expect([...alpha]).toEqual([255]);
  });

  it('skips redrawing an unchanged frame into the same buffer, redraws any change, and says which', () => {
    const out = new Uint8Array(512 * 512 * 4);
    const closed: MouthState = { viseme: 'rest', open: 0 };
    expect(square.render({ mouth: closed, timeMs: 1000 }, out)).toBe(true);
    const first = Uint8Array.from(out);
    // The same frame again: the buffer is left as it was.
    out[0] = out[0]! ^ 1;
    expect(square.render({ mouth: closed, timeMs: 1000 }, out)).toBe(false);
    expect(out[0]).toBe(first[0]! ^ 1);
    // A mouth change redraws the whole frame, and the result is the fresh render.
    const open: MouthState = { viseme: 'open', open: 1 };
    expect(square.render({ mouth: open, timeMs: 1040 }, out)).toBe(true);
    expect(Buffer.compare(out, frame(square, open, 1040))).toBe(0);
  });

  it('draws every viseme differently, only inside the mouth region', () => {
    for (const renderer of [square, wide]) {
      for (const open of [0, 0.5, 1]) {
        const frames = VISEMES.map((viseme) => frame(renderer, { viseme, open }));
        for (let i = 0; i < frames.length; i++) {
          for (let j = i + 1; j < frames.length; j++) {
            expectInside(diffBox(frames[i]!, frames[j]!, renderer.width), renderer.mouthRegion);
          }
        }
      }
    }
  });

  it('opens each viseme with `open` (0 vs 1 differ) and maps out-of-range values to the ends', () => {
    for (const viseme of VISEMES) {
      const shut = frame(square, { viseme, open: 0 });
      const wideOpen = frame(square, { viseme, open: 1 });
      expectInside(diffBox(shut, wideOpen, 512), square.mouthRegion);
      expect(Buffer.compare(frame(square, { viseme, open: -3 }), shut)).toBe(0);
      expect(Buffer.compare(frame(square, { viseme, open: Number.NaN }), shut)).toBe(0);
      expect(Buffer.compare(frame(square, { viseme, open: 7 }), wideOpen)).toBe(0);
    }
  });

  it('keeps every mouth and eye state inside its rectangle (the patch edges match the base)', () => {
    const { mouthRegion: m } = square;
    const reference = frame(square, { viseme: 'rest', open: 0 });
    const border = (out: Uint8Array) => {
      const values: number[] = [];
      for (let x = m.x; x < m.x + m.width; x++) {
        for (const y of [m.y, m.y + m.height - 1])
          values.push(...out.subarray((y * 512 + x) * 4, (y * 512 + x) * 4 + 4));
      }
      for (let y = m.y; y < m.y + m.height; y++) {
        for (const x of [m.x, m.x + m.width - 1])
          values.push(...out.subarray((y * 512 + x) * 4, (y * 512 + x) * 4 + 4));
      }
      return values;
    };
    for (const viseme of VISEMES) {
      for (let level = 0; level <= 8; level++) {
        expect(border(frame(square, { viseme, open: level / 8 }))).toEqual(border(reference));
      }
    }
  });

  it('blinks every few seconds, changing only the eye region', () => {
    for (const renderer of [square, wide]) {
      const { open, closed, offset } = blinkPair(renderer.motionPx);
      const mouth: MouthState = { viseme: 'rest', open: 0 };
      const box = diffBox(
        frame(renderer, mouth, open),
        frame(renderer, mouth, closed),
        renderer.width,
      );
      expectInside(box, shifted(renderer.eyeRegion!, offset));
    }
    const starts: number[] = [];
    for (let t = 0, previous = 'open'; t < 60_000; t += 5) {
      const state = eyeStateAt(t);
      if (state !== 'open' && previous === 'open') starts.push(t);
      previous = state;
    }
    expect(starts.length).toBeGreaterThanOrEqual(10);
    expect(starts.length).toBeLessThanOrEqual(25);
  });

  it('moves the head by whole rows: frames at different offsets are the same picture shifted', () => {
    let t = 0;
    while (
      headOffsetAt(t, square.motionPx) === headOffsetAt(0, square.motionPx) ||
      eyeStateAt(t) !== 'open'
    )
      t += 10;
    const dy = headOffsetAt(t, square.motionPx) - headOffsetAt(0, square.motionPx);
    const mouth: MouthState = { viseme: 'open', open: 0.5 };
    const a = frame(square, mouth, 0);
    const b = frame(square, mouth, t);
    const row = 512 * 4;
    const rows = 512 - Math.abs(dy);
    const fromA = dy > 0 ? a.subarray(0, rows * row) : a.subarray(-dy * row);
    const fromB = dy > 0 ? b.subarray(dy * row) : b.subarray(0, rows * row);
    expect(Math.abs(dy)).toBeLessThanOrEqual(2 * square.motionPx);
    expect(Buffer.compare(fromA, fromB)).toBe(0);
  });

  it('does not grow the heap while rendering (1000 frames into one buffer)', () => {
    const out = new Uint8Array(512 * 512 * 4);
    const input: FrameInput = { mouth: { viseme: 'open', open: 0 }, timeMs: 0 };
    const step = (i: number) => {
      input.mouth.viseme = VISEMES[i % VISEMES.length]!;
      input.mouth.open = (i % 9) / 8;
      input.timeMs = i * 40;
      square.render(input, out);
    };
    for (let i = 0; i < 200; i++) step(i);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) step(i);
    const growth = process.memoryUsage().heapUsed - before;
    expect(growth).toBeLessThan(1024 * 1024);
  });

  it('refuses an output buffer of the wrong size and a bad frame size', async () => {
    expect(() =>
      square.render({ mouth: { viseme: 'rest', open: 0 }, timeMs: 0 }, new Uint8Array(10)),
    ).toThrow(/out has 10 bytes, expected 512\*512\*4/);
    await expect(AvatarRenderer.load(DEFAULT, { width: 0, height: 512 })).rejects.toThrow(
      /avatar width: 0 is not valid/,
    );
  });
});

describe('bring-your-own avatars', () => {
  let scratch: string;

  beforeAll(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'avatar-test-'));
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  /** A copy of the example avatar with its manifest changed by `edit` (or replaced by text). */
  function variant(
    name: string,
    edit: ((manifest: Record<string, unknown>) => void) | string,
  ): string {
    const dir = path.join(scratch, name);
    cpSync(EXAMPLE_DIR, dir, { recursive: true });
    const file = path.join(dir, 'manifest.json');
    if (typeof edit === 'string') {
      writeFileSync(file, edit);
    } else {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      edit(manifest);
      writeFileSync(file, JSON.stringify(manifest));
    }
    return dir;
  }

  async function loadError(dir: string): Promise<string> {
    const error = await AvatarRenderer.load(
      { kind: 'folder', dir },
      { width: 256, height: 256 },
    ).then(
      () => null,
      (error: unknown) => error,
    );
    expect(error).toBeInstanceOf(AvatarError);
    const message = (error as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain(
      path.join(dir, 'manifest.json').replace(/^.*avatar-test-[^/]+\//, ''),
    );
    return message;
  }

  it('loads and animates the example avatar', async () => {
    const source = resolveAvatar('example', AVATARS_DIR);
    expect(source).toEqual({ kind: 'folder', dir: EXAMPLE_DIR });
    const renderer = await AvatarRenderer.load(source, { width: 1280, height: 720 });
    const frames = VISEMES.map((viseme) => frame(renderer, { viseme, open: 0.5 }));
    for (let i = 1; i < frames.length; i++) {
      expectInside(diffBox(frames[0]!, frames[i]!, 1280), renderer.mouthRegion);
    }
    expectInside(
      diffBox(
        frame(renderer, { viseme: 'open', open: 0 }),
        frame(renderer, { viseme: 'open', open: 1 }),
        1280,
      ),
      renderer.mouthRegion,
    );
    const { open, closed, offset } = blinkPair(renderer.motionPx);
    const mouth: MouthState = { viseme: 'rest', open: 0 };
    expectInside(
      diffBox(frame(renderer, mouth, open), frame(renderer, mouth, closed), 1280),
      shifted(renderer.eyeRegion!, offset),
    );
  });

  it('names the file and field for a missing image', async () => {
    const dir = variant(
      'missing-file',
      (m) => ((m.mouths as Record<string, string>).open = 'nope.png'),
    );
    expect(await loadError(dir)).toMatch(
      /manifest\.json: mouths\.open: file "nope\.png" not found in /,
    );
  });

  it('names a missing viseme', async () => {
    const dir = variant(
      'missing-viseme',
      (m) => delete (m.mouths as Record<string, string>).teeth_lip,
    );
    expect(await loadError(dir)).toMatch(
      /manifest\.json: mouths\.teeth_lip: missing \(string required\)$/,
    );
  });

  it('reports bad JSON', async () => {
    const dir = variant('bad-json', '{ "name": "x", ');
    expect(await loadError(dir)).toMatch(/manifest\.json: not valid JSON \(/);
  });

  it('reports a mouth region outside the face image', async () => {
    const dir = variant('outside', (m) => ((m.mouth as Record<string, number>).x = 700));
    expect(await loadError(dir)).toMatch(
      /manifest\.json: mouth: region x=700 y=420 240x90 lies outside face\.png \(768x768\)$/,
    );
  });

  it('reports unknown fields, wrong types and files outside the folder', async () => {
    expect(await loadError(variant('typo', (m) => (m.mouth_region = {})))).toMatch(
      /manifest\.json: unknown field "mouth_region"$/,
    );
    expect(
      await loadError(variant('type', (m) => ((m.mouth as Record<string, unknown>).width = '240'))),
    ).toMatch(/manifest\.json: mouth\.width: Invalid input: expected number, received string$/);
    expect(await loadError(variant('escape', (m) => (m.face = '../example/face.png')))).toMatch(
      /manifest\.json: face: "\.\.\/example\/face\.png" must be a file inside the avatar folder$/,
    );
    expect(await loadError(variant('not-image', (m) => (m.face = 'manifest.json')))).toMatch(
      /manifest\.json: face: "manifest\.json" is not a \.png, \.svg, \.jpg or \.jpeg file$/,
    );
  });
});

describe('resolveAvatar and listAvatars', () => {
  it('resolves the built-in id, folder ids and folder paths', () => {
    expect(resolveAvatar('default', AVATARS_DIR)).toEqual({ kind: 'builtin', id: 'default' });
    expect(resolveAvatar('example', AVATARS_DIR)).toEqual({ kind: 'folder', dir: EXAMPLE_DIR });
    expect(resolveAvatar(EXAMPLE_DIR, '/nonexistent')).toEqual({
      kind: 'folder',
      dir: EXAMPLE_DIR,
    });
    expect(listAvatars(AVATARS_DIR)).toEqual(['default', 'example']);
    expect(listAvatars('/nonexistent/avatars')).toEqual(['default']);
  });

  it.each([
    ['../x', /^avatar "\.\.\/x": '\.\.' is not allowed in an avatar path/],
    ['avatars/../avatars/example', /'\.\.' is not allowed/],
    [
      path.join(EXAMPLE_DIR, 'manifest.json'),
      /: not a folder \(an avatar is a folder holding manifest\.json\)$/,
    ],
    [
      '/nonexistent/avatar',
      /^avatar "\/nonexistent\/avatar": folder not found \(\/nonexistent\/avatar\)$/,
    ],
    [os.tmpdir(), /manifest\.json not found \(see avatars\/README\.md\)$/],
    ['nobody', /^avatar "nobody": unknown id \(available: default, example; ids are folders of /],
    ['a b', /^avatar "a b": not an avatar id \(1-64 letters, digits, - or _\) nor a folder path/],
    ['..', /not an avatar id/],
    ['x'.repeat(65), /not an avatar id/],
  ])('refuses %s with one clear line', (value, message) => {
    let caught: unknown;
    try {
      resolveAvatar(value, AVATARS_DIR);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AvatarError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('\n');
  });
});

/**
 * `node --import tsx scripts/make-gemini-avatar-clip.ts`
 *
 * Makes the fake Gemini server's Live Avatar clip (tools/fake_gemini/avatar_clip/): a talking
 * head as Gemini 3.8 Live on Vertex AI streams it, fragmented MP4 with H.264 Constrained
 * Baseline (avc1.42C020) 704x1280 at 24 fps and AAC-LC (mp4a.40.2) 24 kHz mono, made from
 * synthetic frames (SVG drawn with sharp) and synthetic speech (voiced syllables), encoded by
 * Debian's ffmpeg. Run once; the clip and its sidecar JSON are committed, so tests, CI and the
 * Docker image never need ffmpeg (`apt-get install -y ffmpeg` to re-run this).
 *
 * What tests rely on (written to clip.json):
 * - Syllables start and end on frame boundaries; the mouth is open exactly on the frames of a
 *   syllable and closed on the others (`rest` frames), so a frame shown and the sound heard can
 *   be paired: a syllable's first frame and the audio onset of that syllable are one event.
 * - Every frame carries its index as an 8-bit barcode (8 blocks of 88x40 px, white = 1, most
 *   significant bit left) at the bottom, so a decoded or recorded frame tells which clip frame it
 *   shows.
 * - Fragments of about 250 ms (a keyframe each second): the server cuts replies from them.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { WavWriter } from '../src/audio/wav.ts';

export const WIDTH = 704;
export const HEIGHT = 1280;
export const FPS = 24;
export const SAMPLE_RATE = 24_000;
/** 128 frames = 125 AAC frames of 1024 samples: audio and video end together. */
export const FRAMES = 128;
const LEAD_FRAMES = 8;
const TAIL_FRAMES = 8;
const SYLLABLES = [5, 3, 6, 4, 7, 3, 5, 4, 6, 3, 5, 4, 6, 5, 4, 3, 6, 4, 5, 3, 6];
const GAPS = [3, 2, 4, 2, 3, 2, 3, 4, 2, 3, 2, 3, 4, 2, 3, 2, 3, 2, 3, 2, 3];
/** Vowel formants (Hz) the syllables cycle through: a, i, u, e, o. */
const VOWELS = [
  [730, 1090, 2440],
  [270, 2290, 3010],
  [300, 870, 2240],
  [530, 1840, 2480],
  [570, 840, 2410],
];
const BARCODE = { bits: 8, y: 1220, height: 40 };
const BLINK_FRAMES = new Set([30, 31, 32, 94, 95, 96]);

const OUT = fileURLToPath(new URL('../tools/fake_gemini/avatar_clip/', import.meta.url));

export interface Syllable {
  /** First frame of the syllable (its audio starts at startFrame / FPS). */
  startFrame: number;
  /** One past its last frame (its audio ends at endFrame / FPS). */
  endFrame: number;
}

/** The syllable plan: lead silence, syllables and gaps, tail silence. */
export function syllablePlan(): Syllable[] {
  const plan: Syllable[] = [];
  let frame = LEAD_FRAMES;
  for (let i = 0; i < SYLLABLES.length; i++) {
    const length = SYLLABLES[i]!;
    if (frame + length > FRAMES - TAIL_FRAMES) break;
    plan.push({ startFrame: frame, endFrame: frame + length });
    frame += length + GAPS[i]!;
  }
  return plan;
}

/** Voiced speech: a glottal-like harmonic stack shaped by vowel formants, per syllable. */
function speech(plan: Syllable[]): Int16Array {
  const samplesPerFrame = SAMPLE_RATE / FPS;
  const out = new Int16Array(FRAMES * samplesPerFrame);
  plan.forEach((syllable, index) => {
    const start = syllable.startFrame * samplesPerFrame;
    const end = syllable.endFrame * samplesPerFrame;
    const f0 = 120 + ((index * 37) % 50);
    const formants = VOWELS[index % VOWELS.length]!;
    const harmonics: { hz: number; gain: number }[] = [];
    for (let hz = f0; hz < 4000; hz += f0) {
      let gain = 0;
      for (const [k, formant] of formants.entries()) {
        gain += Math.exp(-(((hz - formant) / 120) ** 2)) / (k + 1);
      }
      harmonics.push({ hz, gain: gain + 0.02 });
    }
    const norm = harmonics.reduce((sum, h) => sum + h.gain, 0);
    const attack = 0.004 * SAMPLE_RATE;
    const release = 0.025 * SAMPLE_RATE;
    for (let i = start; i < end; i++) {
      const t = (i - start) / SAMPLE_RATE;
      let wave = 0;
      for (const h of harmonics) wave += h.gain * Math.sin(2 * Math.PI * h.hz * t);
      const envelope = Math.min(1, (i - start) / attack, (end - i) / release);
      out[i] = Math.round((14_000 * envelope * wave) / norm);
    }
  });
  return out;
}

/** How open the mouth is on `frame`: 0 on rest frames, 0.35-1 inside a syllable. */
function openness(frame: number, plan: Syllable[]): number {
  const syllable = plan.find((s) => frame >= s.startFrame && frame < s.endFrame);
  if (!syllable) return 0;
  const phase = (frame - syllable.startFrame + 0.5) / (syllable.endFrame - syllable.startFrame);
  return 0.35 + 0.65 * Math.sin(Math.PI * phase);
}

function barcode(frame: number): string {
  const width = WIDTH / BARCODE.bits;
  let blocks = `<rect x="0" y="${BARCODE.y - 8}" width="${WIDTH}" height="${BARCODE.height + 16}" fill="#808080"/>`;
  for (let bit = 0; bit < BARCODE.bits; bit++) {
    const on = (frame >> (BARCODE.bits - 1 - bit)) & 1;
    blocks += `<rect x="${bit * width}" y="${BARCODE.y}" width="${width}" height="${BARCODE.height}" fill="${on ? '#ffffff' : '#000000'}"/>`;
  }
  return blocks;
}

function frameSvg(frame: number, plan: Syllable[]): string {
  const open = openness(frame, plan);
  const mouthHeight = 6 + 70 * open;
  const eyes = BLINK_FRAMES.has(frame)
    ? `<rect x="262" y="528" width="56" height="6" rx="3" fill="#3a2a22"/><rect x="386" y="528" width="56" height="6" rx="3" fill="#3a2a22"/>`
    : `<ellipse cx="290" cy="530" rx="26" ry="16" fill="#fff"/><circle cx="290" cy="530" r="11" fill="#3b5b7a"/>` +
      `<ellipse cx="414" cy="530" rx="26" ry="16" fill="#fff"/><circle cx="414" cy="530" r="11" fill="#3b5b7a"/>`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">` +
    `<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#27415e"/>` +
    `<stop offset="1" stop-color="#0f1d2c"/></linearGradient>` +
    `<radialGradient id="skin" cx="0.45" cy="0.4" r="0.7"><stop offset="0" stop-color="#f1c7a5"/>` +
    `<stop offset="1" stop-color="#c98f6b"/></radialGradient></defs>` +
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="url(#bg)"/>` +
    `<path d="M92 1200 C110 930 250 880 352 880 C454 880 594 930 612 1200 Z" fill="#3d6f8f"/>` +
    `<rect x="312" y="770" width="80" height="130" fill="#d9a582"/>` +
    `<ellipse cx="352" cy="560" rx="200" ry="250" fill="url(#skin)"/>` +
    `<path d="M150 520 C140 330 250 280 352 280 C470 280 570 340 552 520 C520 400 430 370 352 380 C270 370 190 410 150 520 Z" fill="#4a3226"/>` +
    eyes +
    `<path d="M352 560 L336 640 L368 640 Z" fill="#c08462"/>` +
    `<ellipse cx="352" cy="${700 + mouthHeight / 4}" rx="${62 - 10 * open}" ry="${mouthHeight / 2}" fill="#5a1f1f" stroke="#a34b4b" stroke-width="5"/>` +
    `<text x="352" y="160" font-family="DejaVu Sans" font-size="34" fill="#cfe3f5" text-anchor="middle">offline stand-in for a Gemini avatar</text>` +
    barcode(frame) +
    `</svg>`
  );
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error)
    throw new Error(`${command}: ${result.error.message} (apt-get install -y ffmpeg)`);
  if (result.status !== 0) throw new Error(`${command} exited with ${result.status}`);
}

async function main(): Promise<void> {
  const plan = syllablePlan();
  const tmp = await mkdtemp(path.join(tmpdir(), 'gemini-avatar-clip-'));
  try {
    const rgba = Buffer.alloc(WIDTH * HEIGHT * 4 * FRAMES);
    for (let frame = 0; frame < FRAMES; frame++) {
      const { data } = await sharp(Buffer.from(frameSvg(frame, plan)))
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true });
      data.copy(rgba, frame * WIDTH * HEIGHT * 4);
    }
    await writeFile(path.join(tmp, 'frames.rgba'), rgba);
    const wav = new WavWriter(path.join(tmp, 'speech.wav'), SAMPLE_RATE, 1);
    wav.write(speech(plan));
    await wav.close();
    await mkdir(OUT, { recursive: true });
    const clip = path.join(OUT, 'clip.mp4');
    run('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-bitexact'],
      ...['-f', 'rawvideo', '-pix_fmt', 'rgba', '-s', `${WIDTH}x${HEIGHT}`, '-r', `${FPS}`],
      ...['-i', path.join(tmp, 'frames.rgba'), '-i', path.join(tmp, 'speech.wav')],
      // Constrained Baseline level 3.2 (avc1.42C020), no B-frames, a keyframe each second.
      ...['-c:v', 'libx264', '-profile:v', 'baseline', '-level', '3.2', '-pix_fmt', 'yuv420p'],
      ...['-preset', 'medium', '-crf', '30', '-g', `${FPS}`, '-keyint_min', `${FPS}`],
      ...['-sc_threshold', '0', '-bf', '0', '-threads', '1'],
      ...['-c:a', 'aac', '-b:a', '48k', '-ar', `${SAMPLE_RATE}`, '-ac', '1'],
      ...['-movflags', '+empty_moov+default_base_moof', '-frag_duration', '250000'],
      clip,
    ]);
    const size = (await readFile(clip)).length;
    const meta = {
      note: 'made by scripts/make-gemini-avatar-clip.ts; see its header',
      width: WIDTH,
      height: HEIGHT,
      fps: FPS,
      frames: FRAMES,
      sampleRate: SAMPLE_RATE,
      barcode: BARCODE,
      syllables: plan,
      bytes: size,
    };
    await writeFile(path.join(OUT, 'clip.json'), `${JSON.stringify(meta, null, 2)}\n`);
    process.stdout.write(
      `wrote ${path.relative(process.cwd(), clip)} (${size} bytes, ${plan.length} syllables)\n`,
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

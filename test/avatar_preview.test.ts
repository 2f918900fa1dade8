/**
 * `npm run avatar:preview` as a user runs it, in a child process: count.wav in, a .y4m (plus its
 * .wav) and a trace out, checked against the fixture's own audio; rendered on the virtual clock
 * (the default) and in real time (`--realtime`); and the bad arguments it refuses before doing
 * any work.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWav, writeWav } from '../src/audio/wav.ts';
import { tonePcm16 } from '../tools/fake_gemini/server.ts';
import { indexOfRun } from './support/signals.ts';
import { readY4m } from './support/y4m.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PREVIEW = path.join(REPO, 'src', 'avatar', 'preview.ts');
const COUNT = path.join(REPO, 'test', 'fixtures', 'count.wav');
const RATE = 24_000;
const FPS = 25;
const FRAME_MS = 1000 / FPS;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runPreview(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PREVIEW, ...args], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface TraceLine {
  frame: number;
  t_ms: number;
  audio_ms: number;
  open: number;
  viseme: string;
}

/** RMS level of the fixture around `ms`, dBFS (20 ms window). */
function levelAt(samples: Int16Array, ms: number): number {
  const mid = Math.round((ms * RATE) / 1000);
  let sum = 0;
  let n = 0;
  for (let i = Math.max(0, mid - 240); i < Math.min(samples.length, mid + 240); i++) {
    sum += samples[i]! ** 2;
    n += 1;
  }
  return n === 0 || sum === 0 ? -Infinity : 10 * Math.log10(sum / n / 32768 ** 2);
}

/** Stretches of at least 150 ms below -50 dBFS between the first and last sound, in ms. */
function pauses(samples: Int16Array): [number, number][] {
  const hop = RATE / 100;
  const quiet: boolean[] = [];
  for (let at = 0; at + hop <= samples.length; at += hop) {
    let sum = 0;
    for (let i = at; i < at + hop; i++) sum += samples[i]! ** 2;
    quiet.push(sum === 0 || 10 * Math.log10(sum / hop / 32768 ** 2) < -50);
  }
  const found: [number, number][] = [];
  let start = -1;
  for (let h = 0; h <= quiet.length; h++) {
    const q = h < quiet.length && quiet[h];
    if (q && start < 0) start = h;
    if (!q && start >= 0) {
      // Only pauses with sound on both sides (not the lead-in or the tail).
      if (start > 0 && h < quiet.length && h - start >= 15) found.push([start * 10, h * 10]);
      start = -1;
    }
  }
  return found;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'avatar-preview-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run avatar:preview', { timeout: 60_000 }, () => {
  describe('count.wav -> .y4m with a trace', () => {
    const input = readWav(COUNT);
    const speechMs = (input.samples.length / RATE) * 1000;
    let run: Run;
    let y4mFile: string;
    let trace: TraceLine[];

    beforeAll(async () => {
      y4mFile = path.join(dir, 'count.y4m');
      const traceFile = path.join(dir, 'count.jsonl');
      run = await runPreview([
        '--input',
        COUNT,
        '--output',
        y4mFile,
        '--trace',
        traceFile,
        '--size',
        '160x120',
        '--fps',
        String(FPS),
      ]);
      trace = existsSync(traceFile)
        ? readFileSync(traceFile, 'utf8')
            .trimEnd()
            .split('\n')
            .map((l) => JSON.parse(l) as TraceLine)
        : [];
    }, 60_000);

    it('exits 0 with a y4m of the right size and length (speech + 2 x 0.5 s idle)', () => {
      expect(run.code, run.stderr).toBe(0);
      // One line on stderr: the warning that a .y4m is big.
      expect(run.stderr).toMatch(
        /^preview: note: \.y4m is uncompressed video, 720 KB per second at 160x120, 25 fps: this one will be about 3\.2 MB\. For a small file write \.mp4 or \.webm \(needs ffmpeg\)\.\n$/,
      );
      expect(input.sampleRate).toBe(RATE);
      const y4m = readY4m(y4mFile);
      expect({ width: y4m.width, height: y4m.height, fps: y4m.fps }).toEqual({
        width: 160,
        height: 120,
        fps: FPS,
      });
      const expected = ((speechMs + 1000) / 1000) * FPS;
      expect(Math.abs(y4m.frames.length - expected)).toBeLessThanOrEqual(4);
    });

    it('writes one trace line per video frame, on the frame grid', () => {
      const frames = readY4m(y4mFile).frames.length;
      expect(trace).toHaveLength(frames);
      expect(Object.keys(trace[0]!)).toEqual(['frame', 't_ms', 'audio_ms', 'open', 'viseme']);
      expect(trace.map((t) => t.frame)).toEqual(trace.map((_, i) => i));
      for (const t of trace) expect(Math.abs(t.t_ms - t.frame * FRAME_MS)).toBeLessThan(0.1);
      // Idle before and after: the mouth is shut.
      expect(trace.filter((t) => t.t_ms < 400).every((t) => t.open === 0)).toBe(true);
      expect(trace.slice(-8).every((t) => t.open === 0 && t.viseme === 'rest')).toBe(true);
    });

    it('opens the mouth in the words and shuts it in the four pauses', () => {
      const gaps = pauses(input.samples);
      expect(gaps).toHaveLength(4);
      const speaking = trace.filter((t) => t.audio_ms > 0 && t.audio_ms < speechMs);
      // Loud speech (above -22 dBFS) always shows an open mouth.
      const loud = speaking.filter((t) => levelAt(input.samples, t.audio_ms) > -22);
      expect(loud.length).toBeGreaterThan(20);
      for (const t of loud)
        expect(t.open, `frame ${t.frame} at ${t.audio_ms} ms`).toBeGreaterThan(0.3);
      // Each pause: shut after the word's release (a frame exactly 40 ms in may still show its
      // tail), and stays nearly shut until the next word.
      for (const [start, end] of gaps) {
        const inside = speaking.filter((t) => t.audio_ms > start + 40 && t.audio_ms <= end - 30);
        expect(inside.length, `pause ${start}-${end} ms`).toBeGreaterThan(0);
        expect(Math.max(...inside.map((t) => t.open)), `pause ${start}-${end}`).toBeLessThanOrEqual(
          0.1,
        );
        expect(Math.min(...inside.map((t) => t.open)), `pause ${start}-${end}`).toBeLessThan(0.02);
      }
      // Each of the five words opens the mouth wide at some point.
      const edges = [0, ...gaps.flat(), speechMs];
      for (let w = 0; w < 5; w++) {
        const [from, to] = [edges[2 * w]!, edges[2 * w + 1]!];
        const word = speaking.filter((t) => t.audio_ms >= from && t.audio_ms < to);
        expect(Math.max(...word.map((t) => t.open)), `word ${w + 1}`).toBeGreaterThan(0.6);
      }
    });

    it('writes the audio beside the y4m, in sync with the frames that show it', () => {
      const wav = readWav(y4mFile.replace(/\.y4m$/, '.wav'));
      expect({ rate: wav.sampleRate, channels: wav.channels }).toEqual({ rate: RATE, channels: 1 });
      const frames = readY4m(y4mFile).frames.length;
      expect(Math.abs(wav.samples.length - (frames * RATE) / FPS)).toBeLessThanOrEqual(RATE / FPS);
      // Every sample of the input, once, contiguous; where it lands is where the trace shows it.
      const start = indexOfRun(wav.samples, input.samples);
      expect(start).toBeGreaterThan(0.4 * RATE);
      const startMs = (start / RATE) * 1000;
      const shown = trace.filter((t) => t.audio_ms > 0 && t.audio_ms < speechMs);
      expect(shown.length).toBeGreaterThan(50);
      for (const t of shown) {
        expect(Math.abs(t.t_ms - t.audio_ms - startMs), `frame ${t.frame}`).toBeLessThanOrEqual(
          FRAME_MS,
        );
      }
    });

    it('renders on the virtual clock: each frame shows exactly the audio leaving at its time', () => {
      const shown = trace.filter((t) => t.audio_ms > 0 && t.audio_ms < speechMs);
      expect(shown.length).toBeGreaterThan(50);
      // In real time timers jitter by milliseconds; on the virtual clock there is one offset.
      const offsets = new Set(shown.map((t) => (t.t_ms - t.audio_ms).toFixed(3)));
      expect([...offsets]).toEqual(['500.000']);
      expect(run.stdout).toMatch(
        /, 0 repeated, 0 dropped\), audio 4\.\d\d s; rendered in .* on a virtual clock/,
      );
    });

    it('reports the files it wrote with their sizes, as the warning estimated', () => {
      const wav = y4mFile.replace(/\.y4m$/, '.wav');
      const kb = (file: string) => Math.round(statSync(file).size / 1000);
      const mb = (file: string) => (statSync(file).size / 1_000_000).toFixed(1);
      expect(run.stdout).toContain(
        `preview: wrote ${y4mFile} (${mb(y4mFile)} MB) and ${wav} (${kb(wav)} KB): `,
      );
      expect(run.stderr).toContain(`this one will be about ${mb(y4mFile)} MB`);
    });
  });

  describe('--realtime', () => {
    it('paces the same path on the real clock', async () => {
      const input = path.join(dir, 'tone.wav');
      writeWav(input, { sampleRate: RATE, channels: 1, samples: tonePcm16(400, RATE) });
      const output = path.join(dir, 'tone.y4m');
      const started = Date.now();
      const run = await runPreview([
        '--input',
        input,
        '--output',
        output,
        '--size',
        '64x64',
        '--realtime',
      ]);
      expect(run.code, run.stderr).toBe(0);
      const played = /; played in (\d+\.\d+) s in real time\n$/.exec(run.stdout);
      expect(played, run.stdout).not.toBeNull();
      // Idle, 0.4 s of speech and idle take their time on the real clock.
      expect(Number(played![1])).toBeGreaterThanOrEqual(1.4);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      expect(readY4m(output).frames.length).toBeGreaterThanOrEqual(40);
    });
  });

  describe('bad arguments: exit 2, one line, no files', () => {
    const refused = async (args: string[], env?: NodeJS.ProcessEnv) => {
      const out = mkdtempSync(path.join(dir, 'refused-'));
      const run = await runPreview(
        ['--input', COUNT, '--output', path.join(out, 'out.y4m'), ...args],
        env,
      );
      expect(run.code, run.stderr).toBe(2);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines, run.stderr).toHaveLength(1);
      expect(run.stdout).toBe('');
      expect(readdirSync(out)).toEqual([]);
      return lines[0]!;
    };

    it.concurrent('--size that is odd, or out of range', async () => {
      expect(await refused(['--size', '513x512'])).toMatch(
        /^preview: --size: "513x512" is not valid \(allowed: .*even numbers from 16 to 3840/,
      );
      expect(await refused(['--size', '8x8'])).toMatch(/^preview: --size: "8x8" is not valid/);
    });

    it.concurrent('--fps out of range or not a whole number', async () => {
      expect(await refused(['--fps', '61'])).toMatch(
        /^preview: --fps: "61" is not valid \(allowed: a whole number from 1 to 60\)$/,
      );
      expect(await refused(['--fps', '2.5'])).toMatch(/^preview: --fps: "2.5" is not valid/);
    });

    it.concurrent('an unknown avatar: the resolver says which exist', async () => {
      expect(await refused(['--avatar', 'nobody'])).toMatch(
        /^preview: --avatar: avatar "nobody": unknown id \(available: default/,
      );
    });

    it.concurrent('.mp4 with no ffmpeg on PATH', async () => {
      const emptyPath = mkdtempSync(path.join(dir, 'no-ffmpeg-'));
      const out = mkdtempSync(path.join(dir, 'refused-'));
      const run = await runPreview(['--input', COUNT, '--output', path.join(out, 'out.mp4')], {
        ...process.env,
        PATH: emptyPath,
      });
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toMatch(
        /^preview: --output: ".*out\.mp4" needs ffmpeg, which is not on PATH/,
      );
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(readdirSync(out)).toEqual([]);
    });
  });
});

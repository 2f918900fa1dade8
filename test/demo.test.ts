/**
 * `npm run demo` as a newcomer runs it on a fresh clone: no keys, no settings, no LiveKit server,
 * no ffmpeg (CI has none). One child process, a clean environment (PATH holds nothing, so no
 * ffmpeg), an empty working directory: a whole call with a greeting, the bundled question and an
 * answer, recorded as a video of the avatar saying it, plus the transcript.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWav } from '../src/audio/wav.ts';
import { ANSWER_TEXT, GREETING_TEXT, QUESTION_TEXT } from '../tools/demo/script.ts';
import { defaultReplyAudioMs } from '../tools/fake_gemini/server.ts';
import { REPO, killRunning, runChild, runDir } from './support/child_run.ts';
import { readY4m } from './support/y4m.ts';

const DEMO = path.join(REPO, 'src', 'demo.ts');

let work: string;
let cwd: string;
let run: Awaited<ReturnType<typeof runChild>>;
const out = (name: string) => path.join(cwd, 'demo-output', name);

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'demo-test-'));
  cwd = runDir(work);
  const noTools = mkdtempSync(path.join(work, 'path-'));
  run = await runChild(DEMO, [], { PATH: noTools }, cwd, 90_000);
}, 100_000);

afterAll(() => {
  killRunning();
  rmSync(work, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('exits 0 with nothing on stderr, and says first that the voice is a stand-in', () => {
    expect({ code: run.code, stderr: run.stderr }, run.describe).toEqual({ code: 0, stderr: '' });
    const first = run.stdout.split('\n')[0];
    expect(first).toMatch(/^demo: an offline call .*no keys, no server.*The voice is a stand-in/);
  });

  it('ends with what was said, the files, and the one line that makes an mp4', () => {
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toContain(`  agent: ${GREETING_TEXT}`);
    expect(lines).toContain(`  user: ${QUESTION_TEXT}`);
    expect(lines).toContain(`  agent: ${ANSWER_TEXT}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ {2}video: +demo-output\/call\.y4m \(\d+\.\d MB, uncompressed/),
        expect.stringMatching(/^ {2}audio: +demo-output\/call\.wav \(\d+ KB/),
        expect.stringMatching(/^ {2}transcript: demo-output\/transcript\.txt/),
      ]),
    );
    expect(lines.at(-1)).toBe(
      'demo: no ffmpeg on PATH; with it, one .mp4 is: ffmpeg -i demo-output/call.y4m -i demo-output/call.wav -c:v libx264 -pix_fmt yuv420p -c:a aac demo-output/call.mp4',
    );
    expect(readdirSync(path.join(cwd, 'demo-output')).sort()).toEqual([
      'call.wav',
      'call.y4m',
      'transcript.jsonl',
      'transcript.txt',
    ]);
  });

  it('writes the transcript: the greeting, the question, the answer, in order', () => {
    const said = readFileSync(out('transcript.txt'), 'utf8').trimEnd().split('\n');
    expect(said.map((line) => line.replace(/^\[\d+\.\d s\] /, ''))).toEqual([
      `agent: ${GREETING_TEXT}`,
      `user: ${QUESTION_TEXT}`,
      `agent: ${ANSWER_TEXT}`,
    ]);
    const events = readFileSync(out('transcript.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string });
    expect(events.at(-1)).toMatchObject({ type: 'usage', userTurns: 1, agentReplies: 2 });
  });

  it('records a video and its audio that cover the same time, the replies in the audio', () => {
    const video = readY4m(out('call.y4m'));
    const audio = readWav(out('call.wav'));
    expect(audio).toMatchObject({ sampleRate: 24_000, channels: 1 });
    const videoS = video.frames.length / video.fps;
    expect(Math.abs(audio.samples.length / audio.sampleRate - videoS)).toBeLessThanOrEqual(
      1 / video.fps,
    );
    // The stand-in's voice for the greeting and the answer is in the audio (10 ms hops above
    // silence), and the user's question is not (the recording is what the room would hear).
    const spokenMs = defaultReplyAudioMs(GREETING_TEXT) + defaultReplyAudioMs(ANSWER_TEXT);
    expect(Math.abs(voicedMs(audio.samples) - spokenMs)).toBeLessThanOrEqual(200);
  });

  it('shows the avatar talking: the mouth moves while the agent speaks, rests while it is silent', () => {
    const video = readY4m(out('call.y4m'));
    const audio = readWav(out('call.wav'));
    const perFrame = audio.sampleRate / video.fps;
    const rest = mouth(video.frames[0]!, video.width);
    const speaking: number[] = [];
    const silent: number[] = [];
    video.frames.forEach((frame, i) => {
      const start = Math.round(i * perFrame);
      const loud = meanAbs(audio.samples.subarray(start, start + perFrame)) > 500;
      (loud ? speaking : silent).push(meanAbsDiff(mouth(frame, video.width), rest));
    });
    // Greeting and answer: several seconds of frames each way.
    expect(speaking.length).toBeGreaterThan(5 * video.fps);
    expect(silent.length).toBeGreaterThan(2 * video.fps);
    expect(quantile(speaking, 0.5)).toBeGreaterThan(15);
    expect(quantile(silent, 0.9)).toBeLessThan(8);
  });
});

/** The luma of the mouth's box in the default face (scaled to the frame's size). */
function mouth(frame: Uint8Array, width: number): Uint8Array {
  const s = width / 512;
  const [x0, x1, y0, y1] = [206, 306, 290, 370].map((v) => Math.round(v * s));
  const out = new Uint8Array((x1! - x0!) * (y1! - y0!));
  let k = 0;
  for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++) out[k++] = frame[y * width + x]!;
  return out;
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function meanAbs(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += Math.abs(s);
  return sum / Math.max(1, samples.length);
}

/** Milliseconds of 10 ms hops (24 kHz) with any sound in them. */
function voicedMs(samples: Int16Array): number {
  let ms = 0;
  for (let at = 0; at + 240 <= samples.length; at += 240) {
    if (meanAbs(samples.subarray(at, at + 240)) > 50) ms += 10;
  }
  return ms;
}

function quantile(values: number[], q: number): number {
  const sorted = values.toSorted((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

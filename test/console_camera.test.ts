/**
 * The console's --camera: a .y4m file as the user's camera, run as a user runs it (a child
 * process against the fake Gemini Live server in this process). The file loops for as long as the
 * call lasts; its frames reach the fake as JPEG realtime video.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Y4mWriter } from '../src/avatar/y4m_writer.ts';
import { Y4mReader } from '../src/video/y4m_reader.ts';
import { FIXTURES } from './support/call_harness.ts';
import { REPO, killRunning, runChild, runDir } from './support/child_run.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';

const CONSOLE = path.join(REPO, 'src', 'console.ts');
const HELLO = path.join(FIXTURES, 'hello.wav');

let work: string;
let camera: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'console-camera-'));
  camera = path.join(work, 'camera.y4m');
  // Ten frames of a 320x240 gradient at 10 fps: one second, looped by the console.
  const writer = new Y4mWriter(camera, { width: 320, height: 240, fps: 10 });
  for (let f = 0; f < 10; f++) {
    const rgba = new Uint8Array(320 * 240 * 4);
    for (let i = 0; i < 320 * 240; i++) rgba.set([(i + f * 16) & 255, 100, 200, 255], i * 4);
    writer.writeRgba(rgba);
  }
  await writer.close();
});

afterAll(() => {
  killRunning();
  rmSync(work, { recursive: true, force: true });
});

describe('Y4mReader', () => {
  it('reads the frames of a y4m file and loops at the end (or ends, without loop)', () => {
    const looped = new Y4mReader(camera);
    expect([looped.width, looped.height, looped.fps]).toEqual([320, 240, 10]);
    for (let i = 0; i < 25; i++) expect(looped.next()?.width).toBe(320);
    expect(looped.framesRead).toBe(25);
    looped.close();
    const once = new Y4mReader(camera, { loop: false });
    let frames = 0;
    while (once.next()) frames++;
    expect(frames).toBe(10);
    once.close();
  });
});

describe('npm run console -- --camera', { timeout: 60_000 }, () => {
  /** The console on hello.wav with `cameraFile`, against a fresh fake; the fake is closed after. */
  async function runWithCamera(cameraFile: string) {
    const fake = await FakeGeminiServer.start();
    const dir = runDir(work);
    const transcript = path.join(dir, 'call.jsonl');
    try {
      const run = await runChild(
        CONSOLE,
        [
          '--input',
          HELLO,
          '--camera',
          cameraFile,
          '--no-greeting',
          '--settle',
          '300',
          '--transcript',
          transcript,
        ],
        {
          GOOGLE_API_KEY: 'test',
          GOOGLE_GEMINI_BASE_URL: fake.baseUrl,
          GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
          VIDEO_IDLE_INTERVAL_MS: '500',
        },
        dir,
        40_000,
      );
      const lines = readFileSync(transcript, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return { run, frames: fake.videoFrames, lines };
    } finally {
      await fake.close();
    }
  }

  it('sends the file as the user camera, looping, as JPEG video frames', async () => {
    const { run, frames, lines } = await runWithCamera(camera);
    expect({ code: run.code, stderr: run.stderr }, run.describe).toEqual({ code: 0, stderr: '' });
    expect(frames.length).toBeGreaterThanOrEqual(4);
    for (const frame of frames) {
      expect(frame).toMatchObject({ mimeType: 'image/jpeg', width: 320, height: 240 });
    }
    // The transcript's video line: the file looped (the call lasts longer than its 1 s).
    const video = lines.find((l) => l.type === 'video');
    expect(video).toMatchObject({ sent: frames.length, encodeErrors: 0 });
    expect(video!.camera_frames as number).toBeGreaterThan(20);
  });

  it('a broken frame later in the file ends the camera with one line, not the call', async () => {
    const broken = path.join(work, 'broken.y4m');
    const bytes = readFileSync(camera);
    const second = bytes.indexOf('FRAME', bytes.indexOf('FRAME') + 5);
    bytes.write('FRAMX', second, 'latin1');
    writeFileSync(broken, bytes);

    const { run, lines } = await runWithCamera(broken);
    expect(run.code, run.describe).toBe(0);
    expect(run.stderr.trim()).toBe(
      `console: --camera: "${broken}": frame 1 does not start with FRAME; no more video`,
    );
    expect(lines.some((l) => l.type === 'message' && l.role === 'assistant')).toBe(true);
  });

  it('refuses a camera file that is not y4m with a usage error', async () => {
    const run = await runChild(
      CONSOLE,
      ['--input', HELLO, '--camera', path.join(work, 'camera.mp4')],
      { GOOGLE_API_KEY: 'test' },
      runDir(work),
      30_000,
    );
    expect(run.code, run.describe).toBe(2);
    expect(run.stderr).toContain(
      `console: --camera: "${path.join(work, 'camera.mp4')}" is not valid (allowed: a .y4m file, 4:2:0)`,
    );
  });
});

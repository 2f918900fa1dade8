/**
 * The offline console with a Gemini Live Avatar: `--video` records what a room would show,
 * Gemini's own pictures (decoded from the fake's fMP4) with the speech from the same fragments,
 * as a user runs it (a child process, Vertex AI signing in against the fake's token service).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readWav } from '../src/audio/wav.ts';
import { avatarClip } from '../tools/fake_gemini/avatar_stream.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { FIXTURES } from './support/call_harness.ts';
import { REPO, killRunning, runChild, runDir } from './support/child_run.ts';
import { writeWorkloadCredentials } from './support/vertex_adc.ts';
import { REAL_TIME_RETRY } from './support/loop_watch.ts';
import { readY4m } from './support/y4m.ts';

const ACCESS_TOKEN = 'ya29.console-avatar-token';
const clip = avatarClip();
let fake: FakeGeminiServer;
let work: string;
let credentials: string;

beforeAll(async () => {
  fake = await FakeGeminiServer.start({
    accessToken: ACCESS_TOKEN,
    respond: (turn) =>
      turn.source === 'audio'
        ? { text: 'You said: hello.', audioMs: 2_000 }
        : { text: 'Hi! How can I help?', audioMs: 2_500 },
  });
  work = mkdtempSync(path.join(tmpdir(), 'gemini-avatar-console-'));
  const subject = path.join(work, 'subject-token');
  writeFileSync(subject, 'an OIDC token');
  credentials = writeWorkloadCredentials(work, 'adc.json', fake.tokenUrl, subject);
});

afterAll(async () => {
  killRunning();
  await fake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

it(
  'console --video records Gemini’s pictures and speech, in order, 704x1280 at 24 fps',
  { ...REAL_TIME_RETRY, timeout: 90_000 },
  async () => {
    const cwd = runDir(work);
    const video = path.join(cwd, 'call.y4m');
    const audio = path.join(cwd, 'call.wav');
    const run = await runChild(
      path.join(REPO, 'src', 'console.ts'),
      [
        ...['--input', path.join(FIXTURES, 'hello.wav'), '--video', video, '--output', audio],
        ...['--metadata', JSON.stringify({ avatar_id: 'gemini-kira' }), '--settle', '800'],
      ],
      {
        GOOGLE_GENAI_USE_VERTEXAI: 'true',
        GOOGLE_CLOUD_PROJECT: 'console-project',
        GOOGLE_CLOUD_LOCATION: 'us-central1',
        GOOGLE_VERTEX_BASE_URL: fake.baseUrl,
        GOOGLE_APPLICATION_CREDENTIALS: credentials,
        GEMINI_MODEL: 'gemini-3.8-live',
      },
      cwd,
      60_000,
    );
    expect(run.code, run.describe).toBe(0);
    expect(fake.connections.at(-1)!.setup.avatarConfig).toEqual({ avatarName: 'Kira' });

    const y4m = readY4m(video);
    expect([y4m.width, y4m.height, y4m.fps]).toEqual([704, 1280, 24]);
    const codes = y4m.frames.map((f) => clip.frameIndex(f, 704));
    // Both replies, each the clip from its first frame, in order (held frames repeat).
    const starts = codes.filter((code, i) => code === 0 && codes[i - 1] !== 0).length;
    expect(starts).toBe(2);
    const backwards = codes.flatMap((code, i) =>
      i > 0 && code < codes[i - 1]! && code > 1 ? [`frame ${i}: ${codes[i - 1]} -> ${code}`] : [],
    );
    expect(backwards).toEqual([]);
    // The recording ends on a resting face; the audio covers the same time as the video.
    expect(clip.isRest(codes.at(-1)!)).toBe(true);
    const wav = readWav(audio);
    const videoSeconds = y4m.frames.length / 24;
    expect(Math.abs(wav.samples.length / wav.sampleRate - videoSeconds)).toBeLessThan(0.1);
  },
);

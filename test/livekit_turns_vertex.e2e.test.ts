/**
 * TURN_DETECTION=livekit on the Vertex AI row of gemini-3.8-live, with Gemini's live transcription
 * model as the STT: both on the call's Vertex project, signed in with Application Default
 * Credentials (see vertex.e2e.test.ts for how that works offline), the transcription model in the
 * `global` location.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { speechFixture, unscriptedCloses } from './support/call_harness.ts';
import {
  type LivekitCall,
  TRANSCRIBE_MODEL,
  liveConnections,
  liveSignals,
  startLivekitCall,
} from './support/livekit_call.ts';
import { writeWorkloadCredentials } from './support/vertex_adc.ts';

const PROJECT = 'vertex-test-project';
const ACCESS_TOKEN = 'ya29.fake-vertex-access-token';
const SAID = 'Hello there, can you hear me?';

let sts: FakeGeminiServer;
let dir: string;
let call: LivekitCall | undefined;

beforeAll(async () => {
  sts = await FakeGeminiServer.start({ accessToken: ACCESS_TOKEN });
  dir = mkdtempSync(path.join(tmpdir(), 'vertex-adc-'));
  const subjectToken = path.join(dir, 'subject-token');
  writeFileSync(subjectToken, 'an OIDC token from the workload');
  vi.stubEnv(
    'GOOGLE_APPLICATION_CREDENTIALS',
    writeWorkloadCredentials(dir, 'credentials.json', sts.tokenUrl, subjectToken),
  );
  vi.stubEnv('GOOGLE_CLOUD_PROJECT', PROJECT);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await sts?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await call?.close();
  call = undefined;
});

describe('TURN_DETECTION=livekit on Vertex AI (gemini-3.8-live, STT=gemini)', () => {
  it('answers a spoken question; the transcription model runs on the project, in global', async () => {
    call = await startLivekitCall({
      model: 'gemini-3.8-live',
      stt: 'gemini',
      said: [SAID],
      env: {
        GOOGLE_GENAI_USE_VERTEXAI: 'true',
        GOOGLE_CLOUD_PROJECT: PROJECT,
        GOOGLE_CLOUD_LOCATION: 'us-central1',
      },
      fake: { accessToken: ACCESS_TOKEN },
    });
    await call.call.say(speechFixture('finished.wav'));
    expect(await call.call.untilAnswered({ deadline: Date.now() + 25_000, settleMs: 1000 })).toBe(
      true,
    );

    const transcriber = call.fake.connections.find((c) => c.model === TRANSCRIBE_MODEL);
    expect(transcriber).toMatchObject({ backend: 'vertex' });
    expect(transcriber!.setup.model).toBe(
      `projects/${PROJECT}/locations/global/publishers/google/models/${TRANSCRIBE_MODEL}`,
    );
    expect(transcriber!.authorization).toBe(`Bearer ${ACCESS_TOKEN}`);
    expect(liveConnections(call.fake)[0]).toMatchObject({ backend: 'vertex' });
    expect(liveSignals(call.fake)).toEqual(['activityStart', 'activityEnd']);
    const users = call.call.events.ofType('message').filter((e) => e.role === 'user');
    expect(users.map((m) => m.text)).toEqual([SAID]);
    expect(unscriptedCloses(call.fake)).toEqual([]);
  });
});

/**
 * The session API never leaks a secret: `npm run sessions`' entry point runs as a process with
 * every credential it reads set to a canary (the session API key, LIVEKIT_API_KEY and
 * LIVEKIT_API_SECRET, GOOGLE_API_KEY) at LOG_LEVEL=debug, against the fake LiveKit API. After a
 * whole session (token, a refused JSON, a wrong key, start, a reused token, keep-alive, stop)
 * and a SIGTERM, no canary, session token or client token appears in its output, and no answer
 * carries a secret. (A LiveKit client token names LIVEKIT_API_KEY as its issuer, as every LiveKit
 * token does; the API secret only signs it.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeLivekitApi } from '../tools/fake_livekit_api/server.ts';
import { REPO, killRunning, runDir, startChild } from './support/child_run.ts';
import { post } from './support/sessions_harness.ts';

const tag = `${process.pid}${Date.now().toString(36)}`;
const CANARIES = {
  SESSION_API_KEY: `CanarySessionApiKey${tag}`,
  WRONG_API_KEY: `CanaryWrongApiKey${tag}`,
  LIVEKIT_API_KEY: `APICanaryLivekitKey${tag}`,
  LIVEKIT_API_SECRET: `CanaryLivekitSecret${tag}`,
  GOOGLE_API_KEY: `AIzaCanaryGoogle${tag}`,
};

/** Each secret, also in the encodings a log could carry it in. */
function forms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64').slice(0, -4)];
}

function expectAbsent(text: string, secrets: Record<string, string>, where: string): void {
  for (const [name, secret] of Object.entries(secrets)) {
    for (const form of forms(secret)) {
      expect(text.includes(form), `${name} in ${where}`).toBe(false);
    }
  }
}

let work: string;
let fake: FakeLivekitApi;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'sessions-secrets-'));
  fake = await FakeLivekitApi.start({
    apiKey: CANARIES.LIVEKIT_API_KEY,
    apiSecret: CANARIES.LIVEKIT_API_SECRET,
  });
});

afterAll(async () => {
  killRunning();
  await fake?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('session API secrets', () => {
  it('keeps every credential and token out of its output and its answers', async () => {
    const keysFile = path.join(work, 'keys.json');
    writeFileSync(keysFile, JSON.stringify([CANARIES.SESSION_API_KEY]));
    const child = startChild(
      path.join(REPO, 'src', 'sessions', 'main.ts'),
      [],
      {
        LOG_LEVEL: 'debug',
        SESSIONS_HOST: '127.0.0.1',
        SESSIONS_PORT: '0',
        SESSION_API_KEYS_FILE: keysFile,
        LIVEKIT_URL: fake.url,
        LIVEKIT_API_KEY: CANARIES.LIVEKIT_API_KEY,
        LIVEKIT_API_SECRET: CANARIES.LIVEKIT_API_SECRET,
        GOOGLE_API_KEY: CANARIES.GOOGLE_API_KEY,
      },
      runDir(work),
    );
    await child.waitForOutput(/"msg":"session API listening"/, 20_000);
    const url = JSON.parse(
      child
        .stdout()
        .split('\n')
        .find((l) => l.includes('session API listening'))!,
    ).url as string;

    const key = { 'x-api-key': CANARIES.SESSION_API_KEY };
    const json = { gemini_realtime_config: { voice: 'Kore' } };
    const answers = [
      await post(`${url}/v1/sessions/token`, key, { gemini_realtime_config: { voice: 'Bob' } }),
      await post(`${url}/v1/sessions/token`, { 'x-api-key': CANARIES.WRONG_API_KEY }, json),
    ];
    const issued = await post(`${url}/v1/sessions/token`, key, json);
    const token = issued.body.data.session_token as string;
    const auth = { authorization: `Bearer ${token}` };
    const started = await post(`${url}/v1/sessions/start`, auth);
    expect(started.status).toBe(201);
    const clientToken = started.body.data.livekit_client_token as string;
    answers.push(
      await post(`${url}/v1/sessions/start`, auth),
      await post(`${url}/v1/sessions/keep-alive`, auth),
      await post(`${url}/v1/sessions/stop`, auth),
    );
    expect(answers.map((a) => a.status)).toEqual([422, 401, 409, 200, 200]);

    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);

    const output = child.stdout() + child.stderr();
    expect(output).toContain('"msg":"session ended"');
    expectAbsent(output, { ...CANARIES, token, clientToken }, 'the process output');

    // Answers: no secret anywhere; the LiveKit key only as the client token's issuer.
    const { LIVEKIT_API_KEY: _issuer, ...secrets } = CANARIES;
    for (const answer of [...answers, issued, started]) {
      expectAbsent(JSON.stringify(answer.body), secrets, `an answer (${answer.status})`);
    }
    const claims = JSON.parse(Buffer.from(clientToken.split('.')[1]!, 'base64url').toString());
    expect(claims.iss).toBe(CANARIES.LIVEKIT_API_KEY);
    const withoutToken = JSON.stringify(started.body).replace(clientToken, '');
    expectAbsent(withoutToken, { LIVEKIT_API_KEY: CANARIES.LIVEKIT_API_KEY }, 'the start answer');
  });
});

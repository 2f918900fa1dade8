/**
 * Secrets never leak: with every credential the worker reads (GOOGLE_API_KEY, LIVEKIT_API_KEY,
 * LIVEKIT_API_SECRET, DEEPGRAM_API_KEY, and on Vertex AI the subject token in the workload
 * identity federation credential source and the access token Google's STS issues for it) set to
 * a canary, no canary appears in anything a process prints or writes, at the most verbose logging
 * there is:
 *
 * (a) a whole offline call through the harness (greeting, a spoken turn, a function tool, the
 *     server dropping the socket and the session reconnecting, then a session whose credential the
 *     server refuses, and on Vertex one whose subject token the STS refuses) in a child process
 *     with LOG_LEVEL=debug and the plugin's LK_GOOGLE_DEBUG=1, on the Gemini API and on Vertex
 *     AI: every log line, the call's events and every error object (inspected in full). The SDK
 *     carries the Gemini key in the WebSocket URL query and the Vertex token in its Authorization
 *     header, so no `key=` / `access_token=` query and no `Bearer <token>` may appear at all. (A
 *     service-account key file's private key is not covered: the fake has no stand-in for its
 *     signed-JWT token exchange.)
 * (b) the worker CLI refusing bad settings;
 * (c) the console when the connection fails: the server refusing the key (1008) and nothing
 *     listening. Its one error line names the failure, not the key.
 *
 * The running worker's own log (registering with LiveKit, with the canary key and secret) is
 * searched in test/shutdown.test.ts, which runs one anyway. Dispatch refusals: bad_dispatch.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { writeWorkloadCredentials } from './support/vertex_adc.ts';
import { FIXTURES } from './support/call_harness.ts';
import { REPO, closedPort, runChild, runDir } from './support/child_run.ts';
import type { SecretsCallReport } from './support/secrets_call.ts';

const AGENT = path.join(REPO, 'src', 'agent.ts');
const CONSOLE = path.join(REPO, 'src', 'console.ts');
const CALL_SCRIPT = path.join(REPO, 'test', 'support', 'secrets_call.ts');
const HELLO = path.join(FIXTURES, 'hello.wav');

const tag = `${process.pid}${Date.now().toString(36)}`;
const CANARIES = {
  GOOGLE_API_KEY: `AIzaCanaryGoogle${tag}`,
  LIVEKIT_API_KEY: `APICanaryLivekitKey${tag}`,
  LIVEKIT_API_SECRET: `CanaryLivekitSecret${tag}`,
  DEEPGRAM_API_KEY: `CanaryDeepgram${tag}`,
};
/**
 * Vertex AI's credentials: Application Default Credentials from a workload identity federation
 * file (as in test/vertex.e2e.test.ts), whose subject token the fake's STS exchanges for the
 * access token.
 */
const VERTEX_CANARIES = {
  'Vertex access token': `ya29.CanaryVertexAccessToken${tag}`,
  'Vertex subject token': `eyJCanaryVertexSubjectToken${tag}`,
};
/** Keys the worker reads from files and other variables: GEMINI_SECRETS_FILE, LiveAvatar's. */
const FILE_CANARIES = {
  'named Gemini key': `AIzaCanaryNamedKey${tag}`,
  LIVEAVATAR_API_KEY: `CanaryLiveAvatarKey${tag}`,
};
/** The most verbose logging the worker and the plugin have. */
const VERBOSE = { LOG_LEVEL: 'debug', LK_GOOGLE_DEBUG: '1' };
/** A key or token in a URL query, as the SDK builds the Gemini Live socket URL. */
const KEY_IN_URL = /[?&](key|access_token)=/i;
/** A bearer token, as the SDK sends the Vertex access token in the Live socket's headers. */
const BEARER = /Bearer\s+[\w.~+/-]/i;

/** Every canary, also in the encodings a log could carry it in. */
function expectNoSecret(text: string, where: string): void {
  for (const [name, canary] of Object.entries({
    ...CANARIES,
    ...VERTEX_CANARIES,
    ...FILE_CANARIES,
  })) {
    for (const form of [
      canary,
      encodeURIComponent(canary),
      Buffer.from(canary).toString('base64').slice(0, -4),
    ]) {
      expect(text.includes(form), `${name} (${form}) in ${where}`).toBe(false);
    }
  }
}

let work: string;
const fakes: FakeGeminiServer[] = [];
/** The STS the Vertex credentials file names (its Live endpoint is not used), and one that refuses. */
let sts: FakeGeminiServer;
let refusingSts: FakeGeminiServer;
let vertexEnv: Record<string, string>;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'secrets-test-'));
  sts = await FakeGeminiServer.start({ accessToken: VERTEX_CANARIES['Vertex access token'] });
  refusingSts = await FakeGeminiServer.start();
  fakes.push(sts, refusingSts);
  const subjectToken = path.join(work, 'subject-token');
  writeFileSync(subjectToken, VERTEX_CANARIES['Vertex subject token']);
  const credentials = (name: string, tokenUrl: string): string =>
    writeWorkloadCredentials(work, name, tokenUrl, subjectToken);
  vertexEnv = {
    GOOGLE_GENAI_USE_VERTEXAI: 'true',
    GOOGLE_CLOUD_PROJECT: 'secrets-test-project',
    GOOGLE_CLOUD_LOCATION: 'us-central1',
    GEMINI_MODEL: 'gemini-live-2.5-flash-native-audio',
    GOOGLE_APPLICATION_CREDENTIALS: credentials('credentials.json', sts.tokenUrl),
    // For the child: the token its fake accepts (the worker gets it from the STS), and the
    // credentials of its last session.
    FAKE_VERTEX_ACCESS_TOKEN: VERTEX_CANARIES['Vertex access token'],
    FAKE_VERTEX_REFUSED_CREDENTIALS: credentials('refused.json', refusingSts.tokenUrl),
  };
});

afterAll(async () => {
  await Promise.all(fakes.map((f) => f.close()));
  rmSync(work, { recursive: true, force: true });
});

async function startFake(apiKey: string): Promise<FakeGeminiServer> {
  const fake = await FakeGeminiServer.start({ apiKey });
  fakes.push(fake);
  return fake;
}

describe.concurrent('no secret in any output', { timeout: 90_000 }, () => {
  const calls = [
    { backend: 'gemini', refusal: /API key not valid/ },
    { backend: 'vertex', refusal: /invalid authentication credentials/ },
  ] as const;
  it.each(calls)(
    '(a) a whole call on $backend with debug logging: log, events, errors',
    async ({ backend, refusal }) => {
      const cwd = runDir(work);
      const reportFile = path.join(cwd, 'report.json');
      const env = { ...CANARIES, ...VERBOSE, ...(backend === 'vertex' ? vertexEnv : {}) };
      const run = await runChild(CALL_SCRIPT, [reportFile, backend], env, cwd);
      expect(run.code, run.describe).toBe(0);
      const report = JSON.parse(readFileSync(reportFile, 'utf8')) as SecretsCallReport;

      // The call did what it should, so there was something to leak: the credential reached the
      // fake on every connection (on Vertex, after the STS exchanged the subject token for it).
      expect(report.backend).toBe(backend);
      expect(report.credentialSent).toBe(true);
      if (backend === 'vertex') {
        expect(sts.subjectTokens).toContain(VERTEX_CANARIES['Vertex subject token']);
        // The last session: the STS refused the subject token (the error the auth library throws
        // holds the request, subject token included), so no socket opened.
        expect(refusingSts.subjectTokens).toContain(VERTEX_CANARIES['Vertex subject token']);
        expect(report.noTokenConnections).toBe(0);
        expect(run.stdout).toMatch(/invalid_grant/);
      }
      expect(report.answered).toBe(true);
      expect(report.toolCalls).toBe(1);
      expect(report.reconnected).toBe(true);
      expect(report.refusedClose).toMatch(/^1008 /);
      expect(report.errors.length).toBeGreaterThan(0);
      expect(report.errors.join('\n')).toMatch(refusal);
      // The debug log is really on: it logs every server message and the client's tool response.
      expect(run.stdout).toContain('received Gemini Live server event');
      expect(run.stdout).toContain('sent Gemini Live client event');
      expect(run.stdout).toMatch(/"level":20/);

      expectNoSecret(run.stdout, 'stdout');
      expectNoSecret(run.stderr, 'stderr');
      expectNoSecret(JSON.stringify(report.events), 'the call events');
      report.errors.forEach((error, i) => expectNoSecret(error, `error ${i}`));
      for (const pattern of [KEY_IN_URL, BEARER]) {
        expect(run.stdout).not.toMatch(pattern);
        expect(run.stderr).not.toMatch(pattern);
        expect(JSON.stringify(report.events)).not.toMatch(pattern);
        expect(report.errors.join('\n')).not.toMatch(pattern);
      }
    },
  );

  describe('(b) the worker refusing bad settings', () => {
    const refusals: { what: string; command: string; env: Record<string, string> }[] = [
      {
        what: 'dev with bad call options and a cloud LiveKit',
        command: 'dev',
        env: {
          ...CANARIES,
          LIVEKIT_URL: 'wss://example.livekit.cloud',
          GEMINI_VOICE: 'Bob',
          GEMINI_TEMPERATURE: '9',
          AVATAR_SIZE: '7x7',
          TURN_DETECTION: 'sometimes',
        },
      },
      {
        what: 'dev with a LiveKit key but no secret',
        command: 'dev',
        env: {
          GOOGLE_API_KEY: CANARIES.GOOGLE_API_KEY,
          LIVEKIT_API_KEY: CANARIES.LIVEKIT_API_KEY,
          DEEPGRAM_API_KEY: CANARIES.DEEPGRAM_API_KEY,
          LIVEKIT_URL: 'wss://example.livekit.cloud',
        },
      },
      {
        what: 'dev with Vertex AI and no project',
        command: 'dev',
        env: { ...CANARIES, LIVEKIT_URL: 'wss://x.livekit.cloud', GOOGLE_GENAI_USE_VERTEXAI: '1' },
      },
      {
        what: 'start without LIVEKIT_URL',
        command: 'start',
        env: { ...CANARIES },
      },
      {
        what: 'dev with a GEMINI_SECRETS_FILE that is not JSON, and a bad LIVEAVATAR_API_URL',
        command: 'dev',
        env: {
          ...CANARIES,
          LIVEKIT_URL: 'wss://example.livekit.cloud',
          GEMINI_SECRETS_FILE: '(written in beforeAll)',
          LIVEAVATAR_API_KEY: FILE_CANARIES.LIVEAVATAR_API_KEY,
          LIVEAVATAR_API_URL: 'ftp://nowhere',
        },
      },
    ];

    it.each(refusals)('$what', async ({ command, env }) => {
      if (env.GEMINI_SECRETS_FILE) {
        // A trailing comma: the JSON parser's own message would quote the key next to it.
        env.GEMINI_SECRETS_FILE = path.join(work, 'gemini-secrets.json');
        writeFileSync(
          env.GEMINI_SECRETS_FILE,
          `{"tenant-a": "${FILE_CANARIES['named Gemini key']}",}`,
        );
      }
      const run = await runChild(AGENT, [command], { ...env, ...VERBOSE }, runDir(work));
      expect(run.code, run.describe).toBe(1);
      expect(run.stderr).toMatch(/^Cannot start the worker/);
      expectNoSecret(run.stdout, 'stdout');
      expectNoSecret(run.stderr, 'stderr');
    });
  });

  describe('(c) the console when the connection fails', () => {
    it('the server refuses the key (1008): exit 4, one line that names it, no key', async () => {
      const fake = await startFake(`the-right-key-${tag}`);
      const cwd = runDir(work);
      const transcript = path.join(cwd, 'call.jsonl');
      const run = await runChild(
        CONSOLE,
        ['--input', HELLO, '--transcript', transcript, '--output', path.join(cwd, 'out.wav')],
        { ...CANARIES, ...VERBOSE, GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
        cwd,
      );
      expect(run.code, run.describe).toBe(4);
      // Over as soon as the call is: not at the console's deadline (input length + 60 s).
      expect(run.wallMs).toBeLessThan(30_000);
      expect(run.stderr).toMatch(/^console: the call ended: .*API key not valid/);
      expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
      // The canary did reach the server, in the socket URL, and was refused there.
      expect(fake.connections.some((c) => c.path.includes(CANARIES.GOOGLE_API_KEY))).toBe(true);
      expect(fake.connections.every((c) => c.closeCode === 1008)).toBe(true);
      expectNoSecret(run.stdout, 'stdout');
      expectNoSecret(run.stderr, 'stderr');
      expectNoSecret(readFileSync(transcript, 'utf8'), 'the transcript');
      expect(run.stdout + run.stderr).not.toMatch(KEY_IN_URL);
    });

    it('nothing listens at the endpoint: exit 4, no key', async () => {
      const cwd = runDir(work);
      const transcript = path.join(cwd, 'call.jsonl');
      const run = await runChild(
        CONSOLE,
        ['--input', HELLO, '--transcript', transcript],
        {
          ...CANARIES,
          ...VERBOSE,
          GOOGLE_GEMINI_BASE_URL: `http://127.0.0.1:${await closedPort()}`,
        },
        cwd,
      );
      expect(run.code, run.describe).toBe(4);
      expect(run.wallMs).toBeLessThan(45_000);
      expect(run.stderr).toMatch(/^console: the call ended: .*ECONNREFUSED/);
      expectNoSecret(run.stdout, 'stdout');
      expectNoSecret(run.stderr, 'stderr');
      expectNoSecret(readFileSync(transcript, 'utf8'), 'the transcript');
      expect(run.stdout + run.stderr).not.toMatch(KEY_IN_URL);
    });
  });
});

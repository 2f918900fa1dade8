/**
 * The session API against the fake LiveKit server API, in process: real livekit-server-sdk calls,
 * a keys file in a temporary directory, the worker's settings loader, and the log lines captured.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { loadSettings } from '../../src/config/settings.ts';
import { type SessionsConfig, loadSessionsConfig } from '../../src/sessions/config.ts';
import { SessionsServer } from '../../src/sessions/server.ts';
import { FakeLivekitApi } from '../../tools/fake_livekit_api/server.ts';

export const LIVEKIT_KEY = 'APIsessionsTestKey';
export const LIVEKIT_SECRET = 'sessions-test-secret-0123456789abcdef';
export const API_KEY = 'test-api-key-0123456789abcdef';
export const OTHER_API_KEY = 'other-api-key-0123456789abcdef';

/** A session JSON the validator accepts today. */
export const SESSION_JSON = {
  avatar_id: 'default',
  gemini_realtime_config: { voice: 'Kore', temperature: 0.7, context_id: 'default' },
};

export interface HarnessOptions {
  /** Extra environment (SESSIONS_*, worker settings). */
  env?: Record<string, string>;
  /** Overrides of the loaded config (for values env cannot express, like short durations). */
  config?: Partial<SessionsConfig>;
  now?: () => number;
  endGraceMs?: number;
  keys?: string[];
}

export interface Harness {
  fake: FakeLivekitApi;
  server: SessionsServer;
  url: string;
  logs: string[];
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sessions-'));
  const keysFile = path.join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(options.keys ?? [API_KEY, OTHER_API_KEY]));
  const fake = await FakeLivekitApi.start({ apiKey: LIVEKIT_KEY, apiSecret: LIVEKIT_SECRET });
  const env: Record<string, string> = {
    GOOGLE_API_KEY: 'unused-by-the-session-api',
    LIVEKIT_URL: fake.url,
    LIVEKIT_API_KEY: LIVEKIT_KEY,
    LIVEKIT_API_SECRET: LIVEKIT_SECRET,
    SESSION_API_KEYS_FILE: keysFile,
    SESSIONS_HOST: '127.0.0.1',
    SESSIONS_PORT: '0',
    ...options.env,
  };
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  let server: SessionsServer;
  try {
    server = await SessionsServer.start({
      config: { ...loadSessionsConfig(env), ...options.config },
      settings: loadSettings(env),
      logger,
      ...(options.now ? { now: options.now } : {}),
      ...(options.endGraceMs !== undefined ? { endGraceMs: options.endGraceMs } : {}),
    });
  } catch (error) {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    fake,
    server,
    url: server.url,
    logs,
    env,
    async close() {
      await server.close();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  // The envelope is untyped JSON from the wire.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** POST to the service and read the JSON answer. */
export async function post(
  url: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : null,
  };
}

/** Token then start, both expected to succeed. */
export async function startSession(
  h: Harness,
  json: unknown = SESSION_JSON,
  apiKey = API_KEY,
): Promise<{ token: string; started: Answer }> {
  const issued = await post(`${h.url}/v1/sessions/token`, { 'x-api-key': apiKey }, json);
  if (issued.status !== 200) throw new Error(`token: ${issued.status} ${issued.body?.message}`);
  const token = issued.body.data.session_token as string;
  const started = await post(`${h.url}/v1/sessions/start`, { authorization: `Bearer ${token}` });
  return { token, started };
}

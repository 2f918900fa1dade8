/**
 * One offline call against the fake Gemini Live server, through the real plugin, SDK and
 * AgentSession: what the end-to-end suites build on.
 */
import { type APIConnectOptions, initializeLogger, type llm } from '@livekit/agents';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'vitest';
import { readMonoAt } from '../../src/audio/wav.ts';
import { applyDispatchMetadata } from '../../src/config/dispatch.ts';
import { type Env, type Settings, loadSettings } from '../../src/config/settings.ts';
import { MIC_RATE, OfflineCall, type Speaker } from '../../src/console/offline_call.ts';
import { type CallSession, createCallSession } from '../../src/session.ts';
import { FakeGeminiServer, type FakeGeminiOptions } from '../../tools/fake_gemini/server.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
export const TEST_API_KEY = 'test-key-for-the-fake';

/**
 * The Gemini API rows the end-to-end suites run every case on: how each takes text turns, and
 * whether it takes client content mid-session (then a resumed session gets the turns after its
 * handle back as content). Vertex AI rows: test/vertex.e2e.test.ts.
 */
export const E2E_MODELS = [
  { id: 'gemini-3.8-live', family: '3.8', textRoute: 'user_content', midSession: true },
  {
    id: 'gemini-3.8-live-extended-thinking',
    family: '3.8-thinking',
    textRoute: 'user_content',
    midSession: true,
  },
  {
    id: 'gemini-3.1-flash-live-preview',
    family: '3.1',
    textRoute: 'realtime_text',
    midSession: false,
  },
  {
    id: 'gemini-2.5-flash-native-audio-preview-12-2025',
    family: '2.5',
    textRoute: 'client_content',
    midSession: true,
  },
] as const;

let loggerReady = false;
/** The framework logs through pino; tests keep it to errors unless LOG_LEVEL says otherwise. */
export function quietLogger(): void {
  if (loggerReady) return;
  initializeLogger({ pretty: false, level: process.env.LOG_LEVEL ?? 'error' });
  loggerReady = true;
}

/** A fixture WAV as 16 kHz mono microphone samples. */
export function speechFixture(name: string): Int16Array {
  return readMonoAt(path.join(FIXTURES, name), MIC_RATE).samples;
}

export function testSettings(fake: FakeGeminiServer, env: Env = {}, metadata?: string): Settings {
  const base = loadSettings({
    GOOGLE_API_KEY: TEST_API_KEY,
    GOOGLE_GEMINI_BASE_URL: fake.baseUrl,
    GOOGLE_VERTEX_BASE_URL: fake.baseUrl,
    ...env,
  });
  return applyDispatchMetadata(base, metadata);
}

export interface HarnessOptions {
  env?: Env;
  metadata?: string;
  fake?: FakeGeminiOptions;
  tools?: llm.ToolContextLike;
  /** The session's connect options; default: no plugin retries, 5 s for each setup. */
  connOptions?: APIConnectOptions;
  /** The call's speaker (e.g. an avatar's sink) instead of a VirtualSpeaker; `played` stays empty. */
  speaker?: Speaker;
  /** As `speaker`, built from the call (e.g. Gemini's face, which follows the call's model). */
  speakerFor?: (call: CallSession) => Promise<Speaker>;
}

export interface Harness {
  fake: FakeGeminiServer;
  call: OfflineCall;
  settings: Settings;
  /** Agent audio that played, in order (24 kHz mono). */
  played: { samples: number; interrupted: boolean }[];
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  quietLogger();
  const fake = await FakeGeminiServer.start({ apiKey: TEST_API_KEY, ...options.fake });
  const settings = testSettings(fake, options.env, options.metadata);
  const session = await createCallSession({
    settings,
    echoFree: true,
    outputCanPause: false,
    ...(options.tools ? { tools: options.tools } : {}),
    connOptions: options.connOptions ?? { maxRetry: 0, retryIntervalMs: 100, timeoutMs: 5000 },
  });
  const played: Harness['played'] = [];
  const speaker = options.speaker ?? (await options.speakerFor?.(session));
  const call = await OfflineCall.start(
    session,
    speaker
      ? { speaker }
      : { onAgentAudio: (samples, info) => played.push({ samples: samples.length, ...info }) },
  );
  return {
    fake,
    call,
    settings,
    played,
    close: async () => {
      await call.close();
      await fake.close();
    },
  };
}

/**
 * A harness closed when the test ends, for tests that run concurrently (`describe.concurrent`):
 * `ctx.onTestFinished` belongs to this test, where an `afterEach` would close another's call.
 */
export async function startHarnessFor(
  ctx: TestContext,
  options: HarnessOptions = {},
): Promise<Harness> {
  const h = await startHarness(options);
  ctx.onTestFinished(() => h.close());
  return h;
}

/** Every client message of a kind (`setup`, `clientContent`, `realtimeInput`, `toolResponse`). */
export function sent(fake: FakeGeminiServer, kind: string): unknown[] {
  return fake.received.filter((r) => kind in r.msg).map((r) => r.msg[kind]);
}

export { unscriptedCloses } from '../../tools/fake_gemini/closes.ts';

/** Realtime text inputs the client sent, in order. */
export function realtimeTexts(fake: FakeGeminiServer): string[] {
  return (sent(fake, 'realtimeInput') as { text?: string }[])
    .map((r) => r.text)
    .filter((t): t is string => typeof t === 'string');
}

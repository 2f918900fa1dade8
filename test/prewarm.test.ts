/**
 * The worker's prewarm (src/prewarm.ts) runs in every job process before it takes a call: it must
 * leave nothing behind, reach nothing but its own loopback stand-in, and never take the process
 * down when a step fails.
 */
import net from 'node:net';
import { JobProcess, initializeLogger, log } from '@livekit/agents';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Env, loadSettings } from '../src/config/settings.ts';
import { PREWARM_STEPS, type PrewarmStep, prewarmCallEnv, prewarmWorker } from '../src/prewarm.ts';
import { PrewarmGeminiStub } from '../src/prewarm_stub.ts';
import { closedPort } from './support/child_run.ts';

/** A worker environment as production has it: a real-looking key, Google's endpoint (no override). */
const WORKER_ENV: Env = {
  GOOGLE_API_KEY: 'AIza-not-a-real-key',
  LIVEKIT_URL: 'wss://example.livekit.cloud',
  LIVEKIT_API_KEY: 'APIkey',
  LIVEKIT_API_SECRET: 'secret',
};

/** What is open in this process, by kind (timers apart: the framework's own expire by themselves). */
function openResources(): { timers: number; other: string[] } {
  const all = process.getActiveResourcesInfo();
  return {
    timers: all.filter((r) => r === 'Timeout').length,
    other: all.filter((r) => r !== 'Timeout').sort(),
  };
}

/** Host (or path) of each outgoing TCP/IPC connection made while `run` runs. */
async function recordConnections<T>(
  run: () => Promise<T>,
): Promise<{ result: T; hosts: string[] }> {
  const hosts: string[] = [];
  const connect = net.Socket.prototype.connect;
  const spy = vi.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (
    this: net.Socket,
    ...args: unknown[]
  ) {
    // net.connect passes its normalized arguments as one array: [options, callback].
    const first = (Array.isArray(args[0]) ? args[0][0] : args[0]) as
      { host?: string; path?: string } | number | string;
    if (typeof first === 'object' && first !== null) {
      hosts.push(first.path ?? first.host ?? 'localhost');
    } else if (typeof first === 'string') {
      hosts.push(first); // a pipe path
    } else {
      hosts.push(typeof args[1] === 'string' ? args[1] : 'localhost');
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  });
  try {
    return { result: await run(), hosts };
  } finally {
    spy.mockRestore();
  }
}

describe('prewarm', () => {
  beforeAll(() => {
    initializeLogger({ pretty: false, level: 'error' });
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('runs a throwaway call against its loopback stand-in, connects nowhere else, leaves nothing open', async () => {
    const before = openResources();
    const { result: report, hosts } = await recordConnections(() =>
      prewarmWorker(new JobProcess(), { env: WORKER_ENV }),
    );

    expect(report.failed).toEqual({});
    expect(Object.keys(report.done)).toEqual(['vad', 'avatar', 'gemini']);
    // The call's socket really was opened, and only to the stand-in on this machine.
    expect(hosts.length).toBeGreaterThan(0);
    for (const host of hosts) expect(host).toBe('127.0.0.1');
    // No socket, server or other handle outlives the prewarm.
    expect(openResources().other).toEqual(before.other);
    // The framework's close leaves timers that only race a task it cancelled (Task.cancelAndWait,
    // 2 s); they expire on their own. Anything that repeats (an interval) would stay.
    // (Polled by hand: vi.waitFor's own timers would count.)
    for (let i = 0; i < 100 && openResources().timers > before.timers; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(openResources().timers).toBeLessThanOrEqual(before.timers);
  });

  it('warms with the worker model, a dummy key, the stand-in URL and no Deepgram, never Vertex', () => {
    const settings = loadSettings({
      ...WORKER_ENV,
      GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
      TURN_DETECTION: 'livekit',
      DEEPGRAM_API_KEY: 'dg-key',
    });
    const env = prewarmCallEnv(settings, 'http://127.0.0.1:1234');
    expect(env).toMatchObject({
      GOOGLE_API_KEY: 'prewarm',
      GOOGLE_GEMINI_BASE_URL: 'http://127.0.0.1:1234',
      GEMINI_MODEL: 'gemini-2.5-flash-native-audio-preview-12-2025',
      TURN_DETECTION: 'gemini',
      GOOGLE_GENAI_USE_VERTEXAI: 'false',
    });
    expect(Object.values(env).join(' ')).not.toMatch(/AIza|dg-key|livekit\.cloud/);

    const vertex = loadSettings({
      GOOGLE_GENAI_USE_VERTEXAI: 'true',
      GOOGLE_CLOUD_PROJECT: 'p',
      GEMINI_MODEL: 'gemini-live-2.5-flash-native-audio',
    });
    const fromVertex = loadSettings(prewarmCallEnv(vertex, 'http://127.0.0.1:1234'));
    expect(fromVertex.google.vertexai).toBe(false);
    expect(fromVertex.google.baseUrl).toBe('http://127.0.0.1:1234');
  });

  it('a failing step only warns: the other steps run and prewarm resolves', async () => {
    const warn = vi.spyOn(log(), 'warn');
    const ran: string[] = [];
    const steps: PrewarmStep[] = [
      {
        name: 'broken',
        run: async () => {
          throw new Error('render failed');
        },
      },
      { name: 'fine', run: async () => void ran.push('fine') },
    ];
    const report = await prewarmWorker(new JobProcess(), { env: WORKER_ENV, steps });
    expect(report.failed).toEqual({ broken: 'render failed' });
    expect(Object.keys(report.done)).toEqual(['fine']);
    expect(ran).toEqual(['fine']);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ step: 'broken', error: 'render failed' }),
      expect.stringContaining('prewarm step failed'),
    );
  });

  it('settings that do not load only warn, and nothing runs', async () => {
    const warn = vi.spyOn(log(), 'warn');
    const run = vi.fn(async () => {});
    const report = await prewarmWorker(new JobProcess(), {
      env: { GEMINI_MODEL: 'no-such-model' },
      steps: [{ name: 'never', run }],
    });
    expect(run).not.toHaveBeenCalled();
    expect(Object.keys(report.failed)).toEqual(['settings']);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('a Gemini step that cannot connect only warns, and leaves nothing open', async () => {
    const warn = vi.spyOn(log(), 'warn');
    const port = await closedPort();
    vi.spyOn(PrewarmGeminiStub.prototype, 'baseUrl', 'get').mockReturnValue(
      `http://127.0.0.1:${port}`,
    );
    const before = openResources();
    const gemini = PREWARM_STEPS.filter((step) => step.name === 'gemini');
    const report = await prewarmWorker(new JobProcess(), { env: WORKER_ENV, steps: gemini });
    expect(Object.keys(report.failed)).toEqual(['gemini']);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ step: 'gemini' }),
      expect.stringContaining('prewarm step failed'),
    );
    expect(openResources().other).toEqual(before.other);
  });
});

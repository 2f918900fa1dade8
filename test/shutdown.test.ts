/**
 * Shutdown: SIGTERM ends a process cleanly and soon.
 *
 * - The worker as `npm start` runs it (`node --import tsx src/agent.ts start`, production mode:
 *   drain, then close), pointed at a local port with nothing listening so it keeps retrying,
 *   with a pool of idle job processes and an inference process. It exits with the framework's
 *   graceful SIGTERM code, leaves no process of its group behind and no secret in its log, both
 *   once it is warm and when the signal comes while its job processes are still loading (see
 *   JOB_PROCESS_CLOSE_TIMEOUT_MS in src/agent.ts: @livekit/agents 1.9.0 loses the shutdown
 *   request to a loading job process and used to wait 60 s).
 * - The worker as the Docker image runs it: built (test/support/built_worker.ts), `node
 *   dist/agent.js start` with no TypeScript loader; its job processes load the JavaScript and
 *   prewarm (with a folder avatar from avatars/), and SIGTERM drains it the same way.
 * - The console mid-call: it closes the Gemini socket (the fake sees the client close it with a
 *   close frame, not a dropped connection), writes its files and exits 143.
 *
 * The worker exits 0: @livekit/agents' CLI ends every completed SIGTERM shutdown with
 * `process.exit(143)` (cli.ts, onSigterm), which src/agent.ts reports as 0; a failed one exits 1.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { buildWorker } from './support/built_worker.ts';
import { FIXTURES } from './support/call_harness.ts';
import { type Child, REPO, killGroup, runDir, startChild } from './support/child_run.ts';
import {
  exitWithin,
  expectCleanSigterm,
  groupGone,
  startRetryingWorker,
  waitForIdleProcesses,
} from './support/worker_shutdown.ts';

const AGENT = path.join(REPO, 'src', 'agent.ts');
const CONSOLE = path.join(REPO, 'src', 'console.ts');
const HELLO = path.join(FIXTURES, 'hello.wav');

const tag = `${process.pid}${Date.now().toString(36)}`;
const CANARIES = {
  GOOGLE_API_KEY: `AIzaCanaryShutdown${tag}`,
  LIVEKIT_API_KEY: `APICanaryShutdown${tag}`,
  LIVEKIT_API_SECRET: `CanaryShutdownSecret${tag}`,
};

let work: string;
const children = new Set<Child>();
const fakes: FakeGeminiServer[] = [];

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'shutdown-test-'));
});

afterAll(async () => {
  for (const child of children) killGroup(child);
  await Promise.all(fakes.map((f) => f.close()));
  rmSync(work, { recursive: true, force: true });
});

function track(child: Child): Child {
  children.add(child);
  return child;
}

function start(script: string, args: string[], env: Record<string, string>): Child {
  return track(startChild(script, args, env, runDir(work)));
}

/** `start` workers share the health port: one at a time. */
let portQueue: Promise<unknown> = Promise.resolve();
function oneWorkerAtATime<T>(run: () => Promise<T>): Promise<T> {
  const next = portQueue.then(run, run);
  portQueue = next.catch(() => {});
  return next;
}

const startWorker = () => startRetryingWorker((env) => start(AGENT, ['start'], env), CANARIES);
const secrets = Object.values(CANARIES);

describe.concurrent('SIGTERM', { timeout: 150_000 }, () => {
  it('npm start, warm: exits with the graceful code, no process left behind', () =>
    oneWorkerAtATime(async () => {
      const worker = await startWorker();
      await waitForIdleProcesses(worker);
      await expectCleanSigterm(worker, secrets);
    }));

  it('the Docker image (node dist/agent.js start), warm: its job processes run the JavaScript', async () => {
    const { app, dist } = await buildWorker(work);
    await oneWorkerAtATime(async () => {
      const worker = await startRetryingWorker(
        // As the image runs it: compiled, no TypeScript loader, from /app.
        (env) => track(startChild(path.join(dist, 'agent.js'), ['start'], env, app, [])),
        // A folder avatar: the worker checks it at start and each job process preloads it.
        { ...CANARIES, AVATAR_ID: 'example' },
      );
      await waitForIdleProcesses(worker);
      expect(worker.stdout()).toContain('job process prewarmed');
      expect(worker.stdout()).not.toContain('prewarm step failed');
      await expectCleanSigterm(worker, secrets);
    });
  });

  it('npm start, while its job processes are still loading: exits within the bound', () =>
    oneWorkerAtATime(async () => {
      const worker = await startWorker();
      // The idle processes fork at start and take seconds to load the agent module.
      expect(worker.stdout()).not.toContain('job runner initialized');
      await expectCleanSigterm(worker, secrets);
    }));

  it('the console mid-call: closes the Gemini socket, writes its files, exits 143', async () => {
    // Real-time pacing and a long greeting: the reply is still streaming when the signal comes.
    const fake = await FakeGeminiServer.start({
      apiKey: CANARIES.GOOGLE_API_KEY,
      paceFactor: 1,
      respond: () => ({ text: 'Hello there, this greeting goes on for a while.', audioMs: 6000 }),
    });
    fakes.push(fake);
    const console_ = start(
      CONSOLE,
      ['--input', HELLO, '--transcript', 'call.jsonl', '--output', 'agent.wav'],
      { GOOGLE_API_KEY: CANARIES.GOOGLE_API_KEY, GOOGLE_GEMINI_BASE_URL: fake.baseUrl },
    );
    const replyChunks = () =>
      fake.sent.filter((s) => s.msg.serverContent?.modelTurn?.parts?.length).length;
    await fake.waitFor(() => replyChunks() >= 10, 30_000, 'the greeting streaming');
    const [connection] = fake.connections;
    expect(connection?.closedBy).toBeUndefined();

    const signalledAt = Date.now();
    console_.process.kill('SIGTERM');
    const exit = await exitWithin(console_, 10_000);
    expect(exit, console_.describe()).toBeDefined();
    expect({ code: exit!.code, signal: exit!.signal }, console_.describe()).toEqual({
      code: 143,
      signal: null,
    });
    expect(exit!.at - signalledAt).toBeLessThan(5000);
    expect(console_.stderr()).toBe('console: stopped by SIGTERM\n');
    // The client closed the socket with a close frame (1000 or 1005), not by dropping it (1006).
    expect(fake.connections).toHaveLength(1);
    expect(connection).toMatchObject({ closedBy: 'client' });
    expect([1000, 1005]).toContain(connection!.closeCode);
    // The files are complete: a transcript ending with usage, a readable WAV of what played.
    const lines = readFileSync(path.join(console_.cwd, 'call.jsonl'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; state?: string });
    expect(lines.at(-1)?.type).toBe('usage');
    expect(lines.find((l) => l.type === 'input' && l.state !== 'started')?.state).toBe('stopped');
    const wav = readFileSync(path.join(console_.cwd, 'agent.wav'));
    expect(wav.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(await groupGone(console_)).toEqual([]);
  });
});

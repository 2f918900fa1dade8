/**
 * The worker entry as a user starts it: `node --import tsx src/agent.ts dev|start` in a child
 * process. The main process checks the environment before it registers and refuses to start with
 * one line per problem; with good settings `dev` starts and tries to reach its LiveKit server.
 *
 * Isolation: src/agent.ts loads `.env.local` and `.env` from its working directory for what the
 * environment does not set, so each child runs in an empty temp directory (with a `node_modules`
 * link: `--import tsx` resolves from the working directory, for the worker and the inference
 * process it forks, as it does from the repo root) and with a clean environment: PATH, HOME and
 * what the test sets. No LiveKit server is needed: the started worker only has to try.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, REPO, killGroup, runDir, startChild } from './support/child_run.ts';

const AGENT = path.join(REPO, 'src', 'agent.ts');
/** A refusal happens before the framework starts anything; give a loaded machine some room. */
const REFUSAL_LIMIT_MS = 15_000;

let work: string;

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'worker-cli-test-'));
});

const workers = new Set<Child>();

/** Start the worker in its own process group (so the forked inference process can be reaped). */
function startWorker(command: string, env: Record<string, string | undefined>): Child {
  const worker = startChild(AGENT, [command], env, runDir(work));
  workers.add(worker);
  void worker.exited.finally(() => workers.delete(worker));
  return worker;
}

afterAll(() => {
  for (const worker of workers) killGroup(worker);
  rmSync(work, { recursive: true, force: true });
});

/** The problem lines of the refusal: `  - FIELD ...`, one per setting. */
function problemLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('  - '));
}

const GOOD = { GOOGLE_API_KEY: 'test-key' };

describe.concurrent('node src/agent.ts', { timeout: 60_000 }, () => {
  it('dev without GOOGLE_API_KEY: exits 1 quickly, naming it on its own line', async () => {
    const worker = startWorker('dev', {});
    const exit = await worker.exited;
    expect(exit.code, worker.describe()).toBe(1);
    expect(exit.wallMs).toBeLessThan(REFUSAL_LIMIT_MS);
    const stderr = worker.stderr();
    expect(stderr).toMatch(/^Cannot start the worker; fix these settings/);
    expect(problemLines(stderr)).toEqual([expect.stringMatching(/^ {2}- GOOGLE_API_KEY missing/)]);
    // It stopped before the framework started: no worker, no connection attempt.
    expect(worker.stdout()).not.toMatch(/starting worker|LiveKit server/);
  });

  it('dev with a cloud LIVEKIT_URL and no key or secret: every problem on its own line', async () => {
    const worker = startWorker('dev', { LIVEKIT_URL: 'wss://x.livekit.cloud' });
    const exit = await worker.exited;
    expect(exit.code, worker.describe()).toBe(1);
    const lines = problemLines(worker.stderr());
    expect(lines).toHaveLength(2);
    expect(lines.filter((l) => l.includes('GOOGLE_API_KEY missing'))).toHaveLength(1);
    const livekit = lines.find((l) => l.includes('LIVEKIT_'));
    expect(livekit).toContain('LIVEKIT_API_KEY');
    expect(livekit).toContain('LIVEKIT_API_SECRET');
    expect(livekit).toContain('wss://x.livekit.cloud');
    expect(worker.stdout()).not.toMatch(/starting worker/);
  });

  it('dev with a cloud LIVEKIT_URL and only the Gemini key: names both LiveKit credentials', async () => {
    const worker = startWorker('dev', { ...GOOD, LIVEKIT_URL: 'wss://x.livekit.cloud' });
    const exit = await worker.exited;
    expect(exit.code, worker.describe()).toBe(1);
    expect(problemLines(worker.stderr())).toEqual([
      expect.stringMatching(/^ {2}- LIVEKIT_API_KEY and LIVEKIT_API_SECRET missing/),
    ]);
  });

  it('start without LIVEKIT_URL is refused: production never guesses a local server', async () => {
    const worker = startWorker('start', GOOD);
    const exit = await worker.exited;
    expect(exit.code, worker.describe()).toBe(1);
    expect(exit.wallMs).toBeLessThan(REFUSAL_LIMIT_MS);
    expect(worker.stderr()).toMatch(/^Cannot start the worker: LIVEKIT_URL.* required for `start`/);
    expect(worker.stderr().trimEnd().split('\n')).toHaveLength(1);
    expect(worker.stdout()).not.toMatch(/starting worker|localhost:7880/);
  });

  it('dev with every setting present starts, using the local livekit-server', async () => {
    const worker = startWorker('dev', GOOD);
    try {
      await worker.waitForOutput(/starting worker/);
      expect(worker.stderr()).toContain(
        'LIVEKIT_URL not set: using the local livekit-server at ws://localhost:7880',
      );
      // It tries to register with that server (and keeps trying while there is none).
      await worker.waitForOutput(
        /failed to connect to LiveKit server \(ws:\/\/localhost:7880\)|registered worker/,
      );
      expect(worker.process.exitCode, worker.describe()).toBeNull();
      expect(worker.stderr()).not.toMatch(/Cannot start the worker/);
      // It shuts down on Ctrl-C like any worker, not with the refusal's exit code.
      worker.process.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([
        worker.exited,
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
      expect(exit, worker.describe()).toBeDefined();
      expect(exit!.code).not.toBe(1);
    } finally {
      killGroup(worker);
    }
  });
});

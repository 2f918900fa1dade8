/**
 * The production worker (`start`) in a child process, and what a clean SIGTERM shutdown of it
 * means: test/shutdown.test.ts runs it as `npm start` does (tsx), test/build.test.ts as the Docker
 * image does (compiled JavaScript).
 *
 * The worker is pointed at a local port with nothing listening, so it keeps retrying the LiveKit
 * connection while its idle job processes and inference process run.
 */
import { createServer } from 'node:net';
import { expect } from 'vitest';
import { workerLoadOptions } from '../../src/worker_load.ts';
import { type Child, closedPort, groupMembers } from './child_run.ts';

/** src/agent.ts turns the framework's 143 after a drained SIGTERM shutdown into 0. */
const WORKER_SIGTERM_EXIT = 0;
/** The production worker's health server (not configurable in 1.9.0). */
const HEALTH_PORT = 8081;
/** Idle job processes `start` keeps warm: the worker sizes them from the machine (worker_load.ts). */
const IDLE_PROCESSES = workerLoadOptions({}).numIdleProcesses;
/**
 * From SIGTERM to exit: a job process loading when the signal comes is waited for 10 s, and the
 * rest of the teardown takes 2-3 s alone but over 10 s at load 10 on 2 cores. Without the close
 * timeout the worker waited 60 s.
 */
const EXIT_LIMIT_MS = 35_000;

async function listenable(port: number, host?: string): Promise<boolean> {
  const server = createServer();
  return new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** Resolves once `port` is free (another checkout's suite may hold it for a while); false after `ms`. */
async function portFreed(port: number, ms = 60_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!(await listenable(port))) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return true;
}

/** The exit, or undefined if the child has not exited `ms` after now. */
export async function exitWithin(child: Child, ms: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([child.exited, late]).finally(() => clearTimeout(timer));
}

/** Polls until the child's process group is empty; returns what is left after `ms`. */
export async function groupGone(child: Child, ms = 5000): Promise<number[]> {
  const until = Date.now() + ms;
  let left = groupMembers(child);
  while (left.length > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = groupMembers(child);
  }
  return left;
}

/**
 * `launch` the worker's `start` with `env` plus a LIVEKIT_URL nobody answers; resolves once it is
 * retrying that connection. Workers share the health port: run one at a time.
 */
export async function startRetryingWorker(
  launch: (env: Record<string, string>) => Child,
  env: Record<string, string>,
): Promise<Child> {
  expect(
    await portFreed(HEALTH_PORT),
    `port ${HEALTH_PORT} is in use: the production worker's health server needs it`,
  ).toBe(true);
  const worker = launch({
    ...env,
    LIVEKIT_URL: `ws://127.0.0.1:${await closedPort()}`,
    LOG_LEVEL: 'debug',
  });
  // It runs, and keeps trying to reach a LiveKit server that is not there.
  await worker.waitForOutput(
    /failed to connect to LiveKit server \(ws:\/\/127\.0\.0\.1:\d+\)/,
    60_000,
  );
  return worker;
}

/** Resolves once every idle job process the worker keeps has loaded the agent and prewarmed. */
export async function waitForIdleProcesses(worker: Child): Promise<void> {
  const warm = (text: string) => text.split('job runner initialized').length - 1;
  // Each idle process loads the agent module (seconds of CPU each on a busy machine).
  await worker.waitForOutput((text) => warm(text) >= IDLE_PROCESSES, 60_000);
}

/** SIGTERM, then everything a clean shutdown means; `secrets` never appear in its output. */
export async function expectCleanSigterm(worker: Child, secrets: string[]): Promise<void> {
  const signalledAt = Date.now();
  worker.process.kill('SIGTERM');
  const exit = await exitWithin(worker, EXIT_LIMIT_MS);
  expect(exit, `no exit ${EXIT_LIMIT_MS} ms after SIGTERM\n${worker.describe()}`).toBeDefined();
  expect({ code: exit!.code, signal: exit!.signal }, worker.describe()).toEqual({
    code: WORKER_SIGTERM_EXIT,
    signal: null,
  });
  const log = worker.stdout();
  expect(log).toContain('SIGTERM received in CLI');
  expect(log).toContain('worker closed due to SIGTERM');
  expect(log).not.toContain('failed to close worker');
  // Its job and inference processes are gone too.
  expect(await groupGone(worker)).toEqual([]);
  // Registering signs a token with the key and secret; neither, nor a token, is in the log.
  for (const secret of secrets) {
    expect(log + worker.stderr()).not.toContain(secret);
  }
  expect(log).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/);
  console.info(`worker exited ${exit!.at - signalledAt} ms after SIGTERM`);
}

/**
 * Run one of our entry points (`node --import tsx <script> ...`, or built: `node dist/agent.js`) as
 * a user would, for tests that look at a whole process: its stdout and stderr, its exit, its
 * response to signals.
 *
 * Isolation, as in test/console.test.ts and test/worker_cli.test.ts: the entry points load
 * `.env.local` and `.env` from their working directory for whatever the environment lacks, so each
 * child runs in an empty temp directory (with a `node_modules` link so `--import tsx` resolves as
 * from the repo root) with a clean environment: PATH, HOME and what the test sets. Each child is
 * the leader of its own process group, so what it forks (the worker's job and inference
 * processes) can be found and reaped.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From spawn to exit. */
  wallMs: number;
  /** When the child exited (Date.now()). */
  at: number;
}

export interface Child {
  process: ChildProcess;
  cwd: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Resolves when stdout + stderr match `pattern`; rejects if the child exits first. */
  waitForOutput(pattern: RegExp | ((output: string) => boolean), timeoutMs?: number): Promise<void>;
  /** The child's output, for an assertion message. */
  describe(): string;
}

/** A fresh empty directory under `root` to run a child in; `node_modules` links to the repo's. */
export function runDir(root: string): string {
  const dir = mkdtempSync(path.join(root, 'run-'));
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

/** A local port with nothing listening on it. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Its handle is released in the loop's close phase, after this turn's immediates: a test that
  // connects in this process finds it closed, not still listening.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return port;
}

/** Children started and not yet exited, for `killRunning`. */
const running = new Set<Child>();

/** SIGKILL the group of every child still running (an afterAll for tests that ended early). */
export function killRunning(): void {
  for (const child of running) killGroup(child);
}

/** Node's options for our TypeScript entry points. */
const TSX = ['--import', 'tsx'];

export function startChild(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  /** Node's own options before the script (compiled JavaScript runs with none). */
  nodeOptions: readonly string[] = TSX,
): Child {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...env,
  })) {
    if (value !== undefined) clean[key] = value;
  }
  const started = Date.now();
  const child = spawn(process.execPath, [...nodeOptions, script, ...args], {
    cwd,
    env: clean,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  let exitedYet = false;
  const listeners = new Set<() => void>();
  const changed = () => listeners.forEach((listener) => listener());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => ((stdout += d), changed()));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => ((stderr += d), changed()));
  const exited = new Promise<Exit>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exitedYet = true;
      changed();
      resolve({ code, signal, wallMs: Date.now() - started, at: Date.now() });
    });
  });
  const handle: Child = {
    process: child,
    cwd,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    describe: () => `stdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr.slice(-4000)}`,
    waitForOutput(pattern, timeoutMs = 20_000) {
      const matches =
        typeof pattern === 'function' ? pattern : (text: string) => pattern.test(text);
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (matches(stdout + stderr)) done(resolve);
          else if (exitedYet) done(() => reject(new Error(`exited before ${pattern}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms`))),
          timeoutMs,
        );
        const done = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        check();
      });
    },
  };
  running.add(handle);
  const gone = () => running.delete(handle);
  exited.then(gone, gone);
  return handle;
}

/** Run a child to its end; SIGKILL its group after `limitMs`. */
export async function runChild(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  limitMs = 60_000,
): Promise<Exit & { stdout: string; stderr: string; describe: string }> {
  const child = startChild(script, args, env, cwd);
  const killer = setTimeout(() => killGroup(child), limitMs);
  try {
    const exit = await child.exited;
    return { ...exit, stdout: child.stdout(), stderr: child.stderr(), describe: child.describe() };
  } finally {
    clearTimeout(killer);
    killGroup(child);
  }
}

/** The processes still alive in a child's process group (the child and what it forked). */
export function groupMembers(child: Child): number[] {
  const pgid = child.process.pid!;
  return execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, group, stat]) => Number(group) === pgid && pid && !stat?.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

/** SIGKILL whatever is left of a child's process group. */
export function killGroup(child: Child): void {
  try {
    process.kill(-child.process.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

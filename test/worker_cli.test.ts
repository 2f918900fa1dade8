/**
 * The worker entry as a user starts it: `node --import tsx src/agent.ts dev|start` in a child
 * process. The main process checks the environment before it registers and refuses to start with
 * one line per problem; with good settings `dev` checks that its LiveKit server answers (one line
 * saying what to do when none does) and registers with it.
 *
 * Isolation: src/agent.ts loads `.env.local` and `.env` from its working directory for what the
 * environment does not set, so each child runs in an empty temp directory (with a `node_modules`
 * link: `--import tsx` resolves from the working directory, for the worker and the inference
 * process it forks, as it does from the repo root) and with a clean environment: PATH, HOME and
 * what the test sets. No LiveKit server is needed: a stand-in takes the worker's connection.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { LOCAL_LIVEKIT } from '../src/config/settings.ts';
import {
  type Child,
  REPO,
  closedPort,
  killGroup,
  runDir,
  startChild,
} from './support/child_run.ts';

const AGENT = path.join(REPO, 'src', 'agent.ts');
/**
 * A refusal happens before the framework starts anything. Loading the agent under tsx is most of
 * it (~3 s alone, 16 s beside three test files and a CPU hog on 2 cores); the retry loop this
 * guards against took 84 s.
 */
const REFUSAL_LIMIT_MS = 30_000;

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

  it('dev with no LIVEKIT_URL uses the local livekit-server at ws://localhost:7880', async () => {
    const worker = startWorker('dev', GOOD);
    try {
      // Whether or not something listens on 7880 here, the worker says which server it uses.
      await worker.waitForOutput(/starting worker|Cannot reach a LiveKit server/);
      expect(worker.stderr()).toMatch(
        /^LIVEKIT_URL not set: using the local livekit-server at ws:\/\/localhost:7880 \(livekit\.yaml\)\n/,
      );
    } finally {
      killGroup(worker);
    }
  });

  it('dev with no LiveKit server reachable: exits 1 with one line saying what to do', async () => {
    const port = await closedPort();
    const worker = startWorker('dev', { ...GOOD, LIVEKIT_URL: `ws://127.0.0.1:${port}` });
    const exit = await worker.exited;
    expect(exit.code, worker.describe()).toBe(1);
    expect(exit.wallMs).toBeLessThan(REFUSAL_LIMIT_MS);
    const lines = worker.stderr().trimEnd().split('\n');
    // The dev-keys notice (no key pair set), then the one line.
    expect(lines, worker.stderr()).toHaveLength(2);
    expect(lines[1]).toMatch(
      new RegExp(
        `^Cannot reach a LiveKit server at ws://127\\.0\\.0\\.1:${port} \\(connection refused`,
      ),
    );
    for (const hint of ['livekit-server --config livekit.yaml', 'lk cloud auth', 'npm run demo']) {
      expect(lines[1]).toContain(hint);
    }
    // None of the framework's retries and stacks.
    expect(worker.stdout()).not.toMatch(/failed to connect|starting worker/);
  });

  it('dev with a localhost LIVEKIT_URL and no keys registers with the local dev keys', async () => {
    const server = await FakeAgentEndpoint.start();
    const worker = startWorker('dev', { ...GOOD, LIVEKIT_URL: server.url });
    try {
      const token = await Promise.race([
        server.firstToken,
        worker.exited.then(() => {
          throw new Error(`the worker exited before it connected\n${worker.describe()}`);
        }),
      ]);
      expect(worker.stderr()).toContain(
        `LIVEKIT_API_KEY and LIVEKIT_API_SECRET not set: using the local livekit-server's dev keys for ${server.url}`,
      );
      // The worker's registration token is signed with livekit.yaml's pair.
      expect(verifiedIssuer(token, LOCAL_LIVEKIT.apiSecret)).toBe(LOCAL_LIVEKIT.apiKey);
      expect(worker.stderr()).not.toMatch(/Cannot start the worker|MissingCredentials/);
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
      await server.close();
    }
  });
});

/** The issuer (API key) of an HS256 JWT whose signature `secret` verifies, else undefined. */
function verifiedIssuer(token: string, secret: string): string | undefined {
  const [header, payload, signature] = token.split('.');
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  if (signature !== expected) return undefined;
  return (JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as { iss?: string }).iss;
}

/**
 * Where a LiveKit server takes workers: HTTP on `/` (what the start-up probe reaches) and the
 * worker WebSocket on `/agent`, whose bearer token it records. It never answers the registration.
 */
class FakeAgentEndpoint {
  readonly url: string;
  readonly firstToken: Promise<string>;
  readonly #http: Server;
  readonly #wss: WebSocketServer;

  private constructor(http: Server, wss: WebSocketServer, firstToken: Promise<string>) {
    this.#http = http;
    this.#wss = wss;
    this.firstToken = firstToken;
    this.url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
  }

  static async start(): Promise<FakeAgentEndpoint> {
    const http = createServer((_req, res) => res.end('OK'));
    const wss = new WebSocketServer({ server: http, path: '/agent' });
    const firstToken = new Promise<string>((resolve) => {
      wss.on('connection', (_socket, request) => {
        resolve((request.headers.authorization ?? '').replace(/^Bearer /, ''));
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new FakeAgentEndpoint(http, wss, firstToken);
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }
}

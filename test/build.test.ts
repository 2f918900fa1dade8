/**
 * The worker as the Docker image runs it: `npm run build` (tsconfig.build.json) compiles src/ to
 * dist/, and the image runs `node dist/agent.js start` with no TypeScript loader, its job processes
 * loading the same JavaScript. Built here into a temp directory laid out as the image's /app
 * (dist/ beside avatars/, contexts/, node_modules/ and package.json), so a build that leaves a
 * `.ts` import path behind (a lazy `import('./turn_detection/stt.ts')` included), misses a module,
 * or moves what the sources find from import.meta.url (avatars/, contexts/) fails here.
 *
 * Built with `--noCheck` (the same output, without type-checking: `npm run typecheck` does that).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Child, REPO, killGroup, startChild } from './support/child_run.ts';
import {
  expectCleanSigterm,
  startRetryingWorker,
  waitForIdleProcesses,
} from './support/worker_shutdown.ts';

const run = promisify(execFile);
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

/** The image's /app: what the Dockerfile copies next to dist/. */
let app: string;
let dist: string;
/** Every emitted module, relative to dist/. */
let modules: string[];
const children = new Set<Child>();

beforeAll(async () => {
  app = mkdtempSync(path.join(tmpdir(), 'build-test-'));
  dist = path.join(app, 'dist');
  for (const dir of ['node_modules', 'avatars', 'contexts']) {
    symlinkSync(path.join(REPO, dir), path.join(app, dir), 'dir');
  }
  // "type": "module": the emitted .js files are ES modules.
  copyFileSync(path.join(REPO, 'package.json'), path.join(app, 'package.json'));
  const config = path.join(REPO, 'tsconfig.build.json');
  await run(process.execPath, [TSC, '-p', config, '--noCheck', '--outDir', dist], { cwd: REPO });
  modules = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.js'),
  );
}, 60_000);

afterAll(() => {
  for (const child of children) killGroup(child);
  if (app) rmSync(app, { recursive: true, force: true });
});

/** Relative module specifiers in emitted JavaScript: static imports, re-exports, `import('...')`. */
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.\.?\/[^'"]+)\1/g;

/** A clean environment for a child: PATH, HOME and `env`. */
function childEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env };
}

describe('npm run build: the worker as JavaScript', { timeout: 60_000 }, () => {
  it('every relative import in dist/ names a module the build emitted', async () => {
    expect(modules).toContain('agent.js');
    // Loaded only with TURN_DETECTION=livekit, through import() in session.ts.
    expect(modules).toContain(path.join('turn_detection', 'stt.js'));
    const unresolved: string[] = [];
    let imports = 0;
    for (const file of modules) {
      const text = await readFile(path.join(dist, file), 'utf8');
      for (const [, , specifier] of text.matchAll(RELATIVE_IMPORT)) {
        imports++;
        const target = path.resolve(path.dirname(path.join(dist, file)), specifier!);
        if (!target.endsWith('.js') || !existsSync(target))
          unresolved.push(`${file}: ${specifier}`);
      }
    }
    expect(unresolved).toEqual([]);
    expect(imports).toBeGreaterThan(modules.length);
    expect(await readFile(path.join(dist, 'session.js'), 'utf8')).toContain(
      `import("./turn_detection/stt.js")`,
    );
  });

  it('plain node loads every module, and finds avatars/ and contexts/ from dist/', async () => {
    // No TypeScript loader: a module that still named a .ts file would not load.
    const script = `
      import { pathToFileURL } from 'node:url';
      const dist = ${JSON.stringify(dist)};
      const url = (file) => pathToFileURL(dist + '/' + file).href;
      for (const file of ${JSON.stringify(modules)}) await import(url(file));
      const { loadSettings } = await import(url('config/settings.js'));
      const { readContext } = await import(url('config/contexts.js'));
      const { resolveAvatar } = await import(url('avatar/avatar_source.js'));
      const settings = loadSettings({ GOOGLE_API_KEY: 'test-key' });
      console.log(JSON.stringify({
        context: readContext(settings).prompt.length > 0,
        contextsDir: settings.contextsDir,
        avatar: resolveAvatar('example', settings.avatar.dir),
      }));
      process.exit(0);
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: app,
      env: childEnv({}),
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
      context: true,
      contextsDir: path.join(app, 'contexts'),
      avatar: { kind: 'folder', dir: path.join(app, 'avatars', 'example') },
    });
  });

  it('node dist/agent.js start (the image command): job processes warm up, SIGTERM drains', async () => {
    const secrets = { GOOGLE_API_KEY: 'AIzaBuildTestCanary', LIVEKIT_API_KEY: 'APIBuildTest' };
    const worker = await startRetryingWorker(
      (env) => {
        const child = startChild(path.join(dist, 'agent.js'), ['start'], env, app, []);
        children.add(child);
        return child;
      },
      // A folder avatar: the worker checks it at start and each job process preloads it.
      { ...secrets, LIVEKIT_API_SECRET: 'BuildTestSecret', AVATAR_ID: 'example' },
    );
    await waitForIdleProcesses(worker);
    expect(worker.stdout()).toContain('job process prewarmed');
    expect(worker.stdout()).not.toContain('prewarm step failed');
    await expectCleanSigterm(worker, [...Object.values(secrets), 'BuildTestSecret']);
  });
});

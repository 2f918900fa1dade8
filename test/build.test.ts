/**
 * The worker as the Docker image runs it: `npm run build` (tsconfig.build.json) compiles src/ to
 * dist/, and the image runs `node dist/agent.js start` with no TypeScript loader, its job processes
 * loading the same JavaScript. Built here into a temp directory laid out as the image's /app
 * (test/support/built_worker.ts), so a build that leaves a `.ts` import path behind (a lazy
 * `import('./turn_detection/stt.ts')` included), misses a module, or moves what the sources find
 * from import.meta.url (avatars/, contexts/) fails here. test/shutdown.test.ts starts the built
 * worker as the image does (it shares the production worker's health port with the other cases).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltWorker, buildWorker } from './support/built_worker.ts';

const run = promisify(execFile);

let work: string;
let built: BuiltWorker;

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'build-test-'));
  built = await buildWorker(work);
}, 60_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Relative module specifiers in emitted JavaScript: static imports, re-exports, `import('...')`. */
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])(\.\.?\/[^'"]+)\1/g;

describe('npm run build: the worker as JavaScript', { timeout: 60_000 }, () => {
  it('every relative import in dist/ names a module the build emitted', async () => {
    const { dist, modules } = built;
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
    const { app, dist, modules } = built;
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
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({
      context: true,
      contextsDir: path.join(app, 'contexts'),
      avatar: { kind: 'folder', dir: path.join(app, 'avatars', 'example') },
    });
  });
});

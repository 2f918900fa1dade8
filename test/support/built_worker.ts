/**
 * The worker built as the Docker image builds it (`npm run build`: tsconfig.build.json, src/ ->
 * dist/), into a directory laid out as the image's /app: dist/ beside avatars/, contexts/,
 * node_modules/ and package.json ("type": "module"), so paths the sources compute from
 * import.meta.url resolve as in the image. Built with `--noCheck`: the same output without
 * type-checking (`npm run typecheck` does that), in about 5 s.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './child_run.ts';

const run = promisify(execFile);
const TSC = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

export interface BuiltWorker {
  /** The image's /app. */
  app: string;
  /** app/dist: the worker entry is dist/agent.js. */
  dist: string;
  /** Every emitted module, relative to dist/. */
  modules: string[];
}

/** Build the worker into a fresh directory under `root`. */
export async function buildWorker(root: string): Promise<BuiltWorker> {
  const app = mkdtempSync(path.join(root, 'app-'));
  const dist = path.join(app, 'dist');
  for (const dir of ['node_modules', 'avatars', 'contexts']) {
    symlinkSync(path.join(REPO, dir), path.join(app, dir), 'dir');
  }
  copyFileSync(path.join(REPO, 'package.json'), path.join(app, 'package.json'));
  const config = path.join(REPO, 'tsconfig.build.json');
  await run(process.execPath, [TSC, '-p', config, '--noCheck', '--outDir', dist], { cwd: REPO });
  const modules = readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((f) =>
    f.endsWith('.js'),
  );
  return { app, dist, modules };
}

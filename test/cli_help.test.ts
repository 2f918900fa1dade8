/**
 * Every command in package.json that runs one of our scripts answers `--help` with its usage on
 * stdout and exit code 0, whatever the settings: asking for help is never an error, and never
 * starts a server, a worker or a call. Each runs in a clean environment and an empty directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, killRunning, runChild, runDir } from './support/child_run.ts';

interface Command {
  name: string;
  script: string;
  args: string[];
}

/** `node [node flags] <file.ts> [args]` scripts, as `npm run <name>` runs them. */
function nodeCommands(): Command[] {
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  return Object.entries(pkg.scripts).flatMap(([name, line]) => {
    const words = line.split(/\s+/);
    const file = words.findIndex((w) => w.endsWith('.ts'));
    if (words[0] !== 'node' || file < 0) return [];
    return [{ name, script: path.join(REPO, words[file]!), args: words.slice(file + 1) }];
  });
}

const COMMANDS = nodeCommands();

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cli-help-test-'));
});
afterAll(() => {
  killRunning();
  rmSync(work, { recursive: true, force: true });
});

describe('--help', () => {
  it('covers every command that runs a script of ours', () => {
    expect(COMMANDS.map((c) => c.name).sort()).toEqual(
      [
        'avatar:preview',
        'bench',
        'console',
        'demo',
        'dev',
        'fake-gemini',
        'fake-liveavatar',
        'fake-livekit-api',
        'models',
        'sessions',
        'soak',
        'start',
      ].sort(),
    );
  });

  it.concurrent.each(COMMANDS.map((c) => [c.name, c] as const))(
    'npm run %s -- --help: usage on stdout, exit 0',
    async (_name, command) => {
      // No settings at all: help must not depend on a key, a server or a .env.local.
      const run = await runChild(
        command.script,
        [...command.args, '--help'],
        {},
        runDir(work),
        60_000,
      );
      expect({ code: run.code, signal: run.signal }, run.describe).toEqual({
        code: 0,
        signal: null,
      });
      expect(run.stdout).toMatch(/^usage: /im);
    },
    70_000,
  );
});

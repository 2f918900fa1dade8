/**
 * System prompts from `contexts/<id>.md`: picked by CONTEXT_ID or a dispatch's context_id,
 * overridden by dispatch `instructions`, and never read from outside the contexts folder.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listContexts, resolveInstructions } from '../src/config/contexts.ts';
import { applyDispatchMetadata } from '../src/config/dispatch.ts';
import { ConfigError } from '../src/config/errors.ts';
import { DEFAULT_CONTEXTS_DIR, type Env, loadSettings } from '../src/config/settings.ts';

const DEFAULT_TEXT = 'You are the default assistant.';
const SUPPORT_TEXT = 'You are a support agent.';
let root: string;
let dir: string;

/** A contexts folder with two prompts, an empty one, and links in and out of the folder. */
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'contexts-'));
  dir = path.join(root, 'contexts');
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'default.md'), `\n${DEFAULT_TEXT}\n\n`);
  writeFileSync(path.join(dir, 'support.md'), `${SUPPORT_TEXT}\n`);
  writeFileSync(path.join(dir, 'blank.md'), '  \n\t\n');
  writeFileSync(path.join(dir, 'notes.txt'), 'not a context');
  writeFileSync(path.join(root, 'outside.md'), 'OUTSIDE-SECRET prompt');
  symlinkSync(path.join(root, 'outside.md'), path.join(dir, 'escape.md'));
  symlinkSync(path.join(dir, 'support.md'), path.join(dir, 'helpdesk.md'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function settingsWith(env: Env = {}, metadata?: string) {
  const base = loadSettings({ GOOGLE_API_KEY: 'k', CONTEXTS_DIR: dir, ...env });
  return applyDispatchMetadata(base, metadata);
}

const dispatch = (config: Record<string, unknown>) =>
  JSON.stringify({ gemini_realtime_config: config });

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const { problems } = error as ConfigError;
    expect(problems).toHaveLength(1);
    return problems[0]!;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveInstructions', () => {
  it.each([
    ['the default context', {}, undefined, DEFAULT_TEXT],
    ['CONTEXT_ID', { CONTEXT_ID: 'support' }, undefined, SUPPORT_TEXT],
    ['a dispatch context_id', {}, dispatch({ context_id: 'support' }), SUPPORT_TEXT],
    ['a link to a file in the folder', { CONTEXT_ID: 'helpdesk' }, undefined, SUPPORT_TEXT],
  ])('reads contexts/<id>.md, trimmed, for %s', (_what, env, metadata, text) => {
    expect(resolveInstructions(settingsWith(env, metadata))).toBe(text);
  });

  it.each([
    ['a context_id in the same dispatch', { instructions: 'Sell bikes.', context_id: 'support' }],
    ['a CONTEXT_ID that has no file', { instructions: 'Sell bikes.' }],
  ])('uses dispatch instructions instead of %s', (_what, config) => {
    const settings = settingsWith({ CONTEXT_ID: 'missing' }, dispatch(config));
    expect(resolveInstructions(settings)).toBe('Sell bikes.');
  });

  it('names CONTEXT_ID, the file it looked for and the ids there are, for a missing id', () => {
    expect(refusal(() => resolveInstructions(settingsWith({ CONTEXT_ID: 'sales' })))).toBe(
      `CONTEXT_ID: "sales" has no file ${path.join(dir, 'sales.md')} (available: blank, default, escape, helpdesk, support)`,
    );
  });

  it('names the dispatch path when the dispatch picked the missing id', () => {
    const settings = settingsWith({}, dispatch({ context_id: 'sales' }));
    expect(refusal(() => resolveInstructions(settings))).toMatch(
      /^gemini_realtime_config\.context_id: "sales" has no file .*\(available: blank, default, /,
    );
  });

  it('says no contexts are available when the folder does not exist', () => {
    const settings = settingsWith({ CONTEXTS_DIR: path.join(root, 'nope') });
    expect(refusal(() => resolveInstructions(settings))).toMatch(
      /^CONTEXT_ID: "default" has no file .*nope.default\.md \(available: none\)$/,
    );
  });

  it('refuses a link that leads out of the folder, without reading it', () => {
    const line = refusal(() => resolveInstructions(settingsWith({ CONTEXT_ID: 'escape' })));
    expect(line).toBe(`CONTEXT_ID: "escape" resolves outside ${dir}`);
    expect(line).not.toContain('OUTSIDE-SECRET');
  });

  it('refuses an empty (whitespace-only) file', () => {
    expect(refusal(() => resolveInstructions(settingsWith({ CONTEXT_ID: 'blank' })))).toMatch(
      /^CONTEXT_ID: .*blank\.md is empty$/,
    );
  });
});

describe('the repository contexts', () => {
  it('include a non-empty contexts/default.md, the default prompt', () => {
    const file = path.join(DEFAULT_CONTEXTS_DIR, 'default.md');
    expect(readFileSync(file, 'utf8').trim()).not.toBe('');
    expect(listContexts(DEFAULT_CONTEXTS_DIR)).toContain('default');
    const settings = loadSettings({ GOOGLE_API_KEY: 'k' });
    expect(resolveInstructions(settings)).toBe(readFileSync(file, 'utf8').trim());
  });

  it('lists only .md files, sorted, without the extension', () => {
    expect(listContexts(dir)).toEqual(['blank', 'default', 'escape', 'helpdesk', 'support']);
  });
});

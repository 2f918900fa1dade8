/**
 * System prompts from `contexts/<id>.md`: picked by CONTEXT_ID or a dispatch's context_id,
 * overridden by dispatch `instructions`, and never read from outside the contexts folder.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listContexts,
  openingInstruction,
  readContext,
  resolveInstructions,
  withContext,
} from '../src/config/contexts.ts';
import { applyDispatchMetadata } from '../src/config/dispatch.ts';
import { ConfigError } from '../src/config/errors.ts';
import { DEFAULT_CONTEXTS_DIR, type Env, loadSettings } from '../src/config/settings.ts';

const DEFAULT_TEXT = 'You are the default assistant.';
const UUID = '0b7e9c1a-3f4d-4e2b-8a6c-5d1f2e3a4b5c';
const OPENING = "Hi, I'm Ava: how can I help?";
const CONTEXT_IDS = [UUID, 'blank', 'dashes', 'default', 'escape', 'helpdesk', 'named', 'support'];
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
  // A LiveAvatar context copied over: its UUID as the file name, name and opening text on top.
  writeFileSync(
    path.join(dir, `${UUID}.md`),
    `---\nname: Ava, support\nopening_text: "Hi, I'm Ava: how can I help?"\n---\n${SUPPORT_TEXT}\n`,
  );
  writeFileSync(path.join(dir, 'named.md'), `---\r\nname: Named only\r\n---\r\n${DEFAULT_TEXT}`);
  writeFileSync(path.join(dir, 'dashes.md'), `---\n---\nA prompt --- with dashes.\n---\n`);
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
      `CONTEXT_ID: "sales" has no file ${path.join(dir, 'sales.md')} (available: ${CONTEXT_IDS.join(', ')})`,
    );
  });

  it('names the dispatch path when the dispatch picked the missing id', () => {
    const settings = settingsWith({}, dispatch({ context_id: 'sales' }));
    expect(refusal(() => resolveInstructions(settings))).toMatch(
      /^gemini_realtime_config\.context_id: "sales" has no file .*\(available: 0b7e9c1a-[\w-]+, blank, /,
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

describe("front matter, as LiveAvatar's contexts have it", () => {
  it('takes a UUID as the id, the body as the prompt, name and opening_text from the top', () => {
    const settings = settingsWith({}, dispatch({ context_id: UUID }));
    expect(readContext(settings)).toEqual({
      id: UUID,
      name: 'Ava, support',
      prompt: SUPPORT_TEXT,
      openingText: OPENING,
    });
    expect(resolveInstructions(settings)).toBe(SUPPORT_TEXT);
  });

  it('the opening text replaces the greeting instruction', () => {
    const prepared = withContext(settingsWith({}, dispatch({ context_id: UUID })));
    expect(prepared.instructions).toBe(SUPPORT_TEXT);
    expect(prepared.settings.call.greeting).toBe(openingInstruction(OPENING));
    expect(prepared.settings.call.greeting).toContain(OPENING);
    expect(prepared.settings.origins.greeting).toBe(`${UUID}.md opening_text`);
    // ...over AGENT_GREETING too, which is the worker's default for every context.
    const overEnv = withContext(settingsWith({ AGENT_GREETING: 'Say hi.', CONTEXT_ID: UUID }));
    expect(overEnv.settings.call.greeting).toBe(openingInstruction(OPENING));
  });

  it("keeps a dispatch's own greeting, and a context without opening text keeps the greeting", () => {
    const own = withContext(settingsWith({}, dispatch({ context_id: UUID, greeting: '' })));
    expect(own.settings.call.greeting).toBe('');
    const named = settingsWith({ CONTEXT_ID: 'named', AGENT_GREETING: 'Say hi.' });
    expect(withContext(named)).toEqual({ settings: named, instructions: DEFAULT_TEXT });
    expect(readContext(named).name).toBe('Named only');
  });

  it('reads only a front matter block at the very top; dashes in the prompt stay', () => {
    expect(resolveInstructions(settingsWith({ CONTEXT_ID: 'dashes' }))).toBe(
      'A prompt --- with dashes.\n---',
    );
  });

  it.each([
    ['an unknown key', 'links: []', /front matter "links" is not valid \(allowed: name, /],
    ['an opening text that is not text', 'opening_text: [1, 2]', /front matter "opening_text" /],
    ['YAML that does not parse', 'name: "open', /its front matter is not valid YAML \(/],
  ])('refuses %s, naming the file', (_what, yaml, line) => {
    writeFileSync(path.join(dir, 'bad.md'), `---\n${yaml}\n---\n${DEFAULT_TEXT}\n`);
    try {
      const message = refusal(() => resolveInstructions(settingsWith({ CONTEXT_ID: 'bad' })));
      expect(message).toMatch(line);
      expect(message.startsWith(`CONTEXT_ID: ${path.join(dir, 'bad.md')}: `)).toBe(true);
    } finally {
      rmSync(path.join(dir, 'bad.md'));
    }
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
    expect(listContexts(dir)).toEqual(CONTEXT_IDS);
  });
});

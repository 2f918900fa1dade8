/**
 * System prompts ("contexts"): `contexts/<id>.md`, picked by CONTEXT_ID or a dispatch's
 * `context_id`. Ids are pattern-checked when parsed (a LiveAvatar context's UUID is a valid id);
 * this module also refuses any file that resolves (through links) outside the contexts directory.
 *
 * A context is LiveAvatar's `{name, prompt, opening_text}`: the file's body is the prompt, and
 * an optional YAML front matter block may carry `name` and `opening_text`:
 *
 *   ---
 *   name: Support
 *   opening_text: Hi, I'm Ava from support. What can I do for you?
 *   ---
 *   You are a patient customer-support agent...
 *
 * The opening text is what the agent says first: it replaces the greeting instruction (a
 * dispatch's own `greeting` still wins).
 */
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MAX_GREETING_CHARS, fieldName } from './call_options.ts';
import { ConfigError, showValue } from './errors.ts';
import type { Settings } from './settings.ts';

/** A `---` line, the YAML, a `---` line, at the very start of the file. */
const FRONT_MATTER = /^---[ \t]*\r?\n(?:([\s\S]*?)\r?\n)??---[ \t]*(?:\r?\n|$)/;
const FRONT_MATTER_FIELDS = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    opening_text: z.string().trim().min(1).max(MAX_GREETING_CHARS).optional(),
  })
  .strict();

/** One context file, as LiveAvatar's contexts are. */
export interface CallContext {
  id: string;
  /** Front matter `name`. */
  name?: string;
  /** The file's body: the system prompt. */
  prompt: string;
  /** Front matter `opening_text`: what the agent says first. */
  openingText?: string;
}

/** The ids of the contexts in `dir` (file names without `.md`), sorted. */
export function listContexts(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.md'))
      .map((f) => f.slice(0, -3))
      .sort();
  } catch {
    return [];
  }
}

/** The system instructions for a call: dispatch `instructions`, else the context's prompt. */
export function resolveInstructions(settings: Settings): string {
  return settings.call.instructions ?? readContext(settings).prompt;
}

/**
 * The greeting instruction that makes the agent say `openingText` (the realtime model speaks
 * only what it generates, so it is asked to say the line as written).
 */
export function openingInstruction(openingText: string): string {
  return `Say exactly this, word for word, and nothing else: ${openingText}`;
}

/**
 * A call's settings with its context applied: the system instructions, and the context's opening
 * text as the greeting (unless the dispatch chose its own greeting or its own instructions).
 * Throws a ConfigError (before anything connects) when the context cannot be used.
 */
export function withContext(settings: Settings): { settings: Settings; instructions: string } {
  const { call, origins } = settings;
  if (call.instructions) return { settings, instructions: call.instructions };
  const context = readContext(settings);
  if (!context.openingText || origins.greeting !== undefined) {
    return { settings, instructions: context.prompt };
  }
  return {
    settings: {
      ...settings,
      call: { ...call, greeting: openingInstruction(context.openingText) },
      origins: { ...origins, greeting: `${context.id}.md opening_text` },
    },
    instructions: context.prompt,
  };
}

/** The context file the settings pick, with its front matter read and checked. */
export function readContext(settings: Settings): CallContext {
  const { call, contextsDir, origins } = settings;
  const name = fieldName('contextId', origins);
  let root: string;
  let file: string;
  try {
    root = realpathSync(contextsDir);
    file = realpathSync(path.join(root, `${call.contextId}.md`));
  } catch {
    const available = listContexts(contextsDir).join(', ') || 'none';
    throw new ConfigError(
      `${name}: ${showValue(call.contextId)} has no file ${path.join(contextsDir, `${call.contextId}.md`)} (available: ${available})`,
    );
  }
  if (path.dirname(file) !== root) {
    throw new ConfigError(`${name}: ${showValue(call.contextId)} resolves outside ${contextsDir}`);
  }
  const { fields, body } = splitFrontMatter(readFileSync(file, 'utf8'), `${name}: ${file}`);
  const prompt = body.trim();
  if (!prompt) throw new ConfigError(`${name}: ${file} is empty`);
  return {
    id: call.contextId,
    prompt,
    ...(fields.name ? { name: fields.name } : {}),
    ...(fields.opening_text ? { openingText: fields.opening_text } : {}),
  };
}

function splitFrontMatter(
  text: string,
  where: string,
): { fields: z.infer<typeof FRONT_MATTER_FIELDS>; body: string } {
  const match = FRONT_MATTER.exec(text.replace(/^\uFEFF/, ''));
  if (!match) return { fields: {}, body: text };
  let yaml: unknown;
  try {
    yaml = parseYaml(match[1] ?? '') ?? {};
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new ConfigError(`${where}: its front matter is not valid YAML (${reason})`);
  }
  const fields = FRONT_MATTER_FIELDS.safeParse(yaml);
  if (!fields.success) {
    const issue = fields.error.issues[0]!;
    const key = issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys[0] : '');
    throw new ConfigError(
      `${where}: front matter ${showValue(key)} is not valid (allowed: name, text up to 200 characters; opening_text, text up to ${MAX_GREETING_CHARS} characters)`,
    );
  }
  return { fields: fields.data, body: text.replace(/^\uFEFF/, '').slice(match[0].length) };
}

/**
 * System prompts ("contexts"): `contexts/<id>.md`, picked by CONTEXT_ID or a dispatch's
 * `context_id`. Ids are pattern-checked when parsed; this module also refuses any file that
 * resolves (through links) outside the contexts directory.
 */
import { readFileSync, readdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fieldName } from './call_options.ts';
import { ConfigError, showValue } from './errors.ts';
import type { Settings } from './settings.ts';

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

/** The system instructions for a call: dispatch `instructions`, else the context file's text. */
export function resolveInstructions(settings: Settings): string {
  const { call, contextsDir, origins } = settings;
  if (call.instructions) return call.instructions;
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
  const text = readFileSync(file, 'utf8').trim();
  if (!text) throw new ConfigError(`${name}: ${file} is empty`);
  return text;
}

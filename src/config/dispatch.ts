/**
 * Per-dispatch settings: dispatch metadata JSON -> validated overrides of the worker's Settings.
 *
 * The shape is the one LiveAvatar users know:
 *   { "avatar_id": "...", "gemini_realtime_config": { "voice", "model", "temperature", "context_id", ... } }
 * Only the allow-list in CALL_FIELDS (fields with a `dispatch` path) may be overridden: keys,
 * endpoints and file paths come from the environment only. The merged result is checked against
 * the capability table again, so a dispatch cannot pick a combination its model refuses.
 */
import {
  CALL_FIELD_NAMES,
  type CallField,
  type CallOptions,
  fieldSpec,
  parseField,
} from './call_options.ts';
import { ConfigError, showValue } from './errors.ts';
import { dropUnfitDefaults, modelProblems } from './model_rules.ts';
import { type Settings, resolveCapabilities } from './settings.ts';

export const MAX_METADATA_BYTES = 64 * 1024;

/** dispatch path -> field, e.g. 'gemini_realtime_config.voice' -> 'voice'. */
const DISPATCH_PATHS: ReadonlyMap<string, CallField> = new Map(
  CALL_FIELD_NAMES.flatMap((field) => {
    const path = fieldSpec(field).dispatch;
    return path ? [[path, field] as const] : [];
  }),
);

const PREFIX = 'dispatch metadata';

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(metadata: string): Record<string, unknown> {
  const bytes = Buffer.byteLength(metadata, 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    throw new ConfigError(
      `${PREFIX}: ${bytes} bytes is too large (allowed: up to ${MAX_METADATA_BYTES} bytes)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(metadata);
  } catch {
    throw new ConfigError(
      `${PREFIX}: ${showValue(metadata)} is not JSON (allowed: a JSON object such as {"gemini_realtime_config":{"voice":"Kore"}})`,
    );
  }
  if (!isPlainObject(parsed)) {
    throw new ConfigError(`${PREFIX}: ${showValue(parsed)} is not a JSON object`);
  }
  return parsed;
}

/** Flatten the two allowed levels into `path -> value`, refusing every key not on the list. */
function flatten(json: Record<string, unknown>, problems: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  const allowed = [...DISPATCH_PATHS.keys()].join(', ');
  for (const [key, value] of Object.entries(json)) {
    if (key === 'gemini_realtime_config') {
      if (!isPlainObject(value)) {
        problems.push(
          `${PREFIX}: gemini_realtime_config: ${showValue(value)} is not a JSON object`,
        );
        continue;
      }
      for (const [inner, innerValue] of Object.entries(value)) {
        values.set(`${key}.${inner}`, innerValue);
      }
    } else if (key.includes('.')) {
      problems.push(
        `${PREFIX}: unknown field ${showValue(key)} (write it nested: {"gemini_realtime_config":{"${key.split('.').at(-1)}":...}})`,
      );
    } else {
      values.set(key, value);
    }
  }
  for (const path of values.keys()) {
    if (!DISPATCH_PATHS.has(path)) {
      problems.push(`${PREFIX}: unknown field ${showValue(path)} (allowed: ${allowed})`);
    }
  }
  return values;
}

/**
 * Settings for one dispatch: `base` with the metadata's overrides applied and re-checked.
 * Empty metadata means no overrides. Throws a ConfigError for that dispatch only.
 */
export function applyDispatchMetadata(base: Settings, metadata: string | undefined): Settings {
  if (!metadata || metadata.trim() === '') return base;
  const problems: string[] = [];
  const values = flatten(parseJson(metadata), problems);
  const call: Record<string, unknown> = { ...base.call };
  const origins = { ...base.origins };
  for (const [path, raw] of values) {
    const field = DISPATCH_PATHS.get(path);
    if (!field) continue;
    try {
      call[field] = parseField(field, raw, `${PREFIX}: ${path}`);
      origins[field] = path;
    } catch (error) {
      problems.push((error as ConfigError).message);
    }
  }
  const merged = call as unknown as CallOptions;
  const capabilities =
    origins.model === undefined
      ? base.capabilities
      : resolveCapabilities(merged, base.google.vertexai, base.modelRules, problems, origins);
  // The worker's defaults were chosen for its own model: when a dispatch picks another model,
  // defaults that model cannot take give way instead of refusing the dispatch.
  const dropped =
    capabilities && origins.model !== undefined
      ? dropUnfitDefaults(merged, capabilities, origins)
      : [];
  if (capabilities) problems.push(...modelProblems(merged, capabilities, origins, base.model));
  if (problems.length > 0 || !capabilities) {
    throw new ConfigError(problems.map((p) => (p.startsWith(PREFIX) ? p : `${PREFIX}: ${p}`)));
  }
  return { ...base, call: merged, origins, capabilities, droppedDefaults: dropped };
}

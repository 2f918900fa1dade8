/**
 * Per-dispatch settings: dispatch metadata JSON -> validated overrides of the worker's Settings.
 *
 * The shape is LiveAvatar's LITE session JSON, to the letter:
 *   { "mode": "LITE", "avatar_id": "...", "is_sandbox", "video_settings": { "quality", "encoding" },
 *     "max_session_duration", "gemini_realtime_config": { "secret_id", "context_id", "voice",
 *     "model", "temperature", ... } }
 * Only the allow-list in CALL_FIELDS (fields with a `dispatch` path) may be overridden: keys,
 * endpoints and file paths come from the environment only (`secret_id` names a key the worker
 * holds). As in LiveAvatar, a session without `temperature` gets 0.8 (unless the worker sets
 * GEMINI_TEMPERATURE). The merged result is checked against the capability table again, so a
 * dispatch cannot pick a combination its model refuses.
 */
import {
  CALL_FIELD_NAMES,
  type CallField,
  type CallOptions,
  fieldSpec,
  parseField,
} from './call_options.ts';
import { ConfigError, showValue } from './errors.ts';
import { SECRETS_FILE_VAR, keyForSecretId } from './gemini_secrets.ts';
import { dropUnfitDefaults, modelProblems } from './model_rules.ts';
import { type Settings, resolveCapabilities, sttProblems } from './settings.ts';

export const MAX_METADATA_BYTES = 64 * 1024;
/** LiveAvatar's temperature for a session that sets none. */
export const LIVEAVATAR_TEMPERATURE = 0.8;

/** dispatch path -> field, e.g. 'gemini_realtime_config.voice' -> 'voice'. */
const DISPATCH_PATHS: ReadonlyMap<string, CallField> = new Map(
  CALL_FIELD_NAMES.flatMap((field) => {
    const path = fieldSpec(field).dispatch;
    return path ? [[path, field] as const] : [];
  }),
);

/** Objects in the metadata whose fields are dispatch paths, e.g. 'video_settings'. */
const NESTED: ReadonlySet<string> = new Set(
  [...DISPATCH_PATHS.keys()].filter((p) => p.includes('.')).map((p) => p.split('.')[0]!),
);

/** Fields of LiveAvatar's session JSON that have no place here, and why. */
const NOT_HERE: Readonly<Record<string, string>> = {
  livekit_config:
    'the call runs in the room it was dispatched to; LiveAvatar avatars are sent there by the worker',
  agora_config: 'this worker runs in LiveKit rooms only',
  openai_realtime_config: 'this agent speaks with Gemini Live: use gemini_realtime_config',
  elevenlabs_agent_config: 'this agent speaks with Gemini Live: use gemini_realtime_config',
  avatar_persona: 'a FULL mode field; this worker is the agent of a LITE session',
  interactivity_type: 'a FULL mode field; this worker is the agent of a LITE session',
  'gemini_realtime_config.secret_value':
    'keys stay with the worker: put the key in its GEMINI_SECRETS_FILE and send its secret_id',
};

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
    if (NESTED.has(key)) {
      if (!isPlainObject(value)) {
        problems.push(`${PREFIX}: ${key}: ${showValue(value)} is not a JSON object`);
        continue;
      }
      for (const [inner, innerValue] of Object.entries(value)) {
        values.set(`${key}.${inner}`, innerValue);
      }
    } else if (key.includes('.')) {
      const [outer, ...rest] = key.split('.');
      problems.push(
        `${PREFIX}: unknown field ${showValue(key)} (write it nested: {"${outer}":{"${rest.join('.')}":...}})`,
      );
    } else {
      values.set(key, value);
    }
  }
  for (const path of values.keys()) {
    if (DISPATCH_PATHS.has(path)) continue;
    const why = NOT_HERE[path];
    problems.push(
      why
        ? `${PREFIX}: ${path} is not taken here: ${why}`
        : `${PREFIX}: unknown field ${showValue(path)} (allowed: ${allowed})`,
    );
  }
  return values;
}

/**
 * Settings for one dispatch: `base` with the metadata's overrides applied and re-checked.
 * Empty metadata means no overrides. Throws a ConfigError for that dispatch only.
 */
export function applyDispatchMetadata(base: Settings, metadata: string | undefined): Settings {
  if (!metadata || metadata.trim() === '') {
    const missing = missingKey(base);
    if (missing) throw new ConfigError(`${PREFIX}: ${missing}`);
    return base;
  }
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
  merged.temperature ??= LIVEAVATAR_TEMPERATURE;
  const google = googleFor(base, merged, origins, problems);
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
  if (origins.stt !== undefined) {
    problems.push(...sttProblems(merged, origins, base.turnDetection, !!base.deepgramApiKey));
  }
  if (problems.length > 0 || !capabilities) {
    throw new ConfigError(problems.map((p) => (p.startsWith(PREFIX) ? p : `${PREFIX}: ${p}`)));
  }
  return { ...base, call: merged, origins, capabilities, droppedDefaults: dropped, google };
}

/** The Gemini credentials of a dispatch: the key its `secret_id` names, else the worker's own. */
function googleFor(
  base: Settings,
  call: CallOptions,
  origins: Settings['origins'],
  problems: string[],
): Settings['google'] {
  if (call.secretId === undefined) {
    const missing = missingKey(base);
    if (missing) problems.push(missing);
    return base.google;
  }
  const field = origins.secretId ?? 'gemini_realtime_config.secret_id';
  if (base.google.vertexai) {
    problems.push(
      `${field}: names a Gemini API key, but this worker uses Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=true), which signs in without one (allowed: no secret_id)`,
    );
    return base.google;
  }
  const key = keyForSecretId(call.secretId, base.google.secrets, field);
  if (typeof key === 'string') {
    problems.push(key);
    return base.google;
  }
  return { ...base.google, apiKey: key, keySource: `secret_id ${call.secretId}` };
}

/** Why a call without secret_id has no Gemini key (a worker with named keys only), if it has none. */
function missingKey(base: Settings): string | undefined {
  if (base.google.vertexai || base.google.apiKey) return undefined;
  return `gemini_realtime_config.secret_id missing: this worker has no key of its own (GOOGLE_API_KEY), only the named keys of its ${SECRETS_FILE_VAR} (allowed: the id of one of them)`;
}

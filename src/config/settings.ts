/**
 * Environment -> one validated, capability-checked Settings object. Used by the worker (once at
 * start, then per dispatch through dispatch.ts) and by the console, so there is one parser.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import dotenv from 'dotenv';
import {
  CALL_FIELD_NAMES,
  type CallOptions,
  type FieldOrigins,
  BOOLEAN_TEXT,
  type SttProvider,
  envBoolean,
  fieldName,
  fieldSpec,
  fromEnvText,
  parseField,
} from './call_options.ts';
import { ConfigError, showValue } from './errors.ts';
import {
  type ModelEnvironment,
  TOOL_BEHAVIORS,
  TOOL_RESPONSE_SCHEDULINGS,
  type ToolBehavior,
  type ToolResponseScheduling,
  modelProblems,
} from './model_rules.ts';
import {
  DEFAULT_MODEL,
  type ModelCapabilities,
  UnknownModelError,
  modelCapabilities,
} from './models.ts';
import { type GeminiSecrets, SECRETS_FILE_VAR, loadGeminiSecrets } from './gemini_secrets.ts';
import { Secret } from './secret.ts';
import { type VideoPlan, videoPlan } from './video.ts';

export const TURN_DETECTION_MODES = ['gemini', 'livekit'] as const;
export type TurnDetectionMode = (typeof TURN_DETECTION_MODES)[number];
export const DISPATCH_MODES = ['explicit', 'automatic'] as const;

/** Matches livekit.yaml, so `livekit-server --config livekit.yaml` works with no settings. */
export const LOCAL_LIVEKIT = {
  url: 'ws://localhost:7880',
  apiKey: 'devkey',
  apiSecret: 'devsecret-for-local-livekit-server-only',
} as const;

export const DEFAULT_AGENT_NAME = 'gemini-avatar';
export const DEFAULT_GREETING =
  'Greet the user warmly in one short sentence and ask how you can help.';
export const DEFAULT_CONTEXTS_DIR = fileURLToPath(new URL('../../contexts', import.meta.url));
export const DEFAULT_AVATARS_DIR = fileURLToPath(new URL('../../avatars', import.meta.url));

export interface Settings {
  call: CallOptions;
  /** Where each call option came from, for error lines (env var or dispatch path). */
  origins: FieldOrigins;
  capabilities: ModelCapabilities;
  /** GEMINI_MODEL_RULES: the known model whose rules an unknown id runs with. */
  modelRules?: string;
  livekit: { url: string; apiKey: Secret; apiSecret: Secret; usingLocalDefaults: boolean };
  google: {
    apiKey?: Secret;
    /** Where apiKey came from, for the log: the env var, or `secret_id <id>`. */
    keySource?: string;
    /** GEMINI_SECRETS_FILE: named keys a dispatch picks with `secret_id`. */
    secrets?: GeminiSecrets;
    vertexai: boolean;
    project?: string;
    location: string;
    /** GOOGLE_GEMINI_BASE_URL / GOOGLE_VERTEX_BASE_URL: a proxy or a local stand-in. */
    baseUrl?: string;
  };
  model: ModelEnvironment;
  turnDetection: TurnDetectionMode;
  deepgramApiKey?: Secret;
  /** DEEPGRAM_BASE_URL: a proxy or a local stand-in for Deepgram's streaming API. */
  deepgramBaseUrl?: string;
  contextsDir: string;
  /** '' means automatic dispatch (every new room). */
  agentName: string;
  /** WORKER_MAX_CALLS: calls this worker takes at once; unset, sized from the machine (src/worker_load.ts). */
  maxCalls?: number;
  /** Worker defaults a dispatch's model could not take, so they were left out (for a log line). */
  droppedDefaults?: string[];
  avatar: AvatarSettings;
  /** LiveAvatar, for avatar ids that name its avatars (env only). */
  liveavatar: LiveAvatarSettings;
}

export interface LiveAvatarSettings {
  /** LIVEAVATAR_API_KEY; without it LiveAvatar avatar ids are refused. */
  apiKey?: Secret;
  /** LIVEAVATAR_API_URL: https://api.liveavatar.com, a proxy or a local stand-in. */
  apiUrl: string;
}

export const DEFAULT_LIVEAVATAR_API_URL = 'https://api.liveavatar.com';

/** The in-process avatar (env only; a dispatch picks only `avatar_id`). */
export interface AvatarSettings {
  enabled: boolean;
  width: number;
  height: number;
  fps: number;
  /** Where avatar ids other than the built-in 'default' are looked up. */
  dir: string;
}

export type Env = Record<string, string | undefined>;

/**
 * Load `.env.local` and `.env` from `dir` into process.env, filling in only what is not already
 * there: the real environment (the shell, Docker, `lk agent dev`) wins over `.env.local`, which
 * wins over `.env`, as dotenv and LiveKit's starters do. A variable the environment sets wins even
 * when empty (`AGENT_GREETING=` for no greeting). Empty lines in the files (`KEY=`) are skipped,
 * so a blank template line never hides a value from the file below it.
 * Returns the files that were read.
 */
export function loadEnvFiles(dir = process.cwd()): string[] {
  const read: string[] = [];
  for (const file of ['.env.local', '.env']) {
    let parsed: Record<string, string>;
    try {
      parsed = dotenv.parse(readFileSync(path.join(dir, file)));
    } catch {
      continue;
    }
    read.push(file);
    for (const [key, value] of Object.entries(parsed)) {
      if (value.trim() !== '' && process.env[key] === undefined) process.env[key] = value;
    }
  }
  return read;
}

const DEFAULT_CALL: CallOptions = {
  model: DEFAULT_MODEL,
  voice: 'Puck',
  contextId: 'default',
  greeting: DEFAULT_GREETING,
  avatarId: 'default',
};

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function oneOf<T extends string>(
  env: Env,
  name: string,
  allowed: readonly T[],
  problems: string[],
): T | undefined {
  const raw = text(env, name);
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase();
  if ((allowed as readonly string[]).includes(value)) return value as T;
  problems.push(`${name}: ${showValue(raw)} is not valid (allowed: ${allowed.join(', ')})`);
  return undefined;
}

function callOptionsFromEnv(env: Env, problems: string[]): CallOptions {
  const call: Record<string, unknown> = { ...DEFAULT_CALL };
  for (const field of CALL_FIELD_NAMES) {
    const spec = fieldSpec(field);
    if (!spec.env) continue;
    const raw = env[spec.env];
    // An empty greeting is meaningful (no greeting); for every other field empty means unset.
    if (raw === undefined || (raw.trim() === '' && field !== 'greeting')) continue;
    try {
      call[field] = parseField(field, fromEnvText(field, raw), spec.env);
    } catch (error) {
      problems.push((error as ConfigError).message);
    }
  }
  return call as unknown as CallOptions;
}

/**
 * The table row for the options' model on the worker's backend, or a problem line naming the
 * field as `origins` say.
 */
export function resolveCapabilities(
  call: CallOptions,
  vertexai: boolean,
  modelRules: string | undefined,
  problems: string[],
  origins: FieldOrigins = {},
): ModelCapabilities | undefined {
  try {
    return modelCapabilities(call.model, vertexai ? 'vertex' : 'gemini', modelRules);
  } catch (error) {
    if (!(error instanceof UnknownModelError)) throw error;
    // A GEMINI_MODEL_RULES error already starts with its own name.
    const name = error.setting === 'rules' ? undefined : fieldName('model', origins);
    problems.push(name ? `${name}: ${error.message}` : error.message);
    return undefined;
  }
}

/** A URL on this machine (localhost, 127.0.0.1 or [::1]), where livekit.yaml's dev keys apply. */
export function isLocalUrl(url: string): boolean {
  return /^(wss?|https?):\/\/(localhost|127\.0\.0\.1|\[::1\])(:|\/|$)/.test(url);
}

function livekitFromEnv(env: Env, problems: string[]): Settings['livekit'] {
  const url = text(env, 'LIVEKIT_URL');
  const apiKey = text(env, 'LIVEKIT_API_KEY');
  const apiSecret = text(env, 'LIVEKIT_API_SECRET');
  if (!url) {
    return {
      url: LOCAL_LIVEKIT.url,
      apiKey: new Secret(apiKey ?? LOCAL_LIVEKIT.apiKey),
      apiSecret: new Secret(apiSecret ?? LOCAL_LIVEKIT.apiSecret),
      usingLocalDefaults: true,
    };
  }
  if (!/^(wss?|https?):\/\//.test(url)) {
    problems.push(
      `LIVEKIT_URL: ${showValue(url)} is not valid (allowed: a ws://, wss://, http:// or https:// URL)`,
    );
  }
  const local = isLocalUrl(url);
  const missing = [!apiKey && 'LIVEKIT_API_KEY', !apiSecret && 'LIVEKIT_API_SECRET'].filter(
    Boolean,
  );
  if (missing.length > 0 && !local) {
    problems.push(
      `${missing.join(' and ')} missing for LIVEKIT_URL=${url}: run \`lk app env -w -d .env.local\` or copy them from your LiveKit Cloud project settings`,
    );
  }
  return {
    url,
    apiKey: new Secret(apiKey ?? LOCAL_LIVEKIT.apiKey),
    apiSecret: new Secret(apiSecret ?? LOCAL_LIVEKIT.apiSecret),
    usingLocalDefaults: false,
  };
}

function googleFromEnv(env: Env, problems: string[]): Settings['google'] {
  const vertexFlag = text(env, 'GOOGLE_GENAI_USE_VERTEXAI');
  const vertexai = vertexFlag !== undefined && envBoolean(vertexFlag) === true;
  if (vertexFlag !== undefined && envBoolean(vertexFlag) === undefined) {
    problems.push(
      `GOOGLE_GENAI_USE_VERTEXAI: ${showValue(vertexFlag)} is not valid (allowed: ${BOOLEAN_TEXT})`,
    );
  }
  const keyVar = text(env, 'GOOGLE_API_KEY') ? 'GOOGLE_API_KEY' : 'GEMINI_API_KEY';
  const key = text(env, keyVar);
  const secretsFile = text(env, SECRETS_FILE_VAR);
  let secrets: GeminiSecrets | undefined;
  try {
    secrets = secretsFile ? loadGeminiSecrets(secretsFile) : undefined;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const project = text(env, 'GOOGLE_CLOUD_PROJECT');
  const location = text(env, 'GOOGLE_CLOUD_LOCATION') ?? 'us-central1';
  if (vertexai && !project) {
    problems.push(
      'GOOGLE_CLOUD_PROJECT missing: Vertex AI (GOOGLE_GENAI_USE_VERTEXAI=true) needs your Google Cloud project id, and credentials from GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`',
    );
  }
  // With named keys only, every dispatch must name one (checked per dispatch).
  if (!vertexai && !key && !secretsFile) {
    problems.push(
      'GOOGLE_API_KEY missing: create a key at https://aistudio.google.com/apikey and put GOOGLE_API_KEY=... in .env.local (GEMINI_API_KEY also works), or use Vertex AI with GOOGLE_GENAI_USE_VERTEXAI=true and GOOGLE_CLOUD_PROJECT',
    );
  }
  const baseUrl = text(env, vertexai ? 'GOOGLE_VERTEX_BASE_URL' : 'GOOGLE_GEMINI_BASE_URL');
  return {
    ...(key ? { apiKey: new Secret(key), keySource: keyVar } : {}),
    ...(secrets ? { secrets } : {}),
    vertexai,
    ...(project ? { project } : {}),
    location,
    ...(baseUrl ? { baseUrl } : {}),
  };
}

function avatarFromEnv(env: Env, problems: string[]): AvatarSettings {
  const flag = text(env, 'AVATAR_ENABLED');
  const enabled = flag === undefined ? true : envBoolean(flag);
  if (enabled === undefined) {
    problems.push(`AVATAR_ENABLED: ${showValue(flag)} is not valid (allowed: ${BOOLEAN_TEXT})`);
  }
  const size = text(env, 'AVATAR_SIZE') ?? '512x512';
  const match = /^(\d{2,4})x(\d{2,4})$/.exec(size);
  const [width, height] = match ? [Number(match[1]), Number(match[2])] : [0, 0];
  const sizeOk = [width, height].every((n) => n >= 16 && n <= 3840 && n % 2 === 0);
  if (!sizeOk) {
    problems.push(
      `AVATAR_SIZE: ${showValue(size)} is not valid (allowed: WIDTHxHEIGHT, even numbers from 16 to 3840, e.g. 512x512 or 1280x720)`,
    );
  }
  const fpsText = text(env, 'AVATAR_FPS') ?? '30';
  const fps = Number(fpsText);
  if (!(Number.isInteger(fps) && fps >= 1 && fps <= 60)) {
    problems.push(
      `AVATAR_FPS: ${showValue(fpsText)} is not valid (allowed: a whole number from 1 to 60)`,
    );
  }
  return {
    enabled: enabled ?? true,
    width,
    height,
    fps,
    dir: text(env, 'AVATARS_DIR') ?? DEFAULT_AVATARS_DIR,
  };
}

function liveavatarFromEnv(env: Env, problems: string[]): LiveAvatarSettings {
  const apiKey = text(env, 'LIVEAVATAR_API_KEY');
  const apiUrl = text(env, 'LIVEAVATAR_API_URL') ?? DEFAULT_LIVEAVATAR_API_URL;
  if (!/^https?:\/\/[^/]/.test(apiUrl)) {
    problems.push(
      `LIVEAVATAR_API_URL: ${showValue(apiUrl)} is not valid (allowed: an http:// or https:// URL)`,
    );
  }
  return { ...(apiKey ? { apiKey: new Secret(apiKey) } : {}), apiUrl };
}

/**
 * Build Settings from an environment (process.env after loadEnvFiles, or a test's object).
 * Throws one ConfigError listing every problem, each as `FIELD: what is wrong; the fix`.
 */
export function loadSettings(env: Env = process.env): Settings {
  const problems: string[] = [];
  const call = callOptionsFromEnv(env, problems);
  const modelRules = text(env, 'GEMINI_MODEL_RULES');
  const google = googleFromEnv(env, problems);
  const capabilities = resolveCapabilities(call, google.vertexai, modelRules, problems);
  const model: ModelEnvironment = { vertexai: google.vertexai };
  const toolBehavior = oneOf<ToolBehavior>(env, 'GEMINI_TOOL_BEHAVIOR', TOOL_BEHAVIORS, problems);
  if (toolBehavior) model.toolBehavior = toolBehavior;
  const scheduling = oneOf<ToolResponseScheduling>(
    env,
    'GEMINI_TOOL_RESPONSE_SCHEDULING',
    TOOL_RESPONSE_SCHEDULINGS,
    problems,
  );
  if (scheduling) model.toolResponseScheduling = scheduling;

  const turnDetection = oneOf(env, 'TURN_DETECTION', TURN_DETECTION_MODES, problems) ?? 'gemini';
  const deepgram = text(env, 'DEEPGRAM_API_KEY');
  problems.push(...sttProblems(call, {}, turnDetection, !!deepgram));
  const deepgramBaseUrl = text(env, 'DEEPGRAM_BASE_URL');
  if (deepgramBaseUrl && !/^(wss?|https?):\/\/[^/]/.test(deepgramBaseUrl)) {
    problems.push(
      `DEEPGRAM_BASE_URL: ${showValue(deepgramBaseUrl)} is not valid (allowed: a ws://, wss://, http:// or https:// URL)`,
    );
  }
  const dispatch = oneOf(env, 'AGENT_DISPATCH', DISPATCH_MODES, problems) ?? 'explicit';
  const livekit = livekitFromEnv(env, problems);
  const avatar = avatarFromEnv(env, problems);
  const liveavatar = liveavatarFromEnv(env, problems);
  const maxCallsText = text(env, 'WORKER_MAX_CALLS');
  const maxCalls = maxCallsText === undefined ? undefined : Number(maxCallsText);
  if (maxCalls !== undefined && !(Number.isInteger(maxCalls) && maxCalls >= 1)) {
    problems.push(
      `WORKER_MAX_CALLS: ${showValue(maxCallsText)} is not valid (allowed: a whole number >= 1; unset sizes it from the machine)`,
    );
  }
  if (capabilities) problems.push(...modelProblems(call, capabilities, {}, model));
  if (problems.length > 0 || !capabilities) throw new ConfigError(problems);

  return {
    call,
    origins: {},
    capabilities,
    ...(modelRules ? { modelRules } : {}),
    livekit,
    google,
    model,
    turnDetection,
    ...(deepgram ? { deepgramApiKey: new Secret(deepgram) } : {}),
    ...(deepgramBaseUrl ? { deepgramBaseUrl } : {}),
    contextsDir: text(env, 'CONTEXTS_DIR') ?? DEFAULT_CONTEXTS_DIR,
    agentName:
      dispatch === 'automatic' ? '' : (text(env, 'LIVEKIT_AGENT_NAME') ?? DEFAULT_AGENT_NAME),
    ...(maxCalls !== undefined ? { maxCalls } : {}),
    avatar,
    liveavatar,
  };
}

/**
 * Who transcribes the user with TURN_DETECTION=livekit: the call's choice, else Deepgram when the
 * worker has its key, else Gemini (a Google key is all the mode then needs).
 */
export function sttProvider(settings: Pick<Settings, 'call' | 'deepgramApiKey'>): SttProvider {
  return settings.call.stt ?? (settings.deepgramApiKey ? 'deepgram' : 'gemini');
}

/** What is wrong with the call's STT choice, one line each, named as `origins` say. */
export function sttProblems(
  call: CallOptions,
  origins: FieldOrigins,
  turnDetection: TurnDetectionMode,
  hasDeepgramKey: boolean,
): string[] {
  if (call.stt === undefined) return [];
  const name = fieldName('stt', origins);
  if (turnDetection !== 'livekit') {
    return [
      `${name}: ${call.stt} is not used: the user is transcribed by an STT only with TURN_DETECTION=livekit (allowed: leave it out, or set TURN_DETECTION=livekit)`,
    ];
  }
  if (call.stt === 'deepgram' && !hasDeepgramKey) {
    return [
      `DEEPGRAM_API_KEY missing: ${name}=deepgram transcribes the user with Deepgram; set the key, or use ${name}=gemini (Gemini's live transcription model, on the call's Gemini key)`,
    ];
  }
  return [];
}

/** Settings as safe to log: secrets redact themselves, the rest is plain data. */
export function describeSettings(settings: Settings): Record<string, unknown> {
  const { call, capabilities, turnDetection, agentName } = settings;
  return {
    model: capabilities.id,
    voice: call.voice,
    temperature: call.temperature,
    thinkingLevel: call.thinkingLevel,
    thinkingBudget: call.thinkingBudget,
    contextId: call.instructions ? '(dispatch instructions)' : call.contextId,
    avatar: settings.avatar.enabled
      ? `${call.avatarId} ${settings.avatar.width}x${settings.avatar.height}@${settings.avatar.fps}`
      : 'off',
    turnDetection,
    ...(turnDetection === 'livekit' ? { stt: sttProvider(settings) } : {}),
    video: describeVideo(videoPlan(settings)),
    mediaResolution: call.mediaResolution,
    googleSearch: call.googleSearch,
    agentName: agentName || '(automatic dispatch)',
    backend: settings.google.vertexai ? 'vertex' : 'gemini',
    geminiKey: settings.google.keySource,
    maxSessionDurationSeconds: call.maxSessionDurationSeconds,
  };
}

function describeVideo(plan: VideoPlan): string {
  if (!plan.enabled) return `off (${plan.reason})`;
  const idle = plan.idleIntervalMs ? `, silent 1/${plan.idleIntervalMs}ms` : ', none while silent';
  return `${plan.source}: speaking 1/${plan.speakingIntervalMs}ms${idle}, <=${plan.maxSize}px q${plan.jpegQuality}`;
}

/**
 * The per-call options: the settings a deployment sets in its environment and a dispatch may
 * override in its metadata. One zod schema validates both sources; each field knows its name in
 * each source so an error names the field the way the user wrote it.
 */
import { z } from 'zod';
import { ConfigError, showValue } from './errors.ts';
import { THINKING_LEVELS } from './models.ts';

/** The 30 prebuilt Gemini Live voices. */
export const VOICES = [
  'Achernar',
  'Achird',
  'Algenib',
  'Algieba',
  'Alnilam',
  'Aoede',
  'Autonoe',
  'Callirrhoe',
  'Charon',
  'Despina',
  'Enceladus',
  'Erinome',
  'Fenrir',
  'Gacrux',
  'Iapetus',
  'Kore',
  'Laomedeia',
  'Leda',
  'Orus',
  'Pulcherrima',
  'Puck',
  'Rasalgethi',
  'Sadachbia',
  'Sadaltager',
  'Schedar',
  'Sulafat',
  'Umbriel',
  'Vindemiatrix',
  'Zephyr',
  'Zubenelgenubi',
] as const;
export type VoiceName = (typeof VOICES)[number];

/**
 * The user's video Gemini sees: `auto` prefers a screen share while there is one, else the
 * camera; `camera` / `screen` take only that source; `off` sends no video.
 */
export const VIDEO_SOURCES = ['auto', 'camera', 'screen', 'off'] as const;
export type VideoSource = (typeof VIDEO_SOURCES)[number];

/**
 * Gemini's `generationConfig.mediaResolution`: how many tokens each image or video frame costs.
 * Unset: not sent, the model's default.
 */
export const MEDIA_RESOLUTIONS = ['low', 'medium', 'high'] as const;
export type MediaResolutionLevel = (typeof MEDIA_RESOLUTIONS)[number];

/**
 * LiveAvatar's session modes this worker takes: it is the agent of a LITE session (LiveAvatar
 * renders, we converse). FULL runs LiveAvatar's own speech pipeline, with no place for an agent.
 */
export const SESSION_MODES = ['LITE'] as const;
/** LiveAvatar's `video_settings.quality`: very_high 1080p, high 720p (its default), medium, low. */
export const VIDEO_QUALITIES = ['very_high', 'high', 'medium', 'low'] as const;
export type VideoQuality = (typeof VIDEO_QUALITIES)[number];
/** LiveAvatar's `video_settings.encoding`. */
export const VIDEO_ENCODINGS = ['VP8', 'H264'] as const;
export type VideoEncoding = (typeof VIDEO_ENCODINGS)[number];
/**
 * Who transcribes the user with TURN_DETECTION=livekit: Deepgram, or Gemini's live transcription
 * model (`gemini-3.5-transcribe-live`) on the call's own Gemini key or Vertex AI project.
 */
export const STT_PROVIDERS = ['deepgram', 'gemini'] as const;
export type SttProvider = (typeof STT_PROVIDERS)[number];
/** Longest `max_session_duration` a dispatch may ask for, in seconds (a day). */
export const MAX_SESSION_SECONDS = 86_400;

/** Ids that name files or table rows: no separators, no dots, so they cannot leave a folder. */
const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** The id pattern, for other files of ids (GEMINI_SECRETS_FILE). */
export const PLAIN_ID = ID;
const MODEL_ID = /^[a-z0-9][a-z0-9.-]{0,99}$/;
const LANGUAGE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

/** How flags may be written, for error lines. */
export const BOOLEAN_TEXT = 'true or false (the environment also takes 1/0, yes/no, on/off)';

export const MAX_INSTRUCTIONS_CHARS = 16_000;
export const MAX_GREETING_CHARS = 2_000;

export interface FieldSpec {
  schema: z.ZodType;
  /** Environment variable, or undefined when the field cannot come from the environment. */
  env?: string;
  /** Path in dispatch metadata, or undefined when a dispatch may not override it. */
  dispatch?: string;
  /** What is allowed, for error lines. */
  allowed: string;
  kind: 'string' | 'number' | 'boolean';
}

export const CALL_FIELDS = {
  model: {
    schema: z.string().regex(MODEL_ID),
    env: 'GEMINI_MODEL',
    dispatch: 'gemini_realtime_config.model',
    allowed: 'a Gemini Live model id, see the model table in docs/models.md',
    kind: 'string',
  },
  voice: {
    schema: z.enum(VOICES),
    env: 'GEMINI_VOICE',
    dispatch: 'gemini_realtime_config.voice',
    allowed: VOICES.join(', '),
    kind: 'string',
  },
  temperature: {
    schema: z.number().min(0).max(2),
    env: 'GEMINI_TEMPERATURE',
    dispatch: 'gemini_realtime_config.temperature',
    allowed: 'a number from 0.0 to 2.0',
    kind: 'number',
  },
  thinkingLevel: {
    schema: z.enum(THINKING_LEVELS),
    env: 'GEMINI_THINKING_LEVEL',
    dispatch: 'gemini_realtime_config.thinking_level',
    allowed: THINKING_LEVELS.join(', '),
    kind: 'string',
  },
  thinkingBudget: {
    schema: z.number().int().min(-1).max(32_768),
    env: 'GEMINI_THINKING_BUDGET',
    dispatch: 'gemini_realtime_config.thinking_budget',
    allowed: 'an integer from -1 (dynamic) through 0 (off) to 32768 tokens',
    kind: 'number',
  },
  affectiveDialog: {
    schema: z.boolean(),
    env: 'GEMINI_AFFECTIVE_DIALOG',
    dispatch: 'gemini_realtime_config.affective_dialog',
    allowed: BOOLEAN_TEXT,
    kind: 'boolean',
  },
  proactiveAudio: {
    schema: z.boolean(),
    env: 'GEMINI_PROACTIVE_AUDIO',
    dispatch: 'gemini_realtime_config.proactive_audio',
    allowed: BOOLEAN_TEXT,
    kind: 'boolean',
  },
  googleSearch: {
    schema: z.boolean(),
    env: 'GEMINI_GOOGLE_SEARCH',
    dispatch: 'gemini_realtime_config.google_search',
    allowed: BOOLEAN_TEXT,
    kind: 'boolean',
  },
  language: {
    schema: z.string().regex(LANGUAGE),
    env: 'GEMINI_LANGUAGE',
    dispatch: 'gemini_realtime_config.language',
    allowed: 'a BCP-47 language code such as en-US',
    kind: 'string',
  },
  contextId: {
    schema: z.string().regex(ID),
    env: 'CONTEXT_ID',
    dispatch: 'gemini_realtime_config.context_id',
    allowed: 'a context file name in the contexts directory (letters, digits, - and _)',
    kind: 'string',
  },
  instructions: {
    schema: z
      .string()
      .max(MAX_INSTRUCTIONS_CHARS)
      .refine((text) => text.trim().length > 0),
    dispatch: 'gemini_realtime_config.instructions',
    allowed: `text of 1 to ${MAX_INSTRUCTIONS_CHARS} characters`,
    kind: 'string',
  },
  greeting: {
    schema: z.string().max(MAX_GREETING_CHARS),
    env: 'AGENT_GREETING',
    dispatch: 'gemini_realtime_config.greeting',
    allowed: `an instruction for the first reply, up to ${MAX_GREETING_CHARS} characters ("" for none)`,
    kind: 'string',
  },
  videoInput: {
    schema: z.enum(VIDEO_SOURCES),
    env: 'VIDEO_INPUT',
    dispatch: 'gemini_realtime_config.video_input',
    allowed: VIDEO_SOURCES.join(', '),
    kind: 'string',
  },
  videoSpeakingIntervalMs: {
    schema: z.number().int().min(100).max(60_000),
    env: 'VIDEO_SPEAKING_INTERVAL_MS',
    dispatch: 'gemini_realtime_config.video_speaking_interval_ms',
    allowed: 'whole milliseconds from 100 to 60000',
    kind: 'number',
  },
  videoIdleIntervalMs: {
    schema: z
      .number()
      .int()
      .min(0)
      .max(600_000)
      .refine((ms) => ms === 0 || ms >= 100),
    env: 'VIDEO_IDLE_INTERVAL_MS',
    dispatch: 'gemini_realtime_config.video_idle_interval_ms',
    allowed: '0 (no frames while the user is silent) or whole milliseconds from 100 to 600000',
    kind: 'number',
  },
  videoMaxSize: {
    schema: z.number().int().min(64).max(3840),
    env: 'VIDEO_MAX_SIZE',
    allowed: 'pixels on the long side, a whole number from 64 to 3840',
    kind: 'number',
  },
  videoJpegQuality: {
    schema: z.number().int().min(1).max(100),
    env: 'VIDEO_JPEG_QUALITY',
    allowed: 'a whole number from 1 to 100',
    kind: 'number',
  },
  mediaResolution: {
    schema: z.enum(MEDIA_RESOLUTIONS),
    env: 'GEMINI_MEDIA_RESOLUTION',
    dispatch: 'gemini_realtime_config.media_resolution',
    allowed: MEDIA_RESOLUTIONS.join(', '),
    kind: 'string',
  },
  stt: {
    schema: z.enum(STT_PROVIDERS),
    env: 'STT',
    dispatch: 'gemini_realtime_config.stt',
    allowed:
      "deepgram (needs DEEPGRAM_API_KEY) or gemini (Gemini's live transcription model, on the call's Gemini key)",
    kind: 'string',
  },
  inputTranscription: {
    schema: z.boolean(),
    env: 'GEMINI_INPUT_TRANSCRIPTION',
    allowed: BOOLEAN_TEXT,
    kind: 'boolean',
  },
  avatarId: {
    schema: z.string().regex(ID),
    env: 'AVATAR_ID',
    dispatch: 'avatar_id',
    allowed: 'an avatar id (letters, digits, - and _)',
    kind: 'string',
  },
  mode: {
    schema: z.enum(SESSION_MODES),
    dispatch: 'mode',
    allowed:
      "LITE (this worker is the agent of a LITE session; FULL runs LiveAvatar's own speech pipeline, not this agent)",
    kind: 'string',
  },
  secretId: {
    schema: z.string().regex(ID),
    dispatch: 'gemini_realtime_config.secret_id',
    allowed: "the id of a key in the worker's GEMINI_SECRETS_FILE (letters, digits, - and _)",
    kind: 'string',
  },
  maxSessionDurationSeconds: {
    schema: z.number().int().min(1).max(MAX_SESSION_SECONDS),
    dispatch: 'max_session_duration',
    allowed: `whole seconds from 1 to ${MAX_SESSION_SECONDS}`,
    kind: 'number',
  },
  isSandbox: {
    schema: z.boolean(),
    env: 'LIVEAVATAR_SANDBOX',
    dispatch: 'is_sandbox',
    allowed: BOOLEAN_TEXT,
    kind: 'boolean',
  },
  videoQuality: {
    schema: z.enum(VIDEO_QUALITIES),
    env: 'LIVEAVATAR_VIDEO_QUALITY',
    dispatch: 'video_settings.quality',
    allowed: VIDEO_QUALITIES.join(', '),
    kind: 'string',
  },
  videoEncoding: {
    schema: z.enum(VIDEO_ENCODINGS),
    env: 'LIVEAVATAR_VIDEO_ENCODING',
    dispatch: 'video_settings.encoding',
    allowed: VIDEO_ENCODINGS.join(', '),
    kind: 'string',
  },
} satisfies Record<string, FieldSpec>;

export type CallField = keyof typeof CALL_FIELDS;

export interface CallOptions {
  model: string;
  voice: VoiceName;
  temperature?: number;
  thinkingLevel?: (typeof THINKING_LEVELS)[number];
  thinkingBudget?: number;
  /** Unset: not sent (the model's default). */
  affectiveDialog?: boolean;
  /** Unset: not sent; `false` is refused where the model has it always on. */
  proactiveAudio?: boolean;
  /** Google Search grounding, Gemini's built-in tool beside the function tools. */
  googleSearch?: boolean;
  language?: string;
  contextId: string;
  /** Overrides the context file when set (dispatch only). */
  instructions?: string;
  /** Instruction for the first reply; '' means the agent waits for the user. */
  greeting: string;
  avatarId: string;
  /**
   * Who transcribes the user with TURN_DETECTION=livekit; unset: Deepgram when the worker has
   * DEEPGRAM_API_KEY, else Gemini. See sttProvider() in settings.ts.
   */
  stt?: SttProvider;
  /**
   * Gemini transcribes the user's audio itself; unset: yes with TURN_DETECTION=gemini, no with
   * livekit (the STT writes the user's transcript, once).
   */
  inputTranscription?: boolean;
  /** Which of the user's video tracks Gemini sees; unset: `auto`. See src/config/video.ts. */
  videoInput?: VideoSource;
  /** One frame per this many ms while the user speaks; unset: 1000. */
  videoSpeakingIntervalMs?: number;
  /** One frame per this many ms otherwise, 0 for none; unset: per model (src/config/video.ts). */
  videoIdleIntervalMs?: number;
  /** Frames are scaled to at most this many pixels on the long side; unset: 1024. */
  videoMaxSize?: number;
  /** JPEG quality 1-100; unset: 75. */
  videoJpegQuality?: number;
  /** Tokens per image or video frame (Gemini's mediaResolution); unset: not sent. */
  mediaResolution?: MediaResolutionLevel;
  /** LiveAvatar's session mode; only LITE is taken (dispatch only). */
  mode?: (typeof SESSION_MODES)[number];
  /** The GEMINI_SECRETS_FILE key this call uses instead of the worker's own (dispatch only). */
  secretId?: string;
  /** The call ends after this many seconds (dispatch only); unset: no limit. */
  maxSessionDurationSeconds?: number;
  /** A LiveAvatar avatar runs as a free sandbox session (about a minute). */
  isSandbox?: boolean;
  /** A LiveAvatar avatar's video quality; unset: LiveAvatar's default (high, 720p). */
  videoQuality?: VideoQuality;
  /** A LiveAvatar avatar's video encoding; unset: LiveAvatar's default. */
  videoEncoding?: VideoEncoding;
}

/** Which source a field's current value came from, so a later check can name it. */
export type FieldOrigins = Partial<Record<CallField, string>>;

export function fieldSpec(field: CallField): FieldSpec {
  return CALL_FIELDS[field];
}

export const CALL_FIELD_NAMES = Object.keys(CALL_FIELDS) as CallField[];

export function fieldName(field: CallField, origins: FieldOrigins): string {
  const spec = fieldSpec(field);
  return origins[field] ?? spec.env ?? spec.dispatch ?? field;
}

/**
 * Validate one raw value for `field`, returning the parsed value or throwing a ConfigError line
 * `<name>: <value> is not valid (allowed: ...)`.
 */
export function parseField(field: CallField, raw: unknown, name: string): unknown {
  const spec = fieldSpec(field);
  const result = spec.schema.safeParse(canonicalCase(spec, raw));
  if (!result.success) {
    throw new ConfigError(`${name}: ${showValue(raw)} is not valid (allowed: ${spec.allowed})`);
  }
  return result.data;
}

/** `kore` -> `Kore`, `HIGH` -> `high`: names from a fixed list match in any letter case. */
function canonicalCase(spec: FieldSpec, raw: unknown): unknown {
  if (typeof raw !== 'string' || !(spec.schema instanceof z.ZodEnum)) return raw;
  const options = spec.schema.options as readonly string[];
  return options.find((option) => option.toLowerCase() === raw.toLowerCase()) ?? raw;
}

/** Turn an environment string into the field's type; invalid text fails in parseField. */
export function fromEnvText(field: CallField, text: string): unknown {
  const kind = CALL_FIELDS[field].kind;
  if (kind === 'number') {
    const n = text.trim() === '' ? NaN : Number(text);
    return Number.isFinite(n) ? n : text;
  }
  if (kind === 'boolean') return envBoolean(text) ?? text;
  return text;
}

/** An environment flag: 1/true/yes/on or 0/false/no/off; undefined for anything else. */
export function envBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  return undefined;
}

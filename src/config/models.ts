/**
 * The model-capability table: what each Gemini Live model accepts, as data.
 *
 * Everything that depends on the model asks this table; adding a model is adding a row here and a
 * row in test/models.test.ts. Rows record Google's documented behaviour where we could verify it;
 * `verified: false` marks rows whose columns are inferred (the fake Gemini server in test/support
 * plays the strict rules, so tests hold us to them either way).
 */

export type Backend = 'gemini' | 'vertex';

/** How a model takes thinking control: `thinkingLevel` (3.x), `thinkingBudget` (2.5) or neither. */
export type ThinkingControl = 'level' | 'budget' | 'none';

export const THINKING_LEVELS = ['minimal', 'low', 'medium', 'high'] as const;
export type ThinkingLevel = (typeof THINKING_LEVELS)[number];

/**
 * How text reaches the model after the session started (a greeting, `generateReply`, a typed
 * message): as a `clientContent` turn (2.5) or as `realtimeInput.text` (3.x, which closes the
 * socket with 1007 on client content after the first model turn).
 */
export type TextTurnRoute = 'client_content' | 'realtime_text' | 'user_content';

/** How earlier conversation is given to a fresh socket (a reconnect without a resumable handle). */
export type HistorySeeding = 'client_content' | 'history_config';

export interface ModelCapabilities {
  /** The model id as the Gemini API or Vertex AI names it. */
  id: string;
  backend: Backend;
  /** False when the row's columns are inferred rather than checked against Google's docs. */
  verified: boolean;
  thinking: ThinkingControl;
  /** The model refuses a setup without a thinking config. */
  thinkingRequired: boolean;
  /** `enableAffectiveDialog` (sent on the v1alpha API). */
  affectiveDialog: boolean;
  /** `proactivity.proactiveAudio` (sent on the v1alpha API). */
  proactiveAudio: boolean;
  /** NON_BLOCKING (asynchronous) function declarations. */
  asyncTools: boolean;
  /** How the model runs a function declared without a behavior. */
  defaultToolBehavior: 'blocking' | 'non_blocking';
  /** Function responses carry the call's `id` (Vertex 2.5 refuses it; it matches by name). */
  functionResponseIds: boolean;
  /** `scheduling` (SILENT / WHEN_IDLE / INTERRUPT) on function responses. */
  toolResponseScheduling: boolean;
  /** `clientContent` accepted after the first model turn (mid-session instructions/context). */
  midSessionClientContent: boolean;
  textTurnRoute: TextTurnRoute;
  historySeeding: HistorySeeding;
  /** TEXT response modality, so a separate TTS can speak (half-cascade models). */
  textOutputWithTts: boolean;
  /** Realtime video frames (camera / screen share). */
  videoInput: boolean;
  /** Every video frame counts toward the turn (3.1: turn coverage includes all video). */
  videoCountsTowardTurn: boolean;
  /**
   * What ends a reply: `turn_complete`, or `idle` for models that speak fillers while they reason
   * and mark the end with `interactionStatus: IDLE`.
   */
  replyEnds: 'turn_complete' | 'idle';
  /** Something a user should know, shown in the README table and in warnings. */
  note?: string;
}

type Row = Omit<ModelCapabilities, 'id'>;

const NATIVE_AUDIO_25: Row = {
  backend: 'gemini',
  verified: true,
  thinking: 'budget',
  thinkingRequired: false,
  affectiveDialog: true,
  proactiveAudio: true,
  asyncTools: true,
  defaultToolBehavior: 'blocking',
  functionResponseIds: true,
  toolResponseScheduling: true,
  midSessionClientContent: true,
  textTurnRoute: 'client_content',
  historySeeding: 'client_content',
  textOutputWithTts: false,
  videoInput: true,
  videoCountsTowardTurn: false,
  replyEnds: 'turn_complete',
};

const FLASH_LIVE_31: Row = {
  backend: 'gemini',
  verified: true,
  thinking: 'level',
  thinkingRequired: false,
  affectiveDialog: false,
  proactiveAudio: false,
  asyncTools: false,
  defaultToolBehavior: 'blocking',
  functionResponseIds: true,
  toolResponseScheduling: false,
  midSessionClientContent: false,
  textTurnRoute: 'realtime_text',
  historySeeding: 'history_config',
  textOutputWithTts: false,
  videoInput: true,
  videoCountsTowardTurn: true,
  replyEnds: 'turn_complete',
  note: 'client content only as initial history; text turns go as realtime text',
};

/** One row per model id. The first row is the default model. */
export const MODELS: readonly ModelCapabilities[] = [
  { id: 'gemini-3.1-flash-live-preview', ...FLASH_LIVE_31 },
  { id: 'gemini-2.5-flash-native-audio-preview-12-2025', ...NATIVE_AUDIO_25 },
  {
    id: 'gemini-live-2.5-flash-native-audio',
    ...NATIVE_AUDIO_25,
    backend: 'vertex',
    // The plugin documents NON_BLOCKING tools and response scheduling as unsupported on Vertex.
    asyncTools: false,
    toolResponseScheduling: false,
    // The plugin leaves the id out on Vertex; the fake matches id-less responses by name.
    functionResponseIds: false,
    note: 'Vertex AI (GA)',
  },
  {
    id: 'gemini-3.8-live',
    ...FLASH_LIVE_31,
    verified: false,
    note: 'unverified: assumed to follow the 3.1 rules',
  },
  {
    id: 'gemini-3.8-live-extended-thinking',
    ...FLASH_LIVE_31,
    verified: false,
    thinkingRequired: true,
    note: 'unverified: assumed to follow the 3.1 rules and to require a thinking level',
  },
];

export const DEFAULT_MODEL = MODELS[0]!.id;

export const KNOWN_MODEL_IDS: readonly string[] = MODELS.map((m) => m.id);

/** A model id (or `rules`) that is not in the table. */
export class UnknownModelError extends Error {
  override name = 'UnknownModelError';
  /** Which setting is wrong: the model id itself, or GEMINI_MODEL_RULES (its message names it). */
  readonly setting: 'model' | 'rules';

  constructor(message: string, setting: 'model' | 'rules') {
    super(message);
    this.setting = setting;
  }
}

/**
 * The capabilities of `id`. An id the table does not know is refused, unless `rulesOf` names a
 * known row whose rules it should run under (GEMINI_MODEL_RULES: for ids newer than this table).
 */
export function modelCapabilities(id: string, rulesOf?: string): ModelCapabilities {
  const row = MODELS.find((m) => m.id === id);
  if (row) return row;
  if (rulesOf) {
    const rules = MODELS.find((m) => m.id === rulesOf);
    if (!rules) {
      throw new UnknownModelError(
        `GEMINI_MODEL_RULES: "${rulesOf}" is not a known model (allowed: ${KNOWN_MODEL_IDS.join(', ')})`,
        'rules',
      );
    }
    return { ...rules, id, verified: false, note: `runs with the rules of ${rules.id}` };
  }
  throw new UnknownModelError(
    `model "${id}" is not in the capability table (known: ${KNOWN_MODEL_IDS.join(', ')}); ` +
      `to run a newer id, also set GEMINI_MODEL_RULES to the known model whose rules it follows`,
    'model',
  );
}

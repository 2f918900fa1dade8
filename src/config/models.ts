/**
 * The model-capability table: what each Gemini Live model accepts, as data, one row per
 * (model id, backend).
 *
 * Everything that depends on the model asks this table; adding a model is adding a row here and
 * a row in test/models.test.ts. Every column of every row names where it was read (`sources`), or
 * says it could only be inferred and why. The fake Gemini server (tools/fake_gemini/) plays the
 * same rules from its own knowledge, so a wrong table does not agree with itself.
 */

export type Backend = 'gemini' | 'vertex';

/** Google's label: generally available, preview, or a preview kept for existing users. */
export type ModelStatus = 'ga' | 'preview' | 'legacy_preview';

/** How a model takes thinking control: `thinkingLevel` (3.x), `thinkingBudget` (2.5) or neither. */
export type ThinkingControl = 'level' | 'budget' | 'none';

export const THINKING_LEVELS = ['minimal', 'low', 'medium', 'high'] as const;
export type ThinkingLevel = (typeof THINKING_LEVELS)[number];

/**
 * A feature the setup can switch: `opt_in` (send it to turn it on), `unsupported` (the setup
 * must not carry it), `removed` (taken out of the API: never send it), `always_on` (on by
 * default and not settable: never send it).
 */
export type Switchable = 'opt_in' | 'unsupported' | 'removed' | 'always_on';

/**
 * How text reaches the model after the session started (a greeting, `generateReply`, a typed
 * message), see src/gemini/turn_routes.ts: `client_content` (2.5), `realtime_text` (models that
 * take client content only as initial history) or `user_content` (client content with explicit
 * roles all session; `turnComplete: true` asks for the answer).
 */
export type TextTurnRoute = 'client_content' | 'realtime_text' | 'user_content';

/** How earlier conversation is given to a fresh socket (a reconnect without a resumable handle). */
export type HistorySeeding = 'client_content' | 'history_config';

/** Where a column's value was read, or why it could only be inferred. */
export type Source = { url: string } | { inferred: string };

export interface ModelCapabilities {
  /** The model id as the Gemini API or Vertex AI names it. */
  id: string;
  backend: Backend;
  status: ModelStatus;
  thinking: ThinkingControl;
  /** The levels `thinkingLevel` takes (empty unless `thinking` is `level`). */
  thinkingLevels: readonly ThinkingLevel[];
  /** The model refuses a setup without a thinking level: this one is sent when none is set. */
  defaultThinkingLevel?: ThinkingLevel;
  /** `enableAffectiveDialog` (sent on the v1alpha API when opted in). */
  affectiveDialog: Switchable;
  /** `proactivity.proactiveAudio` (sent on the v1alpha API when opted in). */
  proactiveAudio: Switchable;
  /** Function declarations may be BLOCKING (the model waits for the result). */
  blockingTools: boolean;
  /** Function declarations may be NON_BLOCKING (the model talks on while a function runs). */
  asyncTools: boolean;
  /** How the model runs a function declared without a behavior. */
  defaultToolBehavior: 'blocking' | 'non_blocking';
  /**
   * What the user's input does while a BLOCKING call runs: `held` (the model takes none until the
   * result; the client holds the microphone back) or `cancels_call` (the server cancels the call).
   */
  blockingCallInput: 'held' | 'cancels_call';
  /** `scheduling` (SILENT / WHEN_IDLE / INTERRUPT) on function responses. */
  toolResponseScheduling: boolean;
  /** Function responses carry the call's `id` (Vertex 2.5 takes none; it matches by name). */
  functionResponseIds: boolean;
  /** `clientContent` accepted after the first model turn (mid-session instructions/context). */
  midSessionClientContent: boolean;
  textTurnRoute: TextTurnRoute;
  historySeeding: HistorySeeding;
  /**
   * What ends a reply: `turn_complete`, or `idle` for models that speak fillers while they reason
   * and mark the end with `interactionStatus: IDLE`.
   */
  replyEnds: 'turn_complete' | 'idle';
  /** Google Search grounding as a built-in tool beside our function tools. */
  googleSearch: boolean;
  /** Realtime video frames (camera / screen share). */
  videoInput: boolean;
  /** Every video frame counts toward the turn (turn coverage includes all video). */
  videoCountsTowardTurn: boolean;
  /** The model renders a talking avatar itself (VIDEO response modality with `avatarConfig`). */
  videoOutput: boolean;
  /** TEXT response modality, so a separate TTS can speak (half-cascade models). */
  textOutputWithTts: boolean;
  /** Something a user should know, shown in the model table (docs/models.md) and in warnings. */
  note?: string;
  /** Where each column was read (see `Source`). */
  sources: Record<SourcedColumn, Source>;
}

/** The columns every row cites a source for. */
export const SOURCED_COLUMNS = [
  'status',
  'thinking',
  'affectiveDialog',
  'proactiveAudio',
  'tools',
  'toolResponseScheduling',
  'functionResponseIds',
  'midSessionClientContent',
  'historySeeding',
  'replyEnds',
  'googleSearch',
  'videoInput',
  'videoOutput',
  'textOutputWithTts',
] as const;
export type SourcedColumn = (typeof SOURCED_COLUMNS)[number];

/** Google's pages the rows were read from (stored copies, checked 2026-12-01). */
export const DOCS = {
  g38: 'https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live',
  g38Thinking: 'https://ai.google.dev/gemini-api/docs/models/gemini-3.8-live-extended-thinking',
  liveThinking: 'https://ai.google.dev/gemini-api/docs/live-api/thinking',
  g31: 'https://ai.google.dev/gemini-api/docs/models/gemini-3.1-flash-live-preview',
  liveGuide: 'https://ai.google.dev/gemini-api/docs/live-guide',
  liveTools: 'https://ai.google.dev/gemini-api/docs/live-api/tools',
  v38Guide:
    'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/guides/gemini-3-8-live',
  v38Model: 'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/gemini/3-8-live',
  v38Migrate:
    'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/live-api/migrate-from-gemini-2-5-to-gemini-3-8-live',
  vAvatars:
    'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/live-api/configure-live-avatars',
  vAsyncTools:
    'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/live-api/asynchronous-function-calling',
  vCapabilities:
    'https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/live-api/configure-gemini-capabilities',
  v25Model:
    'https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/2-5-flash-live-api',
} as const;

const doc = (key: keyof typeof DOCS): Source => ({ url: DOCS[key] });
const inferred = (why: string): Source => ({ inferred: why });

const NO_LEVELS: readonly ThinkingLevel[] = [];

const LIVE_38: Omit<ModelCapabilities, 'id' | 'backend' | 'sources'> = {
  status: 'ga',
  thinking: 'none',
  thinkingLevels: NO_LEVELS,
  affectiveDialog: 'removed',
  proactiveAudio: 'always_on',
  blockingTools: true,
  asyncTools: true,
  defaultToolBehavior: 'non_blocking',
  blockingCallInput: 'cancels_call',
  toolResponseScheduling: true,
  functionResponseIds: true,
  midSessionClientContent: true,
  textTurnRoute: 'user_content',
  historySeeding: 'history_config',
  replyEnds: 'turn_complete',
  googleSearch: true,
  videoInput: true,
  videoCountsTowardTurn: true,
  videoOutput: false,
  textOutputWithTts: false,
};

/** One row per (model id, backend). The first row is the default model. */
export const MODELS: readonly ModelCapabilities[] = [
  {
    id: 'gemini-3.8-live',
    backend: 'gemini',
    ...LIVE_38,
    note: "Google's recommended Live model (GA)",
    sources: {
      status: doc('g38'),
      thinking: doc('g38'),
      affectiveDialog: doc('g38'),
      proactiveAudio: doc('g38'),
      tools: doc('g38'),
      toolResponseScheduling: doc('g38'),
      functionResponseIds: doc('liveTools'),
      midSessionClientContent: doc('g38'),
      historySeeding: inferred(
        "the page is silent; Vertex's 3.8 guide and the SDK's HistoryConfig describe declared initial history",
      ),
      replyEnds: doc('liveThinking'),
      googleSearch: doc('g38'),
      videoInput: doc('g38'),
      videoOutput: inferred('no Gemini API page offers avatar video; Vertex AI documents it'),
      textOutputWithTts: doc('g38'),
    },
  },
  {
    id: 'gemini-3.8-live',
    backend: 'vertex',
    ...LIVE_38,
    affectiveDialog: 'always_on',
    // Vertex documents client content only for seeding history ("restrict send_client_content");
    // Google's Vertex sample greets with realtime text.
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    videoOutput: true,
    note: 'Vertex AI (GA); renders a Live Avatar itself',
    sources: {
      status: doc('v38Model'),
      thinking: doc('v38Model'),
      affectiveDialog: doc('v38Guide'),
      proactiveAudio: doc('v38Guide'),
      tools: doc('v38Guide'),
      toolResponseScheduling: doc('vAsyncTools'),
      functionResponseIds: doc('vAsyncTools'),
      midSessionClientContent: doc('v38Migrate'),
      historySeeding: doc('v38Guide'),
      replyEnds: inferred('the Vertex pages describe no other end of a reply than turnComplete'),
      googleSearch: doc('v38Model'),
      videoInput: doc('v38Guide'),
      videoOutput: doc('vAvatars'),
      textOutputWithTts: doc('v38Guide'),
    },
  },
  {
    id: 'gemini-3.8-live-extended-thinking',
    backend: 'gemini',
    ...LIVE_38,
    thinking: 'level',
    thinkingLevels: ['low', 'medium', 'high'],
    defaultThinkingLevel: 'low',
    blockingTools: false,
    toolResponseScheduling: false,
    replyEnds: 'idle',
    note: 'speaks fillers while it reasons; a reply ends at interactionStatus IDLE; thinking level defaults to low',
    sources: {
      status: doc('g38Thinking'),
      thinking: doc('liveThinking'),
      affectiveDialog: inferred('not stated for this model; removed from the 3.8 API'),
      proactiveAudio: inferred(
        "not on the model page; Google's 3.8 migration reference says permanently on",
      ),
      tools: doc('liveThinking'),
      toolResponseScheduling: inferred(
        "not on the model page; Google's 3.8 migration reference says scheduling is not supported",
      ),
      functionResponseIds: doc('liveThinking'),
      midSessionClientContent: inferred("as gemini-3.8-live (Google's 3.8 migration reference)"),
      historySeeding: inferred('as gemini-3.8-live'),
      replyEnds: doc('liveThinking'),
      googleSearch: doc('g38Thinking'),
      videoInput: inferred('as gemini-3.8-live; the page lists the same inputs'),
      videoOutput: inferred('Gemini API only (Vertex AI lists no extended-thinking model)'),
      textOutputWithTts: doc('liveThinking'),
    },
  },
  {
    id: 'gemini-3.1-flash-live-preview',
    backend: 'gemini',
    status: 'legacy_preview',
    thinking: 'level',
    thinkingLevels: THINKING_LEVELS,
    affectiveDialog: 'unsupported',
    proactiveAudio: 'unsupported',
    blockingTools: true,
    asyncTools: false,
    defaultToolBehavior: 'blocking',
    blockingCallInput: 'held',
    toolResponseScheduling: false,
    functionResponseIds: true,
    midSessionClientContent: false,
    textTurnRoute: 'realtime_text',
    historySeeding: 'history_config',
    replyEnds: 'turn_complete',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: true,
    videoOutput: false,
    textOutputWithTts: false,
    note: 'legacy preview; client content only as initial history, text turns go as realtime text',
    sources: {
      status: doc('g31'),
      thinking: doc('g31'),
      affectiveDialog: doc('g31'),
      proactiveAudio: doc('g31'),
      tools: doc('g31'),
      toolResponseScheduling: doc('g31'),
      functionResponseIds: doc('liveTools'),
      midSessionClientContent: doc('g31'),
      historySeeding: doc('g31'),
      replyEnds: doc('liveThinking'),
      googleSearch: doc('g31'),
      videoInput: doc('g31'),
      videoOutput: inferred('no page offers avatar video for this model'),
      textOutputWithTts: doc('g31'),
    },
  },
  {
    id: 'gemini-2.5-flash-native-audio-preview-12-2025',
    backend: 'gemini',
    status: 'preview',
    thinking: 'budget',
    thinkingLevels: NO_LEVELS,
    affectiveDialog: 'opt_in',
    proactiveAudio: 'opt_in',
    blockingTools: true,
    asyncTools: true,
    defaultToolBehavior: 'blocking',
    blockingCallInput: 'held',
    toolResponseScheduling: true,
    functionResponseIds: true,
    midSessionClientContent: true,
    textTurnRoute: 'client_content',
    historySeeding: 'client_content',
    replyEnds: 'turn_complete',
    googleSearch: true,
    videoInput: true,
    videoCountsTowardTurn: false,
    videoOutput: false,
    textOutputWithTts: false,
    sources: {
      status: doc('liveGuide'),
      thinking: doc('liveGuide'),
      affectiveDialog: doc('liveGuide'),
      proactiveAudio: doc('liveGuide'),
      tools: doc('liveTools'),
      toolResponseScheduling: doc('liveTools'),
      functionResponseIds: doc('liveTools'),
      midSessionClientContent: doc('v38Migrate'),
      historySeeding: doc('v38Migrate'),
      replyEnds: doc('liveGuide'),
      googleSearch: doc('liveTools'),
      videoInput: doc('liveGuide'),
      videoOutput: inferred('no page offers avatar video for this model'),
      textOutputWithTts: inferred(
        'native-audio models answer in audio only (a TEXT setup is refused, as reported)',
      ),
    },
  },
  {
    id: 'gemini-live-2.5-flash-native-audio',
    backend: 'vertex',
    status: 'ga',
    thinking: 'budget',
    thinkingLevels: NO_LEVELS,
    affectiveDialog: 'opt_in',
    proactiveAudio: 'opt_in',
    blockingTools: true,
    asyncTools: false,
    defaultToolBehavior: 'blocking',
    blockingCallInput: 'held',
    toolResponseScheduling: false,
    functionResponseIds: false,
    midSessionClientContent: true,
    textTurnRoute: 'client_content',
    historySeeding: 'client_content',
    replyEnds: 'turn_complete',
    googleSearch: false,
    videoInput: true,
    videoCountsTowardTurn: false,
    videoOutput: false,
    textOutputWithTts: false,
    note: 'Vertex AI (GA)',
    sources: {
      status: doc('v25Model'),
      thinking: doc('v25Model'),
      affectiveDialog: doc('v38Migrate'),
      proactiveAudio: doc('v38Migrate'),
      tools: inferred("LiveKit's plugin documents NON_BLOCKING as unsupported on Vertex AI"),
      toolResponseScheduling: inferred(
        "LiveKit's plugin documents response scheduling as unsupported on Vertex AI",
      ),
      functionResponseIds: inferred("LiveKit's plugin sends Vertex function responses without id"),
      midSessionClientContent: doc('v38Migrate'),
      historySeeding: doc('v38Migrate'),
      replyEnds: doc('v38Migrate'),
      googleSearch: doc('vCapabilities'),
      videoInput: doc('v25Model'),
      videoOutput: doc('vAvatars'),
      textOutputWithTts: inferred(
        'native-audio models answer in audio only (a TEXT setup is refused, as reported)',
      ),
    },
  },
];

export const DEFAULT_MODEL = MODELS[0]!.id;

/** Every model id the table knows (an id may have a row per backend). */
export const KNOWN_MODEL_IDS: readonly string[] = [...new Set(MODELS.map((m) => m.id))];

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

/** The row of `id` on `backend`, else its row on the other backend (the rules then refuse it). */
function rowOf(id: string, backend: Backend): ModelCapabilities | undefined {
  return (
    MODELS.find((m) => m.id === id && m.backend === backend) ?? MODELS.find((m) => m.id === id)
  );
}

/**
 * The capabilities of `id` on `backend`. An id the table does not know is refused, unless
 * `rulesOf` names a known model whose rules it should run under (GEMINI_MODEL_RULES: for ids
 * newer than this table).
 */
export function modelCapabilities(
  id: string,
  backend: Backend = 'gemini',
  rulesOf?: string,
): ModelCapabilities {
  const row = rowOf(id, backend);
  if (row) return row;
  if (rulesOf) {
    const rules = rowOf(rulesOf, backend);
    if (!rules) {
      throw new UnknownModelError(
        `GEMINI_MODEL_RULES: "${rulesOf}" is not a known model (allowed: ${KNOWN_MODEL_IDS.join(', ')})`,
        'rules',
      );
    }
    return { ...rules, id, note: `runs with the rules of ${rules.id}` };
  }
  throw new UnknownModelError(
    `model "${id}" is not in the capability table (known: ${KNOWN_MODEL_IDS.join(', ')}); ` +
      `to run a newer id, also set GEMINI_MODEL_RULES to the known model whose rules it follows`,
    'model',
  );
}

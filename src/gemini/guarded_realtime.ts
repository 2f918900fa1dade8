/**
 * The Gemini realtime model behind our capability guard.
 *
 * The 1.9.0 plugin sends the same calls to every model. On models whose row says
 * `midSessionClientContent: false` (3.x), client content after the first model turn closes the
 * socket with 1007 and ends the call, and a bare `generateReply()` sends an empty turn list the
 * SDK cannot encode. The guarded model and its sessions keep those calls working:
 *
 * - the framework is told the truth (no mid-session instruction/context updates), so it stops
 *   re-sending context on handoffs, and the plugin keeps new instructions for the next connect;
 * - `generateReply` (greeting, `session.run`, `onEnter` replies) goes as realtime text input,
 *   carrying any user text the framework added to the context since the last reply;
 * - the setup frame declares `historyConfig` so the plugin's history seeding on reconnect is the
 *   initial history the model accepts;
 * - every session, on every model, survives Gemini faults (session_recovery.ts): dropped or
 *   refused connections, goAway, turns with no audio, malformed frames; the plugin's error lines
 *   for those faults are logged as warnings (plugin_log.ts).
 *
 * The plugin keeps its state in TypeScript-private fields; the few we touch are typed in
 * `PluginSessionInternals` and exercised end to end against the fake server in the tests.
 */
import {
  type APIConnectOptions,
  DEFAULT_API_CONNECT_OPTIONS,
  Future,
  llm,
  log,
} from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import type { AudioFrame } from '@livekit/rtc-node';
import type { ModelCapabilities } from '../config/models.ts';
import { withFaultLinesAsWarnings } from './plugin_log.ts';
import { watchConnects } from './live_socket_watch.ts';
import { type PluginSession, internalsOf } from './plugin_internals.ts';
import { CONTINUE_PROMPT } from './prompts.ts';
import { type RecoveryPolicy, SessionRecovery } from './session_recovery.ts';
import { registerSetupExtras } from './setup_extensions.ts';

export { CONTINUE_PROMPT } from './prompts.ts';
const GENERATION_TIMEOUT_MS = 5_000;

type PluginOptions = NonNullable<ConstructorParameters<typeof google.realtime.RealtimeModel>[0]>;

export interface GuardedRealtimeOptions extends PluginOptions {
  /** `timeoutMs` bounds each connection's setup; retries follow `recovery` instead. */
  connOptions?: APIConnectOptions;
  /** How hard to fight for the call when Gemini fails; see DEFAULT_RECOVERY_POLICY. */
  recovery?: Partial<RecoveryPolicy>;
}

export class GuardedRealtimeModel extends google.realtime.RealtimeModel {
  readonly row: ModelCapabilities;
  readonly #capabilities: llm.RealtimeCapabilities;
  readonly #recoveryPolicy: Partial<RecoveryPolicy>;
  readonly #recoveries: SessionRecovery[] = [];
  readonly #audioListeners = new Set<(frame: AudioFrame) => void>();
  #latestSession?: PluginSession;
  #presetTools?: llm.ToolContext;

  constructor(row: ModelCapabilities, options: GuardedRealtimeOptions) {
    const { recovery, ...pluginOptions } = options;
    super({ ...pluginOptions, model: row.id, vertexai: row.backend === 'vertex' });
    this.row = row;
    const connOptions = options.connOptions ?? DEFAULT_API_CONNECT_OPTIONS;
    this.#recoveryPolicy = { setupTimeoutMs: connOptions.timeoutMs, ...recovery };
    // The plugin reads maxRetry once, when a session starts, and throws (an unhandled
    // rejection) past it; each session's recovery counts attempts and ends the call instead.
    this._options.connOptions = { ...connOptions, maxRetry: Number.MAX_SAFE_INTEGER };
    const base = super.capabilities;
    this.#capabilities = row.midSessionClientContent
      ? base
      : { ...base, midSessionChatCtxUpdate: false, midSessionInstructionsUpdate: false };
    if (row.historySeeding === 'history_config') {
      registerSetupExtras(row.id, { historyConfig: { initialHistoryInClientContent: true } });
    }
  }

  override get capabilities(): llm.RealtimeCapabilities {
    return this.#capabilities;
  }

  /**
   * The tools the agent will set. The plugin connects as soon as a session exists and reconnects
   * when the tools change (agents-js#2324); giving it the tools first saves that second setup
   * round trip before the greeting.
   */
  presetTools(tools: llm.ToolContext): void {
    this.#presetTools = tools;
  }

  /** The recovery of each session this model made, oldest first (diagnostics and tests). */
  get recoveries(): readonly SessionRecovery[] {
    return this.#recoveries;
  }

  /** The session this model made last: the one the agent talks through (video input sends on it). */
  get latestSession(): PluginSession | undefined {
    return this.#latestSession;
  }

  /**
   * See the microphone audio as it reaches the model (after the framework's muting), e.g. to
   * tell when the user speaks. Returns a function that stops it.
   */
  onInputAudio(listener: (frame: AudioFrame) => void): () => void {
    this.#audioListeners.add(listener);
    return () => this.#audioListeners.delete(listener);
  }

  override session() {
    const recovery = new SessionRecovery(this.row, this.#recoveryPolicy);
    // The plugin starts its connect loop in the constructor: build it where connects are watched.
    const session = watchConnects(recovery, () => withFaultLinesAsWarnings(() => super.session()));
    if (this.#presetTools) internalsOf(session)._tools = this.#presetTools;
    this.#recoveries.push(recovery);
    const guarded = guardSession(session, this.row, recovery);
    const pushAudio = guarded.pushAudio.bind(guarded);
    guarded.pushAudio = (frame) => {
      pushAudio(frame);
      for (const listener of this.#audioListeners) listener(frame);
    };
    this.#latestSession = guarded;
    return guarded;
  }
}

/**
 * Guard one plugin session in place. The plugin does not export its session class, so instead of
 * subclassing we wrap the methods whose wire messages differ per model, and let `recovery` (built
 * with the session, see GuardedRealtimeModel.session) keep it alive through faults.
 */
export function guardSession(
  session: PluginSession,
  row: ModelCapabilities,
  recovery: SessionRecovery,
): PluginSession {
  recovery.attach(session);
  const logger = log();
  const original = {
    updateInstructions: session.updateInstructions.bind(session),
    updateChatCtx: session.updateChatCtx.bind(session),
    generateReply: session.generateReply.bind(session),
  };
  if (row.midSessionClientContent) return session;

  /** User text the framework added to the context since the last reply. */
  const pendingUserText: string[] = [];

  session.updateInstructions = async (instructions) => {
    const internals = internalsOf(session);
    if (internals.activeSession && internals.options.instructions !== instructions) {
      logger.warn(
        { model: row.id },
        'this model cannot change instructions mid-session; they apply from the next connection',
      );
    }
    return original.updateInstructions(instructions);
  };

  if (row.textTurnRoute !== 'realtime_text') return session;

  session.updateChatCtx = async (chatCtx) => {
    pendingUserText.push(...newUserText(session.chatCtx, chatCtx));
    return original.updateChatCtx(chatCtx);
  };

  session.generateReply = async (instructions, options = {}) => {
    const text = [...pendingUserText.splice(0), instructions]
      .filter((t): t is string => !!t?.trim())
      .join('\n');
    return replyToRealtimeText(session, text || CONTINUE_PROMPT, options.signal);
  };
  return session;
}

/** Texts of user messages in `next` that `known` does not have yet. */
function newUserText(known: llm.ChatContext, next: llm.ChatContext): string[] {
  const ids = new Set(known.items.map((item) => item.id));
  const texts: string[] = [];
  for (const item of next.items) {
    if (ids.has(item.id) || item.type !== 'message' || item.role !== 'user') continue;
    const text = item.textContent;
    if (text) texts.push(text);
  }
  return texts;
}

/** The plugin's generateReply bookkeeping, with the turn sent as `realtimeInput.text`. */
function replyToRealtimeText(
  session: PluginSession,
  text: string,
  signal?: AbortSignal,
): Promise<llm.GenerationCreatedEvent> {
  const internals = internalsOf(session);
  const previous = internals.pendingGenerationFut;
  if (previous && !previous.done) {
    previous.reject(new Error('Superseded by new generate_reply call'));
  }
  const fut = new Future<llm.GenerationCreatedEvent>();
  internals.pendingGenerationFut = fut;

  const settle = (error: Error) => {
    if (internals.pendingGenerationFut === fut) internals.pendingGenerationFut = undefined;
    if (!fut.done) fut.reject(error);
  };
  const onAbort = () => {
    if (internals.pendingGenerationFut === fut) void session.interrupt();
    settle(new Error('generateReply aborted'));
  };
  if (signal?.aborted) {
    onAbort();
    return fut.await;
  }
  signal?.addEventListener('abort', onAbort, { once: true });

  if (internals.inUserActivity) {
    internals.sendClientEvent({ type: 'realtime_input', value: { activityEnd: {} } });
    internals.inUserActivity = false;
  }
  internals.sendClientEvent({ type: 'realtime_input', value: { text } });

  const timer = setTimeout(
    () =>
      settle(
        new llm.RealtimeError('generateReply timed out waiting for generation_created event.'),
      ),
    GENERATION_TIMEOUT_MS,
  );
  void fut.await
    .finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    })
    .catch(() => undefined);
  return fut.await;
}

/**
 * Keeps a call alive through Gemini Live faults, one plugin session at a time.
 *
 * The 1.9.0 plugin ends the call on any close code other than 1000 (it emits an unrecoverable
 * error, agents-js#2366), restarts at once on `goAway` and cuts the reply in progress (#2507),
 * lets a turn with no audio pass as an answer (#1450), hangs in the SDK's `connect()` when a
 * socket closes before `setupComplete`, and crashes on a server frame that is not JSON. This
 * class wraps the session in place and answers each:
 *
 * - a connection the server closes (any code, the client did not ask) is a fault: instead of the
 *   plugin's onclose (an unrecoverable error), the generation in flight is ended and the
 *   plugin's own restart path (`markRestartNeeded`) reconnects with the session-resumption
 *   handle; bounded by `RecoveryPolicy`, then one clear error ends the call;
 * - a connect attempt that fails (refused, closed or rejected during setup, no `setupComplete`
 *   in time) is rejected so the plugin's loop retries, with exponential backoff; a resumption
 *   handle the server refuses (1007/1008 during setup) is dropped and the next attempt starts a
 *   fresh session, which the plugin seeds with the conversation;
 * - on a resumed session the server already has the conversation up to its handle: only what
 *   came after is seeded, and only on models that take client content mid-session;
 * - microphone audio is held while the socket is down and sent once it is back;
 * - `goAway`: reconnect at the next resumable point between turns, or shortly before the
 *   deadline if none comes;
 * - a turn that completes with no audio, or a user turn a fault cut before any answer, is asked
 *   once more, the way the model takes text turns; function results whose connection was lost
 *   are given to the model as text, since the new connection does not know the call.
 */
import { APIConnectionError, type APIConnectOptions, llm, log } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import type { ModelCapabilities } from '../config/models.ts';
import type { AttemptWatcher, CloseInfo, ConnectWatcher } from './live_socket_watch.ts';
import { MicBuffer } from './mic_buffer.ts';
import {
  type ClientEvent,
  type PluginGeneration,
  type PluginSession,
  type PluginSessionInternals,
  internalsOf,
} from './plugin_internals.ts';
import { CONTINUE_PROMPT, toolResultPrompt } from './prompts.ts';

export interface RecoveryPolicy {
  /** Failed connection attempts in a row (refused, closed during setup, timed out) before the call ends. */
  connectAttempts: number;
  /** Delay before the first retry of a failed attempt; doubles per failure up to `maxRetryDelayMs`. */
  retryDelayMs: number;
  maxRetryDelayMs: number;
  /** `setupComplete` must arrive this soon after the connect starts. */
  setupTimeoutMs: number;
  /** Established connections lost in a row, with no answered turn between, before the call ends. */
  sessionFaults: number;
  /** Closes for a rejected request (1007, 1008) in a row before the call ends: they tend to repeat. */
  ruleCloses: number;
  /** Microphone audio held while the socket is down (oldest dropped beyond). */
  micBufferMs: number;
}

export const DEFAULT_RECOVERY_POLICY: RecoveryPolicy = {
  connectAttempts: 10,
  retryDelayMs: 100,
  // Caps the wait after Gemini is reachable again (the target: recovery p99 <= 2 s).
  maxRetryDelayMs: 1000,
  setupTimeoutMs: 10_000,
  sessionFaults: 5,
  ruleCloses: 2,
  micBufferMs: 10_000,
};

/** Close codes for a request the server rejected (invalid argument, policy). */
const RULE_CODES = new Set([1007, 1008]);

export interface Reconnect {
  /** What took the connection down: `close 1011`, `go_away`, ... */
  cause: string;
  /** From the socket going down to the new one being set up. */
  downMs: number;
  /** The new connection resumed the session with a handle. */
  resumed: boolean;
  /** Failed connection attempts on the way. */
  failedAttempts: number;
}

export interface RecoveryStats {
  reconnects: Reconnect[];
  /** Turns asked again (no audio, or cut by a fault before any answer). */
  reAsks: number;
  /** Function results given to the model as text after their connection was lost. */
  toolResultsAsText: number;
  malformedFrames: number;
  /** Microphone audio held across reconnects, and dropped because the buffer was full. */
  bufferedAudioMs: number;
  droppedAudioMs: number;
  /** Set when the recovery gave up and ended the call. */
  gaveUp?: string;
}

interface AttemptState {
  handle?: string;
  setupDone: boolean;
  /** Function calls asked on this connection whose results the model has not gone on from. */
  calls: Map<string, string>;
  failed: boolean;
  error?: string;
  timer?: NodeJS.Timeout;
  reject?: (error: Error) => void;
  abort?: () => void;
}

/** The parts of a server frame the recovery reads. */
interface ServerFrame {
  setupComplete?: unknown;
  serverContent?: unknown;
  toolCall?: { functionCalls?: { id?: string; name?: string }[] };
  toolCallCancellation?: { ids?: string[] };
}

type OriginalMethods = Pick<
  PluginSessionInternals,
  'pushAudio' | 'sendClientEvent' | 'handleServerContent'
>;

export class SessionRecovery implements ConnectWatcher {
  readonly row: ModelCapabilities;
  readonly policy: RecoveryPolicy;
  readonly stats: RecoveryStats = {
    reconnects: [],
    reAsks: 0,
    toolResultsAsText: 0,
    malformedFrames: 0,
    bufferedAudioMs: 0,
    droppedAudioMs: 0,
  };
  readonly #logger = log();
  readonly #mic: MicBuffer;
  #session?: PluginSession;
  #internals?: PluginSessionInternals;
  #original?: OriginalMethods;
  #chatCtx = llm.ChatContext.empty();
  #handle?: string;
  /** Ids of the conversation items the server had when it issued `#handle`. */
  #itemsAtHandle = new Set<string>();
  /** No model output since the last handle: resuming from it loses nothing. */
  #handleFresh = true;
  /** A filtered context the plugin's next `_chatCtx` read (its reconnect seeding) gets. */
  #seedOnce?: llm.ChatContext;
  #up = false;
  #everUp = false;
  #closed = false;
  #down = { since: performance.now(), cause: 'start' };
  #connecting?: AttemptState;
  #current?: AttemptState;
  #connectFailures = 0;
  /** Failed connect attempts since the socket went down (for the stats). */
  #outageFailures = 0;
  #sessionFaults = 0;
  #ruleCloses = 0;
  /** A user turn a fault cut before the model said anything (its transcript, maybe empty). */
  #lostTurn?: string;
  /** Function calls asked on a connection that was lost before their results were sent. */
  readonly #orphanCalls = new Map<string, string>();
  #awaitingReAsk = false;
  readonly #interrupted = new WeakSet<PluginGeneration>();
  #goAway?: { restartBy: number; timer: NodeJS.Timeout };

  constructor(row: ModelCapabilities, policy: Partial<RecoveryPolicy> = {}) {
    this.row = row;
    this.policy = { ...DEFAULT_RECOVERY_POLICY, ...policy };
    this.#mic = new MicBuffer(this.policy.micBufferMs);
  }

  /** Wire the recovery into a plugin session built inside `watchConnects(this, ...)`. */
  attach(session: PluginSession): void {
    const internals = internalsOf(session);
    this.#session = session;
    this.#internals = internals;
    this.#original = {
      pushAudio: internals.pushAudio.bind(session),
      sendClientEvent: internals.sendClientEvent.bind(session),
      handleServerContent: internals.handleServerContent.bind(session),
    };
    // Retries are ours: a per-session view of the options whose retry delay is our backoff.
    internals.options = Object.create(internals.options, {
      connOptions: { value: this.#connOptions(internals.options.connOptions), enumerable: true },
    });
    this.#trackFields(internals);
    internals.pushAudio = (frame) => this.#pushAudio(frame);
    internals.sendClientEvent = (event) => this.#sendClientEvent(event);
    internals.handleServerContent = (content) => this.#handleServerContent(content);
    internals.handleGoAway = (goAway) => this.#onGoAway(goAway.timeLeft);
    const close = session.close.bind(session);
    session.close = async () => {
      this.#shutdown();
      return close();
    };
  }

  /** The plugin reads these fields at the moments that matter: accessors let us act then. */
  #trackFields(internals: PluginSessionInternals): void {
    let active = internals.activeSession;
    this.#chatCtx = internals._chatCtx;
    this.#handle = internals.sessionResumptionHandle;
    Object.defineProperties(internals, {
      activeSession: {
        configurable: true,
        enumerable: true,
        get: () => active,
        set: (value: object | undefined) => {
          active = value;
          if (value) this.#onConnected();
          else this.#markDown('closed by the client');
        },
      },
      _chatCtx: {
        configurable: true,
        enumerable: true,
        // The plugin seeds a new connection from this, right after setting activeSession.
        get: () => this.#takeSeed() ?? this.#chatCtx,
        set: (value: llm.ChatContext) => {
          this.#chatCtx = value;
        },
      },
      sessionResumptionHandle: {
        configurable: true,
        enumerable: true,
        get: () => this.#handle,
        set: (value: string | undefined) => this.#onHandle(value),
      },
    });
  }

  #connOptions(base: APIConnectOptions): APIConnectOptions {
    const delay = () => this.#retryDelay();
    return {
      ...base,
      maxRetry: Number.MAX_SAFE_INTEGER,
      get retryIntervalMs() {
        return delay();
      },
    };
  }

  #retryDelay(): number {
    const { retryDelayMs, maxRetryDelayMs } = this.policy;
    // After giving up the plugin keeps looping until the framework closes the session.
    if (this.stats.gaveUp || this.#closed) return maxRetryDelayMs;
    return Math.min(maxRetryDelayMs, retryDelayMs * 2 ** Math.max(0, this.#connectFailures - 1));
  }

  // ---- connect attempts (called by live_socket_watch.ts) ----

  attempt(params: { config?: { sessionResumption?: { handle?: string } } }): AttemptWatcher {
    const state: AttemptState = {
      setupDone: false,
      calls: new Map(),
      failed: false,
      ...(params.config?.sessionResumption?.handle
        ? { handle: params.config.sessionResumption.handle }
        : {}),
    };
    this.#connecting = state;
    return {
      frame: (text) => this.#onFrame(state, text),
      errored: (message) => {
        state.error = message;
      },
      closed: (close, byClient) => this.#onSocketClosed(state, close, byClient),
      settle: (connecting, abort) => {
        state.abort = abort;
        return new Promise((resolve, reject) => {
          state.reject = reject;
          if (this.stats.gaveUp || this.#closed) {
            state.failed = true;
            abort();
            return reject(new APIConnectionError({ message: 'Gemini Live recovery ended' }));
          }
          state.timer = setTimeout(() => {
            this.#connectFailed(state, `no setupComplete within ${this.policy.setupTimeoutMs} ms`);
            abort();
          }, this.policy.setupTimeoutMs);
          connecting.then((session) => {
            clearTimeout(state.timer);
            if (!state.failed) resolve(session);
          }, reject);
        });
      },
    };
  }

  #onFrame(state: AttemptState, text: string): boolean {
    let message: ServerFrame | null;
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      // The SDK would throw this inside an unawaited promise: an unhandled rejection.
      this.stats.malformedFrames++;
      this.#logger.warn(
        { model: this.row.id, bytes: text.length, start: text.slice(0, 40) },
        'Gemini Live sent a frame that is not JSON; dropped it',
      );
      return false;
    }
    if (message?.setupComplete !== undefined && !state.setupDone) {
      state.setupDone = true;
      clearTimeout(state.timer);
      this.#connectFailures = 0;
      this.#current = state;
      if (this.#connecting === state) this.#connecting = undefined;
    }
    if (message) this.#trackCalls(state, message);
    return true;
  }

  /**
   * A result counts as used once the model speaks after it was sent: a result sent into a socket
   * that was already closing is lost with it, and must go to the next connection.
   */
  #trackCalls(state: AttemptState, message: ServerFrame): void {
    for (const call of message.toolCall?.functionCalls ?? []) {
      if (call.id) state.calls.set(call.id, call.name ?? 'function');
    }
    for (const id of message.toolCallCancellation?.ids ?? []) state.calls.delete(id);
    if (!message.serverContent || state.calls.size === 0) return;
    const pending = this.#internals?.pendingToolCallIds;
    for (const id of state.calls.keys()) if (!pending?.has(id)) state.calls.delete(id);
  }

  #onSocketClosed(state: AttemptState, close: CloseInfo, byClient: boolean): void {
    if (!state.setupDone) {
      // The plugin is still inside connect(): there is nothing for its onclose to clean up.
      const cause = byClient
        ? 'closed by the client during setup'
        : `closed during setup: ${describeClose(close, state.error)}`;
      return this.#connectFailed(state, cause, close);
    }
    // A socket replaced by a newer one: ending "the current generation" would cut the new one's.
    if (state !== this.#current) return;
    this.#current = undefined;
    if (!byClient && !this.#closed) this.#noteLostWork(state, this.#internals!);
    this.#markDown(byClient ? 'closed by the client' : `close ${close.code}`);
    // Not the plugin's onclose: it makes every code but 1000 an unrecoverable error, which ends
    // the call (and logs one at error level). What it does besides is end the generation.
    this.#internals!.markCurrentGenerationDone();
    if (byClient || this.#closed) return; // our own close: a restart, goAway, the end of the call
    this.#connectionLost(close, state);
  }

  #connectFailed(state: AttemptState, cause: string, close?: CloseInfo): void {
    if (state.failed || this.#closed) return;
    state.failed = true;
    clearTimeout(state.timer);
    if (this.#connecting === state) this.#connecting = undefined;
    this.#connectFailures++;
    this.#outageFailures++;
    const rejected = close !== undefined && RULE_CODES.has(close.code);
    if (rejected && state.handle && state.handle === this.#handle) {
      // Handles expire; a fresh session seeded with the conversation beats ending the call.
      this.#logger.warn(
        { model: this.row.id, code: close.code, reason: close.reason },
        'Gemini Live refused to resume the session; starting a fresh one with the conversation',
      );
      this.#onHandle(undefined);
    } else if (rejected) {
      this.#ruleCloses++;
    }
    state.reject?.(new APIConnectionError({ message: `Gemini Live connect failed: ${cause}` }));
    const { connectAttempts, ruleCloses } = this.policy;
    if (this.#connectFailures >= connectAttempts || this.#ruleCloses > ruleCloses) {
      return this.#giveUp(
        `could not connect to Gemini Live after ${this.#connectFailures} attempts (last: ${cause})`,
      );
    }
    this.#logger.warn(
      {
        model: this.row.id,
        attempt: this.#connectFailures,
        of: connectAttempts,
        retryInMs: this.#retryDelay(),
      },
      `Gemini Live connect failed (${cause}); retrying`,
    );
  }

  #connectionLost(close: CloseInfo, state: AttemptState): void {
    const internals = this.#internals!;
    this.#sessionFaults++;
    if (RULE_CODES.has(close.code)) this.#ruleCloses++;
    const { sessionFaults, ruleCloses } = this.policy;
    const described = describeClose(close, state.error);
    if (this.#sessionFaults > sessionFaults || this.#ruleCloses > ruleCloses) {
      return this.#giveUp(
        `Gemini Live closed the connection ${this.#sessionFaults} times without an answered turn (last: ${described})`,
      );
    }
    this.#logger.warn(
      {
        model: this.row.id,
        code: close.code,
        reason: close.reason,
        fault: this.#sessionFaults,
        resume: this.#handle !== undefined,
      },
      `Gemini Live connection lost (${described}); reconnecting`,
    );
    internals.markRestartNeeded();
  }

  /** What the lost connection leaves undone: function calls without results, an unanswered turn. */
  #noteLostWork(state: AttemptState, internals: PluginSessionInternals): void {
    this.#awaitingReAsk = false; // a retry in flight went down with the connection
    for (const [id, name] of state.calls) this.#orphanCalls.set(id, name);
    for (const id of internals.pendingToolCallIds) {
      this.#orphanCalls.set(id, internals.toolCallStatuses.get(id)?.name ?? 'function');
    }
    const gen = internals.currentGeneration;
    if (gen && !gen._done && !hasOutput(gen) && internals.pendingToolCallIds.size === 0) {
      this.#lostTurn = gen.inputTranscription.trim();
    }
  }

  /**
   * End the call with one error. Emitted as a full RealtimeModelError: the plugin's own events
   * lack `type`, so the framework closes the session without telling its listeners why.
   */
  #giveUp(message: string): void {
    if (this.stats.gaveUp) return;
    this.stats.gaveUp = message;
    this.#logger.error({ model: this.row.id }, `${message}; ending the call`);
    this.#session?.emit('error', {
      type: 'realtime_model_error',
      timestamp: Date.now(),
      label: 'google_realtime',
      error: new APIConnectionError({ message, options: { retryable: false } }),
      recoverable: false,
    });
  }

  // ---- connection up / down ----

  #markDown(cause: string): void {
    if (!this.#up) return;
    this.#up = false;
    this.#down = { since: performance.now(), cause };
    this.#cancelGoAway();
  }

  /** The plugin set its new live session: runs just before it seeds the conversation. */
  #onConnected(): void {
    if (!this.#current) return; // lost before the plugin took it: the restart follows
    const resumed = this.#current?.handle !== undefined;
    const downMs = performance.now() - this.#down.since;
    if (this.#everUp) {
      this.stats.reconnects.push({
        cause: this.#down.cause,
        downMs,
        resumed,
        failedAttempts: this.#outageFailures,
      });
      this.#logger.info(
        { model: this.row.id, downMs: Math.round(downMs), resumed, cause: this.#down.cause },
        'Gemini Live reconnected',
      );
    }
    this.#everUp = true;
    this.#up = true;
    this.#outageFailures = 0;
    this.#handleFresh = true;
    const seed = resumed ? this.#resumeSeed() : undefined;
    this.#resumeWork();
    this.#flushMic();
    // Last: the plugin's very next `_chatCtx` read, in this same tick, is its seeding.
    this.#seedOnce = seed;
    if (seed) queueMicrotask(() => this.#takeSeed());
  }

  /** What a resumed session still needs: what came after its handle, if the model takes it. */
  #resumeSeed(): llm.ChatContext {
    const missing = this.#chatCtx.items.filter(
      (item) => item.type === 'message' && !this.#itemsAtHandle.has(item.id),
    );
    if (this.row.midSessionClientContent) return new llm.ChatContext(missing);
    if (missing.length > 0) {
      this.#logger.info(
        { model: this.row.id, items: missing.length },
        'this model takes no client content mid-session: the turns after the resumption point are not restored',
      );
    }
    return llm.ChatContext.empty();
  }

  #takeSeed(): llm.ChatContext | undefined {
    const seed = this.#seedOnce;
    this.#seedOnce = undefined;
    return seed;
  }

  /** Give the new connection what the lost one left undone. */
  #resumeWork(): void {
    for (const item of this.#chatCtx.items) {
      if (item.type !== 'function_call_output' || !this.#orphanCalls.has(item.callId)) continue;
      this.#orphanCalls.delete(item.callId);
      this.#toolResultAsText(item.name, item.output);
    }
    const lost = this.#lostTurn;
    this.#lostTurn = undefined;
    if (lost === undefined) return;
    this.#logger.info({ model: this.row.id }, 'asking again for the turn the fault cut');
    this.#askAgain(lost);
  }

  #flushMic(): void {
    const { heldMs, droppedMs } = this.#mic;
    const frames = this.#mic.drain();
    if (frames.length === 0) return;
    this.stats.bufferedAudioMs += heldMs;
    this.stats.droppedAudioMs += droppedMs;
    if (droppedMs > 0) {
      this.#logger.warn(
        { model: this.row.id, droppedMs: Math.round(droppedMs) },
        'microphone audio buffer overflowed during the reconnect; the oldest audio was dropped',
      );
    }
    for (const frame of frames) this.#original!.pushAudio(frame);
  }

  #pushAudio(frame: AudioFrame): void {
    if (this.#up) this.#original!.pushAudio(frame);
    else this.#mic.push(frame);
  }

  #onHandle(handle: string | undefined): void {
    this.#handle = handle;
    this.#itemsAtHandle = new Set(handle ? this.#chatCtx.items.map((item) => item.id) : []);
    this.#handleFresh = handle === undefined || this.#idle();
    if (this.#handleFresh) this.#checkGoAway();
  }

  // ---- errors, turns, function results ----

  #handleServerContent(content: { turnComplete?: boolean; interrupted?: boolean }): void {
    const gen = this.#internals!.currentGeneration;
    const wasDone = gen?._done ?? true;
    if (content.interrupted && gen) this.#interrupted.add(gen);
    this.#handleFresh = false;
    this.#original!.handleServerContent(content);
    if (!content.turnComplete || !gen || wasDone || !gen._done) return;
    const answered = hasOutput(gen);
    if (answered) {
      this.#sessionFaults = 0;
      this.#ruleCloses = 0;
    }
    const retried = this.#awaitingReAsk;
    this.#awaitingReAsk = false;
    if (answered || this.#interrupted.has(gen)) return;
    if (retried) {
      this.#logger.warn({ model: this.row.id }, 'Gemini answered the retry with no audio too');
      return;
    }
    this.#logger.warn(
      { model: this.row.id },
      'Gemini ended a turn with no audio; asking once more',
    );
    this.#askAgain();
  }

  /**
   * Ask the model for the reply it did not give, as a text turn the model accepts. Not through
   * `generateReply`: the framework plays only the generations it did not request itself.
   * `lostText`: the user's words, when the server may not have them (a resumed session).
   */
  #askAgain(lostText?: string): void {
    this.stats.reAsks++;
    this.#awaitingReAsk = true;
    if (this.row.textTurnRoute === 'realtime_text') {
      return this.#sendText(lostText || CONTINUE_PROMPT);
    }
    // The plugin's own "reply now" turn; the words, if lost, were seeded back as history.
    this.#original!.sendClientEvent({
      type: 'content',
      value: { turns: [{ role: 'user', parts: [{ text: '.' }] }], turnComplete: true },
    });
  }

  #sendText(text: string): void {
    if (this.row.textTurnRoute === 'realtime_text') {
      return this.#original!.sendClientEvent({ type: 'realtime_input', value: { text } });
    }
    this.#original!.sendClientEvent({
      type: 'content',
      value: { turns: [{ role: 'user', parts: [{ text }] }], turnComplete: true },
    });
  }

  #sendClientEvent(event: ClientEvent): void {
    if (event.type !== 'tool_response' || this.#orphanCalls.size === 0) {
      return this.#original!.sendClientEvent(event);
    }
    const internals = this.#internals!;
    const responses = event.value.functionResponses ?? [];
    const keep: typeof responses = [];
    for (const response of responses) {
      const id = response.id ?? internals.toolResponseCallIds.get(response);
      const name = id === undefined ? undefined : this.#orphanCalls.get(id);
      if (id === undefined || name === undefined) {
        keep.push(response);
        continue;
      }
      this.#orphanCalls.delete(id);
      const output = (response.response as { output?: unknown } | undefined)?.output;
      this.#toolResultAsText(response.name ?? name, output ?? response.response);
    }
    if (keep.length > 0) {
      this.#original!.sendClientEvent({
        ...event,
        value: { ...event.value, functionResponses: keep },
      });
    }
  }

  /** The new connection does not know a call asked on the lost one: give the result as text. */
  #toolResultAsText(name: string, output: unknown): void {
    this.stats.toolResultsAsText++;
    this.#awaitingReAsk = true;
    const question = this.row.midSessionClientContent ? undefined : this.#lastUserText();
    this.#logger.info(
      { model: this.row.id, tool: name },
      'function result sent as text after a reconnect',
    );
    this.#sendText(toolResultPrompt(name, output, question));
  }

  #lastUserText(): string | undefined {
    const items = this.#chatCtx.items;
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!;
      if (item.type === 'message' && item.role === 'user') return item.textContent;
    }
    return undefined;
  }

  // ---- goAway ----

  /**
   * Gemini will close this connection in `timeLeft`. Reconnect at the next resumable point (a
   * handle issued with no turn in progress), or a third of the notice before the deadline.
   */
  #onGoAway(timeLeft: string | undefined): void {
    const leftMs = parseDurationMs(timeLeft);
    const marginMs = Math.min(5000, Math.max(250, leftMs / 3));
    this.#cancelGoAway();
    const restartBy = performance.now() + Math.max(0, leftMs - marginMs);
    const timer = setTimeout(
      () => this.#restartForGoAway('deadline'),
      restartBy - performance.now(),
    );
    this.#goAway = { restartBy, timer };
    this.#logger.warn(
      { model: this.row.id, timeLeftMs: leftMs },
      'Gemini Live will close this connection; reconnecting between turns',
    );
    this.#checkGoAway();
  }

  #checkGoAway(): void {
    if (this.#goAway && this.#handleFresh && this.#idle()) this.#restartForGoAway('between turns');
  }

  #restartForGoAway(when: string): void {
    if (!this.#goAway || !this.#up || this.#closed) return;
    this.#cancelGoAway();
    this.#logger.info(
      { model: this.row.id, when },
      'reconnecting before Gemini closes the connection',
    );
    this.#markDown('go_away');
    // The plugin's goAway restart: keeps the messages queued for the next connection.
    this.#internals!.sessionShouldClose.set();
  }

  #cancelGoAway(): void {
    if (!this.#goAway) return;
    clearTimeout(this.#goAway.timer);
    this.#goAway = undefined;
  }

  /** No turn in progress: no generation streaming or requested, no function call waiting. */
  #idle(): boolean {
    const internals = this.#internals;
    if (!internals) return true;
    const gen = internals.currentGeneration;
    const pending = internals.pendingGenerationFut;
    return (
      (!gen || gen._done) && (!pending || pending.done) && internals.pendingToolCallIds.size === 0
    );
  }

  #shutdown(): void {
    this.#closed = true;
    this.#cancelGoAway();
    const connecting = this.#connecting;
    if (connecting) {
      // Not rejected: the plugin would log the end of the call as a connect error.
      clearTimeout(connecting.timer);
      connecting.failed = true;
      connecting.abort?.();
    }
    this.#mic.drain();
  }
}

function hasOutput(gen: PluginGeneration): boolean {
  return gen._firstTokenTimestamp !== undefined || gen.outputText !== '';
}

function describeClose(close: CloseInfo, error?: string): string {
  const reason = close.reason || error;
  return reason ? `code ${close.code} "${reason}"` : `code ${close.code}`;
}

/** Protobuf Duration JSON ("2.5s") to milliseconds; 0 when missing or unreadable. */
export function parseDurationMs(duration: string | undefined): number {
  const seconds = Number.parseFloat(String(duration ?? '').replace(/s$/, ''));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

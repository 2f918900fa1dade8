/**
 * Keeps a call alive through Gemini Live faults, one plugin session at a time.
 *
 * The 1.9.0 plugin ends the call on any close code other than 1000 (it emits an unrecoverable
 * error, agents-js#2366), restarts at once on `goAway` and cuts the reply in progress (#2507),
 * lets a turn with no audio pass as an answer (#1450), hangs in the SDK's `connect()` when a
 * socket closes before `setupComplete`, and crashes on a server frame that is not JSON. This
 * class wraps the session in place, tracks whether the connection is up, and hands each fault to
 * the part that answers it:
 *
 * - connect_attempt.ts: each connect, watched from its socket (setup timeout, closes during
 *   setup, unreadable frames, the function calls asked on it);
 * - recovery_policy.ts: the backoff between attempts and the bounds after which one clear error
 *   ends the call;
 * - a connection the server closes (any code, the client did not ask) is a fault: instead of the
 *   plugin's onclose (an unrecoverable error), the generation in flight is ended and the plugin's
 *   own restart path (`markRestartNeeded`) reconnects with the session-resumption handle; a
 *   handle the server refuses (1007/1008 during setup) is dropped and the next attempt starts a
 *   fresh session, which the plugin seeds with the conversation;
 * - history_restore.ts: a resumed session is seeded only with what came after its handle;
 * - mic_buffer.ts: microphone audio is held while the socket is down and sent once it is back;
 * - go_away.ts: after `goAway`, reconnect at the next resumable point between turns, or shortly
 *   before the deadline if none comes;
 * - turn_reask.ts: a turn that completes with no audio, or a user turn a fault cut before any
 *   answer, is asked once more;
 * - lost_tool_calls.ts: function results whose connection was lost go to the model as text.
 */
import { APIConnectionError, type APIConnectOptions, llm, log } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';
import type { ModelCapabilities } from '../config/models.ts';
import { type AttemptHost, ConnectAttempt, describeClose } from './connect_attempt.ts';
import { GoAwayTimer } from './go_away.ts';
import { HistoryRestore } from './history_restore.ts';
import type { ConnectParams } from './live_connect_hook.ts';
import type { AttemptWatcher, CloseInfo, ConnectWatcher } from './live_socket_watch.ts';
import { LostToolCalls } from './lost_tool_calls.ts';
import { MicBuffer } from './mic_buffer.ts';
import {
  type ClientEvent,
  type PluginSession,
  type PluginSessionInternals,
  internalsOf,
} from './plugin_internals.ts';
import {
  DEFAULT_RECOVERY_POLICY,
  FaultBudget,
  type RecoveryPolicy,
  isRuleClose,
} from './recovery_policy.ts';
import { type RecoveryStats, emptyRecoveryStats } from './recovery_stats.ts';
import { TurnReAsk } from './turn_reask.ts';
import { hasOutput, isBetweenTurns } from './turn_state.ts';

export { DEFAULT_RECOVERY_POLICY, type RecoveryPolicy } from './recovery_policy.ts';
export type { Reconnect, RecoveryStats } from './recovery_stats.ts';

type OriginalMethods = Pick<
  PluginSessionInternals,
  'pushAudio' | 'sendClientEvent' | 'handleServerContent'
>;

export class SessionRecovery implements ConnectWatcher, AttemptHost {
  readonly row: ModelCapabilities;
  readonly policy: RecoveryPolicy;
  readonly stats: RecoveryStats = emptyRecoveryStats();
  readonly #logger = log();
  readonly #mic: MicBuffer;
  readonly #budget: FaultBudget;
  readonly #history: HistoryRestore;
  readonly #goAway = new GoAwayTimer(() => this.#restartForGoAway('deadline'));
  #reAsk?: TurnReAsk;
  #lostCalls?: LostToolCalls;
  #session?: PluginSession;
  #internals?: PluginSessionInternals;
  #original?: OriginalMethods;
  #chatCtx = llm.ChatContext.empty();
  #handle?: string;
  /** No model output since the last handle: resuming from it loses nothing. */
  #handleFresh = true;
  #up = false;
  #everUp = false;
  #closed = false;
  #down = { since: performance.now(), cause: 'start' };
  #connecting?: ConnectAttempt;
  #current?: ConnectAttempt;
  /** Failed connect attempts since the socket went down (for the stats). */
  #outageFailures = 0;
  /** A user turn a fault cut before the model said anything (its transcript, maybe empty). */
  #lostTurn?: string;

  constructor(row: ModelCapabilities, policy: Partial<RecoveryPolicy> = {}) {
    this.row = row;
    this.policy = { ...DEFAULT_RECOVERY_POLICY, ...policy };
    this.#mic = new MicBuffer(this.policy.micBufferMs);
    this.#budget = new FaultBudget(this.policy);
    this.#history = new HistoryRestore(row);
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
    this.#reAsk = new TurnReAsk(this.row, this.#original.sendClientEvent, this.stats);
    this.#lostCalls = new LostToolCalls(this.row, this.#reAsk, this.stats);
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
        get: () => this.#history.take() ?? this.#chatCtx,
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
    // After giving up the plugin keeps looping until the framework closes the session.
    if (this.ended()) return this.policy.maxRetryDelayMs;
    return this.#budget.backoffMs();
  }

  // ---- connect attempts (ConnectWatcher for live_socket_watch.ts, AttemptHost for each) ----

  attempt(params: ConnectParams): AttemptWatcher {
    const attempt = new ConnectAttempt(this, params);
    this.#connecting = attempt;
    return attempt;
  }

  get setupTimeoutMs(): number {
    return this.policy.setupTimeoutMs;
  }

  ended(): boolean {
    return this.stats.gaveUp !== undefined || this.#closed;
  }

  pendingToolCallIds(): ReadonlySet<string> | undefined {
    return this.#internals?.pendingToolCallIds;
  }

  malformedFrame(text: string): void {
    this.stats.malformedFrames++;
    this.#logger.warn(
      { model: this.row.id, bytes: text.length, start: text.slice(0, 40) },
      'Gemini Live sent a frame that is not JSON; dropped it',
    );
  }

  setupCompleted(attempt: ConnectAttempt): void {
    this.#budget.setupCompleted();
    this.#current = attempt;
    if (this.#connecting === attempt) this.#connecting = undefined;
  }

  socketClosed(attempt: ConnectAttempt, close: CloseInfo, byClient: boolean): void {
    // A socket replaced by a newer one: ending "the current generation" would cut the new one's.
    if (attempt !== this.#current) return;
    this.#current = undefined;
    if (!byClient && !this.#closed) this.#noteLostWork(attempt, this.#internals!);
    this.#markDown(byClient ? 'closed by the client' : `close ${close.code}`);
    // Not the plugin's onclose: it makes every code but 1000 an unrecoverable error, which ends
    // the call (and logs one at error level). What it does besides is end the generation.
    this.#internals!.markCurrentGenerationDone();
    if (byClient || this.#closed) return; // our own close: a restart, goAway, the end of the call
    this.#connectionLost(close, attempt);
  }

  connectFailed(attempt: ConnectAttempt, cause: string, close?: CloseInfo): void {
    if (attempt.failed || this.#closed) return;
    attempt.fail(cause);
    if (this.#connecting === attempt) this.#connecting = undefined;
    this.#outageFailures++;
    const rejected = close !== undefined && isRuleClose(close.code);
    const handleRefused =
      rejected && attempt.handle !== undefined && attempt.handle === this.#handle;
    if (handleRefused) {
      // Handles expire; a fresh session seeded with the conversation beats ending the call.
      this.#logger.warn(
        { model: this.row.id, code: close.code, reason: close.reason },
        'Gemini Live refused to resume the session; starting a fresh one with the conversation',
      );
      this.#onHandle(undefined);
    }
    const exhausted = this.#budget.connectFailed(rejected && !handleRefused);
    const failures = this.#budget.connectFailures;
    if (exhausted) {
      return this.#giveUp(
        `could not connect to Gemini Live after ${failures} attempts (last: ${cause})`,
      );
    }
    this.#logger.warn(
      {
        model: this.row.id,
        attempt: failures,
        of: this.policy.connectAttempts,
        retryInMs: this.#retryDelay(),
      },
      `Gemini Live connect failed (${cause}); retrying`,
    );
  }

  #connectionLost(close: CloseInfo, attempt: ConnectAttempt): void {
    const exhausted = this.#budget.connectionLost(close.code);
    const faults = this.#budget.sessionFaults;
    const described = describeClose(close, attempt.error);
    if (exhausted) {
      return this.#giveUp(
        `Gemini Live closed the connection ${faults} times without an answered turn (last: ${described})`,
      );
    }
    this.#logger.warn(
      {
        model: this.row.id,
        code: close.code,
        reason: close.reason,
        fault: faults,
        resume: this.#handle !== undefined,
      },
      `Gemini Live connection lost (${described}); reconnecting`,
    );
    this.#internals!.markRestartNeeded();
  }

  /** What the lost connection leaves undone: function calls without results, an unanswered turn. */
  #noteLostWork(attempt: ConnectAttempt, internals: PluginSessionInternals): void {
    this.#reAsk!.connectionLost();
    this.#lostCalls!.connectionLost(attempt.calls, internals);
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
    this.#goAway.cancel();
  }

  /** The plugin set its new live session: runs just before it seeds the conversation. */
  #onConnected(): void {
    if (!this.#current) return; // lost before the plugin took it: the restart follows
    const resumed = this.#current.handle !== undefined;
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
    const seed = resumed ? this.#history.resumeSeed(this.#chatCtx) : undefined;
    this.#resumeWork();
    this.#flushMic();
    // Last: the plugin's very next `_chatCtx` read, in this same tick, is its seeding.
    this.#history.offer(seed);
  }

  /** Give the new connection what the lost one left undone. */
  #resumeWork(): void {
    this.#lostCalls!.resend(this.#chatCtx);
    const lost = this.#lostTurn;
    this.#lostTurn = undefined;
    if (lost === undefined) return;
    this.#logger.info({ model: this.row.id }, 'asking again for the turn the fault cut');
    this.#reAsk!.askAgain(lost);
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
    this.#history.handleChanged(handle, this.#chatCtx);
    this.#handleFresh = handle === undefined || isBetweenTurns(this.#internals);
    if (this.#handleFresh) this.#checkGoAway();
  }

  // ---- turns and function results ----

  #handleServerContent(content: { turnComplete?: boolean; interrupted?: boolean }): void {
    const gen = this.#internals!.currentGeneration;
    const wasDone = gen?._done ?? true;
    if (content.interrupted && gen) this.#reAsk!.interrupted(gen);
    this.#handleFresh = false;
    this.#original!.handleServerContent(content);
    if (!content.turnComplete || !gen || wasDone || !gen._done) return;
    if (hasOutput(gen)) this.#budget.answered();
    this.#reAsk!.turnCompleted(gen);
  }

  #sendClientEvent(event: ClientEvent): void {
    if (event.type !== 'tool_response' || this.#lostCalls!.size === 0) {
      return this.#original!.sendClientEvent(event);
    }
    const rest = this.#lostCalls!.divert(event, this.#internals!, this.#chatCtx);
    if (rest) this.#original!.sendClientEvent(rest);
  }

  // ---- goAway ----

  /** Gemini will close this connection in `timeLeft`: reconnect at the next resumable point. */
  #onGoAway(timeLeft: string | undefined): void {
    const leftMs = this.#goAway.start(timeLeft);
    this.#logger.warn(
      { model: this.row.id, timeLeftMs: leftMs },
      'Gemini Live will close this connection; reconnecting between turns',
    );
    this.#checkGoAway();
  }

  /** A resumable point: a handle issued with no turn in progress. */
  #checkGoAway(): void {
    if (this.#goAway.pending && this.#handleFresh && isBetweenTurns(this.#internals)) {
      this.#restartForGoAway('between turns');
    }
  }

  #restartForGoAway(when: string): void {
    if (!this.#goAway.pending || !this.#up || this.#closed) return;
    this.#goAway.cancel();
    this.#logger.info(
      { model: this.row.id, when },
      'reconnecting before Gemini closes the connection',
    );
    this.#markDown('go_away');
    // The plugin's goAway restart: keeps the messages queued for the next connection.
    this.#internals!.sessionShouldClose.set();
  }

  #shutdown(): void {
    this.#closed = true;
    this.#goAway.cancel();
    this.#connecting?.cancel();
    this.#mic.drain();
  }
}

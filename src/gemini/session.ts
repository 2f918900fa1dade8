/**
 * Our Gemini Live session: the framework's public `llm.RealtimeSession` contract, written over
 * @google/genai's public Live API. Control runs one way: the framework calls in, this session
 * talks to Gemini through sockets it owns (live_transport.ts), and hands model turns back as
 * generations (generation.ts).
 *
 * What it adds to a plain Live session, all in ordinary code:
 * - per-row wire routes for replies, text turns, instructions and history (turn_routes.ts);
 * - a call that survives Gemini faults: every connect attempt is watched (connect_attempt.ts);
 *   a connection the server drops is reconnected at once with the session-resumption handle;
 *   failed attempts back off and are bounded (session_recovery.ts), and past the bounds one clear
 *   error ends the call; a refused handle starts a fresh session seeded with the conversation;
 *   a resumed session gets only what came after its handle (history_restore.ts); microphone
 *   audio is held while the socket is down (mic_buffer.ts); after `goAway` it reconnects at the
 *   next point between turns (go_away.ts); a turn with no audio, or a question a fault cut, is
 *   asked again (turn_reask.ts); function results whose connection was lost go as text
 *   (lost_tool_calls.ts); frames that are not JSON are dropped;
 * - the user's video frames (`sendVideoFrame`) and microphone listeners for the video sampler;
 * - client-detected turns (TURN_DETECTION=livekit): each user turn is `activityStart`, its audio
 *   (from a lead-in held before the framework's VAD opened it) and `activityEnd`, which alone asks
 *   for the answer (user_activity.ts); the call's STT transcript is published as the user's
 *   (stt_transcripts.ts).
 */
import {
  ActivityHandling,
  Behavior,
  type Content,
  type FunctionResponse,
  type LiveServerContent,
  type LiveServerMessage,
  type LiveServerToolCall,
  type Session,
} from '@google/genai';
import { APIConnectionError, Future, llm, log, shortuuid } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import type { ModelCapabilities } from '../config/models.ts';
import { type AvatarMediaStream, isAvatarMedia } from './avatar_output.ts';
import { ConnectAttempt, ConnectFailure } from './connect_attempt.ts';
import { Generation } from './generation.ts';
import { GoAwayTimer } from './go_away.ts';
import { HistoryRestore } from './history_restore.ts';
import { INPUT_MIME_TYPE, InputAudio, decodePcm16 } from './input_audio.ts';
import type { GeminiLiveClient, SocketClose } from './live_transport.ts';
import { LostToolCalls } from './lost_tool_calls.ts';
import { MicBuffer } from './mic_buffer.ts';
import { isRuleClose } from './recovery_policy.ts';
import { type RecoveryPolicy, SessionRecovery } from './session_recovery.ts';
import { type LiveSetupOptions, liveConnectConfig, setupExtras } from './setup_config.ts';
import { type SttSegment, SttTranscripts } from './stt_transcripts.ts';
import { TurnReAsk } from './turn_reask.ts';
import { type Outgoing, historySeed, instructionsUpdate, replyRequest } from './turn_routes.ts';
import { METRICS_LABEL, realtimeMetrics } from './usage_metrics.ts';
import { UserActivity } from './user_activity.ts';
import { WireLog } from './wire_log.ts';

const OUTPUT_SAMPLE_RATE = 24_000;
/** A reply asked for with `generateReply` must start this soon (the plugin's bound). */
const GENERATION_TIMEOUT_MS = 5_000;

export interface GeminiSessionOptions extends LiveSetupOptions {
  vertexai: boolean;
  /** `setupComplete` must arrive this soon after a connect starts. */
  setupTimeoutMs: number;
  recovery: Partial<RecoveryPolicy>;
}

/** What happened to one video frame handed to `sendVideoFrame`. */
export type FrameSendOutcome = 'sent' | 'not_connected' | 'tool_call' | 'failed';

/** What the model gives each of its sessions. */
export interface SessionHost {
  readonly client: GeminiLiveClient;
  readonly options: GeminiSessionOptions;
  /** Tools the agent will set, so the first connect carries them (see the model's presetTools). */
  readonly presetTools?: llm.ToolContext;
  /** Microphone audio as it reaches the model, for listeners such as the video sampler. */
  inputAudio(frame: AudioFrame): void;
}

interface PendingReply {
  future: Future<llm.GenerationCreatedEvent>;
  timer: NodeJS.Timeout;
  /** Asked for by the end of a client-marked user turn (`activityEnd` alone). */
  turnEnd?: boolean;
}

export class GeminiLiveSession extends llm.RealtimeSession {
  readonly recovery: SessionRecovery;
  readonly #host: SessionHost;
  readonly #o: GeminiSessionOptions;
  readonly #row: ModelCapabilities;
  readonly #log = log();
  readonly #wire: WireLog;
  #tools: llm.ToolContext;
  #chatCtx = llm.ChatContext.empty();
  #instructions?: string;
  #closed = false;

  // ---- the connection ----
  /** The attempt whose messages count: connecting, or up. */
  #attempt?: ConnectAttempt;
  #live?: Session;
  /** We closed the socket to connect again at once (goAway, new tools): the reason. */
  #restart?: string;
  #retry?: { timer: NodeJS.Timeout; wake: () => void };
  #handle?: string;
  /** No model output since the current handle: resuming from it loses nothing. */
  #handleFresh = true;
  readonly #outbox: Outgoing[] = [];
  /** The avatar's fMP4 stream on this connection (with an avatar only). */
  #media?: AvatarMediaStream;

  // ---- turns ----
  #generation?: Generation;
  #pendingReply?: PendingReply;
  /** The user interrupted a reply that had output: drop its rest until its turn ends. */
  #discarding = false;
  /** After an interruption, the user's next typed words go as realtime text (they preempt). */
  #interruptText = false;
  /** The user's turns as the client marks them, when Gemini's activity detection is off. */
  readonly #activity: UserActivity;
  /** The user's transcript from the call's STT (Gemini's input transcription off). */
  readonly #sttTranscripts = new SttTranscripts();
  /**
   * The model reports background work in progress (`interactionStatus: IN_PROGRESS`, on rows
   * whose reply ends at IDLE): what it says next continues the same interaction.
   */
  #interactionInProgress = false;
  /** User text the framework added since the last reply (rows that take replies as text). */
  readonly #pendingUserText: string[] = [];
  /** Function calls the model asked for whose results were not sent yet: id -> name. */
  readonly #toolCalls = new Map<string, string>();
  /** Calls the model cancelled: their results are not sent (it would not know them). */
  readonly #cancelledCalls = new Set<string>();
  /** Function responses sent without an id (Vertex 2.5) -> their call ids. */
  readonly #responseCallIds = new WeakMap<FunctionResponse, string>();
  /** A user turn a fault cut before the model said anything (its transcript, maybe empty). */
  #lostTurn?: string;

  // ---- recovery parts ----
  readonly #input = new InputAudio();
  readonly #mic: MicBuffer;
  readonly #history: HistoryRestore;
  readonly #reAsk: TurnReAsk;
  readonly #lostCalls: LostToolCalls;
  readonly #goAway = new GoAwayTimer(() => this.#restartForGoAway('deadline'));

  constructor(model: llm.RealtimeModel, host: SessionHost) {
    super(model);
    this.#host = host;
    this.#o = host.options;
    this.#row = host.options.row;
    this.#wire = new WireLog(this.#row.id);
    this.#tools = host.presetTools?.copy() ?? llm.ToolContext.empty();
    if (this.#o.instructions) this.#instructions = this.#o.instructions;
    this.recovery = new SessionRecovery(this.#row, {
      setupTimeoutMs: this.#o.setupTimeoutMs,
      ...this.#o.recovery,
    });
    this.#mic = new MicBuffer(this.recovery.policy.micBufferMs);
    this.#activity = new UserActivity(
      this.#o.realtimeInputConfig?.automaticActivityDetection?.disabled === true,
    );
    this.#history = new HistoryRestore(this.#row);
    this.#reAsk = new TurnReAsk(this.#row, (m) => this.#send(m), this.recovery.stats);
    this.#lostCalls = new LostToolCalls(this.#row, this.#reAsk, this.recovery.stats);
    void this.#connectLoop().catch((error: unknown) =>
      this.#log.error({ error, model: this.#row.id }, 'Gemini Live connect loop failed'),
    );
  }

  // ================= the framework's contract =================

  get chatCtx(): llm.ChatContext {
    return this.#chatCtx.copy();
  }

  get tools(): llm.ToolContext {
    return this.#tools.copy();
  }

  /** Connected to Gemini now (frames sent now reach the model). */
  get connected(): boolean {
    return this.#live !== undefined;
  }

  async updateInstructions(instructions: string): Promise<void> {
    if (this.#instructions === instructions) return;
    this.#instructions = instructions;
    if (!this.#live) return; // the next setup carries them
    const update = instructionsUpdate(this.#row, instructions);
    if (!update) {
      this.#log.warn(
        { model: this.#row.id },
        'this model cannot change instructions mid-session; they apply from the next connection',
      );
      return;
    }
    this.#send(update);
  }

  async updateChatCtx(chatCtx: llm.ChatContext): Promise<void> {
    const diff = llm.computeChatCtxDiff(this.#chatCtx, chatCtx);
    const added = diff.toCreate
      .map(([, id]) => chatCtx.getById(id))
      .filter((item): item is llm.ChatItem => item !== undefined);
    this.#chatCtx = chatCtx.copy();
    if (this.#row.textTurnRoute === 'realtime_text') {
      for (const item of added) {
        if (item.type === 'message' && item.role === 'user' && item.textContent) {
          this.#pendingUserText.push(item.textContent);
        }
      }
    }
    // Not connected: the next connection is seeded from the conversation (lost calls included).
    if (!this.#live || added.length === 0) return;
    if (diff.toRemove.length > 0) this.#log.debug('Gemini Live cannot remove messages');
    const appended = new llm.ChatContext(added);
    const [turns] = (await appended
      .copy({ excludeFunctionCall: true })
      .toProviderFormat('google', false)) as [Content[], unknown];
    if (turns.length > 0) this.#sendContextTurns(turns);
    const responses = this.#toolResponses(appended);
    if (responses.length > 0) this.#send({ type: 'tool_response', responses });
  }

  async updateTools(tools: llm.ToolContext): Promise<void> {
    if (this.#tools.equals(tools)) return;
    this.#tools = tools.copy();
    // Tools are part of the setup: a new connection carries them (resuming the conversation).
    this.#restartNow('tools changed');
  }

  updateOptions(options: { toolChoice?: llm.ToolChoice | null }): void {
    if (options.toolChoice !== undefined && options.toolChoice !== null) {
      this.#log.debug('Gemini Live has no tool choice; ignored');
    }
  }

  pushAudio(frame: AudioFrame): void {
    this.#host.inputAudio(frame);
    if (this.#blockedByTools()) return; // the model takes no input during a BLOCKING call
    if (this.#activity.hold(frame)) return; // between client-marked turns: only the lead-in counts
    this.#sendOrHold(frame);
  }

  async generateReply(
    instructions?: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<llm.GenerationCreatedEvent> {
    this.#settleReply(new Error('Superseded by new generate_reply call'));
    const future = new Future<llm.GenerationCreatedEvent>();
    const onAbort = () => {
      if (this.#pendingReply?.future === future) void this.interrupt();
      this.#settleReply(new Error('generateReply aborted'), future);
    };
    const timer = setTimeout(
      () =>
        this.#settleReply(
          new llm.RealtimeError('generateReply timed out waiting for generation_created event.'),
          future,
        ),
      GENERATION_TIMEOUT_MS,
    );
    this.#pendingReply = { future, timer };
    if (options.signal?.aborted) {
      onAbort();
      return future.await;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    void future.await
      .finally(() => options.signal?.removeEventListener('abort', onAbort))
      .catch(() => undefined);

    const userText = this.#pendingUserText.splice(0);
    // The end of a client-marked user turn asks for the answer by itself, on every row (Google's
    // live guide sends nothing after activityEnd); an extra text turn would ask a second time.
    const endedTurn = this.#activity.close();
    if (endedTurn) this.#send({ type: 'activity_end' });
    if (!endedTurn || instructions || userText.length > 0) {
      this.#send(replyRequest(this.#row, instructions, userText));
    } else if (this.#pendingReply?.future === future) {
      this.#pendingReply.turnEnd = true;
    }
    return future.await;
  }

  override startUserActivity(): void {
    if (this.#blockedByTools()) return;
    this.#openActivity();
  }

  /**
   * The user's words from the call's STT, as they come (see stt_transcripts.ts). Ignored when
   * Gemini transcribes the user itself.
   */
  sttSegment(segment: SttSegment): void {
    if (this.#o.inputAudioTranscription) return;
    const event = this.#sttTranscripts.heard(segment);
    if (event) this.emit('input_audio_transcription_completed', event);
  }

  /** The user's turn ended with `transcript` (the STT's, as the end-of-turn decision saw it). */
  sttTurnEnded(transcript: string): void {
    if (this.#o.inputAudioTranscription) return;
    const event = this.#sttTranscripts.ended(transcript);
    if (!event) return;
    this.#chatCtx.addMessage({ role: 'user', content: event.transcript, id: event.itemId });
    this.emit('input_audio_transcription_completed', event);
  }

  async interrupt(): Promise<void> {
    if (this.#o.realtimeInputConfig?.activityHandling === ActivityHandling.NO_INTERRUPTION) return;
    const gen = this.#generation;
    if (gen && !gen.done) {
      this.#interruptText = true;
      if (gen.hasOutput) {
        this.#discarding = true;
        this.#finishGeneration(gen);
      }
    }
    this.startUserActivity();
  }

  async truncate(): Promise<void> {
    // Gemini keeps no server-side audio to cut; the framework truncates its own transcript.
  }

  /**
   * The framework decided the user's turn ended (its reply follows with `generateReply`). A turn
   * its VAD never opened (no interruption allowed yet, e.g. during the echo-cancellation warm-up)
   * is opened now, so the `activityEnd` that follows closes a turn with the user's audio in it.
   */
  async commitAudio(): Promise<void> {
    if (!this.#blockedByTools()) this.#openActivity();
  }

  async clearAudio(): Promise<void> {}

  override async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#goAway.cancel();
    this.#retry?.wake();
    this.#mic.drain();
    this.#attempt?.close();
    this.#live = undefined;
    this.#input.close();
    this.#media?.close();
    this.#settleReply(new Error('Session closed'));
    if (this.#generation) this.#finishGeneration(this.#generation);
    await super.close();
  }

  // ================= video =================

  /**
   * Send one encoded camera or screen frame now, or drop it: a frame is only worth sending
   * now, so while the socket is down or a BLOCKING call holds input back it is not kept.
   */
  sendVideoFrame(frame: { data: Buffer; mimeType: string }): FrameSendOutcome {
    if (!this.#live) return 'not_connected';
    if (this.#blockedByTools()) return 'tool_call';
    try {
      this.#live.sendRealtimeInput({
        video: { data: frame.data.toString('base64'), mimeType: frame.mimeType },
      });
      return 'sent';
    } catch {
      return 'failed'; // the socket is closing; the session reconnects on its own
    }
  }

  // ================= connecting =================

  async #connectLoop(): Promise<void> {
    while (!this.#closed && !this.recovery.ended) {
      const fresh = this.#handle === undefined;
      const seed = fresh ? await this.#historyTurns(this.#chatCtx) : [];
      const declareHistory = seed.length > 0 && this.#row.historySeeding === 'history_config';
      const extras = declareHistory ? setupExtras(this.#row) : undefined;
      const attempt = new ConnectAttempt({
        client: this.#host.client,
        model: this.#row.id,
        config: liveConnectConfig(
          { ...this.#o, instructions: this.#instructions },
          this.#tools,
          this.#handle,
        ),
        ...(extras ? { setupExtras: extras } : {}),
        setupTimeoutMs: this.recovery.policy.setupTimeoutMs,
        onMessage: (message, from) => this.#onMessage(message, from),
        onMalformedFrame: (text, from) => this.#onMalformedFrame(text, from),
        onClosed: (close, from) => this.#onClosed(close, from),
      });
      this.#attempt = attempt;
      let live: Session;
      try {
        live = await attempt.open();
      } catch (error) {
        if (this.#closed || this.#attempt !== attempt) return;
        await this.#afterFailedAttempt(attempt, error);
        continue;
      }
      if (this.#closed) return;
      await this.#connected(
        attempt,
        live,
        fresh ? seed : await this.#resumeTurns(),
        declareHistory,
      );
      await attempt.ended;
    }
  }

  async #afterFailedAttempt(attempt: ConnectAttempt, error: unknown): Promise<void> {
    const failure = error instanceof ConnectFailure ? error : new ConnectFailure(String(error));
    if (this.#restart) {
      this.#restart = undefined; // closed by us to connect again: not a failure
      return;
    }
    const refused =
      failure.close !== undefined &&
      isRuleClose(failure.close.code) &&
      attempt.handle !== undefined &&
      attempt.handle === this.#handle;
    // Handles expire; a fresh session seeded with the conversation beats ending the call.
    if (refused) this.#setHandle(undefined);
    const verdict = this.recovery.connectFailed(failure.message, failure.close, refused);
    if ('gaveUp' in verdict) return this.#endCall(verdict.gaveUp);
    await this.#sleep(verdict.retryInMs);
  }

  /** Setup completed: give the connection the conversation and what waited for it. */
  async #connected(
    attempt: ConnectAttempt,
    live: Session,
    seed: Content[],
    declared: boolean,
  ): Promise<void> {
    const resumed = attempt.handle !== undefined;
    this.recovery.connected(resumed);
    this.#live = live;
    this.#media?.close();
    this.#media = this.#o.avatar?.openStream();
    this.#handleFresh = true;
    // Order on the wire: history first (declared history must come before realtime input),
    // then what a fault left undone, then what was said or asked while the socket was down.
    if (seed.length > 0) this.#send(historySeed(seed, declared));
    this.#lostCalls.resend(this.#chatCtx);
    const lost = this.#lostTurn;
    this.#lostTurn = undefined;
    if (lost !== undefined) {
      this.#log.info({ model: this.#row.id }, 'asking again for the turn the fault cut');
      this.#reAsk.askAgain(lost);
    }
    // A user turn open when the last socket closed goes on here: the new socket must hear it open.
    if (this.#activity.isOpen && !this.#outbox.some((m) => m.type === 'activity_start')) {
      this.#send({ type: 'activity_start' });
    }
    for (const message of this.#outbox.splice(0)) this.#send(message);
    this.#flushMic();
  }

  #onClosed(close: SocketClose, attempt: ConnectAttempt): void {
    if (attempt !== this.#attempt) return;
    this.#live = undefined;
    const cause = close.byClient
      ? (this.#restart ?? 'closed by the client')
      : `close ${close.code}`;
    this.recovery.markDown(cause);
    this.#goAway.cancel();
    if (!close.byClient && !this.#closed) this.#noteLostWork(attempt);
    // What arrived of the reply in flight stays; its streams end so the framework goes on.
    if (this.#generation) this.#finishGeneration(this.#generation);
    if (close.byClient) {
      this.#restart = undefined;
      return;
    }
    if (this.#closed) return;
    const gaveUp = this.recovery.connectionLost(close, attempt.error, this.#handle !== undefined);
    if (gaveUp) this.#endCall(gaveUp);
  }

  /** What the lost connection leaves undone: function calls without results, an unanswered turn. */
  #noteLostWork(attempt: ConnectAttempt): void {
    this.#reAsk.connectionLost();
    const pending = new Map(this.#toolCalls);
    this.#lostCalls.connectionLost(attempt.calls, pending);
    this.#toolCalls.clear();
    if (pending.size > 0) return;
    const gen = this.#generation;
    if (gen && !gen.done && !gen.hasOutput) {
      // Gemini's transcript of the turn, or the STT's when Gemini does not transcribe.
      this.#lostTurn = (gen.inputTranscription || this.#sttTranscripts.lastTurn).trim();
    } else if (this.#pendingReply?.turnEnd && (!gen || gen.done)) {
      // A client-marked turn ended and the socket went down before any answer began.
      this.#lostTurn = this.#sttTranscripts.lastTurn;
    }
  }

  /** Close the socket and connect again at once, resuming (goAway, new tools). */
  #restartNow(reason: string): void {
    const attempt = this.#attempt;
    if (!attempt || this.#closed) return;
    this.#restart = reason;
    this.recovery.markDown(reason);
    attempt.close();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#retry = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#retry = { timer, wake };
    });
  }

  /**
   * End the call with one error. The framework closes the session on an unrecoverable model
   * error and tells its listeners why.
   */
  #endCall(message: string): void {
    this.emit('error', {
      type: 'realtime_model_error',
      timestamp: Date.now(),
      label: METRICS_LABEL,
      error: new APIConnectionError({ message, options: { retryable: false } }),
      recoverable: false,
    } satisfies llm.RealtimeModelError);
  }

  // ================= sending =================

  /** Send now, or hold until the next connection (after its history). */
  #send(message: Outgoing): void {
    const live = this.#live;
    if (!live) {
      this.#outbox.push(message);
      return;
    }
    if (message.type === 'tool_response') {
      const responses = this.#lostCalls.size
        ? this.#lostCalls.divert(message.responses, (r) => this.#callIdOf(r), this.#chatCtx)
        : message.responses;
      if (responses.length === 0) return;
      message = { ...message, responses };
    }
    try {
      this.#write(live, message);
      this.#wire.sent(message);
    } catch (error) {
      // The SDK throws when the socket is already closing: the close handler takes over.
      this.#log.debug({ error, type: message.type }, 'Gemini Live send failed');
    }
  }

  #write(live: Session, message: Outgoing): void {
    switch (message.type) {
      case 'content':
        // An empty turn list is "answer now"; the SDK cannot encode `turns: []`.
        return live.sendClientContent(
          message.turns.length > 0
            ? { turns: message.turns, turnComplete: message.turnComplete }
            : { turnComplete: message.turnComplete },
        );
      case 'text':
        return live.sendRealtimeInput({ text: message.text });
      case 'activity_start':
        return live.sendRealtimeInput({ activityStart: {} });
      case 'activity_end':
        return live.sendRealtimeInput({ activityEnd: {} });
      case 'tool_response':
        live.sendToolResponse({ functionResponses: message.responses });
        for (const response of message.responses) {
          this.#toolCalls.delete(this.#callIdOf(response) ?? '');
        }
        return;
    }
  }

  /** Open a client-marked user turn: `activityStart`, then the audio held before it. */
  #openActivity(): void {
    const leadIn = this.#activity.open();
    if (!leadIn) return;
    this.#send({ type: 'activity_start' });
    for (const frame of leadIn) this.#sendOrHold(frame);
  }

  /** Microphone audio: to the model now, or held while the socket is down. */
  #sendOrHold(frame: AudioFrame): void {
    if (!this.#live) return this.#mic.push(frame);
    this.#sendAudio(frame);
  }

  #sendAudio(frame: AudioFrame): void {
    for (const data of this.#input.push(frame)) {
      try {
        this.#live?.sendRealtimeInput({ audio: { data, mimeType: INPUT_MIME_TYPE } });
      } catch {
        return; // closing: the rest of this frame is lost with the socket
      }
    }
  }

  #flushMic(): void {
    const { heldMs, droppedMs } = this.#mic;
    const frames = this.#mic.drain();
    if (frames.length === 0) return;
    this.recovery.stats.bufferedAudioMs += heldMs;
    this.recovery.stats.droppedAudioMs += droppedMs;
    if (droppedMs > 0) {
      this.#log.warn(
        { model: this.#row.id, droppedMs: Math.round(droppedMs) },
        'microphone audio buffer overflowed during the reconnect; the oldest audio was dropped',
      );
    }
    for (const frame of frames) this.#sendAudio(frame);
  }

  /** New conversation turns from the framework (a typed message, a handoff's context). */
  #sendContextTurns(turns: Content[]): void {
    if (this.#interruptText) {
      // Realtime text preempts a streaming reply; client content alone does not reliably.
      for (const turn of turns) {
        if (turn.role !== 'user') continue;
        const text = (turn.parts ?? []).map((p) => p.text ?? '').join('');
        if (!text) continue;
        this.#send({ type: 'text', text });
        this.#interruptText = false;
      }
    }
    if (this.#row.midSessionClientContent) {
      this.#send({ type: 'content', turns, turnComplete: false });
    }
  }

  /** Function results in `appended`, as responses the row takes. */
  #toolResponses(appended: llm.ChatContext): FunctionResponse[] {
    const responses: FunctionResponse[] = [];
    for (const item of appended.items) {
      if (item.type !== 'function_call_output') continue;
      if (this.#cancelledCalls.delete(item.callId)) continue;
      const response: FunctionResponse = { name: item.name, response: { output: item.output } };
      if (this.#o.toolResponseScheduling !== undefined) {
        response.scheduling = this.#o.toolResponseScheduling;
      }
      if (this.#row.functionResponseIds) response.id = item.callId;
      this.#responseCallIds.set(response, item.callId);
      responses.push(response);
    }
    return responses;
  }

  #callIdOf(response: FunctionResponse): string | undefined {
    return response.id ?? this.#responseCallIds.get(response);
  }

  /**
   * A BLOCKING call the model waits on holds the microphone back on rows that take no input
   * meanwhile (2.5, 3.1); on 3.8 new input cancels the call instead, so the user is heard.
   */
  #blockedByTools(): boolean {
    return (
      this.#toolCalls.size > 0 &&
      this.#row.blockingCallInput === 'held' &&
      this.#effectiveToolBehavior() === Behavior.BLOCKING
    );
  }

  #effectiveToolBehavior(): Behavior {
    if (this.#o.toolBehavior !== undefined) return this.#o.toolBehavior;
    return this.#row.defaultToolBehavior === 'non_blocking'
      ? Behavior.NON_BLOCKING
      : Behavior.BLOCKING;
  }

  async #historyTurns(chatCtx: llm.ChatContext): Promise<Content[]> {
    const [turns] = (await chatCtx
      .copy({ excludeFunctionCall: true })
      .toProviderFormat('google', false)) as [Content[], unknown];
    return turns;
  }

  /** What a resumed connection is missing of the conversation. */
  #resumeTurns(): Promise<Content[]> {
    return this.#historyTurns(this.#history.resumeSeed(this.#chatCtx));
  }

  // ================= receiving =================

  #onMalformedFrame(text: string, attempt: ConnectAttempt): void {
    if (attempt !== this.#attempt) return;
    this.recovery.stats.malformedFrames++;
    this.#log.warn(
      { model: this.#row.id, bytes: text.length, start: text.slice(0, 40) },
      'Gemini Live sent a frame that is not JSON; dropped it',
    );
  }

  #onMessage(message: LiveServerMessage, attempt: ConnectAttempt): void {
    if (attempt !== this.#attempt || this.#closed) return;
    this.#wire.received(message);
    attempt.trackCalls(message, new Set(this.#toolCalls.keys()));
    let content = message.serverContent;
    const startable = !this.#generation || this.#generation.done || !!this.#pendingReply;
    if (startable && content?.interrupted) {
      // An interruption with no reply streaming: the previous reply may still be playing out.
      if (!this.#pendingReply) this.emit('input_speech_started', {});
      const { interrupted: _, ...rest } = content;
      content = hasTurnContent(rest) ? rest : undefined;
    }
    const status = interactionStatus(message);
    if (startable && !this.#discarding && (message.toolCall || hasTurnContent(content))) {
      this.#startGeneration();
    }
    if (status) this.#interactionInProgress = status === 'IN_PROGRESS';
    const update = message.sessionResumptionUpdate;
    if (update?.resumable && update.newHandle) this.#setHandle(update.newHandle);
    if (content) this.#onServerContent(content, status);
    if (message.toolCall) this.#onToolCall(message.toolCall);
    for (const id of message.toolCallCancellation?.ids ?? []) {
      this.#log.info({ model: this.#row.id, id }, 'Gemini cancelled a function call');
      this.#toolCalls.delete(id);
      this.#cancelledCalls.add(id);
    }
    if (message.usageMetadata && this.#generation) {
      this.emit('metrics_collected', realtimeMetrics(message.usageMetadata, this.#generation));
    }
    if (message.goAway) this.#onGoAway(message.goAway.timeLeft);
  }

  #startGeneration(): void {
    const previous = this.#generation;
    if (previous && !previous.done) {
      this.#log.debug('a new generation started while another was active; finishing it');
      this.#finishGeneration(previous);
    }
    const gen = new Generation(this.realtimeModel.capabilities.audioOutput);
    this.#generation = gen;
    const reply = this.#pendingReply;
    if (reply) {
      this.#pendingReply = undefined;
      clearTimeout(reply.timer);
      reply.future.resolve(gen.createdEvent(true));
    } else if (!this.#interactionInProgress) {
      // A reply the model started on its own interrupts whatever the agent still plays; not so
      // the rest of an interaction still in progress (after a filler and a function call).
      this.emit('input_speech_started', {});
    }
    this.emit('generation_created', gen.createdEvent(!!reply));
  }

  #onServerContent(content: LiveServerContent, status: string | undefined): void {
    const gen = this.#generation;
    if (!gen) return;
    this.#handleFresh = false;
    if (content.interrupted) this.#reAsk.interrupted(gen);
    const wasDone = gen.done;
    // The avatar's bytes are parsed even when a reply is dropped: the stream is not box-aligned.
    if (this.#media) this.#pushMedia(content, gen, this.#discarding || gen.done);
    if (!this.#discarding && !gen.done) {
      for (const part of content.modelTurn?.parts ?? []) {
        if (part.thought) continue;
        const data = part.inlineData?.data;
        // With an avatar the speech comes muxed in the MP4; PCM beside it is the same speech.
        if (data && isPcm(part.inlineData?.mimeType) && !this.#media) {
          const samples = decodePcm16(data);
          gen.pushAudio(new AudioFrame(samples, OUTPUT_SAMPLE_RATE, 1, samples.length));
        } else if (part.text && !this.#o.outputAudioTranscription) {
          // With output transcription on, the spoken words come as transcripts; a text part is
          // never spoken (a thought, or a function call written out) and stays out of them.
          gen.pushText(part.text);
        }
      }
      const spoken = content.outputTranscription?.text;
      if (spoken) gen.pushText(spoken);
    }
    const heard = content.inputTranscription?.text;
    if (heard) {
      this.emit('input_audio_transcription_completed', {
        itemId: gen.inputId,
        transcript: gen.addInputTranscript(heard),
        isFinal: false,
      } satisfies llm.InputTranscriptionCompleted);
    }
    if (content.generationComplete || content.turnComplete) gen.completedAt ??= Date.now();
    if (content.turnComplete || content.interrupted) this.#media?.replyEnded();
    if (content.interrupted && !this.#pendingReply) this.emit('input_speech_started', {});
    const ended = content.turnComplete === true && this.#replyEnded(status);
    if (ended && !this.#discarding) this.#finishGeneration(gen);
    if (this.#discarding && (content.turnComplete || content.generationComplete)) {
      this.#discarding = false;
    }
    if (ended && !wasDone) {
      if (gen.hasOutput) this.recovery.answered();
      this.#reAsk.turnCompleted(gen);
    }
    this.#checkGoAway();
  }

  /** The avatar's fMP4 bytes in `content`: their speech is the generation's audio. */
  #pushMedia(content: LiveServerContent, gen: Generation, discard: boolean): void {
    for (const part of content.modelTurn?.parts ?? []) {
      const data = part.inlineData?.data;
      if (!data || !isAvatarMedia(part.inlineData?.mimeType)) continue;
      for (const frame of this.#media!.push(Buffer.from(data, 'base64'), discard)) {
        gen.pushAudio(frame);
      }
    }
  }

  /**
   * On rows that reason in the background, a reply ends at IDLE, not at every turnComplete (a
   * spoken filler ends with turnComplete and IN_PROGRESS).
   */
  #replyEnded(status: string | undefined): boolean {
    return this.#row.replyEnds !== 'idle' || status !== 'IN_PROGRESS';
  }

  #onToolCall(toolCall: LiveServerToolCall): void {
    const gen = this.#generation;
    if (!gen || !gen.functionsOpen) {
      this.#log.warn({ model: this.#row.id }, 'Gemini asked for a function call outside a turn');
      return;
    }
    for (const call of toolCall.functionCalls ?? []) {
      if (!call.name) continue;
      const callId = call.id || shortuuid('fnc-call-');
      // The result goes back once, when the function returns (a NON_BLOCKING call needs no
      // interim response; `willContinue` is for functions that stream several results).
      this.#toolCalls.set(callId, call.name);
      gen.pushFunctionCall(
        llm.FunctionCall.create({
          callId,
          name: call.name,
          args: call.args ? JSON.stringify(call.args) : '',
        }),
      );
    }
    // The framework runs the calls once the generation's streams close.
    this.#finishGeneration(gen);
  }

  /** Close the generation's streams and record what it said in the conversation. */
  #finishGeneration(gen: Generation): void {
    if (gen.done) return;
    this.emit('input_speech_stopped', { userTranscriptionEnabled: false });
    if (gen.inputTranscription) {
      this.emit('input_audio_transcription_completed', {
        itemId: gen.inputId,
        transcript: gen.inputTranscription,
        isFinal: true,
        // Final only once the reply is done, seconds after the user spoke: place it when the
        // turn began (the generation starts as soon as the server takes the turn).
        turnStartedAt: gen.createdAt,
      } satisfies llm.InputTranscriptionCompleted);
      this.#chatCtx.addMessage({ role: 'user', content: gen.inputTranscription, id: gen.inputId });
    }
    if (gen.outputText) {
      this.#chatCtx.addMessage({ role: 'assistant', content: gen.outputText, id: gen.responseId });
    }
    gen.finish(!this.#o.outputAudioTranscription);
  }

  #settleReply(error: Error, only?: Future<llm.GenerationCreatedEvent>): void {
    const reply = this.#pendingReply;
    if (!reply || (only && reply.future !== only)) return;
    this.#pendingReply = undefined;
    clearTimeout(reply.timer);
    if (!reply.future.done) reply.future.reject(error);
  }

  // ================= resumption and goAway =================

  #setHandle(handle: string | undefined): void {
    this.#handle = handle;
    this.#history.handleChanged(handle, this.#chatCtx);
    this.#handleFresh = handle === undefined || this.#betweenTurns();
    this.#checkGoAway();
  }

  /** No turn in progress: no generation streaming or requested, no function call waiting. */
  #betweenTurns(): boolean {
    const gen = this.#generation;
    return (!gen || gen.done) && !this.#pendingReply && this.#toolCalls.size === 0;
  }

  /** Gemini will close this connection in `timeLeft`: reconnect at the next resumable point. */
  #onGoAway(timeLeft: string | undefined): void {
    const leftMs = this.#goAway.start(timeLeft);
    this.#log.warn(
      { model: this.#row.id, timeLeftMs: leftMs },
      'Gemini Live will close this connection; reconnecting between turns',
    );
    this.#checkGoAway();
  }

  /** A resumable point: a handle issued with no turn in progress. */
  #checkGoAway(): void {
    if (this.#goAway.pending && this.#handleFresh && this.#betweenTurns()) {
      this.#restartForGoAway('between turns');
    }
  }

  #restartForGoAway(when: string): void {
    if (!this.#goAway.pending || !this.#live || this.#closed) return;
    this.#goAway.cancel();
    this.#log.info(
      { model: this.#row.id, when },
      'reconnecting before Gemini closes the connection',
    );
    this.#restartNow('go_away');
  }
}

/**
 * `interactionStatus`: the SDK types it on `serverContent`; Google's guide also shows it at the
 * top level of a message (beside `toolCall`), where its samples read it. Either counts.
 */
function interactionStatus(message: LiveServerMessage): string | undefined {
  const topLevel = (message as { interactionStatus?: unknown }).interactionStatus;
  const status = message.serverContent?.interactionStatus ?? topLevel;
  return typeof status === 'string' ? status : undefined;
}

function isPcm(mimeType: string | undefined): boolean {
  return mimeType === undefined || mimeType.startsWith('audio/pcm');
}

/** A server content message that belongs to a model turn. */
function hasTurnContent(content: LiveServerContent | undefined): content is LiveServerContent {
  return (
    !!content &&
    (!!content.modelTurn ||
      content.outputTranscription != null ||
      content.inputTranscription != null ||
      content.generationComplete != null ||
      content.turnComplete != null)
  );
}

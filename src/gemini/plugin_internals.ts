/**
 * The TypeScript-private parts of the 1.9.0 plugin's `RealtimeSession` that the guard uses.
 *
 * The plugin does not export its session class, so the guard wraps sessions in place. Everything
 * it touches is listed here, named as in `@livekit/agents-plugin-google/src/realtime/realtime_api.ts`,
 * and exercised end to end against the fake Gemini server (test/session.e2e.test.ts,
 * test/gemini_faults.test.ts), so a plugin upgrade that renames one fails a test, not a call.
 */
import type { APIConnectOptions, Future, llm } from '@livekit/agents';
import type * as google from '@livekit/agents-plugin-google';
import type { AudioFrame } from '@livekit/rtc-node';

export type PluginSession = ReturnType<google.realtime.RealtimeModel['session']>;
export type ClientEvent = google.realtime.ClientEvents;

/** The plugin's `ResponseGeneration`: one model turn as it streams in. */
export interface PluginGeneration {
  inputTranscription: string;
  outputText: string;
  _firstTokenTimestamp?: number;
  _done: boolean;
}

/** `@livekit/agents`' `Event` (not exported as a type from the package root). */
export interface PluginEvent {
  readonly isSet: boolean;
  set(): void;
}

export interface PluginOptions {
  instructions?: string;
  connOptions: APIConnectOptions;
}

export interface PluginSessionInternals {
  _tools: llm.ToolContext;
  _chatCtx: llm.ChatContext;
  /** The @google/genai live session; set once setup completed, unset when closed. */
  activeSession?: object;
  options: PluginOptions;
  pendingGenerationFut?: Future<llm.GenerationCreatedEvent>;
  currentGeneration?: PluginGeneration;
  inUserActivity: boolean;
  /** Set: the connect loop closes the socket and connects again (keeps queued messages). */
  sessionShouldClose: PluginEvent;
  /** Sent as `setup.sessionResumption.handle` on the next connect. */
  sessionResumptionHandle?: string;
  /** Function calls the model asked for whose responses were not sent yet. */
  pendingToolCallIds: Set<string>;
  toolCallStatuses: Map<string, { name: string }>;
  /** Function responses sent without an id (Vertex) -> their call ids. */
  toolResponseCallIds: WeakMap<object, string>;
  /** The plugin's lock while it connects, seeds a new socket with history, or closes one. */
  sessionLock: { isLocked(): boolean };
  /** BLOCKING function calls are pending: the plugin holds realtime input back meanwhile. */
  shouldBlockRealtimeInputForPendingTools(): boolean;
  sendClientEvent(event: ClientEvent): void;
  /** Restart the socket and drop the messages queued for the old one. */
  markRestartNeeded(): void;
  /** End the generation in flight (its streams close; what arrived stays in the context). */
  markCurrentGenerationDone(): void;
  handleGoAway(goAway: { timeLeft?: string }): void;
  handleServerContent(content: { turnComplete?: boolean; interrupted?: boolean }): void;
  pushAudio(frame: AudioFrame): void;
}

/** The part of the @google/genai live session (`activeSession`) that video input uses. */
export interface LiveSessionSend {
  sendRealtimeInput(params: { video?: { data: string; mimeType: string } }): void;
}

export function internalsOf(session: PluginSession): PluginSessionInternals {
  return session as unknown as PluginSessionInternals;
}

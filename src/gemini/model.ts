/**
 * The Gemini realtime model: a subclass of the plugin's `RealtimeModel` (so it goes anywhere the
 * plugin's model goes, and takes its options by the same names) whose sessions are our own
 * (session.ts), following the model's row of the capability table.
 */
import type { GoogleGenAIOptions, HttpOptions } from '@google/genai';
import type { llm } from '@livekit/agents';
import {
  type APIConnectOptions,
  DEFAULT_API_CONNECT_OPTIONS,
  normalizeLanguage,
} from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import type { AudioFrame } from '@livekit/rtc-node';
import type { ModelCapabilities } from '../config/models.ts';
import type { AvatarOutput } from './avatar_output.ts';
import { GeminiLiveClient } from './live_transport.ts';
import { GeminiLiveSession, type GeminiSessionOptions, type SessionHost } from './session.ts';
import type { RecoveryPolicy, SessionRecovery } from './session_recovery.ts';

export { CONTINUE_PROMPT } from './prompts.ts';

type PluginOptions = NonNullable<ConstructorParameters<typeof google.realtime.RealtimeModel>[0]>;
/** What the plugin declares `session()` to return: its own class, which it does not export. */
type PluginSession = ReturnType<google.realtime.RealtimeModel['session']>;

/** The plugin's options (the model id and backend come from the capability row). */
export interface GeminiRealtimeOptions extends Omit<PluginOptions, 'model' | 'vertexai'> {
  /** `timeoutMs` bounds each connection's setup; retries follow `recovery` instead. */
  connOptions?: APIConnectOptions;
  /** How hard to fight for the call when Gemini fails; see DEFAULT_RECOVERY_POLICY. */
  recovery?: Partial<RecoveryPolicy>;
  /** Gemini renders the face (rows with `videoOutput`): its setup and its decoded stream. */
  avatar?: AvatarOutput;
  /**
   * The user's transcript comes from the call's STT, handed to each session (`sttSegment`,
   * `sttTurnEnded`) and published by it as this model's user transcript.
   */
  userTranscriptsFromStt?: boolean;
}

export class GeminiRealtimeModel extends google.realtime.RealtimeModel {
  readonly row: ModelCapabilities;
  readonly #capabilities: llm.RealtimeCapabilities;
  readonly #client: GeminiLiveClient;
  readonly #sessionOptions: GeminiSessionOptions;
  readonly #sessions: GeminiLiveSession[] = [];
  readonly #audioListeners = new Set<(frame: AudioFrame) => void>();
  #presetTools?: llm.ToolContext;

  constructor(row: ModelCapabilities, options: GeminiRealtimeOptions) {
    // The plugin checks ids against lists of its own (and refuses gemini-3.8-live on Vertex,
    // where Google serves it); the capability table decides here, so the plugin gets no id.
    super({ ...options, vertexai: row.backend === 'vertex' });
    this.row = row;
    const base = super.capabilities;
    this.#capabilities = {
      ...base,
      userTranscription: base.userTranscription || options.userTranscriptsFromStt === true,
      midSessionChatCtxUpdate: row.midSessionClientContent,
      midSessionInstructionsUpdate: row.midSessionClientContent,
    };
    this.#client = new GeminiLiveClient(clientOptions(row, options));
    this.#sessionOptions = sessionOptions(row, options);
  }

  /** What each session of this model sends in its setup (resolved options). */
  get sessionOptions(): GeminiSessionOptions {
    return this.#sessionOptions;
  }

  override get model(): string {
    return this.row.id;
  }

  override get capabilities(): llm.RealtimeCapabilities {
    return this.#capabilities;
  }

  /**
   * The tools the agent will set. A session connects as soon as it exists and reconnects when
   * the tools change (they are part of the setup); giving it the tools first saves that second
   * setup round trip before the greeting.
   */
  presetTools(tools: llm.ToolContext): void {
    this.#presetTools = tools;
  }

  /** The recovery of each session this model made, oldest first (diagnostics and tests). */
  get recoveries(): readonly SessionRecovery[] {
    return this.#sessions.map((session) => session.recovery);
  }

  /** The session this model made last: the one the agent talks through (video input sends on it). */
  get latestSession(): GeminiLiveSession | undefined {
    return this.#sessions.at(-1);
  }

  /**
   * See the microphone audio as it reaches the model (after the framework's muting), e.g. to
   * tell when the user speaks. Returns a function that stops it.
   */
  onInputAudio(listener: (frame: AudioFrame) => void): () => void {
    this.#audioListeners.add(listener);
    return () => this.#audioListeners.delete(listener);
  }

  /**
   * A new session of ours. Typed as the plugin declares `session()` (its unexported class):
   * ours implements the same public contract, `llm.RealtimeSession`, which is all the framework
   * calls. Our own code reaches sessions through `latestSession`, typed as what they are.
   */
  override session(): PluginSession {
    const host: SessionHost = {
      client: this.#client,
      options: this.#sessionOptions,
      ...(this.#presetTools ? { presetTools: this.#presetTools } : {}),
      inputAudio: (frame) => {
        for (const listener of this.#audioListeners) listener(frame);
      },
    };
    const session = new GeminiLiveSession(this, host);
    this.#sessions.push(session);
    return session as unknown as PluginSession;
  }
}

function clientOptions(row: ModelCapabilities, o: GeminiRealtimeOptions): GoogleGenAIOptions {
  // Affective dialog and proactivity exist only on the Gemini API's v1alpha (as the plugin picks).
  const apiVersion =
    o.apiVersion ?? (o.enableAffectiveDialog || o.proactivity ? 'v1alpha' : undefined);
  const httpOptions: HttpOptions = {
    ...o.httpOptions,
    ...(apiVersion ? { apiVersion } : {}),
  };
  if (row.backend === 'vertex') {
    return {
      vertexai: true,
      project: o.project || process.env.GOOGLE_CLOUD_PROJECT,
      location: o.location || process.env.GOOGLE_CLOUD_LOCATION || 'us-central1',
      httpOptions,
    };
  }
  return { ...(o.apiKey ? { apiKey: o.apiKey } : {}), httpOptions };
}

function sessionOptions(row: ModelCapabilities, o: GeminiRealtimeOptions): GeminiSessionOptions {
  const connOptions = o.connOptions ?? DEFAULT_API_CONNECT_OPTIONS;
  // Transcriptions are on unless set to null (the plugin's defaults).
  const input = o.inputAudioTranscription === null ? undefined : (o.inputAudioTranscription ?? {});
  const output =
    o.outputAudioTranscription === null ? undefined : (o.outputAudioTranscription ?? {});
  return {
    row,
    vertexai: row.backend === 'vertex',
    voice: o.voice ?? 'Puck',
    ...(o.language ? { language: normalizeLanguage(o.language) } : {}),
    ...(o.instructions ? { instructions: o.instructions } : {}),
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
    ...(o.maxOutputTokens !== undefined ? { maxOutputTokens: o.maxOutputTokens } : {}),
    ...(o.topP !== undefined ? { topP: o.topP } : {}),
    ...(o.topK !== undefined ? { topK: o.topK } : {}),
    ...(o.thinkingConfig ? { thinkingConfig: o.thinkingConfig } : {}),
    ...(o.enableAffectiveDialog !== undefined
      ? { enableAffectiveDialog: o.enableAffectiveDialog }
      : {}),
    ...(o.proactivity !== undefined ? { proactivity: o.proactivity } : {}),
    ...(o.mediaResolution !== undefined ? { mediaResolution: o.mediaResolution } : {}),
    ...(o.realtimeInputConfig ? { realtimeInputConfig: o.realtimeInputConfig } : {}),
    ...(o.contextWindowCompression ? { contextWindowCompression: o.contextWindowCompression } : {}),
    ...(input ? { inputAudioTranscription: input } : {}),
    ...(output ? { outputAudioTranscription: output } : {}),
    ...(o.toolBehavior !== undefined ? { toolBehavior: o.toolBehavior } : {}),
    ...(o.toolResponseScheduling !== undefined
      ? { toolResponseScheduling: o.toolResponseScheduling }
      : {}),
    ...(o.geminiTools ? { geminiTools: o.geminiTools } : {}),
    ...(o.avatar ? { avatar: o.avatar } : {}),
    setupTimeoutMs: connOptions.timeoutMs,
    recovery: o.recovery ?? {},
  };
}

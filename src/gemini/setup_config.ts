/**
 * The setup of one Gemini Live connection: @google/genai's `LiveConnectConfig` from the session's
 * options, its tools and its resumption handle, plus the wire fields the SDK cannot send.
 */
import {
  type AudioTranscriptionConfig,
  type Behavior,
  type ContextWindowCompressionConfig,
  type FunctionDeclaration,
  type FunctionResponseScheduling,
  type LiveConnectConfig,
  type MediaResolution,
  Modality,
  type RealtimeInputConfig,
  type Schema,
  type ThinkingConfig,
  type Tool,
} from '@google/genai';
import { llm } from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import type { ModelCapabilities } from '../config/models.ts';
import type { AvatarOutput } from './avatar_output.ts';

/** What a session sends in its setup (the plugin's option names, resolved). */
export interface LiveSetupOptions {
  row: ModelCapabilities;
  instructions?: string;
  voice: string;
  /** BCP-47, already normalized. */
  language?: string;
  temperature?: number;
  maxOutputTokens?: number;
  topP?: number;
  topK?: number;
  thinkingConfig?: ThinkingConfig;
  enableAffectiveDialog?: boolean;
  proactivity?: boolean;
  mediaResolution?: MediaResolution;
  realtimeInputConfig?: RealtimeInputConfig;
  contextWindowCompression?: ContextWindowCompressionConfig;
  /** Undefined: off. */
  inputAudioTranscription?: AudioTranscriptionConfig;
  outputAudioTranscription?: AudioTranscriptionConfig;
  /** Stamped on every function declaration; unset: the model's default. */
  toolBehavior?: Behavior;
  toolResponseScheduling?: FunctionResponseScheduling;
  /** Built-in Gemini tools (Google Search, ...) sent beside the function tools. */
  geminiTools?: Omit<Tool, 'functionDeclarations'>;
  /** Gemini renders the face: VIDEO responses with this avatar (rows with `videoOutput`). */
  avatar?: AvatarOutput;
}

export function liveConnectConfig(
  options: LiveSetupOptions,
  tools: llm.ToolContext,
  handle: string | undefined,
): LiveConnectConfig {
  const o = options;
  const config: LiveConnectConfig = {
    // VIDEO: the avatar's fMP4 carries the speech too (Google: VIDEO needs an avatarConfig).
    responseModalities: [o.avatar ? Modality.VIDEO : Modality.AUDIO],
    speechConfig: {
      voiceConfig: { prebuiltVoiceConfig: { voiceName: o.voice } },
      ...(o.language ? { languageCode: o.language } : {}),
    },
    // Always asked for: the server then issues handles, which a reconnect resumes from.
    sessionResumption: handle ? { handle } : {},
  };
  if (o.avatar) config.avatarConfig = o.avatar.config;
  if (o.instructions) config.systemInstruction = { parts: [{ text: o.instructions }] };
  const toolList = toolsConfig(tools, o);
  if (toolList) config.tools = toolList;
  if (o.inputAudioTranscription) config.inputAudioTranscription = o.inputAudioTranscription;
  if (o.outputAudioTranscription) config.outputAudioTranscription = o.outputAudioTranscription;
  // The SDK maps these to setup.generationConfig.* (both backends).
  if (o.thinkingConfig) config.thinkingConfig = o.thinkingConfig;
  if (o.temperature !== undefined) config.temperature = o.temperature;
  if (o.maxOutputTokens !== undefined) config.maxOutputTokens = o.maxOutputTokens;
  if (o.topP !== undefined) config.topP = o.topP;
  if (o.topK !== undefined) config.topK = o.topK;
  if (o.mediaResolution !== undefined) config.mediaResolution = o.mediaResolution;
  if (o.enableAffectiveDialog !== undefined) {
    config.enableAffectiveDialog = o.enableAffectiveDialog;
  }
  if (o.proactivity !== undefined) config.proactivity = { proactiveAudio: o.proactivity };
  if (o.realtimeInputConfig) config.realtimeInputConfig = o.realtimeInputConfig;
  if (o.contextWindowCompression) config.contextWindowCompression = o.contextWindowCompression;
  return config;
}

/**
 * Setup fields @google/genai 2.x drops from `LiveConnectConfig` (googleapis/js-genai#1448), sent
 * by our socket (live_transport.ts): `historyConfig` on rows that take earlier conversation only
 * as declared initial history.
 */
export function setupExtras(row: ModelCapabilities): Record<string, unknown> | undefined {
  return row.historySeeding === 'history_config'
    ? { historyConfig: { initialHistoryInClientContent: true } }
    : undefined;
}

function toolsConfig(tools: llm.ToolContext, o: LiveSetupOptions): Tool[] | undefined {
  const list: Tool[] = [];
  const declarations = functionDeclarations(tools, o.toolBehavior);
  if (declarations.length > 0) list.push({ functionDeclarations: declarations });
  if (o.geminiTools) list.push(o.geminiTools);
  // Provider tools an agent lists (google.tools.GoogleSearch, ...) go as they describe themselves.
  for (const tool of tools.providerTools) {
    if (tool instanceof google.GeminiTool) list.push(tool.toToolConfig());
  }
  return list.length > 0 ? list : undefined;
}

/**
 * The agent's function tools as Gemini declarations, sorted by name. Parameters go as JSON
 * Schema, which the SDK turns into Gemini's schema when it builds the setup frame; a tool with
 * no parameters declares none (Gemini refuses an OBJECT without properties).
 */
export function functionDeclarations(
  tools: llm.ToolContext,
  behavior?: Behavior,
): FunctionDeclaration[] {
  const declarations: FunctionDeclaration[] = [];
  for (const [name, tool] of llm.sortedToolEntries(tools)) {
    const schema = JSON.parse(JSON.stringify(llm.toJsonSchema(tool.parameters, false))) as {
      type?: unknown;
      properties?: Record<string, unknown>;
      additionalProperties?: unknown;
    };
    const empty =
      schema.type === 'object' &&
      Object.keys(schema.properties ?? {}).length === 0 &&
      !schema.additionalProperties;
    declarations.push({
      name,
      description: tool.description,
      // JSON Schema, converted by the SDK (its `Schema` type describes the converted form).
      ...(empty ? {} : { parameters: schema as Schema }),
      ...(behavior !== undefined ? { behavior } : {}),
    });
  }
  return declarations;
}

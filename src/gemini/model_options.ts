/**
 * Settings -> the Gemini realtime model. The only place that turns our validated settings
 * into plugin options, so every option the table checked is the option that is sent.
 */
import type { APIConnectOptions } from '@livekit/agents';
import {
  Behavior,
  FunctionResponseScheduling,
  MediaResolution,
  ThinkingLevel,
  type ThinkingConfig,
} from '@google/genai';
import { geminiAvatarMediaFor } from '../avatar/gemini/selection.ts';
import type { Settings } from '../config/settings.ts';
import { type GeminiRealtimeOptions, GeminiRealtimeModel } from './model.ts';

const THINKING_LEVEL = {
  minimal: ThinkingLevel.MINIMAL,
  low: ThinkingLevel.LOW,
  medium: ThinkingLevel.MEDIUM,
  high: ThinkingLevel.HIGH,
} as const;

const MEDIA_RESOLUTION = {
  low: MediaResolution.MEDIA_RESOLUTION_LOW,
  medium: MediaResolution.MEDIA_RESOLUTION_MEDIUM,
  high: MediaResolution.MEDIA_RESOLUTION_HIGH,
} as const;

const SCHEDULING = {
  interrupt: FunctionResponseScheduling.INTERRUPT,
  when_idle: FunctionResponseScheduling.WHEN_IDLE,
  silent: FunctionResponseScheduling.SILENT,
} as const;

function thinkingConfig(settings: Settings): ThinkingConfig | undefined {
  const { thinkingLevel, thinkingBudget } = settings.call;
  // A model that refuses a setup without a level gets its row's documented default.
  const level = thinkingLevel ?? settings.capabilities.defaultThinkingLevel;
  if (level) return { thinkingLevel: THINKING_LEVEL[level] };
  if (thinkingBudget !== undefined) return { thinkingBudget };
  return undefined;
}

/**
 * The behavior stamped on every function declaration: the deployment's choice, else NON_BLOCKING
 * where the row takes nothing else (a declaration without it is refused there), else none (the
 * model's default).
 */
function toolBehavior(settings: Settings): Behavior | undefined {
  const chosen = settings.model.toolBehavior;
  if (chosen) return chosen === 'non_blocking' ? Behavior.NON_BLOCKING : Behavior.BLOCKING;
  return settings.capabilities.blockingTools ? undefined : Behavior.NON_BLOCKING;
}

/**
 * Who writes the user's transcript. With TURN_DETECTION=livekit the call's STT does (once per
 * turn), and Gemini's input transcription is off unless GEMINI_INPUT_TRANSCRIPTION asks for it;
 * with Gemini's turn detection Gemini does, unless GEMINI_INPUT_TRANSCRIPTION=false.
 */
function userTranscripts(
  settings: Settings,
): Pick<GeminiRealtimeOptions, 'inputAudioTranscription' | 'userTranscriptsFromStt'> {
  const livekit = settings.turnDetection === 'livekit';
  if (settings.call.inputTranscription ?? !livekit) return {};
  return { inputAudioTranscription: null, ...(livekit ? { userTranscriptsFromStt: true } : {}) };
}

export interface RealtimeModelOverrides {
  instructions: string;
  connOptions?: APIConnectOptions;
}

export function realtimeOptions(
  settings: Settings,
  { instructions, connOptions }: RealtimeModelOverrides,
): GeminiRealtimeOptions {
  const { call, google: g, model, capabilities: row } = settings;
  const thinking = thinkingConfig(settings);
  const behavior = toolBehavior(settings);
  // Gemini renders the face: VIDEO with the avatar, its speech decoded from the MP4.
  const avatar = geminiAvatarMediaFor(settings);
  return {
    instructions,
    voice: call.voice,
    ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
    ...(call.language ? { language: call.language } : {}),
    ...(thinking ? { thinkingConfig: thinking } : {}),
    // Sent only where they are switches; where they are always on, the setup must not carry them.
    ...(call.affectiveDialog && row.affectiveDialog === 'opt_in'
      ? { enableAffectiveDialog: true }
      : {}),
    ...(call.proactiveAudio && row.proactiveAudio === 'opt_in' ? { proactivity: true } : {}),
    // The SDK maps it to setup.generationConfig.mediaResolution (Gemini API and Vertex AI).
    ...(call.mediaResolution ? { mediaResolution: MEDIA_RESOLUTION[call.mediaResolution] } : {}),
    ...(behavior ? { toolBehavior: behavior } : {}),
    // Gemini's built-in tool, beside our function tools.
    ...(call.googleSearch ? { geminiTools: { googleSearch: {} } } : {}),
    ...(model.toolResponseScheduling
      ? { toolResponseScheduling: SCHEDULING[model.toolResponseScheduling] }
      : {}),
    ...(settings.turnDetection === 'livekit'
      ? { realtimeInputConfig: { automaticActivityDetection: { disabled: true } } }
      : {}),
    ...userTranscripts(settings),
    ...(g.apiKey ? { apiKey: g.apiKey.reveal() } : {}),
    // Pinned to the SDK's Vertex default: for affective dialog and proactivity the plugin picks
    // v1alpha, which only the Gemini API has (Vertex takes both on v1beta1).
    ...(g.vertexai ? { project: g.project, location: g.location, apiVersion: 'v1beta1' } : {}),
    ...(g.baseUrl ? { httpOptions: { baseUrl: g.baseUrl } } : {}),
    ...(connOptions ? { connOptions } : {}),
    ...(avatar ? { avatar } : {}),
  };
}

export function createRealtimeModel(
  settings: Settings,
  overrides: RealtimeModelOverrides,
): GeminiRealtimeModel {
  return new GeminiRealtimeModel(settings.capabilities, realtimeOptions(settings, overrides));
}

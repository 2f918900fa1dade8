/**
 * Settings -> the Gemini realtime model. The only place that turns our validated settings
 * into plugin options, so every option the table checked is the option that is sent.
 */
import type { APIConnectOptions } from '@livekit/agents';
import * as google from '@livekit/agents-plugin-google';
import {
  FunctionResponseScheduling,
  MediaResolution,
  ThinkingLevel,
  type ThinkingConfig,
} from '@google/genai';
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
  if (thinkingLevel) return { thinkingLevel: THINKING_LEVEL[thinkingLevel] };
  if (thinkingBudget !== undefined) return { thinkingBudget };
  return undefined;
}

export interface RealtimeModelOverrides {
  instructions: string;
  connOptions?: APIConnectOptions;
}

export function realtimeOptions(
  settings: Settings,
  { instructions, connOptions }: RealtimeModelOverrides,
): GeminiRealtimeOptions {
  const { call, google: g, model } = settings;
  const thinking = thinkingConfig(settings);
  return {
    instructions,
    voice: call.voice,
    ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
    ...(call.language ? { language: call.language } : {}),
    ...(thinking ? { thinkingConfig: thinking } : {}),
    ...(call.affectiveDialog ? { enableAffectiveDialog: true } : {}),
    ...(call.proactiveAudio ? { proactivity: true } : {}),
    // The SDK maps it to setup.generationConfig.mediaResolution (Gemini API and Vertex AI).
    ...(call.mediaResolution ? { mediaResolution: MEDIA_RESOLUTION[call.mediaResolution] } : {}),
    ...(model.toolBehavior
      ? {
          toolBehavior:
            model.toolBehavior === 'non_blocking'
              ? google.realtime.Behavior.NON_BLOCKING
              : google.realtime.Behavior.BLOCKING,
        }
      : {}),
    ...(model.toolResponseScheduling
      ? { toolResponseScheduling: SCHEDULING[model.toolResponseScheduling] }
      : {}),
    ...(settings.turnDetection === 'livekit'
      ? { realtimeInputConfig: { automaticActivityDetection: { disabled: true } } }
      : {}),
    ...(g.apiKey ? { apiKey: g.apiKey.reveal() } : {}),
    // Pinned to the SDK's Vertex default: for affective dialog and proactivity the plugin picks
    // v1alpha, which only the Gemini API has (Vertex takes both on v1beta1).
    ...(g.vertexai ? { project: g.project, location: g.location, apiVersion: 'v1beta1' } : {}),
    ...(g.baseUrl ? { httpOptions: { baseUrl: g.baseUrl } } : {}),
    ...(connOptions ? { connOptions } : {}),
  };
}

export function createRealtimeModel(
  settings: Settings,
  overrides: RealtimeModelOverrides,
): GeminiRealtimeModel {
  return new GeminiRealtimeModel(settings.capabilities, realtimeOptions(settings, overrides));
}

/**
 * Gemini's `usageMetadata` as the framework's realtime model metrics, one per model turn (the
 * session emits them as `metrics_collected`; src/usage.ts adds them up per call).
 */
import { MediaModality, type ModalityTokenCount, type UsageMetadata } from '@google/genai';
import type { metrics } from '@livekit/agents';
import type { Generation } from './generation.ts';

export const METRICS_LABEL = 'google_realtime';

export interface ModalityTokens {
  audioTokens: number;
  textTokens: number;
  imageTokens: number;
  /** Avatar video (Gemini renders the face); not a field of the framework's type. */
  videoTokens: number;
}

export function realtimeMetrics(
  usage: UsageMetadata,
  gen: Generation,
): metrics.RealtimeModelMetrics {
  const completedAt = gen.completedAt ?? Date.now();
  const durationMs = completedAt - gen.createdAt;
  const outputTokens = usage.responseTokenCount ?? 0;
  return {
    type: 'realtime_model_metrics',
    label: METRICS_LABEL,
    requestId: gen.responseId,
    timestamp: gen.createdAt,
    ttftMs: gen.firstOutputAt !== undefined ? gen.firstOutputAt - gen.createdAt : -1,
    durationMs,
    cancelled: gen.done && gen.completedAt === undefined,
    inputTokens: usage.promptTokenCount ?? 0,
    outputTokens,
    totalTokens: usage.totalTokenCount ?? 0,
    tokensPerSecond: durationMs > 0 ? outputTokens / (durationMs / 1000) : 0,
    inputTokenDetails: {
      ...byModality(usage.promptTokensDetails),
      cachedTokens: (usage.cacheTokensDetails ?? []).reduce((n, d) => n + (d.tokenCount ?? 0), 0),
      cachedTokensDetails: byModality(usage.cacheTokensDetails),
    },
    outputTokenDetails: byModality(usage.responseTokensDetails),
  };
}

export function byModality(details: ModalityTokenCount[] | undefined): ModalityTokens {
  const tokens: ModalityTokens = { audioTokens: 0, textTokens: 0, imageTokens: 0, videoTokens: 0 };
  for (const { modality, tokenCount } of details ?? []) {
    if (!tokenCount) continue;
    if (modality === MediaModality.AUDIO) tokens.audioTokens += tokenCount;
    else if (modality === MediaModality.TEXT) tokens.textTokens += tokenCount;
    else if (modality === MediaModality.IMAGE) tokens.imageTokens += tokenCount;
    else if (modality === MediaModality.VIDEO) tokens.videoTokens += tokenCount;
  }
  return tokens;
}

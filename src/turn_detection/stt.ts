/**
 * The STT that transcribes the user with TURN_DETECTION=livekit (STT=deepgram or gemini): its
 * transcripts are the user's side of the conversation and what the end-of-turn model reads.
 */
import type { stt } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as google from '@livekit/agents-plugin-google';
import { type Settings, sttProvider } from '../config/settings.ts';

/**
 * Vertex AI serves Gemini's live transcription model from the `global` location (Google's
 * 3.5 Transcribe page for Vertex AI; the plugin's default too), whatever the Live model's region.
 */
export const VERTEX_STT_LOCATION = 'global';

export function createStt(settings: Settings): stt.STT {
  const { call, google: g } = settings;
  if (sttProvider(settings) === 'deepgram') {
    return new deepgram.STT({
      apiKey: settings.deepgramApiKey?.reveal(),
      // Deepgram's streaming API needs a language; Gemini's reply language is the natural one.
      ...(call.language ? { language: call.language } : {}),
      ...(settings.deepgramBaseUrl ? { baseUrl: settings.deepgramBaseUrl } : {}),
    });
  }
  return new google.beta.GeminiSTT({
    // No language set: Gemini detects it (languageCodes []).
    language: call.language ?? null,
    ...(g.vertexai
      ? { vertexai: true, project: g.project, location: VERTEX_STT_LOCATION }
      : { apiKey: g.apiKey?.reveal() }),
    ...(g.baseUrl ? { httpOptions: { baseUrl: g.baseUrl } } : {}),
  });
}

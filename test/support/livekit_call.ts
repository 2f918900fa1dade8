/**
 * A call with TURN_DETECTION=livekit against the fakes: Silero VAD, the real v1-mini end-of-turn
 * model in this process, an STT (the fake Deepgram, or the fake Gemini's live transcription
 * model) and the Gemini Live model with its automatic activity detection off.
 */
import { type Env } from '../../src/config/settings.ts';
import type { SttProvider } from '../../src/config/call_options.ts';
import { FakeDeepgramServer } from '../../tools/fake_deepgram/server.ts';
import {
  type FakeGeminiOptions,
  SpeechDetector,
  type FakeGeminiServer,
} from '../../tools/fake_gemini/server.ts';
import { type Harness, speechFixture, startHarness } from './call_harness.ts';

export const DEEPGRAM_TEST_KEY = 'test-key-for-the-fake-deepgram';
export const TRANSCRIBE_MODEL = 'gemini-3.5-transcribe-live';

export interface LivekitCallOptions {
  model: string;
  stt: SttProvider;
  /** What the user says in each spoken segment, in order (both STTs and Gemini's own transcript). */
  said: readonly string[];
  env?: Env;
  fake?: FakeGeminiOptions;
}

export interface LivekitCall extends Harness {
  deepgram?: FakeDeepgramServer;
}

export async function startLivekitCall(options: LivekitCallOptions): Promise<LivekitCall> {
  const transcribe = ({ segmentIndex }: { segmentIndex: number }) =>
    options.said[segmentIndex] ?? options.said.at(-1) ?? '';
  const deepgram =
    options.stt === 'deepgram'
      ? await FakeDeepgramServer.start({ apiKey: DEEPGRAM_TEST_KEY, transcribe })
      : undefined;
  const harness = await startHarness({
    env: {
      GEMINI_MODEL: options.model,
      TURN_DETECTION: 'livekit',
      STT: options.stt,
      AGENT_GREETING: '',
      ...(deepgram
        ? { DEEPGRAM_API_KEY: DEEPGRAM_TEST_KEY, DEEPGRAM_BASE_URL: deepgram.baseUrl }
        : {}),
      ...options.env,
    },
    fake: {
      transcribe: ({ turnIndex }) => transcribe({ segmentIndex: turnIndex }),
      ...options.fake,
    },
  });
  return {
    ...harness,
    ...(deepgram ? { deepgram } : {}),
    close: async () => {
      await harness.close();
      await deepgram?.close();
    },
  };
}

/** The Live model's connections (not the transcription model's). */
export function liveConnections(fake: FakeGeminiServer) {
  // A connection names its model with its setup: one whose setup has not come yet may be the
  // STT's (on a busy machine it can open first), so it is no Live connection yet.
  return fake.connections.filter((c) => c.model !== '' && c.model !== TRANSCRIBE_MODEL);
}

/**
 * What the client sent the Live model besides microphone audio, in order, by kind:
 * `activityStart`, `activityEnd`, `text`, `clientContent`, `toolResponse`.
 */
export function liveSignals(fake: FakeGeminiServer): string[] {
  const live = new Set(liveConnections(fake).map((c) => c.index));
  return fake.received
    .filter((r) => live.has(r.conn) && !('setup' in r.msg))
    .flatMap((r) => {
      const input = r.msg.realtimeInput as Record<string, unknown> | undefined;
      if (!input) return Object.keys(r.msg);
      return Object.keys(input).filter((k) => k !== 'audio');
    });
}

/** Whether any microphone audio reached the Live model before its first `activityStart`. */
export function audioBeforeFirstActivity(fake: FakeGeminiServer): boolean {
  const live = new Set(liveConnections(fake).map((c) => c.index));
  for (const r of fake.received) {
    if (!live.has(r.conn)) continue;
    const input = r.msg.realtimeInput as Record<string, unknown> | undefined;
    if (input?.activityStart) return false;
    if (input?.audio) return true;
  }
  return false;
}

/** A fixture's voiced span as the fake Gemini measures a turn (first to last voiced frame). */
export function voicedMs(fixture: string): number {
  const detector = new SpeechDetector(Infinity);
  detector.push(speechFixture(fixture), 16_000);
  return detector.speechMs;
}

/** Silence to say into the microphone. */
export function silence(ms: number): Int16Array {
  return new Int16Array(Math.round((ms * 16_000) / 1000));
}

/**
 * Turn latency: from the end of the user's speech to the first frame of the agent's reply at the
 * output, in each turn-detection mode, on the same speech (test/fixtures/finished.wav, a finished
 * question) against the same fake Gemini (it answers at once, so what is measured is the turn
 * taking):
 * - `gemini`: the fake's server VAD ends the turn after 500 ms of silence (its stand-in for
 *   Google's automatic activity detection, whose own delay this cannot measure);
 * - `livekit`: Silero VAD, the STT's final transcript (the fake Deepgram, or the fake live
 *   transcription model), the v1-mini end-of-turn model in this process, then `activityEnd`.
 *
 * Each turn: the question, then silence until the reply has played and the agent listens again.
 */
import { fileURLToPath } from 'node:url';
import { voice } from '@livekit/agents';
import { readMonoAt } from '../src/audio/wav.ts';
import { MIC_RATE } from '../src/console/offline_call.ts';
import { FakeDeepgramServer } from '../tools/fake_deepgram/server.ts';
import { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { BENCH_API_KEY, startBenchCall, withTimeout } from './bench_call.ts';

export const TURN_MODES = ['gemini', 'livekit-deepgram', 'livekit-gemini'] as const;
export type TurnMode = (typeof TURN_MODES)[number];

const QUESTION = fileURLToPath(new URL('../test/fixtures/finished.wav', import.meta.url));
const SAID = 'Hello there, can you hear me?';
const MODEL = 'gemini-3.8-live';
/** Audio length of each reply (short: the turn taking is what is measured). */
const REPLY_MS = 600;
const TURN_TIMEOUT_MS = 15_000;

export interface TurnLatencyResult {
  mode: TurnMode;
  /** End of speech -> first reply frame at the output, ms, one per turn. */
  latenciesMs: number[];
  /** The end-of-turn model's probability at each pause (livekit modes). */
  eotProbabilities: number[];
}

/** The question with its trailing silence cut: where its speech ends is where its samples end. */
function question(): Int16Array {
  const { samples } = readMonoAt(QUESTION, MIC_RATE);
  let end = samples.length;
  while (end > 0 && Math.abs(samples[end - 1]!) < 300) end--;
  return samples.slice(0, end);
}

function modeEnv(mode: TurnMode, deepgram: FakeDeepgramServer | undefined) {
  if (mode === 'gemini') return {};
  return {
    TURN_DETECTION: 'livekit',
    STT: mode === 'livekit-deepgram' ? 'deepgram' : 'gemini',
    ...(deepgram ? { DEEPGRAM_API_KEY: BENCH_API_KEY, DEEPGRAM_BASE_URL: deepgram.baseUrl } : {}),
  };
}

export async function benchTurnLatency(mode: TurnMode, turns: number): Promise<TurnLatencyResult> {
  const fake = await FakeGeminiServer.start({
    apiKey: BENCH_API_KEY,
    transcribe: () => SAID,
    respond: () => ({ text: 'Yes.', audioMs: REPLY_MS }),
  });
  const deepgram =
    mode === 'livekit-deepgram'
      ? await FakeDeepgramServer.start({ apiKey: BENCH_API_KEY, transcribe: () => SAID })
      : undefined;
  const bench = await startBenchCall(fake, {
    model: MODEL,
    greeting: '',
    env: { GEMINI_MODEL: MODEL, ...modeEnv(mode, deepgram) },
  });
  const speech = question();
  const result: TurnLatencyResult = { mode, latenciesMs: [], eotProbabilities: [] };
  const { session } = bench.call;
  session.on(voice.AgentSessionEventTypes.EotPrediction, (ev) =>
    result.eotProbabilities.push(ev.probability),
  );
  try {
    for (let turn = 0; turn < turns; turn++) {
      await bench.mic.play(speech);
      const endOfSpeech = performance.now();
      const framesBefore = bench.speaker.frames.length;
      const silence = bench.mic.play(new Int16Array(MIC_RATE * 3));
      await withTimeout(
        untilListeningAfterReply(session, () => bench.speaker.frames.length > framesBefore),
        TURN_TIMEOUT_MS,
        `${mode}: reply to turn ${turn + 1}`,
        () => bench.describe(),
      );
      result.latenciesMs.push(bench.speaker.frames[framesBefore]!.at - endOfSpeech);
      await silence;
      bench.check(`${mode}: turn ${turn + 1}`);
    }
  } finally {
    await bench.close();
    await deepgram?.close();
    await fake.close();
  }
  return result;
}

/** Resolves once the reply has begun (`replied()`) and the agent is listening again. */
function untilListeningAfterReply(
  session: voice.AgentSession,
  replied: () => boolean,
): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!replied() || session.agentState !== 'listening') return;
      session.off(voice.AgentSessionEventTypes.AgentStateChanged, check);
      resolve();
    };
    session.on(voice.AgentSessionEventTypes.AgentStateChanged, check);
  });
}

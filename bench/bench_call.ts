/**
 * One call against the fake Gemini Live server the way the worker builds it (createCallSession,
 * the guarded plugin model, AgentSession), with OfflineCall's stand-ins for the room: a real-time
 * PacedAudioInput microphone (sending silence) and, as the speaker, a TimingSpeaker.
 */
import { voice } from '@livekit/agents';
import { PacedAudioInput } from '../src/audio/paced_input.ts';
import { type Env, loadSettings } from '../src/config/settings.ts';
import { errorMessage } from '../src/console/call_events.ts';
import { MIC_RATE, SPEAKER_RATE } from '../src/console/offline_call.ts';
import { type CallSession, createCallSession } from '../src/session.ts';
import type { FakeGeminiServer } from '../tools/fake_gemini/server.ts';
import { TimingSpeaker } from './timing_speaker.ts';

export const BENCH_API_KEY = 'bench';

export const MODELS = {
  '3.8': 'gemini-3.8-live',
  '3.1': 'gemini-3.1-flash-live-preview',
  '2.5': 'gemini-2.5-flash-native-audio-preview-12-2025',
} as const;
export type ModelId = (typeof MODELS)[keyof typeof MODELS];

export interface BenchCall {
  call: CallSession;
  mic: PacedAudioInput;
  speaker: TimingSpeaker;
  /** performance.now() marks of the start sequence. */
  marks: { begin: number; created: number; started: number };
  /** Error events the session emitted, as messages. */
  errors: string[];
  /** Index of the first fake connection this call could have opened. */
  firstConn: number;
  /** What went wrong, for a failure line: the session's last error and the fake's traffic. */
  describe(): string;
  /** Throw when the fake closed one of this call's sockets or the session reported an error. */
  check(what: string): void;
  close(): Promise<void>;
}

export interface BenchCallOptions {
  /** A model id (ModelId for the suites that compare models). */
  model: string;
  /** AGENT_GREETING ('' = none). */
  greeting: string;
  /** More settings (e.g. TURN_DETECTION=livekit); they win over the ones above. */
  env?: Env;
}

/** Build and start the call; `marks.begin` is taken just before createCallSession. */
export async function startBenchCall(
  fake: FakeGeminiServer,
  { model, greeting, env: more }: BenchCallOptions,
): Promise<BenchCall> {
  const env: Env = {
    GOOGLE_API_KEY: BENCH_API_KEY,
    GOOGLE_GEMINI_BASE_URL: fake.baseUrl,
    GEMINI_MODEL: model,
    AGENT_GREETING: greeting,
    ...more,
  };
  const settings = loadSettings(env);
  const firstConn = fake.connections.length;
  const begin = performance.now();
  const call = await createCallSession({
    settings,
    echoFree: true,
    // The TimingSpeaker, like the VirtualSpeaker it extends, cannot pause.
    outputCanPause: false,
    connOptions: { maxRetry: 0, retryIntervalMs: 100, timeoutMs: 5000 },
  });
  const created = performance.now();
  const errors: string[] = [];
  call.session.on(voice.AgentSessionEventTypes.Error, (ev) => errors.push(errorMessage(ev.error)));
  const mic = new PacedAudioInput({ sampleRate: MIC_RATE });
  const speaker = new TimingSpeaker({ sampleRate: SPEAKER_RATE });
  call.session.input.audio = mic;
  call.session.output.audio = speaker;
  await call.session.start({ agent: call.agent });
  const started = performance.now();
  mic.start();
  return {
    call,
    mic,
    speaker,
    marks: { begin, created, started },
    errors,
    firstConn,
    check: (what) => {
      const closed = fake.connections.find((c) => c.index >= firstConn && c.closedBy === 'server');
      if (closed) {
        throw new Error(
          `${what}: the fake closed the socket with ${closed.closeCode} "${closed.closeReason}"`,
        );
      }
      if (errors.length) throw new Error(`${what}: the session reported "${errors.at(-1)}"`);
    },
    describe: () =>
      `${errors.length ? `last session error: ${errors.at(-1)}; ` : ''}fake: ${fake.describe()}`,
    close: async () => {
      speaker.close();
      await mic.close();
      await call.session.close();
    },
  };
}

/** Reject after `ms` with `what` (and `detail()`, when given) in the message. */
export function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  detail?: () => string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const more = detail ? `; ${detail()}` : '';
      reject(new Error(`${what} timed out after ${ms} ms${more}`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The worker's prewarm (`defineAgent({ prewarm })`): work a job process does once, before it is
 * offered a job, so the caller does not wait for it. Job processes are used once, so without it
 * every call would pay the process's first-use costs.
 *
 * Steps, each timed and each allowed to fail on its own (a warning, never a dead process):
 * - `vad`: Silero VAD for `TURN_DETECTION=livekit`, handed to the job in `proc.userData.vad`;
 * - `avatar`: the avatar atlas, rendered once (about 0.1 s), and for a Gemini avatar its decoders
 *   (node-av, about 0.25 s to load);
 * - `gemini`: one throwaway call, built by the job's own code (createCallSession, AgentSession,
 *   the guarded Gemini plugin, @google/genai over a real WebSocket), greeting a Gemini Live
 *   stand-in on 127.0.0.1 (src/prewarm_stub.ts) and closed again. It pays the first-start costs a
 *   call would otherwise pay: Node's fetch stack (undici) the SDK loads on its first connect, the
 *   first stack trace's source-map parse, the JIT of the framework's session start, the socket
 *   and the reply path. Nothing reaches Google or LiveKit: the call has a dummy key, the stub's
 *   loopback URL, Gemini turn detection (no Deepgram) and no room.
 */
import { type JobProcess, type VAD, log, voice } from '@livekit/agents';
import { isGeminiAvatarId, isLiveAvatarId } from './avatar/from_settings.ts';
import { loadAv } from './avatar/gemini/av.ts';
import { preloadAvatar } from './avatar/publisher.ts';
import { type Env, type Settings, loadSettings } from './config/settings.ts';
import { DEFAULT_MODEL } from './config/models.ts';
import { errorMessage } from './console/call_events.ts';
import { MIC_RATE, SPEAKER_RATE } from './console/offline_call.ts';
import { PacedAudioInput } from './audio/paced_input.ts';
import { VirtualSpeaker } from './audio/virtual_speaker.ts';
import { createCallSession } from './session.ts';
import { PrewarmGeminiStub } from './prewarm_stub.ts';

/**
 * The throwaway call gives up (and is closed) after this long, and its close after the next: the
 * whole prewarm stays well inside the framework's 10 s for a job process to initialize.
 */
export const PREWARM_CALL_TIMEOUT_MS = 3_000;
export const PREWARM_CLOSE_TIMEOUT_MS = 2_000;

export interface PrewarmStep {
  name: string;
  run(settings: Settings, proc: JobProcess): Promise<void>;
}

export interface PrewarmOptions {
  /** The worker's environment (default: process.env). */
  env?: Env;
  /** The steps to run, in order (default: PREWARM_STEPS). */
  steps?: readonly PrewarmStep[];
}

export interface PrewarmReport {
  /** Milliseconds per step that ran and succeeded. */
  done: Record<string, number>;
  /** Steps that failed, with their error message (each logged as a warning). */
  failed: Record<string, string>;
}

const vadStep: PrewarmStep = {
  name: 'vad',
  async run(settings, proc) {
    if (settings.turnDetection !== 'livekit') return;
    // Loaded only for this mode: it brings onnxruntime's native library.
    const silero = await import('@livekit/agents-plugin-silero');
    proc.userData.vad = (await silero.VAD.load()) as VAD;
  },
};

const avatarStep: PrewarmStep = {
  name: 'avatar',
  async run(settings) {
    if (!settings.avatar.enabled) return;
    const { width, height, dir } = settings.avatar;
    // Gemini's face needs its decoders; a call whose decoder fails to load uses our face.
    const gemini = isGeminiAvatarId(settings);
    if (gemini) loadAv();
    // LiveAvatar and Gemini render elsewhere; our default face is their stand-in if they fail.
    const avatar = isLiveAvatarId(settings) || gemini ? 'default' : settings.call.avatarId;
    await preloadAvatar({ avatar, avatarsDir: dir, width, height });
  },
};

/** The throwaway call's settings: the worker's model when it is a Gemini API one, nothing else. */
export function prewarmCallEnv(settings: Settings, baseUrl: string): Env {
  const env: Env = {
    GOOGLE_API_KEY: 'prewarm',
    GOOGLE_GENAI_USE_VERTEXAI: 'false',
    GOOGLE_GEMINI_BASE_URL: baseUrl,
    GEMINI_MODEL: DEFAULT_MODEL,
    TURN_DETECTION: 'gemini',
    AVATAR_ENABLED: 'false',
    AGENT_GREETING: 'Say hello.',
  };
  // A Vertex worker warms with the default model: Vertex signs in through Google's servers.
  if (!settings.model.vertexai) {
    env.GEMINI_MODEL = settings.call.model;
    if (settings.modelRules) env.GEMINI_MODEL_RULES = settings.modelRules;
  }
  return env;
}

/** Settle with `promise`, or reject after `ms` (the timer is always cleared). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const geminiStep: PrewarmStep = {
  name: 'gemini',
  async run(settings) {
    const stub = await PrewarmGeminiStub.start();
    try {
      const call = await createCallSession({
        settings: loadSettings(prewarmCallEnv(settings, stub.baseUrl)),
        instructions: 'You are a prewarm stand-in.',
        echoFree: true,
        outputCanPause: false,
        announce: false,
        // Retries are the recovery's (backoff); the warm-up's own deadline is within() below.
        connOptions: { maxRetry: 0, retryIntervalMs: 100, timeoutMs: PREWARM_CALL_TIMEOUT_MS },
      });
      // The first error the session reports ends the warm-up (no waiting for the timeout).
      let failed: (error: Error) => void = () => {};
      const sessionError = new Promise<never>((_resolve, reject) => (failed = reject));
      sessionError.catch(() => {}); // reported by within() below
      call.session.on(voice.AgentSessionEventTypes.Error, (ev) => {
        failed(new Error(`the session reported "${errorMessage(ev.error)}"`));
      });
      // The console's stand-ins for a room: a silent microphone, a speaker that plays in real time.
      const mic = new PacedAudioInput({ sampleRate: MIC_RATE });
      const speaker = new VirtualSpeaker({ sampleRate: SPEAKER_RATE });
      call.session.input.audio = mic;
      call.session.output.audio = speaker;
      const greeted = (async () => {
        await call.session.start({ agent: call.agent });
        mic.start(); // a no-op once closed below
        await call.greet();
      })();
      greeted.catch(() => {}); // reported by within() below
      try {
        await within(
          Promise.race([greeted, sessionError]),
          PREWARM_CALL_TIMEOUT_MS,
          'the greeting',
        );
      } finally {
        speaker.close();
        await mic.close();
        await call.video.close();
        await within(call.session.close(), PREWARM_CLOSE_TIMEOUT_MS, 'closing the session');
      }
      if (stub.stats.turns === 0) throw new Error('the greeting never reached the stand-in');
    } finally {
      await stub.close();
    }
  },
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export const PREWARM_STEPS: readonly PrewarmStep[] = [vadStep, avatarStep, geminiStep];

/**
 * The worker's prewarm. Never throws: a step that fails logs a warning and the job does that work
 * itself when it needs it.
 */
export async function prewarmWorker(
  proc: JobProcess,
  options: PrewarmOptions = {},
): Promise<PrewarmReport> {
  const report: PrewarmReport = { done: {}, failed: {} };
  const logger = log();
  let settings: Settings;
  try {
    settings = loadSettings(options.env ?? process.env);
  } catch (error) {
    report.failed.settings = messageOf(error);
    logger.warn({ error: report.failed.settings }, 'prewarm skipped: settings did not load');
    return report;
  }
  for (const step of options.steps ?? PREWARM_STEPS) {
    const started = performance.now();
    try {
      await step.run(settings, proc);
      report.done[step.name] = Math.round(performance.now() - started);
    } catch (error) {
      report.failed[step.name] = messageOf(error);
      logger.warn(
        { step: step.name, error: report.failed[step.name] },
        'prewarm step failed; the first call does this work itself',
      );
    }
  }
  logger.debug({ ms: report.done }, 'job process prewarmed');
  return report;
}

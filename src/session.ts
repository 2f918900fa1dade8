/**
 * Settings -> Agent + AgentSession around the guarded Gemini realtime model. The one place the
 * worker (src/agent.ts) and the offline console (src/console.ts) share, so both run the same call.
 */
import { type APIConnectOptions, type VAD, inference, llm, log, voice } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as silero from '@livekit/agents-plugin-silero';
import { drainUnusedRecognitionInput } from './audio/recognition_drain.ts';
import { withEmptyCloseTurnAsDebug } from './close_turn_log.ts';
import { resolveInstructions } from './config/contexts.ts';
import { type Settings, describeSettings } from './config/settings.ts';
import type { GuardedRealtimeModel } from './gemini/guarded_realtime.ts';
import { createRealtimeModel } from './gemini/realtime_model.ts';
import { builtinTools } from './tools.ts';
import { CallUsage } from './usage.ts';
import { VideoInput } from './video/video_input.ts';

export interface CallSessionOptions {
  settings: Settings;
  /** System instructions; default: the dispatch's instructions or its context file. */
  instructions?: string;
  /** Function tools; default: the built-in tools. */
  tools?: llm.ToolContextLike;
  /** Gemini connect retries and timeouts. */
  connOptions?: APIConnectOptions;
  /** VAD loaded once per worker process (prewarm); loaded here when needed and not given. */
  vad?: VAD;
  /**
   * The input has no echo of the agent (a file, a test): do not mute the microphone during the
   * AEC warm-up, so every input sample reaches the model.
   */
  echoFree?: boolean;
  /**
   * The audio output can pause (a room's audio track). Sinks that cannot (the console's speaker,
   * the avatar) turn off resuming after a false interruption instead of warning on every call.
   */
  outputCanPause?: boolean;
  /** Log the `call session created` line (default true; the prewarm's throwaway call does not). */
  announce?: boolean;
}

export interface CallSession {
  settings: Settings;
  agent: voice.Agent;
  session: voice.AgentSession;
  model: GuardedRealtimeModel;
  usage: CallUsage;
  /**
   * The user's camera / screen share to Gemini (off when the model or settings say so): the worker
   * attaches the room, the console a --camera file.
   */
  video: VideoInput;
  /** Play the greeting, if the settings have one; resolves once it has played out. */
  greet(): Promise<void>;
}

/** The pieces `TURN_DETECTION=livekit` adds, as the LiveKit docs pair them with Gemini. */
async function livekitTurnDetection(settings: Settings, vad?: VAD) {
  return {
    vad: vad ?? (await silero.VAD.load()),
    stt: new deepgram.STT({ apiKey: settings.deepgramApiKey?.reveal() }),
    // v1-mini runs in-process from weights shipped in @livekit/local-inference: nothing to
    // download at run time (the plugin-livekit model fetches from a hub; the v1 model is cloud).
    turnHandling: { turnDetection: new inference.TurnDetector({ version: 'v1-mini' }) },
  };
}

/** The call's agent: once its activity starts, no microphone audio piles up unread. */
class CallAgent extends voice.Agent {
  override async onEnter(): Promise<void> {
    drainUnusedRecognitionInput(this);
    await super.onEnter();
  }
}

/** The call's session: the empty user turn the framework commits at close is no warning. */
class CallAgentSession extends voice.AgentSession {
  override start(...args: Parameters<voice.AgentSession['start']>): Promise<void> {
    return withEmptyCloseTurnAsDebug(() => super.start(...args));
  }
}

export async function createCallSession(options: CallSessionOptions): Promise<CallSession> {
  const { settings } = options;
  const instructions = options.instructions ?? resolveInstructions(settings);
  const model = createRealtimeModel(settings, {
    instructions,
    ...(options.connOptions ? { connOptions: options.connOptions } : {}),
  });
  const { turnHandling, ...turnParts } =
    settings.turnDetection === 'livekit'
      ? await livekitTurnDetection(settings, options.vad)
      : { turnHandling: { turnDetection: 'realtime_llm' as const } };
  const session = new CallAgentSession({
    llm: model,
    ...turnParts,
    turnHandling: {
      ...turnHandling,
      ...(options.outputCanPause === false
        ? { interruption: { resumeFalseInterruption: false } }
        : {}),
    },
    ...(options.echoFree ? { aecWarmupDuration: null } : {}),
  });
  const agent = new CallAgent({
    instructions,
    tools: options.tools ?? builtinTools(),
  });
  model.presetTools(new llm.ToolContext([...session.toolCtx.tools, ...agent.toolCtx.tools]));
  const usage = new CallUsage(session);
  const video = new VideoInput({ settings, model, session });
  if (options.announce !== false) {
    log().info({ settings: describeSettings(settings) }, 'call session created');
  }

  const greet = async () => {
    const greeting = settings.call.greeting.trim();
    if (!greeting) return;
    const handle = session.generateReply({ instructions: greeting });
    await handle.waitForPlayout();
  };
  return { settings, agent, session, model, usage, video, greet };
}

/**
 * Settings -> Agent + AgentSession around the guarded Gemini realtime model. The one place the
 * worker (src/agent.ts) and the offline console (src/console.ts) share, so both run the same call.
 */
import { type APIConnectOptions, type VAD, llm, log, voice } from '@livekit/agents';
import { drainUnusedRecognitionInput } from './audio/recognition_drain.ts';
import { withContext } from './config/contexts.ts';
import { type Settings, describeSettings } from './config/settings.ts';
import type { GeminiRealtimeModel } from './gemini/model.ts';
import { createRealtimeModel } from './gemini/model_options.ts';
import { builtinTools } from './tools.ts';
import { SttTap } from './turn_detection/stt_tap.ts';
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
  model: GeminiRealtimeModel;
  usage: CallUsage;
  /**
   * The user's camera / screen share to Gemini (off when the model or settings say so): the worker
   * attaches the room, the console a --camera file.
   */
  video: VideoInput;
  /** Play the greeting, if the settings have one; resolves once it has played out. */
  greet(): Promise<void>;
}

/**
 * The pieces `TURN_DETECTION=livekit` adds, as the LiveKit docs pair them with Gemini. Loaded only
 * here: Silero brings onnxruntime's native library (~7 MB in every job process) and the STT
 * plugins, which calls with Gemini's turn detection never use.
 */
async function livekitTurnDetection(settings: Settings, vad?: VAD) {
  const [silero, { createStt }, { endOfTurnModel }] = await Promise.all([
    import('@livekit/agents-plugin-silero'),
    import('./turn_detection/stt.ts'),
    import('./turn_detection/end_of_turn.ts'),
  ]);
  return {
    vad: vad ?? (await silero.VAD.load()),
    stt: createStt(settings),
    turnHandling: { turnDetection: await endOfTurnModel() },
  };
}

/**
 * The call's agent: once its activity starts, no microphone audio piles up unread; with
 * TURN_DETECTION=livekit it hands the STT's transcripts to the Gemini session (`sttTap`).
 */
class CallAgent extends voice.Agent {
  readonly #sttTap?: SttTap;

  constructor(options: voice.AgentOptions<unknown> & { sttTap?: SttTap }) {
    const { sttTap, ...agentOptions } = options;
    super(agentOptions);
    this.#sttTap = sttTap;
  }

  override async onEnter(): Promise<void> {
    drainUnusedRecognitionInput(this);
    await super.onEnter();
  }

  override async sttNode(
    ...args: Parameters<voice.Agent['sttNode']>
  ): ReturnType<voice.Agent['sttNode']> {
    const events = await super.sttNode(...args);
    return events && this.#sttTap ? this.#sttTap.tap(events) : events;
  }

  override async onUserTurnCompleted(
    ...args: Parameters<voice.Agent['onUserTurnCompleted']>
  ): Promise<void> {
    this.#sttTap?.turnEnded(args[1].textContent ?? '');
    await super.onUserTurnCompleted(...args);
  }
}

export async function createCallSession(options: CallSessionOptions): Promise<CallSession> {
  // Without given instructions, the context also supplies the greeting (its opening text).
  const { settings, instructions } =
    options.instructions === undefined
      ? withContext(options.settings)
      : { settings: options.settings, instructions: options.instructions };
  const model = createRealtimeModel(settings, {
    instructions,
    ...(options.connOptions ? { connOptions: options.connOptions } : {}),
  });
  const { turnHandling, ...turnParts } =
    settings.turnDetection === 'livekit'
      ? await livekitTurnDetection(settings, options.vad)
      : { turnHandling: { turnDetection: 'realtime_llm' as const } };
  const session = new voice.AgentSession({
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
    ...(settings.turnDetection === 'livekit' ? { sttTap: new SttTap(model) } : {}),
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

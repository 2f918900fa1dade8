/**
 * Worker entry: `npm run dev` / `npm start`, `lk agent dev src/agent.ts`, or the Docker image.
 *
 * The main process checks the environment once and refuses to start with one line per missing or
 * invalid setting. Each job then applies its dispatch metadata; a bad dispatch ends that job only.
 */
import './load_env.ts';
import { fileURLToPath } from 'node:url';
import {
  type JobContext,
  type JobProcess,
  ServerOptions,
  type VAD,
  cli,
  defineAgent,
  log,
} from '@livekit/agents';
import { RoomEvent } from '@livekit/rtc-node';
import { ConfigError } from './config/errors.ts';
import { type Env, type Settings, loadSettings } from './config/settings.ts';
import {
  type CallAvatar,
  type CallPlace,
  callAvatarFor,
  checkAvatar,
} from './avatar/from_settings.ts';
import { CallTimeLimit, MAX_DURATION_REACHED } from './call_deadline.ts';
import { settingsForDispatch } from './dispatch_settings.ts';
import { prewarmWorker } from './prewarm.ts';
import { isMainModule } from './cli_io.ts';
import { createCallSession } from './session.ts';
import { registerEndOfTurnPlugin } from './turn_detection/end_of_turn.ts';
import { unreachableLiveKit, useLocalLiveKit } from './worker_startup.ts';
import { type LoadOptions, workerLoadOptions } from './worker_load.ts';

/** Settings for one job, or undefined (logged) when its dispatch cannot run. */
export function settingsForJob(
  ctx: JobContext,
  env: Env = process.env,
): { settings: Settings; instructions: string } | undefined {
  try {
    const { settings, instructions } = settingsForDispatch(loadSettings(env), ctx.job.metadata);
    if (settings.droppedDefaults?.length) {
      log().warn(
        { jobId: ctx.job.id, dropped: settings.droppedDefaults, model: settings.capabilities.id },
        'worker defaults the dispatched model cannot take were left out',
      );
    }
    return { settings, instructions };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log().error(
      { jobId: ctx.job.id, room: ctx.job.room?.name },
      `dispatch refused: ${error.message}`,
    );
    return undefined;
  }
}

/** What a job builds its call with; tests pass stand-ins. */
export interface JobDeps {
  /** The worker's environment (default: process.env). */
  env?: Env;
  createCallSession: typeof createCallSession;
  /** The call's avatar source (ours or LiveAvatar's), or undefined when the avatar is off. */
  avatarPublisherFor: (settings: Settings, place: CallPlace) => CallAvatar | undefined;
}

const JOB_DEPS: JobDeps = { createCallSession, avatarPublisherFor: callAvatarFor };

/** One job: a bad dispatch ends this job only, with one log line; a good one runs the call. */
export async function runJob(ctx: JobContext, deps: JobDeps = JOB_DEPS): Promise<void> {
  const job = settingsForJob(ctx, deps.env);
  if (!job) {
    ctx.shutdown('dispatch refused: invalid metadata');
    return;
  }
  const avatar = deps.avatarPublisherFor(job.settings, {
    roomName: ctx.job.room?.name ?? ctx.room.name ?? '',
    // The identity the worker accepted the job as (the framework's default: agent-<job id>).
    agentIdentity: ctx.info?.acceptArguments?.identity || `agent-${ctx.job.id}`,
  });
  const call = await deps.createCallSession({
    ...job,
    ...(ctx.proc.userData.vad ? { vad: ctx.proc.userData.vad as VAD } : {}),
    ...(avatar ? { outputCanPause: false } : {}),
  });
  // The call's time limit counts from here: the avatar and the session start next.
  const limit = callTimeLimit(ctx, call);
  const followRoom = (metadata: string) => limit.followRoomMetadata(metadata);
  ctx.room.on(RoomEvent.RoomMetadataChanged, followRoom);
  ctx.addShutdownCallback(async () => {
    limit.stop();
    ctx.room.off(RoomEvent.RoomMetadataChanged, followRoom);
    try {
      call.usage.logSummary({ jobId: ctx.job.id, room: ctx.room.name, model: call.model.model });
    } finally {
      await call.video.close();
      await avatar?.close(limit.expired ? MAX_DURATION_REACHED : undefined);
    }
  });
  // Like LiveKit's avatar plugins: attach before session.start(), which then keeps our sink.
  await avatar?.start(call.session, ctx.room);
  await call.session.start({ agent: call.agent, room: ctx.room });
  await ctx.connect();
  // The room as joined: its metadata may have changed since the job was assigned.
  limit.followRoomMetadata(ctx.room.metadata);
  // Gemini sees the user RoomIO linked (their camera, or their screen share while they share).
  call.video.attachRoom(ctx.room, () => call.session._roomIO?.linkedParticipant?.identity);
  await call.greet();
}

/**
 * LiveAvatar's max_session_duration: the dispatch's, and in a room the session API made, the
 * session's end from the room's metadata (a keep-alive moves it). The call ends on time, with
 * the reason in the log.
 */
function callTimeLimit(
  ctx: JobContext,
  call: Awaited<ReturnType<typeof createCallSession>>,
): CallTimeLimit {
  const seconds = call.settings.call.maxSessionDurationSeconds;
  const limit: CallTimeLimit = new CallTimeLimit({
    ...(seconds !== undefined ? { maxSessionDurationSeconds: seconds } : {}),
    onExpired: (reason) => {
      log().info(
        {
          jobId: ctx.job.id,
          room: ctx.room.name,
          reason,
          maxSessionDurationSeconds: seconds,
          endsAt: new Date(limit.endsAt!).toISOString(),
        },
        'call ended: max_session_duration reached',
      );
      call.session.shutdown({ drain: false, reason });
      ctx.shutdown(reason);
    },
  });
  // The room's metadata as the job was assigned (the session API writes it before dispatching).
  limit.followRoomMetadata(ctx.job.room?.metadata);
  return limit;
}

export default defineAgent({
  // Job processes are used once: work done here is work the caller does not wait for.
  prewarm: async (proc: JobProcess) => {
    await prewarmWorker(proc);
  },
  entry: (ctx: JobContext) => runJob(ctx),
});

const WORKER_COMMANDS = new Set(['dev', 'start', 'connect']);
/**
 * Commands that give up at once, with one line, when no LiveKit server answers. `start` keeps the
 * framework's retries: in production the server may come up after the worker.
 */
const PROBED_COMMANDS = new Set(['dev', 'connect']);

/**
 * How long a job process has to acknowledge a shutdown request and exit (the framework's default
 * is 60 s). In @livekit/agents 1.9.0 a job process that is still loading when the worker closes
 * it reads the initialize and shutdown requests together and drops the second
 * (job_proc_lazy_main: `once(process, 'message')`, its handler only added after prewarm), so the
 * worker waits this long, then kills the idle process. A SIGTERM shortly after start, or just
 * after a call ended (a new idle process warming up), hit it: 60 s to exit, past Kubernetes' 30 s
 * grace period. Calls are not cut short by it: `start` drains running calls before closing, and
 * a closing call's own teardown (room disconnect, usage line, avatar) takes well under a second.
 */
const JOB_PROCESS_CLOSE_TIMEOUT_MS = 10_000;

/** Check the environment before the worker registers; exit 1 with what is missing. */
function checkedWorkerSettings(): Settings | undefined {
  try {
    const settings = loadSettings();
    checkAvatar(settings);
    return settings;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines = error.problems.map((p) => `  - ${p}`).join('\n');
    process.stderr.write(
      `Cannot start the worker; fix these settings (.env.local or the environment):\n${lines}\n`,
    );
    process.exit(1);
  }
}

/**
 * The framework ends a drained SIGTERM shutdown with exit code 143 (and a failed one with 1).
 * A drained shutdown is a success for a deployment (issue: "the process exits 0"), so report 0.
 */
function exitZeroAfterGracefulSigterm(): void {
  let terminating = false;
  process.once('SIGTERM', () => {
    terminating = true;
  });
  process.on('exit', (code) => {
    if (terminating && code === 143) process.exitCode = 0;
  });
}

if (isMainModule(import.meta.url)) {
  exitZeroAfterGracefulSigterm();
  const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
  // `dev --help` shows the framework's help, whatever the settings.
  const help = process.argv.some((arg) => arg === '--help' || arg === '-h');
  let agentName: string | undefined;
  let load: Partial<LoadOptions> = {};
  if (command && WORKER_COMMANDS.has(command) && !help) {
    const settings = checkedWorkerSettings()!;
    if (settings.livekit.usingLocalDefaults && command === 'start') {
      // Production never guesses a server: in a container, localhost is the container itself.
      process.stderr.write(
        'Cannot start the worker: LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are required for `start` (use `dev` for a local livekit-server)\n',
      );
      process.exit(1);
    }
    // No LIVEKIT_URL, or a localhost one without keys: `livekit-server --config livekit.yaml`.
    const local = useLocalLiveKit(settings);
    if (local) process.stderr.write(`${local}\n`);
    // `--url` on the command line picks another server; the framework then reports on it.
    if (PROBED_COMMANDS.has(command) && !process.argv.some((arg) => arg.startsWith('--url'))) {
      const problem = await unreachableLiveKit(settings.livekit.url);
      if (problem) {
        process.stderr.write(`${problem}\n`);
        process.exit(1);
      }
    }
    agentName = settings.agentName;
    // Full when its calls fill the machine (src/worker_load.ts); `dev` keeps no idle processes.
    const {
      maxCalls: _maxCalls,
      numIdleProcesses,
      ...sized
    } = workerLoadOptions(settings.maxCalls === undefined ? {} : { maxCalls: settings.maxCalls });
    load = command === 'start' ? { ...sized, numIdleProcesses } : sized;
    // Before the worker starts its inference process, which loads every model registered by then.
    if (settings.turnDetection === 'livekit') await registerEndOfTurnPlugin();
    // Automatic dispatch: make sure the framework does not pick a name up from the environment.
    if (!agentName) delete process.env.LIVEKIT_AGENT_NAME;
  }
  cli.runApp(
    new ServerOptions({
      agent: fileURLToPath(import.meta.url),
      ...(agentName ? { agentName } : {}),
      ...load,
      shutdownProcessTimeout: JOB_PROCESS_CLOSE_TIMEOUT_MS,
    }),
  );
}

/**
 * Worker entry: `npm run dev` / `npm start`, `lk agent dev src/agent.ts`, or the Docker image.
 *
 * The main process checks the environment once and refuses to start with one line per missing or
 * invalid setting. Each job then applies its dispatch metadata; a bad dispatch ends that job only.
 */
import './load_env.ts';
import { realpathSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type JobContext,
  type JobProcess,
  ServerOptions,
  type VAD,
  cli,
  defineAgent,
  log,
} from '@livekit/agents';
import * as silero from '@livekit/agents-plugin-silero';
import { resolveInstructions } from './config/contexts.ts';
import { applyDispatchMetadata } from './config/dispatch.ts';
import { ConfigError } from './config/errors.ts';
import { type Settings, loadSettings } from './config/settings.ts';
import { createCallSession } from './session.ts';

/** Settings for one job, or undefined (logged) when its dispatch cannot run. */
function settingsForJob(ctx: JobContext): { settings: Settings; instructions: string } | undefined {
  try {
    const settings = applyDispatchMetadata(loadSettings(), ctx.job.metadata);
    return { settings, instructions: resolveInstructions(settings) };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    log().error(
      { jobId: ctx.job.id, room: ctx.job.room?.name },
      `dispatch refused: ${error.message}`,
    );
    return undefined;
  }
}

export default defineAgent({
  prewarm: async (proc: JobProcess) => {
    // Only the LiveKit turn-detection mode needs a local VAD; load it once per process.
    if (process.env.TURN_DETECTION?.trim().toLowerCase() === 'livekit') {
      proc.userData.vad = await silero.VAD.load();
    }
  },
  entry: async (ctx: JobContext) => {
    const job = settingsForJob(ctx);
    if (!job) {
      ctx.shutdown('dispatch refused: invalid metadata');
      return;
    }
    const call = await createCallSession({
      ...job,
      ...(ctx.proc.userData.vad ? { vad: ctx.proc.userData.vad as VAD } : {}),
    });
    ctx.addShutdownCallback(async () => {
      call.usage.logSummary({ jobId: ctx.job.id, room: ctx.room.name, model: call.model.model });
    });
    await call.session.start({ agent: call.agent, room: ctx.room });
    await ctx.connect();
    await call.greet();
  },
});

const WORKER_COMMANDS = new Set(['dev', 'start', 'connect']);

function isMainModule(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

/** Check the environment before the worker registers; exit 1 with what is missing. */
function checkedWorkerSettings(): Settings | undefined {
  try {
    return loadSettings();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines = error.problems.map((p) => `  - ${p}`).join('\n');
    process.stderr.write(
      `Cannot start the worker; fix these settings (.env.local or the environment):\n${lines}\n`,
    );
    process.exit(1);
  }
}

if (isMainModule()) {
  const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
  let agentName: string | undefined;
  if (command && WORKER_COMMANDS.has(command)) {
    const settings = checkedWorkerSettings()!;
    if (settings.livekit.usingLocalDefaults && command === 'start') {
      // Production never guesses a server: in a container, localhost is the container itself.
      process.stderr.write(
        'Cannot start the worker: LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are required for `start` (use `dev` for a local livekit-server)\n',
      );
      process.exit(1);
    }
    if (settings.livekit.usingLocalDefaults) {
      // No LIVEKIT_URL: talk to `livekit-server --config livekit.yaml` on this machine.
      process.env.LIVEKIT_URL = settings.livekit.url;
      process.env.LIVEKIT_API_KEY = settings.livekit.apiKey.reveal();
      process.env.LIVEKIT_API_SECRET = settings.livekit.apiSecret.reveal();
      process.stderr.write(
        `LIVEKIT_URL not set: using the local livekit-server at ${settings.livekit.url} (livekit.yaml)\n`,
      );
    }
    agentName = settings.agentName;
    // Automatic dispatch: make sure the framework does not pick a name up from the environment.
    if (!agentName) delete process.env.LIVEKIT_AGENT_NAME;
  }
  cli.runApp(
    new ServerOptions({
      agent: fileURLToPath(import.meta.url),
      ...(agentName ? { agentName } : {}),
    }),
  );
}

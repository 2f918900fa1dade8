/**
 * One job process of the capacity bench, forked by bench/capacity/capacity.ts the way the
 * framework forks a job process (child_process.fork, the parent's exec arguments, so `--import
 * tsx` when the worker runs through tsx), and living as one does:
 *
 * 1. it imports the worker's agent module (src/agent.ts, or with `--runtime js` the JavaScript
 *    compiled from it, as the Docker image runs it), as @livekit/agents' job_proc_lazy_main does,
 *    and runs its `prewarm` with a JobProcess: the idle process the worker keeps ready;
 * 2. on `start`, it runs one call, built by the worker's own code (createCallSession, our Gemini
 *    session over the real SDK, AgentSession, the avatar publisher from the settings) with room
 *    stand-ins: the user speaks into a real-time microphone, a 1280x720 camera track runs at 30
 *    fps and the worker's track reader (src/video/track_frames.ts) reads it as in a room, each
 *    frame it reads a fresh I420 copy as rtc-node's VideoStream hands them over (camera_track.ts),
 *    and the avatar's tracks are published into a TrackCatcher (no WebRTC: see webrtc_cost.ts);
 * 3. it reports what the call cost and how it went, and exits.
 *
 * The parent talks to it over the fork's IPC channel (ChildMessage / ParentMessage).
 */
import { JobProcess, initializeLogger } from '@livekit/agents';
import { type ChildMessage, type ParentMessage, memoryFigures } from './reports.ts';

/** The worker's agent module: its TypeScript source, or its JavaScript when this file was compiled. */
const AGENT_MODULE = new URL(
  import.meta.url.endsWith('.js') ? '../../src/agent.js' : '../../src/agent.ts',
  import.meta.url,
).href;
function cpuMsSince(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) =>
    process.send!(message, (error: Error | null) => (error ? reject(error) : resolve())),
  );
}

async function main(): Promise<void> {
  initializeLogger({ pretty: false, level: process.env.LOG_LEVEL ?? 'error' });
  const importStart = process.cpuUsage();
  const agent = (await import(AGENT_MODULE)).default as {
    prewarm?: (proc: JobProcess) => Promise<unknown>;
  };
  const importCpuMs = cpuMsSince(importStart);
  const prewarmStart = process.cpuUsage();
  await agent.prewarm?.(new JobProcess());
  const prewarmCpuMs = cpuMsSince(prewarmStart);
  const started = new Promise<ParentMessage>((resolve) => process.once('message', resolve));
  await send({ type: 'ready', importCpuMs, prewarmCpuMs, idle: memoryFigures() });
  const { durationMs } = await started;
  const { runCall } = await import('./call_run.ts');
  await send(await runCall(durationMs));
}

if (!process.send) throw new Error('bench/capacity/job_process.ts runs as a forked child');
main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);

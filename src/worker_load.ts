/**
 * The load the worker reports to LiveKit, sized from what one call costs (measured with
 * `npm run bench -- --suite capacity`, docs/capacity.md). LiveKit offers a job only to workers that
 * are not full, so when this one is full the next call goes to another worker.
 *
 * The framework's default reports the machine's CPU share and calls itself full at 0.7. Each call
 * here runs in its own job process with a steady cost (the avatar renders 30 frames a second
 * whether the agent speaks or not), so the number of calls is the truthful measure; the load is
 * the larger of two shares, and the worker is full at 1 (LOAD_THRESHOLD):
 * - calls: running calls over the calls this machine carries (its CPUs and memory divided by the
 *   measured per-call cost, or WORKER_MAX_CALLS);
 * - CPU: the machine's CPU share over CPU_FULL, so calls heavier than the measured ones (a larger
 *   avatar, more frames per second) or other work on the machine make it full too.
 *
 * On LiveKit Cloud's agent deployment the framework replaces a custom load function and threshold
 * with its defaults (CPU share, 0.7): there Cloud scales the agent, and these options do not apply.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { AgentServer, ServerOptions } from '@livekit/agents';

/**
 * CPU one call takes, ms per second of call (one core is 1000): the call's job process measured
 * as the Docker image runs it, compiled JavaScript (avatar 512x512 at 30 fps, video input from a
 * 720p camera, speech both ways), plus the WebRTC work estimated apart (encoding the avatar's
 * frames that go to the track, with its simulcast layers; decoding the user's camera). Under tsx
 * (`npm start`) a call takes ~25 ms/s more: the CPU share (CPU_FULL) still bounds it.
 */
export const CALL_CPU_MS_PER_S = 115 + 195;
/**
 * A job process's RSS during a call, MB (its peak through a call, compiled JavaScript; ~75 MB more
 * under tsx).
 */
export const CALL_RSS_MB = 220;
/** A prewarmed job process waiting for a job, MB (compiled JavaScript). */
export const IDLE_PROCESS_RSS_MB = 170;
/** The worker's main process and the system, MB, kept out of what calls may use. */
export const WORKER_RESERVE_MB = 512;
/** Calls may use this share of the CPUs: the rest absorbs bursts (a prewarm, a GC, a reconnect). */
export const CPU_BUDGET = 0.8;
/** The machine's CPU share at which the worker is full whatever the number of calls. */
export const CPU_FULL = 0.9;
/** The worker is full when its load reaches this. */
export const LOAD_THRESHOLD = 1;
/** Warn about a job process above this RSS (about 1.8 x a call's, 1.4 x under tsx), MB. */
export const JOB_MEMORY_WARN_MB = 400;
/**
 * Kill a job process above this RSS, MB: a call that has grown to over three times its size
 * (almost three times under tsx) is leaking and would take the memory of the calls beside it.
 */
export const JOB_MEMORY_LIMIT_MB = 800;

/** What the worker's machine (or container) offers. */
export interface Machine {
  /** CPUs, fractional under a container's CPU quota. */
  cpus: number;
  memoryMb: number;
}

/** This machine: a cgroup's CPU quota and memory limit when it has them, else the host's. */
export function thisMachine(): Machine {
  return {
    cpus: cgroupCpus() ?? os.availableParallelism(),
    memoryMb: Math.min(cgroupMemoryMb() ?? Infinity, os.totalmem() / 2 ** 20),
  };
}

function cgroupCpus(): number | undefined {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (quota === 'max') return undefined;
    const cpus = Number(quota) / Number(period);
    return cpus > 0 ? cpus : undefined;
  } catch {
    return undefined;
  }
}

function cgroupMemoryMb(): number | undefined {
  try {
    const limit = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    return limit === 'max' ? undefined : Number(limit) / 2 ** 20;
  } catch {
    return undefined;
  }
}

/** Prewarmed job processes to keep: enough for a burst of dispatches, at most 4 (each holds RSS). */
export function idleProcessesFor(maxCalls: number): number {
  return Math.min(4, Math.max(1, Math.ceil(maxCalls / 4)));
}

/**
 * How many calls a machine carries: its CPU budget and its memory (after the worker's own and the
 * idle job processes') divided by a call's cost; at least 1.
 */
export function callsPerMachine(machine: Machine): number {
  const byCpu = Math.floor((machine.cpus * 1000 * CPU_BUDGET) / CALL_CPU_MS_PER_S);
  const idle = idleProcessesFor(byCpu) * IDLE_PROCESS_RSS_MB;
  const byMemory = Math.floor((machine.memoryMb - WORKER_RESERVE_MB - idle) / CALL_RSS_MB);
  return Math.max(1, Math.min(byCpu, byMemory));
}

/** The load to report: the larger of the calls' share and the CPU's share, 0 to 1. */
export function workerLoad(activeCalls: number, cpuShare: number, maxCalls: number): number {
  const load = Math.max(activeCalls / maxCalls, cpuShare / CPU_FULL);
  return Math.min(1, Math.max(0, load));
}

/**
 * The machine's CPU share (0 to 1) since the previous reading: a cgroup's usage against its quota
 * in a container, else all CPUs' busy time. The first reading is since the machine started.
 */
export class CpuShare {
  #last = this.#read();

  share(): number {
    const now = this.#read();
    const busy = now.busy - this.#last.busy;
    const total = now.total - this.#last.total;
    this.#last = now;
    return total > 0 ? Math.min(1, Math.max(0, busy / total)) : 0;
  }

  #read(): { busy: number; total: number } {
    const cgroup = this.#cgroup();
    if (cgroup) return cgroup;
    let busy = 0;
    let total = 0;
    for (const { times } of os.cpus()) {
      const all = times.user + times.nice + times.sys + times.irq + times.idle;
      busy += all - times.idle;
      total += all;
    }
    return { busy, total };
  }

  /** cgroup v2: CPU µs used, and µs of CPU the quota allowed since the epoch. */
  #cgroup(): { busy: number; total: number } | undefined {
    const cpus = cgroupCpus();
    if (cpus === undefined) return undefined;
    try {
      const stat = readFileSync('/sys/fs/cgroup/cpu.stat', 'utf8');
      const used = Number(/^usage_usec (\d+)/m.exec(stat)?.[1]);
      if (!Number.isFinite(used)) return undefined;
      const wallUs = (performance.timeOrigin + performance.now()) * 1000;
      return { busy: used, total: wallUs * cpus };
    } catch {
      return undefined;
    }
  }
}

/** The ServerOptions fields that size the worker. */
export type LoadOptions = Pick<
  ServerOptions,
  'loadFunc' | 'loadThreshold' | 'numIdleProcesses' | 'jobMemoryWarnMB' | 'jobMemoryLimitMB'
>;

export interface WorkerLoadOptions {
  /** WORKER_MAX_CALLS; default: callsPerMachine(machine). */
  maxCalls?: number;
  machine?: Machine;
  /** The machine's CPU share since the last call (default: a CpuShare). */
  cpuShare?: () => number;
}

/** The worker's load function, threshold, idle processes and job memory bounds. */
export function workerLoadOptions(options: WorkerLoadOptions = {}): LoadOptions & {
  maxCalls: number;
} {
  const maxCalls = options.maxCalls ?? callsPerMachine(options.machine ?? thisMachine());
  const cpu =
    options.cpuShare ??
    (
      (reader) => () =>
        reader.share()
    )(new CpuShare());
  return {
    maxCalls,
    loadFunc: async (worker: AgentServer) => workerLoad(worker.activeJobs.length, cpu(), maxCalls),
    loadThreshold: LOAD_THRESHOLD,
    numIdleProcesses: idleProcessesFor(maxCalls),
    jobMemoryWarnMB: JOB_MEMORY_WARN_MB,
    jobMemoryLimitMB: JOB_MEMORY_LIMIT_MB,
  };
}

/**
 * What a capacity-bench job process (job_process.ts, call_run.ts) reports to the bench over IPC.
 */
import { readFileSync, readdirSync } from 'node:fs';

const MB = 1024 * 1024;
/** Linux's clock ticks per second for /proc times (USER_HZ, 100 on every mainstream kernel). */
const TICKS_PER_S = 100;
/** How long the user speaks per turn, ms; the fake's reply length is the parent's. */
export const USER_SPEECH_MS = 1500;

export interface MemoryFigures {
  rssMb: number;
  /**
   * The process's proportional share (PSS) and its private pages, MB (Linux; NaN elsewhere). RSS
   * counts in full the pages of node and the native modules that every job process maps from the
   * same files; a machine's memory holds them once, so the private pages are what one more call
   * costs it.
   */
  pssMb: number;
  privateMb: number;
  heapUsedMb: number;
  externalMb: number;
}

export interface ReadyReport {
  type: 'ready';
  /** CPU time (user + system) to import the agent module, and to run its prewarm, ms. */
  importCpuMs: number;
  prewarmCpuMs: number;
  /** The idle job process, prewarmed and waiting for a job. */
  idle: MemoryFigures;
}

export interface CallReport {
  type: 'result';
  /** Wall time of the call, ms, and CPU time (user + system, every thread) it took. */
  callMs: number;
  cpuMs: number;
  /** At the end of the call (no forced GC: what the framework's memory monitor sees). */
  end: MemoryFigures;
  /** RSS once a second through the call, MB. */
  rssMb: number[];
  turns: number;
  unanswered: number;
  frames: number;
  /** Frames that went to the video track (unchanged pictures only at the publisher's floor rate). */
  capturedFrames: number;
  /** Frames whose slot had passed before they could render (the frame clock skipped them). */
  skipped: number;
  /** Rendered more than half a frame interval after they were due. */
  lateHalf: number;
  /** Every frame's delay after its due time, ms. */
  frameDelaysMs: number[];
  dryChunks: number;
  /** Per frame shown while audio played: |audio position shown - audio leaving|, ms. */
  avOffsetsMs: number[];
  /**
   * Per reply, each audio frame reaching the call's output: [wall-clock ms, samples, ms of audio
   * queued in the source then].
   */
  replies: [number, number, number][][];
  /** CPU ms of the call by thread name (Linux /proc; empty elsewhere): where the time goes. */
  threadsCpuMs: Record<string, number>;
  /** Video input: camera frames produced, read out of the track, and JPEGs sent to Gemini. */
  cameraFrames: number;
  cameraFramesRead: number;
  jpegsSent: number;
}

export type ChildMessage = ReadyReport | CallReport;
export type ParentMessage = { type: 'start'; durationMs: number };

/** Wall-clock ms with sub-ms resolution, comparable across processes on one machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export function memoryFigures(): MemoryFigures {
  const m = process.memoryUsage();
  const shares = smapsRollupKb();
  return {
    rssMb: m.rss / MB,
    pssMb: (shares.Pss ?? NaN) / 1024,
    privateMb: ((shares.Private_Clean ?? NaN) + (shares.Private_Dirty ?? NaN)) / 1024,
    heapUsedMb: m.heapUsed / MB,
    externalMb: m.external / MB,
  };
}

/** /proc/self/smaps_rollup's kB figures by name; empty where there is none. */
function smapsRollupKb(): Record<string, number> {
  try {
    const lines = readFileSync('/proc/self/smaps_rollup', 'utf8').split('\n').slice(1);
    return Object.fromEntries(
      lines
        .filter((l) => l.includes(':'))
        .map((l) => [l.split(':')[0]!, parseInt(l.split(':')[1]!)]),
    );
  } catch {
    return {};
  }
}

/**
 * CPU ms used so far by each thread of this process, summed by thread name (V8's, libuv's pool,
 * the LiveKit FFI's native threads...); empty where /proc is not there.
 */
export function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
      const ticks = Number(fields[11]) + Number(fields[12]);
      const key = name.replace(/[0-9]+$/, '#');
      out.set(key, (out.get(key) ?? 0) + (ticks * 1000) / TICKS_PER_S);
    }
  } catch {
    // Not Linux: no breakdown.
  }
  return out;
}

/** Per thread name, the CPU ms used between two threadCpuMs() readings. */
export function threadCpuSince(before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, ms] of threadCpuMs()) {
    const used = ms - (before.get(name) ?? 0);
    if (used > 0) out[name] = used;
  }
  return out;
}

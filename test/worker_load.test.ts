import { describe, expect, it } from 'vitest';
import { type AgentServer, ServerOptions } from '@livekit/agents';
import {
  CALL_CPU_MS_PER_S,
  CPU_BUDGET,
  JOB_MEMORY_LIMIT_MB,
  JOB_MEMORY_WARN_MB,
  LOAD_THRESHOLD,
  callsPerMachine,
  idleProcessesFor,
  workerLoad,
  workerLoadOptions,
} from '../src/worker_load.ts';
import { loadSettings } from '../src/config/settings.ts';

/** A worker with `calls` running jobs, as the load function sees it. */
const workerWith = (calls: number) =>
  ({ activeJobs: Array.from({ length: calls }, () => ({})) }) as unknown as AgentServer;

describe('calls per machine, from the measured per-call cost', () => {
  it.each([
    { cpus: 2, memoryMb: 24_576 },
    { cpus: 4, memoryMb: 8_192 },
    { cpus: 16, memoryMb: 65_536 },
  ])('a $cpus-CPU machine with $memoryMb MB takes what its CPU budget allows', (machine) => {
    const calls = callsPerMachine(machine);
    expect(calls).toBe(Math.floor((machine.cpus * 1000 * CPU_BUDGET) / CALL_CPU_MS_PER_S));
    // Those calls fit in the CPU budget, and one more would not.
    expect(calls * CALL_CPU_MS_PER_S).toBeLessThanOrEqual(machine.cpus * 1000 * CPU_BUDGET);
    expect((calls + 1) * CALL_CPU_MS_PER_S).toBeGreaterThan(machine.cpus * 1000 * CPU_BUDGET);
  });

  it('memory limits a machine with many CPUs and little memory', () => {
    const cpuBound = callsPerMachine({ cpus: 32, memoryMb: 1_000_000 });
    const small = callsPerMachine({ cpus: 32, memoryMb: 4_096 });
    expect(small).toBeLessThan(cpuBound);
    expect(small).toBeGreaterThanOrEqual(1);
  });

  it('a machine too small for one call still takes one (it reports full with it)', () => {
    expect(callsPerMachine({ cpus: 0.25, memoryMb: 512 })).toBe(1);
  });

  it('keeps a few prewarmed processes, never more than 4', () => {
    expect(idleProcessesFor(1)).toBe(1);
    expect(idleProcessesFor(5)).toBe(2);
    expect(idleProcessesFor(40)).toBe(4);
  });
});

describe('the load reported to LiveKit', () => {
  it('reaches the threshold exactly when the calls fill the machine', () => {
    expect(workerLoad(3, 0.2, 4)).toBeLessThan(LOAD_THRESHOLD);
    expect(workerLoad(4, 0.2, 4)).toBeGreaterThanOrEqual(LOAD_THRESHOLD);
  });

  it('is full on CPU alone when the calls cost more than measured', () => {
    expect(workerLoad(1, 0.5, 10)).toBeLessThan(LOAD_THRESHOLD);
    expect(workerLoad(1, 0.95, 10)).toBeGreaterThanOrEqual(LOAD_THRESHOLD);
  });

  it('stays between 0 and 1', () => {
    expect(workerLoad(0, 0, 4)).toBe(0);
    expect(workerLoad(9, 1, 4)).toBe(1);
  });

  it('the load function counts the running jobs and reads the CPU each time', async () => {
    let cpu = 0.1;
    const options = workerLoadOptions({ maxCalls: 5, cpuShare: () => cpu });
    expect(await options.loadFunc(workerWith(2))).toBeCloseTo(0.4);
    expect(await options.loadFunc(workerWith(5))).toBeGreaterThanOrEqual(options.loadThreshold);
    cpu = 0.99;
    expect(await options.loadFunc(workerWith(0))).toBeGreaterThanOrEqual(options.loadThreshold);
  });

  it('the framework takes the options as given', () => {
    const options = workerLoadOptions({ machine: { cpus: 8, memoryMb: 32_768 } });
    const server = new ServerOptions({ agent: 'agent.ts', production: true, ...options });
    expect(server.loadFunc).toBe(options.loadFunc);
    expect(server.loadThreshold).toBe(LOAD_THRESHOLD);
    expect(server.numIdleProcesses).toBe(idleProcessesFor(options.maxCalls));
    expect(server.jobMemoryWarnMB).toBe(JOB_MEMORY_WARN_MB);
    expect(server.jobMemoryLimitMB).toBe(JOB_MEMORY_LIMIT_MB);
  });

  it('WORKER_MAX_CALLS sets the number of calls, and a bad value is one clear line', () => {
    const env = { GOOGLE_API_KEY: 'k' };
    expect(loadSettings({ ...env, WORKER_MAX_CALLS: '3' }).maxCalls).toBe(3);
    expect(workerLoadOptions({ maxCalls: 3 }).maxCalls).toBe(3);
    expect(() => loadSettings({ ...env, WORKER_MAX_CALLS: '0' })).toThrow(
      'WORKER_MAX_CALLS: "0" is not valid (allowed: a whole number >= 1; unset sizes it from the machine)',
    );
  });
});

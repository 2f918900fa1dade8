/**
 * max_session_duration, enforced by the worker: CallDeadline fires once at the time limit (later
 * when extended, never once stopped), and a job whose dispatch sets it ends on time with the
 * reason, its session shut down without draining, its avatar told why.
 */
import { type JobContext, initializeLogger } from '@livekit/agents';
import { beforeAll, describe, expect, it } from 'vitest';
import { type JobDeps, runJob } from '../src/agent.ts';
import { CallDeadline, MAX_DURATION_REACHED } from '../src/call_deadline.ts';
import type { CallSession } from '../src/session.ts';

beforeAll(() => initializeLogger({ pretty: false, level: 'error' }));

/** Resolves with the reason and the time when the deadline fires. */
function firing(durationMs: number): { deadline: CallDeadline; fired: Promise<number> } {
  let deadline!: CallDeadline;
  const fired = new Promise<number>((resolve) => {
    deadline = new CallDeadline({
      durationMs,
      onExpired: (reason) => {
        expect(reason).toBe(MAX_DURATION_REACHED);
        resolve(Date.now());
      },
    });
  });
  return { deadline, fired };
}

describe('CallDeadline', () => {
  it('fires once, when the time is up', async () => {
    const started = Date.now();
    const { deadline, fired } = firing(150);
    expect(deadline.remainingMs).toBeGreaterThan(100);
    const at = await fired;
    expect(at - started).toBeGreaterThanOrEqual(149);
    expect(deadline.expired).toBe(true);
    expect(deadline.remainingMs).toBe(0);
    deadline.extend(1000);
    expect(deadline.expired).toBe(true);
  });

  it('extend() moves the end later (a keep-alive)', async () => {
    const started = Date.now();
    const { deadline, fired } = firing(100);
    deadline.extend(200);
    expect(deadline.endsAt - started).toBeGreaterThanOrEqual(299);
    const at = await fired;
    expect(at - started).toBeGreaterThanOrEqual(299);
  });

  it('stop() means it never fires', async () => {
    let calls = 0;
    const deadline = new CallDeadline({ durationMs: 50, onExpired: () => void (calls += 1) });
    deadline.stop();
    // A later deadline that does fire bounds the wait: the stopped one had its chance first.
    await firing(120).fired;
    expect(calls).toBe(0);
    expect(deadline.expired).toBe(false);
  });
});

describe('a job with max_session_duration', () => {
  it('ends on time with the reason: session shut down without draining, job shut down', async () => {
    const shutdowns: string[] = [];
    const sessionShutdowns: unknown[] = [];
    const callbacks: (() => Promise<void>)[] = [];
    let ended!: () => void;
    const jobEnded = new Promise<void>((resolve) => (ended = resolve));
    const ctx = {
      job: { id: 'AJ_deadline', metadata: '{"max_session_duration":1}', room: { name: 'r' } },
      proc: { userData: {} },
      room: { name: 'r' },
      shutdown: (reason = '') => {
        shutdowns.push(reason);
        ended();
      },
      addShutdownCallback: (cb: () => Promise<void>) => void callbacks.push(cb),
      connect: async () => {},
    } as unknown as JobContext;
    const deps: JobDeps = {
      env: {
        GOOGLE_API_KEY: 'k',
        LIVEKIT_URL: 'wss://example.livekit.cloud',
        LIVEKIT_API_KEY: 'a',
        LIVEKIT_API_SECRET: 'b',
      },
      createCallSession: async (options) =>
        ({
          settings: options.settings,
          agent: {},
          session: {
            start: async () => {},
            shutdown: (o: unknown) => void sessionShutdowns.push(o),
          },
          model: { model: options.settings.call.model },
          usage: { logSummary: () => {} },
          video: { attachRoom: () => {}, close: async () => {} },
          greet: async () => {},
        }) as unknown as CallSession,
      avatarPublisherFor: () => undefined,
    };
    const started = Date.now();
    await runJob(ctx, deps);
    await jobEnded;
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(999);
    expect(took).toBeLessThan(3000);
    expect(shutdowns).toEqual([MAX_DURATION_REACHED]);
    expect(sessionShutdowns).toEqual([{ drain: false, reason: MAX_DURATION_REACHED }]);
    await Promise.all(callbacks.map((cb) => cb()));
  });
});

/**
 * max_session_duration, enforced by the worker: CallDeadline fires once at the time limit (at the
 * end endAt() set, never past the limit, never once stopped); CallTimeLimit takes the limit from
 * the dispatch and, in a room the session API made, the session's end from the room's metadata;
 * and a job ends on time with the reason, its session shut down without draining. The job runs
 * with a stand-in JobContext whose room emits RoomMetadataChanged as a LiveKit room does when the
 * session API's keep-alive rewrites the metadata.
 */
import { EventEmitter } from 'node:events';
import { type JobContext, initializeLogger } from '@livekit/agents';
import { RoomEvent } from '@livekit/rtc-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { type JobDeps, runJob } from '../src/agent.ts';
import { CallDeadline, CallTimeLimit, MAX_DURATION_REACHED } from '../src/call_deadline.ts';
import type { CallSession } from '../src/session.ts';
import { writeSessionDeadline } from '../src/sessions/room_metadata.ts';

beforeAll(() => initializeLogger({ pretty: false, level: 'error' }));

/** Resolves with the time the deadline fires (checking its reason). */
function expiry(): { onExpired: (reason: string) => void; fired: Promise<number> } {
  let onExpired!: (reason: string) => void;
  const fired = new Promise<number>((resolve) => {
    onExpired = (reason) => {
      expect(reason).toBe(MAX_DURATION_REACHED);
      resolve(Date.now());
    };
  });
  return { onExpired, fired };
}

function firing(durationMs: number): { deadline: CallDeadline; fired: Promise<number> } {
  const { onExpired, fired } = expiry();
  return { deadline: new CallDeadline({ durationMs, onExpired }), fired };
}

/** Room metadata as the session API writes it: the session ends `inMs` from now. */
function sessionRoom(inMs: number, maxSessionDurationS: number): string {
  return writeSessionDeadline({
    sessionId: 's1',
    endsAt: Date.now() + inMs,
    maxSessionDurationS,
  });
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
    deadline.endAt(Date.now() + 1000);
    expect(deadline.expired).toBe(true);
    expect(deadline.remainingMs).toBe(0);
  });

  it('endAt() moves the end earlier, then later (a keep-alive), never past the limit', async () => {
    const started = Date.now();
    const { deadline, fired } = firing(400);
    deadline.endAt(started + 100);
    expect(deadline.endsAt).toBe(started + 100);
    deadline.endAt(started + 250);
    expect(deadline.endsAt).toBe(started + 250);
    deadline.endAt(started + 60_000);
    expect(deadline.endsAt - started).toBeGreaterThanOrEqual(400);
    expect(deadline.endsAt - started).toBeLessThan(450);
    const at = await fired;
    expect(at - started).toBeGreaterThanOrEqual(399);
  });

  it('an end already past fires at once', async () => {
    const { deadline, fired } = firing(60_000);
    const asked = Date.now();
    deadline.endAt(asked - 1000);
    expect((await fired) - asked).toBeLessThan(1000);
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

describe('CallTimeLimit', () => {
  it('has no end without a dispatch limit or a session room', () => {
    const limit = new CallTimeLimit({ onExpired: () => {} });
    limit.followRoomMetadata(undefined);
    limit.followRoomMetadata('{"topic":"not a session room"}');
    expect(limit.endsAt).toBeUndefined();
    limit.stop();
  });

  it("takes the session's end from the room, capped by the shorter max_session_duration", () => {
    const started = Date.now();
    const limit = new CallTimeLimit({ maxSessionDurationSeconds: 600, onExpired: () => {} });
    limit.followRoomMetadata(sessionRoom(60_000, 1200));
    expect(limit.endsAt! - started).toBeGreaterThanOrEqual(60_000);
    expect(limit.endsAt! - started).toBeLessThan(61_000);
    // A keep-alive moves it later, up to the dispatch's 600 s however late the room says.
    limit.followRoomMetadata(sessionRoom(3_600_000, 1200));
    expect(limit.endsAt! - started).toBeGreaterThanOrEqual(600_000);
    expect(limit.endsAt! - started).toBeLessThan(601_000);
    limit.stop();
    // The room's own max_session_duration caps it too (here with no dispatch limit).
    const roomOnly = new CallTimeLimit({ onExpired: () => {} });
    roomOnly.followRoomMetadata(sessionRoom(3_600_000, 300));
    expect(roomOnly.endsAt! - started).toBeGreaterThanOrEqual(300_000);
    expect(roomOnly.endsAt! - started).toBeLessThan(301_000);
    roomOnly.stop();
  });

  it('ignores the room once stopped', () => {
    const limit = new CallTimeLimit({ onExpired: () => {} });
    limit.stop();
    limit.followRoomMetadata(sessionRoom(10, 1));
    expect(limit.endsAt).toBeUndefined();
    expect(limit.expired).toBe(false);
  });
});

interface StandInJob {
  ctx: JobContext;
  room: EventEmitter & { name: string; metadata?: string };
  deps: JobDeps;
  shutdowns: string[];
  sessionShutdowns: unknown[];
  callbacks: (() => Promise<void>)[];
  /** Resolves with the time the job asked to shut down. */
  ended: Promise<number>;
}

/** A job with `dispatchMetadata`, in a room whose metadata was `roomMetadata` when assigned. */
function standInJob(dispatchMetadata: string, roomMetadata?: string): StandInJob {
  const room = Object.assign(new EventEmitter(), { name: 'r', metadata: roomMetadata });
  let onEnded!: (at: number) => void;
  const job: StandInJob = {
    room,
    shutdowns: [],
    sessionShutdowns: [],
    callbacks: [],
    ended: new Promise<number>((resolve) => (onEnded = resolve)),
  } as unknown as StandInJob;
  job.ctx = {
    job: {
      id: 'AJ_deadline',
      metadata: dispatchMetadata,
      room: { name: 'r', ...(roomMetadata ? { metadata: roomMetadata } : {}) },
    },
    proc: { userData: {} },
    room,
    shutdown: (reason = '') => {
      job.shutdowns.push(reason);
      onEnded(Date.now());
    },
    addShutdownCallback: (cb: () => Promise<void>) => void job.callbacks.push(cb),
    connect: async () => {},
  } as unknown as JobContext;
  job.deps = {
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
          shutdown: (o: unknown) => void job.sessionShutdowns.push(o),
        },
        model: { model: options.settings.call.model },
        usage: { logSummary: () => {} },
        video: { attachRoom: () => {}, close: async () => {} },
        greet: async () => {},
      }) as unknown as CallSession,
    avatarPublisherFor: () => undefined,
  };
  return job;
}

/**
 * Run the job (`meanwhile` runs once runJob has returned) and check it ended at its limit,
 * `minMs` to `maxMs` after it started, with the reason, leaving no listener behind.
 */
async function expectEndsOnTime(
  job: StandInJob,
  minMs: number,
  maxMs: number,
  meanwhile: () => void = () => {},
): Promise<void> {
  const started = Date.now();
  await runJob(job.ctx, job.deps);
  meanwhile();
  const took = (await job.ended) - started;
  expect(took).toBeGreaterThanOrEqual(minMs);
  expect(took).toBeLessThan(maxMs);
  expect(job.shutdowns).toEqual([MAX_DURATION_REACHED]);
  expect(job.sessionShutdowns).toEqual([{ drain: false, reason: MAX_DURATION_REACHED }]);
  await Promise.all(job.callbacks.map((cb) => cb()));
  expect(job.room.listenerCount(RoomEvent.RoomMetadataChanged)).toBe(0);
}

describe('a job with a time limit', () => {
  it('ends at max_session_duration: session shut down without draining, job shut down', async () => {
    await expectEndsOnTime(standInJob('{"max_session_duration":1}'), 999, 3000);
  });

  it("in a session API room: ends at the room's end, later after a keep-alive", async () => {
    // The LiveAvatar request sets no max_session_duration; the service's 20 minutes apply.
    const job = standInJob('{"mode":"LITE"}', sessionRoom(700, 1200));
    await expectEndsOnTime(job, 1499, 3500, () => {
      // The service's keep-alive rewrites the room's metadata before the first end.
      job.room.metadata = sessionRoom(1500, 1200);
      job.room.emit(RoomEvent.RoomMetadataChanged, job.room.metadata);
    });
  });

  it('in a session API room: no keep-alive moves the end past max_session_duration', async () => {
    const job = standInJob('{"mode":"LITE"}', sessionRoom(1000, 1));
    await expectEndsOnTime(job, 999, 3000, () => {
      job.room.emit(RoomEvent.RoomMetadataChanged, sessionRoom(60_000, 1));
    });
  });

  it('reads the room as joined when the job got no session in its assignment', async () => {
    const job = standInJob('{}');
    job.room.metadata = sessionRoom(800, 1200);
    await expectEndsOnTime(job, 700, 3000);
  });
});

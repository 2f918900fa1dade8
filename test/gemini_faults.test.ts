/**
 * Gemini faults, end to end and offline: the call's session (src/session.ts) through the real
 * plugin and SDK against the fake Gemini server, which plays a scripted fault at a chosen moment
 * of the conversation. For 2.5 and 3.1, each fault must leave the call alive: the session does
 * not close, the agent is back to listening, the next user turn gets a normal reply, the
 * reconnect resumed the session with its handle, and nothing the model forbids was sent.
 *
 * FAULT_TIMES=1 prints the recovery time of each fault (fault -> next setupComplete).
 */
import { voice } from '@livekit/agents';
import { type TestContext, afterAll, describe, expect, it } from 'vitest';
import { MIC_RATE } from '../src/console/offline_call.ts';
import { DEFAULT_RECOVERY_POLICY } from '../src/gemini/recovery_policy.ts';
import type { SessionRecovery } from '../src/gemini/session_recovery.ts';
import {
  E2E_MODELS,
  type Harness,
  type HarnessOptions,
  startHarness,
  unscriptedCloses,
} from './support/call_harness.ts';
import {
  type FakeConnection,
  type FakeGeminiServer,
  type FakeReply,
  type FakeTurn,
  type FaultSpec,
  messageKind,
  tonePcm16,
} from '../tools/fake_gemini/server.ts';

/** A short voiced burst: the fake's energy VAD takes it as one spoken turn. */
const WORDS = tonePcm16(300, MIC_RATE);
const SECOND = 24_000;
const soon = (ms = 15_000) => Date.now() + ms;
/** setTimeout may fire a millisecond or two before Date.now() says the delay has passed. */
const TIMER_SLACK_MS = 5;
const recoveryTimes: string[] = [];

interface CallOptions extends HarnessOptions {
  /** What the user says in each spoken turn (the fake has no ASR); default `words N`. */
  script?: string[];
  /** Replies by user text, merged over the default `reply to <text>` (400 ms of audio). */
  replies?: Record<string, FakeReply>;
}

interface FaultCall extends Harness {
  closed: boolean;
  recovery(): SessionRecovery;
  /** Say a turn (or just wait, with `say: false`) until it is answered; returns the reply text. */
  turn(say?: boolean): Promise<string>;
  /** Wait until the agent is listening and nothing happened for a while. */
  settled(): Promise<void>;
}

/** Replies name the user turn they answer; tool results (in any form) get the time. */
function responder(replies: Record<string, FakeReply>) {
  return (turn: FakeTurn): FakeReply => {
    if (turn.source === 'tool_response' || /tool returned/.test(turn.text)) {
      return { text: 'The time is noon.', audioMs: 400 };
    }
    if (/time/.test(turn.text)) {
      return { toolCall: { name: 'get_current_time', args: { timeZone: 'UTC' } } };
    }
    return { text: `reply to ${turn.text}`, audioMs: 400, ...replies[turn.text] };
  };
}

async function startCall(
  ctx: TestContext,
  model: string,
  faults: FaultSpec[],
  options: CallOptions = {},
) {
  let spoken = 0;
  const { script = [], replies = {}, ...harness } = options;
  const h = await startHarness({
    ...harness,
    env: { GEMINI_MODEL: model, AGENT_GREETING: '', ...harness.env },
    fake: {
      paceFactor: 4,
      respond: responder(replies),
      transcribe: () => script[spoken++] ?? `words ${spoken}`,
      faults,
      ...harness.fake,
    },
  });
  return faultCall(ctx, h);
}

/** Concurrent tests: `ctx.onTestFinished`, the global one may pick another running test. */
function faultCall(ctx: TestContext, h: Harness): FaultCall {
  const call: FaultCall = {
    ...h,
    closed: false,
    recovery: () => h.call.call.model.recoveries.at(-1)!,
    turn: async (say = true) => {
      const since = h.call.events.events.length;
      if (say) await h.call.say(WORDS);
      const answered = await h.call.untilAnswered({ deadline: soon(), since, settleMs: 300 });
      expect(answered, `no answer; ${describeCall(call)}`).toBe(true);
      const replies = h.call.events.events
        .slice(since)
        .filter((e) => e.type === 'message' && e.role === 'assistant' && e.text);
      return String(replies.at(-1)?.text ?? '');
    },
    settled: async () => {
      const quiet = await h.call.untilAnswered({ deadline: soon(), replies: 0, settleMs: 300 });
      expect(quiet, `never settled; ${describeCall(call)}`).toBe(true);
    },
  };
  h.call.call.session.on(voice.AgentSessionEventTypes.Close, () => {
    call.closed = true;
  });
  ctx.onTestFinished(() => h.close());
  return call;
}

function describeCall(call: FaultCall): string {
  const { session } = call.call.call;
  const errors = call.call.events.ofType('error').map((e) => e.message);
  const stats = JSON.stringify(call.recovery()?.stats);
  return `closed=${call.closed} state=${session.agentState} errors=${JSON.stringify(errors)} recovery=${stats}; fake: ${call.fake.describe()}`;
}

/** The call goes on: not closed, no call-ending error, the agent listening. */
function expectAlive(call: FaultCall): void {
  expect(call.closed).toBe(false);
  const fatal = call.call.events.ofType('error').filter((e) => e.recoverable === false);
  expect(fatal).toEqual([]);
  expect(call.call.call.session.agentState).toBe('listening');
}

const resumedWith = (c: FakeConnection | undefined): unknown => c?.setup?.sessionResumption?.handle;

/** Client messages of a kind on one connection. */
const received = (fake: FakeGeminiServer, conn: number, kind: string) =>
  fake.received.filter((r) => r.conn === conn && messageKind(r.msg).startsWith(kind));

/** Fault (or `from`) to the first setupComplete sent after it: how long the call had no model. */
function recoveryMs(fake: FakeGeminiServer, from = fake.faults[0]?.at ?? 0): number {
  const back = fake.sent.find((e) => e.at > from && 'setupComplete' in e.msg);
  return back ? back.at - from : NaN;
}

/**
 * Two figures per fault: from the fault (or `from`) to the next setupComplete, as the fake saw
 * it; and how long the client had no socket (the recovery's downMs; a goAway defers the fault).
 */
function noteRecovery(call: FaultCall, name: string, family: string, ms: number): void {
  const down = call
    .recovery()
    .stats.reconnects.map((r) => r.downMs.toFixed(0))
    .join('+');
  recoveryTimes.push(
    `${family.padEnd(4)} ${name.padEnd(40)} ${ms.toFixed(0).padStart(5)} ms  (no socket: ${down || '-'} ms)`,
  );
}

afterAll(() => {
  if (process.env.FAULT_TIMES) console.log(`recovery times\n${recoveryTimes.join('\n')}`);
});

/** Texts of the clientContent turns a connection accepted (what was seeded into it). */
const seededTexts = (c: FakeConnection | undefined): string[] =>
  (c?.history ?? []).flatMap((t: { parts?: { text?: string }[] }) =>
    (t.parts ?? []).map((p) => p.text ?? ''),
  );

describe.concurrent.each(E2E_MODELS)(
  '$family keeps the call through',
  ({ id, family, midSession }) => {
    it('a dropped connection (1006) mid-reply', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'reply', nth: 1, afterChunks: 3, do: { type: 'close', code: 1006 } },
      ]);
      expect(await call.turn()).toBe('reply to words 1');
      await call.call.say(WORDS); // its reply is cut: what arrived plays, the call goes on
      await call.fake.waitFor((f) => f.connections[1]?.setup !== undefined, 5000, 'reconnect');
      await call.settled();
      expect(await call.turn()).toBe('reply to words 3');

      const { fake } = call;
      expectAlive(call);
      expect(fake.connections).toHaveLength(2);
      expect(resumedWith(fake.connections[1])).toBe('handle-0-1');
      expect(fake.connections[1]!.resumedFrom).toBe('handle-0-1');
      expect(call.played[1]!.samples).toBeLessThan(0.4 * SECOND);
      // The server resumed at the first turn: rows that take client content mid-session get only
      // the cut turn back; 3.1 takes none mid-session, so gets nothing.
      const seeded = seededTexts(fake.connections[1]);
      if (midSession) expect(seeded).toContain('words 2');
      else expect(seeded).toEqual([]);
      expect(seeded).not.toContain('words 1');
      expect(unscriptedCloses(fake)).toEqual([]);
      noteRecovery(call, '1006 mid-reply', family, recoveryMs(fake));
    });

    it('an internal error (1011) between turns', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: { type: 'close', code: 1011 } },
      ]);
      expect(await call.turn()).toBe('reply to words 1');
      expect(await call.turn()).toBe('reply to words 2');

      const { fake } = call;
      expectAlive(call);
      expect(fake.connections[0]!.closeCode).toBe(1011);
      expect(resumedWith(fake.connections[1])).toBe('handle-0-1');
      // Resumed: the server has the conversation, nothing is seeded again.
      expect(received(fake, 1, 'clientContent')).toEqual([]);
      expect(unscriptedCloses(fake)).toEqual([]);
      noteRecovery(call, '1011 between turns', family, recoveryMs(fake));
    });

    it('a rejected request (1007) between turns, once', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: { type: 'close', code: 1007 } },
      ]);
      await call.turn();
      expect(await call.turn()).toBe('reply to words 2');

      expectAlive(call);
      expect(resumedWith(call.fake.connections[1])).toBe('handle-0-1');
      expect(unscriptedCloses(call.fake)).toEqual([]);
      noteRecovery(call, '1007 between turns', family, recoveryMs(call.fake));
    });

    it('a policy close (1008) during a tool call', async (ctx) => {
      const call = await startCall(
        ctx,
        id,
        [{ at: 'tool_call', do: { type: 'close', code: 1008 } }],
        {
          script: ['hello', 'what time is it', 'thanks'],
        },
      );
      expect(await call.turn()).toBe('reply to hello');
      // The new connection does not know the call: its result goes to the model as text.
      expect(await call.turn()).toBe('The time is noon.');
      expect(await call.turn()).toBe('reply to thanks');

      const { fake } = call;
      expectAlive(call);
      expect(call.call.events.ofType('tool_call').map((e) => e.name)).toEqual(['get_current_time']);
      // Extended thinking spoke a filler before the call: its turnComplete issued a handle too.
      expect(resumedWith(fake.connections[1])).toBe(
        family === '3.8-thinking' ? 'handle-0-2' : 'handle-0-1',
      );
      expect(received(fake, 1, 'toolResponse')).toEqual([]);
      const seeded = seededTexts(fake.connections[1]);
      // Mid-session content: the question is seeded back, then the result goes as a user turn;
      // 3.1: nothing.
      if (midSession) expect(seeded[0]).toBe('what time is it');
      else expect(seeded).toEqual([]);
      expect(seeded).not.toContain('hello');
      expect(call.recovery().stats.toolResultsAsText).toBe(1);
      expect(unscriptedCloses(fake)).toEqual([]);
      noteRecovery(call, '1008 during a tool call', family, recoveryMs(fake));
    });

    it('a close (1011) during the first setup', async (ctx) => {
      const call = await startCall(ctx, id, [{ at: 'setup', do: { type: 'close', code: 1011 } }]);
      expect(await call.turn()).toBe('reply to words 1');

      expectAlive(call);
      expect(call.fake.connections).toHaveLength(2);
      expect(call.fake.connections[0]!.closeCode).toBe(1011);
      noteRecovery(call, '1011 during the first setup', family, recoveryMs(call.fake));
    });

    it('a connection dropped (1006) during a resuming setup', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: { type: 'close', code: 1011 } },
        { at: 'setup', nth: 1, do: { type: 'close', code: 1006 } },
      ]);
      await call.turn();
      expect(await call.turn()).toBe('reply to words 2');

      const { fake } = call;
      expectAlive(call);
      expect(fake.connections.map((c) => resumedWith(c))).toEqual([
        undefined,
        'handle-0-1',
        'handle-0-1',
      ]);
      expect(unscriptedCloses(fake)).toEqual([]);
      noteRecovery(call, '1011, then 1006 during the resume', family, recoveryMs(fake));
    });

    it('an expired handle: a fresh session seeded with the conversation', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: [{ type: 'expire_handles' }, { type: 'close', code: 1006 }] },
      ]);
      expect(await call.turn()).toBe('reply to words 1');
      expect(await call.turn()).toBe('reply to words 2');

      const { fake } = call;
      expectAlive(call);
      const [, refused, fresh] = fake.connections;
      expect(refused?.closeCode).toBe(1007); // the fake refuses the expired handle
      expect(resumedWith(fresh)).toBeUndefined();
      // The fresh session got the first turn back as history (3.1: declared initial history).
      const seeded = JSON.stringify(fresh?.history);
      expect(seeded).toContain('words 1');
      expect(seeded).toContain('reply to words 1');
      expect(unscriptedCloses(fake, [refused!.index])).toEqual([]);
      noteRecovery(call, 'expired handle -> fresh session', family, recoveryMs(fake));
    });

    it('goAway between turns: reconnects at once, resuming', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: { type: 'go_away', timeLeftMs: 10_000 } },
      ]);
      await call.turn();
      await call.fake.waitFor((f) => f.connections.length === 2, 3000, 'reconnect');
      expect(await call.turn()).toBe('reply to words 2');

      const { fake } = call;
      expectAlive(call);
      expect(fake.connections[0]!.closedBy).toBe('client');
      expect(resumedWith(fake.connections[1])).toBe('handle-0-1');
      noteRecovery(call, 'goAway between turns', family, recoveryMs(fake));
    });

    it('goAway mid-reply: the reply plays out, then it reconnects', async (ctx) => {
      const call = await startCall(
        ctx,
        id,
        [{ at: 'reply', nth: 1, afterChunks: 2, do: { type: 'go_away', timeLeftMs: 8000 } }],
        {
          fake: { paceFactor: 1 },
          replies: { 'words 2': { text: 'a long reply', audioMs: 1500 } },
        },
      );
      await call.turn();
      expect(await call.turn()).toBe('a long reply');
      expect(await call.turn()).toBe('reply to words 3');

      const { fake } = call;
      expectAlive(call);
      expect(call.played[1]).toMatchObject({ interrupted: false });
      expect(call.played[1]!.samples).toBeGreaterThanOrEqual(1.5 * SECOND - 1);
      expect(fake.connections[0]!.closedBy).toBe('client');
      // Reconnected after the long reply's turn, resuming from the handle issued after it.
      expect(resumedWith(fake.connections[1])).toBe('handle-0-2');
      noteRecovery(call, 'goAway mid-reply (waits for the turn)', family, recoveryMs(fake));
    });

    it('goAway with no turn boundary before the deadline: reconnects ahead of it', async (ctx) => {
      const call = await startCall(
        ctx,
        id,
        [{ at: 'reply', nth: 1, afterChunks: 2, do: { type: 'go_away', timeLeftMs: 1500 } }],
        {
          fake: { paceFactor: 1 },
          replies: { 'words 2': { text: 'a very long reply', audioMs: 4000 } },
        },
      );
      await call.turn();
      await call.call.say(WORDS);
      await call.fake.waitFor((f) => f.connections.length === 2, 5000, 'reconnect');
      await call.settled();
      expect(await call.turn()).toBe('reply to words 3');

      const { fake } = call;
      expectAlive(call);
      const goAway = fake.faults[0]!.at;
      const left = fake.received.find((e) => e.conn === 1)!.at;
      expect(left - goAway).toBeLessThan(1500); // before the server's deadline
      expect(fake.connections[0]!.closedBy).toBe('client');
      expect(call.played[1]!.samples).toBeLessThan(3 * SECOND); // the reply was cut cleanly
      expect(resumedWith(fake.connections[1])).toBe('handle-0-1');
      noteRecovery(call, 'goAway 1.5 s mid-reply (deadline)', family, recoveryMs(fake));
    });

    it('a turn with no audio: asks once more', async (ctx) => {
      const call = await startCall(ctx, id, [{ at: 'user_turn', do: { type: 'empty_turn' } }]);
      const reply = await call.turn();
      expect(reply).toMatch(/^reply to /);
      expect(await call.turn()).toBe('reply to words 2');

      expectAlive(call);
      expect(call.recovery().stats.reAsks).toBe(1);
      expect(call.played.filter((p) => p.samples > 0)).toHaveLength(2);
      expect(call.fake.connections).toHaveLength(1);
      expect(unscriptedCloses(call.fake)).toEqual([]);
    });

    it('a close (1011) after the user spoke, before any answer: asks again', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'user_turn', nth: 1, do: { type: 'close', code: 1011 } },
      ]);
      await call.turn();
      // 3.1 re-sends the words as text (the resumed server never heard them); 2.5 and 3.8 seed
      // them back as history, then ask for the reply: 2.5 with the plugin's "." turn, 3.8 with
      // turnComplete alone (the model answers what it was given).
      const reply = await call.turn();
      expect(reply).toBe(family === '2.5' ? 'reply to .' : 'reply to words 2');
      expect(await call.turn()).toBe('reply to words 3');

      const { fake } = call;
      expectAlive(call);
      expect(resumedWith(fake.connections[1])).toBe('handle-0-1');
      if (midSession) expect(seededTexts(fake.connections[1])[0]).toBe('words 2');
      expect(call.recovery().stats.reAsks).toBe(1);
      expect(unscriptedCloses(fake)).toEqual([]);
      noteRecovery(call, '1011 before the answer', family, recoveryMs(fake));
    });

    it('a slow setup (1.5 s) on the reconnect', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: { type: 'close', code: 1011 } },
        { at: 'setup', nth: 1, do: { type: 'delay_setup', ms: 1500 } },
      ]);
      await call.turn();
      expect(await call.turn()).toBe('reply to words 2');

      expectAlive(call);
      expect(call.fake.connections).toHaveLength(2);
      const ms = recoveryMs(call.fake);
      expect(ms).toBeGreaterThanOrEqual(1500);
      noteRecovery(call, '1011, then a 1.5 s setup', family, ms);
    });

    it('refused connections at the start, with backoff', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'connect', do: { type: 'refuse', attempts: 3, mode: 'http_503' } },
      ]);
      expect(await call.turn()).toBe('reply to words 1');

      const { fake } = call;
      expectAlive(call);
      expect(fake.refusals).toHaveLength(3);
      const gaps = fake.refusals.slice(1).map((t, i) => t - fake.refusals[i]!);
      // Backing off: each retry waits at least the policy's doubling delay (100 ms, then 200 ms).
      // A lower bound only: on a busy machine a connect attempt itself can take 200 ms more.
      const { retryDelayMs } = DEFAULT_RECOVERY_POLICY;
      expect(gaps[0]!).toBeGreaterThanOrEqual(retryDelayMs - TIMER_SLACK_MS);
      expect(gaps[1]!).toBeGreaterThanOrEqual(2 * retryDelayMs - TIMER_SLACK_MS);
      noteRecovery(
        call,
        '3 refused connects at the start',
        family,
        recoveryMs(fake, fake.refusals[0]),
      );
    });

    it('what the user says while the socket is down', async (ctx) => {
      const call = await startCall(ctx, id, []);
      expect(await call.turn()).toBe('reply to words 1');
      const { fake } = call;
      fake.inject({ at: 'connect', do: { type: 'refuse', attempts: 4, mode: 'reset' } });
      fake.connections[0]!.close(1011, 'Internal error encountered.');
      await fake.waitFor((f) => f.refusals.length > 0, 3000, 'outage');
      const outageAt = fake.refusals[0]!;
      // Said while every connect is refused: held, then sent once the socket is back.
      expect(await call.turn()).toBe('reply to words 2');

      expectAlive(call);
      expect(fake.connections).toHaveLength(2);
      const [spoken] = fake.connections[1]!.turns;
      expect(spoken).toMatchObject({ source: 'audio', text: 'words 2' });
      expect(spoken!.speechMs).toBeGreaterThanOrEqual(280);
      const { stats } = call.recovery();
      expect(stats.bufferedAudioMs).toBeGreaterThan(300);
      expect(stats.reconnects).toMatchObject([{ cause: 'close 1011', failedAttempts: 4 }]);
      expect(resumedWith(fake.connections[1])).toBe('handle-0-1');
      expect(unscriptedCloses(fake, [0])).toEqual([]);
      noteRecovery(call, '1011 + 4 refused connects', family, recoveryMs(fake, outageAt));
    });

    it('a malformed server frame mid-reply', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'reply', afterChunks: 2, do: { type: 'malformed_frame' } },
      ]);
      expect(await call.turn()).toBe('reply to words 1');
      expect(await call.turn()).toBe('reply to words 2');

      expectAlive(call);
      expect(call.fake.connections).toHaveLength(1);
      expect(call.played[0]).toMatchObject({ interrupted: false });
      expect(call.played[0]!.samples).toBeGreaterThanOrEqual(0.4 * SECOND - 1);
      expect(call.recovery().stats.malformedFrames).toBe(1);
    });

    it('but not a setup the model always rejects (1007): one clear error', async (ctx) => {
      const call = await startCall(ctx, id, [
        { at: 'turn_complete', do: { type: 'close', code: 1011 } },
        { at: 'setup', nth: 1, times: Infinity, do: { type: 'close', code: 1007 } },
      ]);
      await call.turn();
      await call.fake.waitFor(() => call.closed, 10_000, 'the call to end');

      const errors = call.call.events.ofType('error').filter((e) => e.recoverable === false);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/could not connect to Gemini Live after \d+ attempts/);
      // The refused handle is dropped once, then the rule-close cap ends it.
      expect(call.fake.connections.length).toBeLessThanOrEqual(5);
      expect(call.recovery().stats.gaveUp).toBeDefined();
    });
  },
);

describe.concurrent.each(E2E_MODELS)('$family setup timeout', ({ id }) => {
  it('abandons a setup that never completes and connects again', async (ctx) => {
    // A setup timeout well above a normal setup's time on a loaded machine (a reconnect that
    // timed out too would show as a third connection), and a first setup that never completes.
    const call = await startCall(
      ctx,
      id,
      [{ at: 'setup', do: { type: 'delay_setup', ms: 60_000 } }],
      {
        connOptions: { maxRetry: 0, retryIntervalMs: 100, timeoutMs: 2000 },
      },
    );
    expect(await call.turn()).toBe('reply to words 1');

    expectAlive(call);
    expect(call.fake.connections).toHaveLength(2);
    expect(call.fake.connections[0]!.closedBy).toBe('client');
  });
});

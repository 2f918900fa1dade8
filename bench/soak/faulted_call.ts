/**
 * One soak call: the call's session through the real plugin, SDK and AgentSession (the test
 * harness, test/support/call_harness.ts) against the fake Gemini Live server playing one scripted
 * fault, as test/gemini_faults.test.ts does. The user speaks `turnsBefore` normal turns, then the
 * turn the fault hits; once the fault fired (and the socket is back, when it went down) and the
 * agent is listening again, one more user turn must get its normal reply.
 *
 * - survived: that turn got `reply to <its words>`, played to the end;
 * - dropped: the session closed, or reported an error it does not recover from;
 * - hung: neither before the deadline.
 */
import { voice } from '@livekit/agents';
import { MIC_RATE } from '../../src/console/offline_call.ts';
import { type Harness, startHarness } from '../../test/support/call_harness.ts';
import {
  type FakeGeminiServer,
  type FakeReply,
  type FakeTurn,
  tonePcm16,
} from '../../tools/fake_gemini/server.ts';
import { unscriptedCloses } from '../../tools/fake_gemini/closes.ts';
import { sleep } from '../av_offset.ts';
import { withTimeout } from '../bench_call.ts';
import type { Scenario } from './scenarios.ts';

export type Outcome = 'survived' | 'dropped' | 'hung';

export interface CallResult {
  scenario: Scenario;
  outcome: Outcome;
  /**
   * From the moment the fake accepts again to the next setupComplete (ms): the fault for closes,
   * the last refused attempt for refusals, the old socket's close for goAway, the end of a slow
   * setup's scripted delay. Undefined when the call needed no new connection.
   */
  recoveryMs?: number;
  /** Sockets the fake accepted. */
  connections: number;
  /**
   * Sockets the fake closed that no scripted fault explains (`#index code reason`): the worker
   * sent something the model refuses (1007). Refusing an expired handle is expected.
   */
  unexplainedCloses: string[];
  wallMs: number;
  /** Why it did not survive: what it waited for, the session's state, the fake's traffic. */
  detail?: string;
}

export interface FaultedCallOptions {
  /** The whole call must finish within this (ms). Default 30 s. */
  deadlineMs?: number;
}

/** A short voiced burst: the fake's energy VAD takes it as one spoken turn. */
const WORDS = tonePcm16(300, MIC_RATE);
const SPEAKER_RATE = 24_000;
/** Quiet (agent listening, no event) that ends a turn, and that follows the fault. */
const TURN_SETTLE_MS = 300;
const FAULT_SETTLE_MS = 1000;
const NORMAL_REPLY = /^reply to words (\d+)$/;

class Ended extends Error {
  readonly outcome: 'dropped' | 'hung';
  constructor(outcome: 'dropped' | 'hung', message: string) {
    super(message);
    this.outcome = outcome;
  }
}

/** Replies as the fault suite's: each names the turn it answers; a time question calls a tool. */
function responder(replyMs: number) {
  return (turn: FakeTurn): FakeReply => {
    if (turn.source === 'tool_response' || /tool returned/.test(turn.text)) {
      return { text: 'The time is noon.', audioMs: replyMs };
    }
    if (/time/.test(turn.text)) {
      return { toolCall: { name: 'get_current_time', args: { timeZone: 'UTC' } } };
    }
    return { text: `reply to ${turn.text}`, audioMs: replyMs };
  };
}

export async function runFaultedCall(
  scenario: Scenario,
  options: FaultedCallOptions = {},
): Promise<CallResult> {
  const started = performance.now();
  const deadline = Date.now() + (options.deadlineMs ?? 30_000);
  let spoken = 0;
  const toolTurn = scenario.toolTurn ? scenario.turnsBefore + 1 : -1;
  let h: Harness | undefined;
  const result = (outcome: Outcome, detail?: string): CallResult => ({
    scenario,
    outcome,
    ...(h && outcome === 'survived' ? { recoveryMs: recoveryMs(h.fake, scenario) } : {}),
    connections: h?.fake.connections.length ?? 0,
    unexplainedCloses: h ? unscriptedCloses(h.fake) : [],
    wallMs: performance.now() - started,
    ...(detail ? { detail } : {}),
  });
  try {
    h = await withTimeout(
      startHarness({
        env: { GEMINI_MODEL: scenario.model, AGENT_GREETING: '' },
        fake: {
          paceFactor: 4,
          respond: responder(scenario.replyMs),
          transcribe: () => (++spoken === toolTurn ? 'what time is it' : `words ${spoken}`),
          faults: scenario.faults,
        },
      }),
      Math.max(0, deadline - Date.now()),
      'starting the call',
    );
  } catch (error) {
    return result('dropped', `the call did not start: ${(error as Error).message}`);
  }
  const call = h;
  try {
    await drive(call, scenario, deadline, () => spoken);
    return result('survived');
  } catch (error) {
    if (error instanceof Ended) return result(error.outcome, error.message);
    // Thrown by the call itself (say(), the session): the call is over for its user.
    return result('dropped', `threw: ${(error as Error).message}`);
  } finally {
    await withTimeout(call.close(), 10_000, 'closing the call').catch(() => {});
  }
}

async function drive(h: Harness, scenario: Scenario, deadline: number, spoken: () => number) {
  const { fake } = h;
  const { events } = h.call;
  const { session } = h.call.call;
  let closed = false;
  session.on(voice.AgentSessionEventTypes.Close, () => {
    closed = true;
  });
  const describe = () => {
    const errors = events.ofType('error').map((e) => `${e.message}`);
    return `state=${session.agentState} errors=${JSON.stringify(errors.slice(-3))}; fake: ${fake.describe()}`;
  };
  const until = async (what: string, ready: () => boolean): Promise<void> => {
    for (;;) {
      const fatal = events.ofType('error').find((e) => e.recoverable === false);
      if (closed || fatal) {
        throw new Ended(
          'dropped',
          `${closed ? 'closed' : 'fatal error'} waiting for ${what}; ${describe()}`,
        );
      }
      if (ready()) return;
      if (Date.now() > deadline)
        throw new Ended('hung', `no ${what} by the deadline; ${describe()}`);
      await sleep(25);
    }
  };
  const quietFor = (ms: number) => {
    const last = events.events.at(-1);
    const quiet = last ? Date.now() - (events.startedAt + last.t_ms) : Infinity;
    return session.agentState === 'listening' && quiet >= ms;
  };
  const replies = (since: number) =>
    events.events
      .slice(since)
      .filter((e) => e.type === 'message' && e.role === 'assistant')
      .map((e) => String(e.text));
  const turn = async (what: string) => {
    const since = events.events.length;
    await h.call.say(WORDS);
    await until(what, () => replies(since).length > 0 && quietFor(TURN_SETTLE_MS));
  };

  if (!scenario.atStart) {
    for (let i = 0; i < scenario.turnsBefore; i++) await turn(`reply to turn ${i + 1}`);
    // The turn the fault hits: its reply may be cut, asked again, or play out.
    await h.call.say(WORDS);
  }
  await until('fault', () => fake.faults.length >= scenario.faults.length);
  if (scenario.reconnects) {
    const after = afterConnection(fake);
    await until('reconnect (setupComplete on a new socket)', () =>
      fake.sent.some((e) => e.conn > after && 'setupComplete' in e.msg),
    );
  }
  await until('a quiet agent after the fault', () => quietFor(FAULT_SETTLE_MS));

  // The next user turn: a normal reply to exactly this turn, played to the end.
  const since = events.events.length;
  const before = spoken();
  const playedBefore = h.played.length;
  await h.call.say(WORDS);
  await until('normal reply to the turn after the fault', () => {
    const normal = replies(since).some((text) => Number(NORMAL_REPLY.exec(text)?.[1]) > before);
    const last = h.played.at(-1);
    const full =
      h.played.length > playedBefore &&
      last !== undefined &&
      !last.interrupted &&
      last.samples >= (scenario.replyMs * SPEAKER_RATE) / 1000 - 1;
    return normal && full && quietFor(TURN_SETTLE_MS);
  });
}

/** The new socket must have an index above this one. */
function afterConnection(fake: FakeGeminiServer): number {
  const first = fake.faults[0]!;
  // A fault during a setup: that socket may still complete it (a slow setup); a refusal at the
  // start fires before any socket (-1).
  return first.spec.at === 'setup' ? first.connection - 1 : first.connection;
}

/** See CallResult.recoveryMs. */
export function recoveryMs(fake: FakeGeminiServer, scenario: Scenario): number | undefined {
  const first = fake.faults[0];
  if (!first || !scenario.reconnects) return undefined;
  let readyAt = first.at + scenario.unavailableMs;
  if (scenario.kind === 'refused') readyAt = fake.refusals.at(-1) ?? readyAt;
  if (scenario.kind === 'go_away') readyAt = fake.connections[first.connection]?.closedAt ?? NaN;
  const after = afterConnection(fake);
  const back = fake.sent.find(
    (e) => e.conn > after && e.at >= first.at && 'setupComplete' in e.msg,
  );
  return back ? Math.max(0, back.at - readyAt) : undefined;
}

/**
 * What can go wrong in a soak call, and when: a random fault at a random moment of a short
 * conversation, drawn from a seeded PRNG so a seed names the same calls on every run.
 *
 * Moments follow test/gemini_faults.test.ts (the fake counts them across connections):
 * - `setup`: during the first setup, or during the setup of a reconnect (after a 1011 between turns);
 * - `user_turn`: the user finished speaking, before the model answers;
 * - `reply`: mid-reply, after some audio chunks;
 * - `turn_complete`: between turns;
 * - `tool_call`: while the model waits for a function result;
 * - `start`: connection attempts refused before the call's first socket.
 */
import { prng } from '../av_offset.ts';
import { MODELS } from '../bench_call.ts';
import type { FaultAction, FaultSpec } from '../../tools/fake_gemini/server.ts';

export const FAULT_KINDS = [
  'close_1006',
  'close_1011',
  'close_other',
  'go_away',
  'empty_turn',
  'slow_setup',
  'refused',
  'malformed_frame',
  'expired_handle',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export type Moment = 'start' | 'setup' | 'user_turn' | 'reply' | 'turn_complete' | 'tool_call';

/** Where each kind of fault can happen. */
const MOMENTS: Readonly<Record<FaultKind, readonly Moment[]>> = {
  close_1006: ['setup', 'user_turn', 'reply', 'turn_complete', 'tool_call'],
  close_1011: ['setup', 'user_turn', 'reply', 'turn_complete', 'tool_call'],
  close_other: ['setup', 'user_turn', 'reply', 'turn_complete', 'tool_call'],
  go_away: ['user_turn', 'reply', 'turn_complete', 'tool_call'],
  empty_turn: ['user_turn'],
  slow_setup: ['setup'],
  refused: ['start', 'user_turn', 'reply', 'turn_complete', 'tool_call'],
  malformed_frame: ['setup', 'user_turn', 'reply', 'turn_complete', 'tool_call'],
  expired_handle: ['user_turn', 'reply', 'turn_complete', 'tool_call'],
};

/** Non-1000 closes other than 1006/1011: going away, rejected request, policy, try again later. */
const OTHER_CODES = [1001, 1007, 1008, 1012, 1013] as const;

export interface Scenario {
  /** Position in the run (0-based); with the seed, enough to run it again (`--only`). */
  index: number;
  model: string;
  kind: FaultKind;
  moment: Moment;
  /** The fault comes before the first user turn (`start`, a first `setup`). */
  atStart: boolean;
  /** Normal user turns before the one the fault hits (0 when `atStart`). */
  turnsBefore: number;
  /** The fault turn asks for the time (a function call); only for `tool_call`. */
  toolTurn: boolean;
  /** Audio of each normal reply. */
  replyMs: number;
  faults: FaultSpec[];
  /** Time the fake was scripted to be unavailable (a slow setup): not counted as recovery. */
  unavailableMs: number;
  /** A reconnect is expected (all but an empty turn and a malformed frame). */
  reconnects: boolean;
  /** One line: what and when, for progress and failure lines. */
  label: string;
}

/** The fake's audio chunk length (its default). */
const CHUNK_MS = 40;

/** `n` scenarios for `seed`: call i is always the same for the same seed (and models). */
export function scenarios(
  seed: number,
  n: number,
  kinds: readonly FaultKind[] = FAULT_KINDS,
  models: readonly string[] = Object.values(MODELS),
) {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const out: Scenario[] = [];
  for (let index = 0; index < n; index++) {
    const model = pick(models);
    const kind = pick(kinds);
    const moment = pick(MOMENTS[kind]);
    const replyMs = between(10, 30) * CHUNK_MS;
    out.push(build({ index, model, kind, moment, replyMs, pick, between }));
  }
  return out;
}

interface Draw {
  index: number;
  model: string;
  kind: FaultKind;
  moment: Moment;
  replyMs: number;
  pick: <T>(items: readonly T[]) => T;
  between: (lo: number, hi: number) => number;
}

function build({ index, model, kind, moment, replyMs, pick, between }: Draw): Scenario {
  // A reconnect's setup comes after a first fault between turns; a first setup has no turn before.
  const resumingSetup = moment === 'setup' && between(0, 1) === 1;
  const atStart = moment === 'start' || (moment === 'setup' && !resumingSetup);
  const turnsBefore = atStart ? 0 : between(0, 2);
  const toolTurn = moment === 'tool_call';
  const notes: string[] = [];
  let unavailableMs = 0;

  const action = (): FaultAction | FaultAction[] => {
    switch (kind) {
      case 'close_1006':
        return { type: 'close', code: 1006 };
      case 'close_1011':
        return { type: 'close', code: 1011 };
      case 'close_other': {
        const code = pick(OTHER_CODES);
        notes.push(`code ${code}`);
        return { type: 'close', code };
      }
      case 'go_away': {
        const timeLeftMs = between(2, 100) * 100;
        notes.push(`timeLeft ${timeLeftMs} ms`);
        return { type: 'go_away', timeLeftMs };
      }
      case 'empty_turn':
        return { type: 'empty_turn' };
      case 'slow_setup': {
        const ms = between(2, 30) * 100;
        unavailableMs = ms;
        notes.push(`${ms} ms`);
        return { type: 'delay_setup', ms };
      }
      case 'refused': {
        const attempts = between(1, 5);
        const mode = pick(['http_503', 'reset'] as const);
        notes.push(`${attempts}x ${mode}`);
        const refuse: FaultAction = { type: 'refuse', attempts, mode };
        if (moment === 'start') return refuse;
        const code = pick([1006, 1011] as const);
        notes.push(`after close ${code}`);
        return [refuse, { type: 'close', code }];
      }
      case 'malformed_frame':
        return { type: 'malformed_frame' };
      case 'expired_handle': {
        const code = pick([1006, 1011] as const);
        notes.push(`close ${code}`);
        return [{ type: 'expire_handles' }, { type: 'close', code }];
      }
    }
  };

  const faults: FaultSpec[] = [];
  const does = action();
  switch (moment) {
    case 'start':
      faults.push({ at: 'connect', do: does });
      break;
    case 'setup':
      if (resumingSetup) {
        faults.push({ at: 'turn_complete', nth: turnsBefore, do: { type: 'close', code: 1011 } });
        notes.push('of the reconnect after a 1011');
      }
      faults.push({ at: 'setup', nth: resumingSetup ? 1 : 0, do: does });
      break;
    case 'reply': {
      const afterChunks = between(1, replyMs / CHUNK_MS - 1);
      notes.push(`after ${afterChunks} chunks`);
      faults.push({ at: 'reply', nth: turnsBefore, afterChunks, do: does });
      break;
    }
    case 'tool_call':
      faults.push({ at: 'tool_call', nth: 0, do: does });
      break;
    default:
      faults.push({ at: moment, nth: turnsBefore, do: does });
  }
  const family = Object.entries(MODELS).find(([, id]) => id === model)?.[0] ?? model;
  const betweenTurns = moment === 'turn_complete' || resumingSetup;
  const when = atStart ? '' : ` ${betweenTurns ? 'after' : 'in'} turn ${turnsBefore + 1}`;
  const label = `${family} ${kind} at ${moment}${when}${notes.length ? ` (${notes.join(', ')})` : ''}`;
  return {
    index,
    model,
    kind,
    moment,
    atStart,
    turnsBefore,
    toolTurn,
    replyMs,
    faults,
    unavailableMs,
    // A slow first setup only delays the call (it stays under the setup timeout): no new socket.
    reconnects:
      kind !== 'empty_turn' &&
      kind !== 'malformed_frame' &&
      !(kind === 'slow_setup' && !resumingSetup),
    label,
  };
}

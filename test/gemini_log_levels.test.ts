/**
 * A fault the call survives is a warning, not an error (whoever alerts on errors is not paged
 * for a call that went on), while a fault that ends the call logs one error. The framework's
 * real logger is wrapped in a recorder for the test, so every line still goes where it went.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/call_harness.ts';
import { recordLogs } from './support/log_recorder.ts';
import { tonePcm16, type FaultSpec } from '../tools/fake_gemini/server.ts';
import { MIC_RATE } from '../src/console/offline_call.ts';

const CONNECT_FAILED = /^Gemini Live connect failed/;
const CONNECTION_LOST = /^Gemini Live connection lost/;
const WORDS = tonePcm16(300, MIC_RATE);
const soon = () => Date.now() + 15_000;

describe('log levels of Gemini faults', () => {
  let h: Harness | undefined;
  let restore: (() => void) | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    restore?.();
  });

  const start = async (faults: FaultSpec[]) => {
    const logs = recordLogs();
    restore = logs.restore;
    let spoken = 0;
    h = await startHarness({
      env: { GEMINI_MODEL: 'gemini-3.1-flash-live-preview', AGENT_GREETING: '' },
      fake: {
        transcribe: () => `words ${++spoken}`,
        respond: (turn) => ({ text: `reply to ${turn.text}`, audioMs: 400 }),
        faults,
      },
    });
    return { ...h, lines: logs.lines };
  };

  it('a close and refused connects the call survives: warnings, no error line', async () => {
    const { call, fake, lines } = await start([
      {
        at: 'reply',
        afterChunks: 2,
        do: [
          { type: 'refuse', attempts: 2, mode: 'http_503' },
          { type: 'close', code: 1011 },
        ],
      },
    ]);
    await call.say(WORDS);
    await fake.waitFor((f) => f.connections[1]?.setup !== undefined, 10_000, 'reconnect');
    const since = call.events.events.length;
    await call.say(WORDS);
    expect(await call.untilAnswered({ deadline: soon(), since, settleMs: 300 })).toBe(true);

    // One line for the close, one per refused connect: all warnings.
    const lost = lines.filter((l) => CONNECTION_LOST.test(l.text));
    const refused = lines.filter((l) => CONNECT_FAILED.test(l.text));
    expect(lost.map((l) => l.level)).toEqual(['warn']);
    expect(refused.map((l) => l.level)).toEqual(['warn', 'warn']);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('a fault that ends the call is still an error', async () => {
    const { call, fake, lines } = await start([
      { at: 'turn_complete', do: { type: 'close', code: 1011 } },
      { at: 'setup', nth: 1, times: Infinity, do: { type: 'close', code: 1007 } },
    ]);
    await call.say(WORDS);
    await fake.waitFor(
      () => lines.some((l) => l.level === 'error'),
      10_000,
      'the call-ending error line',
    );
    const errors = lines.filter((l) => l.level === 'error').map((l) => l.text);
    const ending = errors.filter((t) =>
      /could not connect to Gemini Live after \d+ attempts/.test(t),
    );
    expect(ending).toHaveLength(1);
    // Each failed attempt before it was a warning.
    expect(errors.filter((t) => CONNECT_FAILED.test(t))).toEqual([]);
  });
});

/**
 * A fault the call survives is a warning, not an error: the plugin's own error-level lines for
 * failed connects come out as warnings (src/gemini/plugin_log.ts), while a
 * fault that ends the call still logs an error. The framework's real logger is wrapped in a
 * recorder for the test, so every line still goes where it went.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/call_harness.ts';
import { recordLogs } from './support/log_recorder.ts';
import { tonePcm16, type FaultSpec } from '../tools/fake_gemini/server.ts';
import { MIC_RATE } from '../src/console/offline_call.ts';

const FAULT_LINE = /^Gemini Realtime API error/;
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

  it('a close and refused connects the call survives: the plugin lines are warnings', async () => {
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

    const faultLines = lines.filter((l) => FAULT_LINE.test(l.text));
    // One per refused connect (the 1011 close itself is reported by the recovery's watcher).
    expect(faultLines.length).toBeGreaterThanOrEqual(2);
    expect(faultLines.filter((l) => l.level === 'error')).toEqual([]);
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
    expect(errors.some((t) => /could not connect to Gemini Live after \d+ attempts/.test(t))).toBe(
      true,
    );
    expect(errors.filter((t) => FAULT_LINE.test(t))).toEqual([]);
  });
});

/**
 * A normal call logs no warning when it ends: the empty user turn @livekit/agents 1.9.0 commits
 * on close (`skipping user input, speech scheduling is paused`) is logged at debug
 * (src/close_turn_log.ts). The framework's real logger is wrapped in a recorder for the test, so
 * every line still goes where it went.
 */
import { log } from '@livekit/agents';
import { afterEach, describe, expect, it } from 'vitest';
import { withEmptyCloseTurnAsDebug } from '../src/close_turn_log.ts';
import { MIC_RATE } from '../src/console/offline_call.ts';
import { tonePcm16 } from '../tools/fake_gemini/server.ts';
import { startHarness, type Harness } from './support/call_harness.ts';
import { LOGGER_KEY, recordLogs } from './support/log_recorder.ts';

const CLOSE_LINE = 'skipping user input, speech scheduling is paused';

describe('the close of a call', () => {
  let h: Harness | undefined;
  let restore: (() => void) | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    restore?.();
    restore = undefined;
  });

  it('a greeting, a spoken turn, an answer, a close: no warning, the close turn at debug', async () => {
    const logs = recordLogs(['error', 'warn', 'debug']);
    restore = logs.restore;
    h = await startHarness({
      env: { GEMINI_MODEL: 'gemini-3.1-flash-live-preview' },
      fake: { respond: (turn) => ({ text: `reply to ${turn.text}`, audioMs: 300 }) },
    });
    await h.call.call.greet();
    const since = h.call.events.events.length;
    await h.call.say(tonePcm16(400, MIC_RATE));
    const deadline = Date.now() + 15_000;
    expect(await h.call.untilAnswered({ deadline, since, settleMs: 200 })).toBe(true);
    await h.close();
    h = undefined;

    const closeLines = logs.lines.filter((l) => l.text === CLOSE_LINE);
    // The framework did commit the empty turn (the line exists), and said it at debug only.
    expect(closeLines.map((l) => l.level)).toEqual(['debug']);
    expect(logs.lines.filter((l) => l.level !== 'debug')).toEqual([]);
  });
});

describe('withEmptyCloseTurnAsDebug', () => {
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it('keeps the warning for a turn with words in it, and every other warning', async () => {
    const logs = recordLogs(['error', 'warn', 'debug']);
    restore = logs.restore;
    // What the activity does: take log() while the session starts, warn later.
    const logger = await withEmptyCloseTurnAsDebug(async () => log());
    logger.warn({ 'lk.pii.user_input': '' }, CLOSE_LINE);
    logger.warn({ 'lk.pii.user_input': 'wait, one more thing' }, CLOSE_LINE);
    logger.warn({ attempt: 1 }, 'something else');
    expect(logs.lines.map((l) => [l.level, l.text])).toEqual([
      ['debug', CLOSE_LINE],
      ['warn', CLOSE_LINE],
      ['warn', 'something else'],
    ]);
    // Outside a start, log() is the framework's logger again.
    expect(log()).toBe((globalThis as unknown as Record<symbol, unknown>)[LOGGER_KEY]);
    log().warn({ 'lk.pii.user_input': '' }, CLOSE_LINE);
    expect(logs.lines.at(-1)?.level).toBe('warn');
  });
});

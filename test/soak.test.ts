/**
 * `npm run soak` in-process and small: faulted calls from a fixed seed (one each of six fault
 * kinds, the three model families) through the real plugin and AgentSession all survive, and the
 * report's counts add up; and a few seconds of the long call with the avatar on. The soak's
 * speed figures are printed by `npm run soak`, not asserted here.
 */
import { describe, expect, it } from 'vitest';
import { runSoak, soakLines } from '../bench/soak/faulted_soak.ts';
import { runLongCall } from '../bench/soak/long_call.ts';
import { scenarios } from '../bench/soak/scenarios.ts';
import { LoopWatch } from './support/loop_watch.ts';

const SEED = 35;
const CALLS = 6;

describe('soak', () => {
  it('a seed names the same calls every time, and the first six cover six kinds of fault', () => {
    const planned = scenarios(SEED, CALLS);
    expect(scenarios(SEED, CALLS)).toEqual(planned);
    expect(scenarios(SEED + 1, CALLS)).not.toEqual(planned);
    expect(planned.map((s) => `${s.kind}@${s.moment}`)).toEqual([
      'empty_turn@user_turn',
      'go_away@turn_complete',
      'slow_setup@setup',
      'malformed_frame@reply',
      'expired_handle@user_turn',
      'close_1011@setup',
    ]);
    expect(new Set(planned.map((s) => s.model)).size).toBe(3);
  });

  it('faulted calls all survive, and the report adds up', async () => {
    const seen: number[] = [];
    const report = await runSoak({
      calls: CALLS,
      seed: SEED,
      concurrency: CALLS,
      onCall: (_result, done) => seen.push(done),
    });
    expect(report.failures).toEqual([]);
    expect(report.unexplainedCloses).toEqual([]);
    expect(report).toMatchObject({ calls: CALLS, survived: CALLS, dropped: 0, hung: 0 });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(report.results.map((r) => r.scenario.label)).toEqual(
      scenarios(SEED, CALLS).map((s) => s.label),
    );
    const sum = (groups: object) =>
      Object.values(groups).reduce((n, b: { calls: number }) => n + b.calls, 0);
    expect(sum(report.byKind)).toBe(CALLS);
    expect(sum(report.byMoment)).toBe(CALLS);
    // Every call that lost its socket got one back, and only those have a recovery time.
    const reconnecting = report.results.filter((r) => r.scenario.reconnects);
    expect(report.recovery.n).toBe(reconnecting.length);
    for (const r of reconnecting) expect(r.connections).toBeGreaterThan(1);
    expect(report.results.find((r) => r.scenario.kind === 'empty_turn')).toMatchObject({
      connections: 1,
      recoveryMs: undefined,
    });
    expect(soakLines(report)[1]).toMatch(
      /^outcome {4}survived 6 \(100\.0 %\) {2}dropped 0 {2}hung 0/,
    );
  });

  it('a short long call with the avatar: every turn answered, frames flow, offsets measured', async () => {
    const lines: string[] = [];
    // Four turns, a window closed after each (not a span of time: a loaded machine takes longer
    // over the same turns).
    const loop = new LoopWatch().start();
    const startedAt = performance.now();
    const report = await runLongCall({
      minutes: 0.1,
      turns: 4,
      windowMs: 1,
      replyMs: 600,
      onProgress: (l) => lines.push(l),
    });
    expect(report.unanswered).toBe(0);
    expect(report.interruptions).toBe(0);
    expect(report.turns).toBe(4);
    // Frames all along: at least half the frame rate (30 fps) over the call, less the time this
    // process's loop was stalled (the frame clock skips the ticks it missed).
    loop.stop();
    const runningS =
      (performance.now() - startedAt - loop.stalledMs(startedAt, performance.now())) / 1000;
    expect(report.frames).toBeGreaterThan(0.5 * 30 * Math.min(runningS, 60 * report.end.atMin));
    expect(report.windows.length).toBeGreaterThanOrEqual(2);
    expect(Number.isFinite(report.driftMsPerMin)).toBe(true);
    expect(report.start.rssMb).toBeGreaterThan(0);
    expect(report.end.heapUsedMb).toBeGreaterThan(0);
    expect(lines.length).toBeGreaterThanOrEqual(2); // warm and end
  });
});

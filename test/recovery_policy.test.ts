/** The bounds a Gemini session fights within: waits between connect attempts and when to give up. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_RECOVERY_POLICY, FaultBudget } from '../src/gemini/recovery_policy.ts';

describe('FaultBudget', () => {
  it('waits 100 ms before the first retry, doubles per failure, and caps at 1 s', () => {
    const budget = new FaultBudget(DEFAULT_RECOVERY_POLICY);
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      budget.connectFailed(false);
      waits.push(budget.backoffMs());
    }
    expect(waits).toEqual([100, 200, 400, 800, 1000, 1000]);
    budget.setupCompleted();
    budget.connectFailed(false);
    expect(budget.backoffMs()).toBe(100); // a completed setup starts over
  });

  it('ends the call after 10 failed attempts in a row, or the third rejected request', () => {
    const refused = new FaultBudget(DEFAULT_RECOVERY_POLICY);
    const verdicts = Array.from({ length: 10 }, () => refused.connectFailed(false));
    expect(verdicts.indexOf(true)).toBe(9);

    const rejected = new FaultBudget(DEFAULT_RECOVERY_POLICY);
    expect([true, true, true].map(() => rejected.connectFailed(true))).toEqual([
      false,
      false,
      true,
    ]);
  });
});

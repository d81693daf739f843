import { describe, expect, it } from 'vitest';
import { settleWithLimit } from '../../../lambdas/core/concurrency';

describe('settleWithLimit', () => {
  it('keeps input order, settles failures, and never exceeds the limit', async () => {
    let inFlight = 0;
    let max = 0;
    const results = await settleWithLimit([5, 1, 4, 2, 3], 2, async (n) => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      if (n === 4) throw new Error('four');
      return n * 10;
    });
    expect(max).toBe(2);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      50,
      10,
      'four',
      20,
      30,
    ]);
  });

  it('handles an empty list', async () => {
    expect(await settleWithLimit([], 4, async () => 1)).toEqual([]);
  });
});

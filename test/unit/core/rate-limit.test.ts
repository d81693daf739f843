import { describe, expect, it } from 'vitest';
import { errorFrame } from '../../../lambdas/core/error-frame';
import { RateLimitedError } from '../../../lambdas/core/errors';
import { admitFrame, FRAME_POLICY, type FrameRateLimiter } from '../../../lambdas/core/rate-limit';
import { ErrorFrame, LIMITS } from '../../../protocol';

const NOW = 1_760_000_000_000;

/** FRAME_POLICY's sliding log in memory: what the DynamoDB adapter does atomically (see the integration test). */
class SlidingLog implements FrameRateLimiter {
  readonly logs = new Map<string, number[]>();
  async takeFrame(connectionId: string, now: number): Promise<boolean> {
    const log = this.logs.get(connectionId) ?? Array.from({ length: FRAME_POLICY.burst }, () => 0);
    if ((log[0] ?? 0) > now - FRAME_POLICY.windowMs) return false;
    this.logs.set(connectionId, [...log.slice(1), now]);
    return true;
  }
}

describe('FRAME_POLICY', () => {
  it('is the protocol’s limits: a burst of frameBurst, framesPerSecond sustained', () => {
    expect(FRAME_POLICY).toEqual({ burst: LIMITS.frameBurst, windowMs: 2000 });
  });

  it('admits a burst, then refuses until frames age out of the window, and sustains framesPerSecond', async () => {
    const limiter = new SlidingLog();
    const take = (now: number) => limiter.takeFrame('c1', now);
    const burst = await Promise.all(Array.from({ length: 30 }, () => take(NOW)));
    expect(burst.filter(Boolean)).toHaveLength(LIMITS.frameBurst);
    expect(await take(NOW + FRAME_POLICY.windowMs - 1)).toBe(false);
    expect(await take(NOW + FRAME_POLICY.windowMs)).toBe(true);

    const steady = new SlidingLog();
    const period = 1000 / LIMITS.framesPerSecond;
    const results = [];
    for (let i = 0; i < 100; i++) results.push(await steady.takeFrame('c1', NOW + i * period));
    expect(results.every(Boolean)).toBe(true);
    // Twice the sustained rate: after the burst is spent, only every other frame passes.
    const fast = new SlidingLog();
    let passed = 0;
    for (let i = 0; i < 200; i++) if (await fast.takeFrame('c1', NOW + (i * period) / 2)) passed++;
    expect(passed).toBeGreaterThanOrEqual(100);
    expect(passed).toBeLessThanOrEqual(100 + LIMITS.frameBurst);
  });

  it('limits each connection on its own', async () => {
    const limiter = new SlidingLog();
    for (let i = 0; i < LIMITS.frameBurst; i++) await limiter.takeFrame('flooder', NOW);
    expect(await limiter.takeFrame('flooder', NOW)).toBe(false);
    expect(await limiter.takeFrame('neighbour', NOW)).toBe(true);
  });
});

describe('admitFrame', () => {
  it('passes while the limiter has room, with the clock’s time', async () => {
    const calls: [string, number][] = [];
    const limiter: FrameRateLimiter = {
      takeFrame: async (connectionId, now) => {
        calls.push([connectionId, now]);
        return true;
      },
    };
    await admitFrame({ limiter, clock: { now: () => NOW } }, 'c1');
    expect(calls).toEqual([['c1', NOW]]);
  });

  it('throws RateLimitedError answering the frame, which maps to a RATE_LIMITED error frame', async () => {
    const limiter: FrameRateLimiter = { takeFrame: async () => false };
    const error = await admitFrame({ limiter, clock: { now: () => NOW } }, 'c1', {
      clientMessageId: 'm-1',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    const frame = ErrorFrame.parse(errorFrame(error as RateLimitedError));
    expect(frame).toMatchObject({ code: 'RATE_LIMITED', clientMessageId: 'm-1' });
    expect(frame.message).toMatch(/20 frames in 2 seconds/);
  });
});

import { describe, expect, it } from 'vitest';
import { percentile, summarize } from '../../../bench/stats';

describe('percentile (nearest rank)', () => {
  const oneToHundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('takes the smallest sample with p% at or below it', () => {
    expect(percentile(oneToHundred, 50)).toBe(50);
    expect(percentile(oneToHundred, 95)).toBe(95);
    expect(percentile(oneToHundred, 99)).toBe(99);
    expect(percentile(oneToHundred, 100)).toBe(100);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([10, 20, 30, 40], 51)).toBe(30);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is NaN without samples and refuses percentiles outside (0, 100]', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 0)).toThrow(RangeError);
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts unsorted samples numerically, not as strings', () => {
    const s = summarize([100, 9, 20, 3, 1000, 50, 7, 2, 1, 80]);
    expect(s).toMatchObject({ count: 10, p50: 9, p95: 1000, p99: 1000, max: 1000 });
    expect(s.mean).toBeCloseTo(127.2, 10);
  });

  it('reports NaN for an empty run', () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.p50).toBeNaN();
    expect(s.max).toBeNaN();
  });
});

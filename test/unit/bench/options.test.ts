import { describe, expect, it } from 'vitest';
import { OptionsError, parseOptions } from '../../../bench/options';

describe('the bench options', () => {
  it('measures the emulator ceiling by default, and not with --no-ceiling', () => {
    expect(parseOptions([])).toMatchObject({ ceiling: true });
    expect(parseOptions(['--no-ceiling'])).toMatchObject({ ceiling: false });
  });

  it('takes the ceiling phase its seconds and concurrency, validated', () => {
    expect(parseOptions(['--ceiling-seconds', '2', '--ceiling-concurrency', '16'])).toMatchObject({
      ceilingSeconds: 2,
      ceilingConcurrency: 16,
    });
    expect(() => parseOptions(['--ceiling-seconds', '0'])).toThrow(/--ceiling-seconds/);
    expect(() => parseOptions(['--ceiling-concurrency', '2.5'])).toThrow(/--ceiling-concurrency/);
    expect(() => parseOptions(['--ceiling-concurrency', 'many'])).toThrow(OptionsError);
  });

  it('profiles only when asked (--cpu-prof)', () => {
    expect(parseOptions([])).toMatchObject({ cpuProf: false });
    expect(parseOptions(['--cpu-prof'])).toMatchObject({ cpuProf: true });
  });
});

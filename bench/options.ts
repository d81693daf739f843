/** Command-line options of `npm run bench`, validated with zod; a bad option stops the run with a clear error. */
import { parseArgs } from 'node:util';
import { z } from 'zod';

const SCENARIOS = ['direct', 'group'] as const;
const TARGETS = ['herald', 'relay'] as const;

const list = <const T extends readonly [string, ...string[]]>(allowed: T, what: string) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z.enum(allowed, {
            error: (i) => `unknown ${what} ${JSON.stringify(i.input)}: use ${allowed.join(', ')}`,
          }),
        )
        .min(1, `name at least one ${what}`),
    );

export const BenchOptions = z.object({
  quick: z.boolean().default(false),
  scenarios: list(SCENARIOS, 'scenario').default([...SCENARIOS]),
  targets: list(TARGETS, 'target').default([...TARGETS]),
  /** Offered rates (messages/s) of the fixed-rate 1:1 phases. */
  directRates: z
    .string()
    .transform((s) => s.split(',').map((x) => Number(x.trim())))
    .pipe(z.array(z.number().int().min(1).max(5000)).min(1))
    .default([10, 100, 1000]),
  /** Offered rate (messages/s) of the fixed-rate group phase. */
  groupRate: z.coerce.number().int().min(1).max(500).default(5),
  /** Messages per 1:1 phase at most (a group phase: a twentieth of it); the phase sends at its rate until then. */
  maxMessages: z.coerce.number().int().min(10).max(1_000_000).optional(),
  /** Seconds each fixed-rate phase sends for. */
  duration: z.coerce.number().positive().max(600).optional(),
  coldStart: z.boolean().default(true),
  coldStartRuns: z.coerce.number().int().min(1).max(50).default(5),
  out: z.string().min(1).default('bench/results'),
  /** Re-use the cloud assembly in .herald/bench-cdk.out instead of synthesizing again. */
  skipSynth: z.boolean().default(false),
  /** Measure the local services' own capacity (the emulator ceiling) after Herald's scenarios. */
  ceiling: z.boolean().default(true),
  /** Seconds each operation of the ceiling phase is measured for (after a warm-up as long, at most 3 s). */
  ceilingSeconds: z.coerce.number().min(0.5).max(60).optional(),
  /** Callers in parallel in the ceiling phase; absent: the best of a sweep (4, 16, 64) on GetItem. */
  ceilingConcurrency: z.coerce.number().int().min(1).max(256).optional(),
  /** V8 CPU profiles of the main thread and every Lambda worker over each Herald phase, summarised in the report. */
  cpuProf: z.boolean().default(false),
});
export type BenchOptions = z.infer<typeof BenchOptions>;

export const USAGE = `npm run bench -- [options]

  --quick                 short phases, no saturation phases (about a minute)
  --scenario LIST         direct,group (default: both)
  --target LIST           herald,relay (default: both; the relay is the baseline)
  --direct-rates LIST     offered rates of the fixed 1:1 phases, msgs/s (default 10,100,1000)
  --group-rate N          offered rate of the fixed group phase, msgs/s (default 5)
  --max-messages N        messages per 1:1 phase at most, a group phase a twentieth (default 1000, quick 300)
  --duration SECONDS      seconds each fixed-rate phase sends for (default 10, quick 3)
  --no-cold-start         skip bundle sizes and init times
  --cold-start-runs N     fresh processes per function (default 5)
  --out DIR               where latest.json and latest.md go (default bench/results)
  --skip-synth            reuse .herald/bench-cdk.out from an earlier run
  --no-ceiling            skip measuring the local services' own capacity (the emulator ceiling)
  --ceiling-seconds N     seconds per operation in the ceiling phase (default 3, quick 1.5)
  --ceiling-concurrency N callers in parallel in the ceiling phase (default: best of 4, 16, 64 on GetItem)
  --cpu-prof              CPU-profile the main thread and every Lambda worker during each Herald phase:
                          .cpuprofile files in <out>/profiles/<phase>/, a summary in latest.{md,json}
  --help`;

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        quick: { type: 'boolean' },
        scenario: { type: 'string' },
        target: { type: 'string' },
        duration: { type: 'string' },
        'direct-rates': { type: 'string' },
        'group-rate': { type: 'string' },
        'max-messages': { type: 'string' },
        'no-cold-start': { type: 'boolean' },
        'cold-start-runs': { type: 'string' },
        out: { type: 'string' },
        'skip-synth': { type: 'boolean' },
        'no-ceiling': { type: 'boolean' },
        'ceiling-seconds': { type: 'string' },
        'ceiling-concurrency': { type: 'string' },
        'cpu-prof': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new OptionsError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  const result = BenchOptions.safeParse({
    quick: v.quick,
    scenarios: v.scenario,
    targets: v.target,
    duration: v.duration,
    directRates: v['direct-rates'],
    groupRate: v['group-rate'],
    maxMessages: v['max-messages'],
    coldStart: v['no-cold-start'] ? false : undefined,
    coldStartRuns: v['cold-start-runs'],
    out: v.out,
    skipSynth: v['skip-synth'],
    ceiling: v['no-ceiling'] ? false : undefined,
    ceilingSeconds: v['ceiling-seconds'],
    ceilingConcurrency: v['ceiling-concurrency'],
    cpuProf: v['cpu-prof'],
  });
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  --${flagOf(String(i.path[0] ?? ''))}: ${i.message}`);
    throw new OptionsError(`Invalid options:\n${problems.join('\n')}\n\n${USAGE}`);
  }
  return result.data;
}

function flagOf(key: string): string {
  return (
    {
      scenarios: 'scenario',
      targets: 'target',
      directRates: 'direct-rates',
      groupRate: 'group-rate',
      maxMessages: 'max-messages',
      coldStartRuns: 'cold-start-runs',
      skipSynth: 'skip-synth',
      ceilingSeconds: 'ceiling-seconds',
      ceilingConcurrency: 'ceiling-concurrency',
      cpuProf: 'cpu-prof',
    }[key] ?? key
  );
}

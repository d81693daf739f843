/**
 * `--cpu-prof`: V8 CPU profiles of the bench's main thread (the local gateway, fauxqs, the event sources, the
 * bench's own clients) and of every Lambda execution environment (worker threads) over one phase, written as
 * `.cpuprofile` files (open them in Chrome DevTools or VS Code) and summarised by bench/profile.ts.
 *
 * The main thread is profiled through an inspector session on itself, each worker through one on its own
 * isolate (local/cloud/lambda-worker.mjs), both with the inspector's Profiler domain: no flag on the process
 * or the workers, so a run without --cpu-prof is the same as before.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LambdaRuntime } from '../local/cloud/lambda-runtime';
import { type CpuProfile, summariseProfiles, type ThreadProfileSummary } from './profile';
import { loadedModuleResolver, sourceMapResolver } from './profile-sources';

export const SAMPLING_INTERVAL_US = 1000;

export interface PhaseProfile {
  readonly phase: string;
  /** Where the phase's `.cpuprofile` files are. */
  readonly dir: string;
  readonly samplingIntervalUs: number;
  /** `main` first, then each function that ran, by CPU. */
  readonly threads: readonly ThreadProfileSummary[];
}

export interface RunningProfile {
  /** Stops every profile, writes the files to `dir` and summarises them. */
  stop(phase: string, dir: string): Promise<PhaseProfile>;
}

export interface ProfileContext {
  readonly runtime: LambdaRuntime;
  /** The repository root: file names in the summary are relative to it. */
  readonly root: string;
  /** The cloud assembly: the functions' bundles, whose source maps say where their code comes from. */
  readonly assemblyDir: string;
}

export async function startCpuProfiles(context: ProfileContext): Promise<RunningProfile> {
  // Loaded here: a run without --cpu-prof does not load the inspector at all.
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  await session.post('Profiler.start');
  const cpuAtStart = process.threadCpuUsage();
  context.runtime.startProfiling({ samplingIntervalUs: SAMPLING_INTERVAL_US });
  return {
    async stop(phase, dir) {
      const [main, workers] = await Promise.all([
        (async () => {
          // Read before the stop: handing the profile over costs CPU the phase did not use.
          const cpu = process.threadCpuUsage(cpuAtStart);
          const { profile } = await session.post('Profiler.stop');
          return { profile: profile as unknown as CpuProfile, threadCpuMs: (cpu.user + cpu.system) / 1000 };
        })(),
        context.runtime.stopProfiling(),
      ]);
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'main.cpuprofile'), JSON.stringify(main.profile));
      const byFunction = new Map<string, { profiles: CpuProfile[]; cpu: (number | undefined)[] }>();
      for (const w of workers) {
        const entry = byFunction.get(w.functionId) ?? { profiles: [], cpu: [] };
        byFunction.set(w.functionId, entry);
        writeFileSync(
          join(dir, `${safeName(w.functionId)}-${entry.profiles.length + 1}.cpuprofile`),
          JSON.stringify(w.profile),
        );
        entry.profiles.push(w.profile as CpuProfile);
        entry.cpu.push(w.threadCpuMs);
      }
      const resolve = sourceMapResolver(context.assemblyDir);
      const threads = [
        summariseProfiles([main.profile], {
          thread: 'main',
          root: context.root,
          resolve: loadedModuleResolver(),
          threadCpuMs: [main.threadCpuMs],
        }),
        ...[...byFunction]
          .map(([id, { profiles, cpu }]) =>
            summariseProfiles(profiles, { thread: id, root: context.root, resolve, threadCpuMs: cpu }),
          )
          .sort((a, b) => b.cpuMs - a.cpuMs),
      ];
      return { phase, dir, samplingIntervalUs: SAMPLING_INTERVAL_US, threads };
    },
  };
}

function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** A directory name for a phase: `group of 100 saturation (50/s offered)` -> `group-of-100-saturation-50-s-offered`. */
export function phaseSlug(phase: string): string {
  return (
    phase
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'phase'
  );
}

/**
 * A cloud assembly directory of this test run's own, so two runs started at once (two terminals, two engineers
 * in one checkout, `npm start` beside `npm test`) never synthesize into the same `cdk.out`. The directory is
 * named after the process and removed when the run stops; directories left by runs whose process is gone
 * (killed before their teardown) are removed when the next run starts.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../local/herald-local';

/** Kept under the repo (not the system temp dir), beside the other local state in the ignored `.herald/`. */
const RUNS_DIR = join(REPO_ROOT, '.herald', 'test-runs');

export interface RunAssemblyDir {
  readonly path: string;
  remove(): void;
}

export function runAssemblyDir(name: string): RunAssemblyDir {
  removeOrphans();
  const path = join(RUNS_DIR, `${name}-${process.pid}`);
  rmSync(path, { recursive: true, force: true });
  mkdirSync(path, { recursive: true });
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

function removeOrphans(): void {
  let entries: string[];
  try {
    entries = readdirSync(RUNS_DIR);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(/-(\d+)$/.exec(entry)?.[1]);
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid)) {
      rmSync(join(RUNS_DIR, entry), { recursive: true, force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

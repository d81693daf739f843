/**
 * Cold start: the size of each function's bundle (as synthesized into the cloud assembly the local cloud runs)
 * and the time to load its handler module in a fresh Node process, with the function's own environment
 * (including its NODE_OPTIONS, as Lambda applies them). The median of several runs; the process's own
 * bootstrap (before the import) is reported apart, since Lambda's runtime start is not the function's.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FunctionDefinition } from '../local/cloud/types';

export interface ColdStart {
  readonly id: string;
  readonly handlerFile: string;
  /**
   * The JavaScript the import loads, in bytes: the handler file and the chunks it imports, transitively
   * (chunks that are only loaded with `import()` later are in `assetBytes`).
   */
  readonly bundleBytes: number;
  /** Everything in the asset directory (the bundle, its source map...). */
  readonly assetBytes: number;
  readonly memoryMb: number;
  /** Median time to import the handler module, ms. */
  readonly initMs: number;
  readonly initRunsMs: readonly number[];
  /** Median Node bootstrap before the import, ms (not part of initMs). */
  readonly nodeBootMs: number;
  /** The function's NODE_OPTIONS (Lambda applies them: `--enable-source-maps` costs init time). */
  readonly nodeOptions: string;
  /** Median import time without the function's NODE_OPTIONS, to show what they cost. */
  readonly initWithoutNodeOptionsMs: number;
}

const SCRIPT = `
(async () => {
  const boot = performance.now();
  const file = process.argv[1];
  const t0 = performance.now();
  const mod = file.endsWith('.mjs') ? await import(require('node:url').pathToFileURL(file).href) : require(file);
  const t1 = performance.now();
  if (typeof mod[process.argv[2]] !== 'function') { console.error('no handler export ' + process.argv[2]); process.exit(2); }
  process.stdout.write(JSON.stringify({ boot, importMs: t1 - t0 }));
})();
`;

export async function measureColdStarts(
  functions: readonly FunctionDefinition[],
  region: string,
  runs: number,
): Promise<ColdStart[]> {
  const results: ColdStart[] = [];
  for (const fn of functions) {
    const [base = 'index', exportName = 'handler'] = fn.handler.split('.');
    const file = ['.js', '.cjs', '.mjs']
      .map((ext) => join(fn.codeDir, base + ext))
      .find((f) => existsSync(f));
    if (!file) throw new Error(`${fn.id}: no handler file ${base}.js in ${fn.codeDir}`);
    const samples: { boot: number; importMs: number }[] = [];
    const bare: number[] = [];
    for (let i = 0; i < runs; i++) {
      samples.push(await importOnce(file, exportName, fn, region, true));
      bare.push((await importOnce(file, exportName, fn, region, false)).importMs);
    }
    results.push({
      id: fn.id,
      handlerFile: file,
      bundleBytes: loadedBytes(file),
      assetBytes: dirBytes(fn.codeDir),
      memoryMb: fn.memoryMb,
      initMs: median(samples.map((s) => s.importMs)),
      initRunsMs: samples.map((s) => Math.round(s.importMs * 10) / 10),
      nodeBootMs: median(samples.map((s) => s.boot)),
      nodeOptions: fn.environment.NODE_OPTIONS ?? '',
      initWithoutNodeOptionsMs: median(bare),
    });
  }
  return results;
}

function importOnce(
  file: string,
  exportName: string,
  fn: FunctionDefinition,
  region: string,
  withNodeOptions: boolean,
): Promise<{ boot: number; importMs: number }> {
  const { NODE_OPTIONS: nodeOptions, ...environment } = fn.environment;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', SCRIPT, file, exportName], {
      cwd: fn.codeDir,
      env: {
        PATH: process.env.PATH ?? '',
        ...environment,
        ...(withNodeOptions && nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
        AWS_REGION: region,
        AWS_DEFAULT_REGION: region,
        AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
        LAMBDA_TASK_ROOT: fn.codeDir,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${fn.id}: import failed (exit ${code}): ${err.slice(0, 500)}`));
      else resolve(JSON.parse(out) as { boot: number; importMs: number });
    });
  });
}

/** The size of a module and of the relative modules it imports statically, transitively. */
function loadedBytes(file: string, seen = new Set<string>()): number {
  if (seen.has(file)) return 0;
  seen.add(file);
  const code = readFileSync(file, 'utf8');
  let total = Buffer.byteLength(code);
  // `import{a as b}from"./chunk-X.mjs"` and `import"./chunk-X.mjs"`, not `import("./chunk-X.mjs")`.
  for (const [, specifier] of code.matchAll(/\bimport\s*(?:[^"'()]*?\bfrom\s*)?["'](\.\.?\/[^"']+)["']/g)) {
    if (specifier) total += loadedBytes(join(dirname(file), specifier), seen);
  }
  return total;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? Number.NaN) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

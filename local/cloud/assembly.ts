/**
 * Synthesizes a CDK app with the CDK CLI (the same command a developer runs) and reads the cloud assembly:
 * each stack's template and the directory its asset paths are relative to.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { CfnTemplate } from './template';

export interface AssemblyStack {
  readonly stackName: string;
  readonly template: CfnTemplate;
  readonly assemblyDir: string;
}

const Manifest = z.object({
  artifacts: z.record(
    z.string(),
    z.object({
      type: z.string(),
      displayName: z.string().optional(),
      properties: z
        .object({ templateFile: z.string().optional(), stackName: z.string().optional() })
        .optional(),
    }),
  ),
});

export interface SynthOptions {
  /** The directory holding the app's cdk.json. */
  readonly appDir: string;
  /** Where the cloud assembly goes. */
  readonly outDir: string;
  readonly context?: Readonly<Record<string, string>>;
  /** Receives the CLI's output lines (bundling progress, warnings). */
  readonly log?: (line: string) => void;
}

export async function synthesize(options: SynthOptions): Promise<AssemblyStack[]> {
  const require = createRequire(import.meta.url);
  const cli = require.resolve('aws-cdk/bin/cdk');
  const args = [
    cli,
    'synth',
    '--quiet',
    '--no-notices',
    '--no-version-reporting',
    '--output',
    resolve(options.outDir),
  ];
  for (const [key, value] of Object.entries(options.context ?? {})) args.push('--context', `${key}=${value}`);
  const output: string[] = [];
  const code = await new Promise<number | null>((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: options.appDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: 'true' },
    });
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        output.push(line);
        options.log?.(line);
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', fail);
    child.on('close', done);
  });
  if (code !== 0) {
    throw new Error(`cdk synth failed (exit ${code}) in ${options.appDir}:\n${output.slice(-30).join('\n')}`);
  }
  return readAssembly(options.outDir);
}

export function readAssembly(assemblyDir: string): AssemblyStack[] {
  const manifest = Manifest.parse(JSON.parse(readFileSync(join(assemblyDir, 'manifest.json'), 'utf8')));
  return Object.entries(manifest.artifacts)
    .filter(
      ([, artifact]) => artifact.type === 'aws:cloudformation:stack' && artifact.properties?.templateFile,
    )
    .map(([id, artifact]) => ({
      stackName: artifact.properties?.stackName ?? id,
      template: CfnTemplate.parse(
        JSON.parse(readFileSync(join(assemblyDir, artifact.properties?.templateFile ?? ''), 'utf8')),
      ),
      assemblyDir: resolve(assemblyDir),
    }));
}

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AssetHashType,
  DockerImage,
  Duration,
  type ILocalBundling,
  RemovalPolicy,
  Validations,
} from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type BuildOptions, buildSync } from 'esbuild';

/** The repository root: esbuild's working directory, and where package-lock.json pins the bundled SDK. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The Lambda runtime, pinned to the Node major the project runs locally (package.json `engines` and the
 * `node` devDependency): tests, the local runtime and Lambda execute the same JavaScript engine. Bump them
 * together; test/infra checks that they agree.
 */
export const HERALD_RUNTIME = Runtime.NODEJS_22_X;

/** Absolute path of a handler module under `lambdas/handlers/`, e.g. `handlerEntry('send')`. */
export function handlerEntry(name: string): string {
  return path.join(REPO_ROOT, 'lambdas', 'handlers', `${name}.ts`);
}

export interface HeraldFunctionProps {
  /** Absolute path of the TypeScript module that exports `handler`. */
  readonly entry: string;

  /** @default - no description */
  readonly description?: string;

  /** @default Duration.seconds(10) */
  readonly timeout?: Duration;

  /** @default 256 */
  readonly memorySize?: number;

  /** Function-specific environment, on top of the shared Powertools variables. @default {} */
  readonly environment?: Readonly<Record<string, string>>;

  /** @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;

  /**
   * What happens to the log group when the function is removed. Logs expire after `logRetention` anyway, and
   * retained log groups pile up with every short-lived stack.
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /** @default - no reserved concurrency */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * esbuild `--alias` entries that load every Node built-in through `process.getBuiltinModule()` (Node 22.3+)
 * instead of an ESM `import`, each through a one-line CommonJS shim.
 *
 * Why: an ESM bundle keeps its built-in imports as top-level `import`s, so Node loads each one before the
 * bundle's first line runs, and builds an ES module facade for it by reading every export, getters included.
 * `node:http`'s lazy `WebSocket`/`CloseEvent`/`MessageEvent` getters then load undici, Node's fetch and
 * WebSocket client, which no function uses (the AWS SDK's credential chain imports `node:http` for IMDS,
 * which Lambda never calls): a bare `import 'node:http'` took 55 to 75 ms in a fresh Node 22 process here,
 * `require` of it 8 to 13. Built-ins imported only by code that never runs (the SDK's lazily loaded SSO,
 * process and IMDS credential providers pull in `child_process`, for one) were loaded as well.
 * `getBuiltinModule` hands back the same module object without a facade, when the code that needs it runs:
 * what a dependency gets is unchanged (ADR 17).
 *
 * The shims are generated (one per built-in, so the list follows Node's) under `.herald/node-builtins/`, a
 * path that is stable across synths so the bundles and their source maps are too. Each file is written only
 * when missing or different, through a rename, so parallel synths never read a half-written shim.
 */
export function builtinModuleAliases(
  dir = path.join(REPO_ROOT, '.herald', 'node-builtins'),
): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  const aliases: Record<string, string> = {};
  for (const name of builtinModules.filter((n) => !n.startsWith('_'))) {
    const file = path.join(dir, `${name.replaceAll('/', '-')}.cjs`);
    const code = `module.exports = process.getBuiltinModule('node:${name}');\n`;
    let current: string | undefined;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = undefined;
    }
    if (current !== code) {
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, code);
      renameSync(temporary, file);
    }
    aliases[name] = file;
    aliases[`node:${name}`] = file;
  }
  return aliases;
}

/**
 * The first line of every bundle file: an ESM bundle has no `require` of its own, for CommonJS code whose
 * `require` esbuild cannot resolve at build time (built-ins do not need it: see builtinModuleAliases).
 */
export const BUNDLE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * How esbuild bundles a handler (`entry`): `index.mjs`, which exports `handler`, and the chunks
 * it, and the code it loads later, import; all minified ESM with a source map file each.
 *
 * Code splitting is why Herald runs esbuild itself rather than through NodejsFunction's bundling, which
 * writes a single `--outfile`: in one file, the code a dependency loads with `import()` (the AWS SDK's
 * fallback credential providers and their STS/SSO clients, event streams) is parsed at every cold start
 * although it never runs on Lambda, and every module it shares is wrapped for lazy initialization. Split, it
 * stays in chunks that nothing loads: 10 to 20 ms less per import, measured (ADR 17). The options are
 * otherwise those the NodejsFunction bundling had.
 */
export function bundleOptions(entry: string): BuildOptions {
  return {
    entryPoints: { index: entry },
    bundle: true,
    splitting: true,
    format: 'esm',
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    platform: 'node',
    target: HERALD_RUNTIME.name.replace(/^nodejs(\d+)\.x$/, 'node$1'),
    absWorkingDir: REPO_ROOT,
    // Bundle everything, the AWS SDK included: the deployed SDK is the one package-lock.json pins, not
    // whatever version the Lambda runtime happens to ship.
    external: [],
    mainFields: ['module', 'main'],
    alias: builtinModuleAliases(),
    banner: { js: BUNDLE_BANNER },
    minify: true,
    // Minification would otherwise rename classes, and error and log output read `constructor.name`.
    keepNames: true,
    // Files for mapping traces offline; the runtime does not load them (SHARED_ENVIRONMENT).
    sourcemap: true,
    // Stack traces need the mappings only: embedding the sources would double the maps for nothing.
    sourcesContent: false,
    logLevel: 'warning',
  };
}

/**
 * esbuild run in the CDK process. CDK caches bundled assets by their options, `local` included as data: the
 * build options are a field so that the key names every input (a closure over the entry would give every
 * function the first one's bundle).
 */
class EsbuildBundling implements ILocalBundling {
  constructor(readonly options: BuildOptions) {}

  tryBundle(outputDir: string): boolean {
    buildSync({ ...this.options, outdir: outputDir });
    return true;
  }
}

/**
 * A function's code asset: its handler bundled locally by esbuild (never in Docker), the asset hashed by its
 * output, as NodejsFunction's own bundling did.
 */
export function bundledHandler(entry: string): Code {
  return Code.fromAsset(REPO_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Required by the API, never pulled: local bundling always succeeds or throws.
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22'),
      local: new EsbuildBundling(bundleOptions(entry)),
    },
  });
}

/** Powertools' service name and CloudWatch namespace: the custom metrics' `service` dimension and namespace. */
export const POWERTOOLS = { serviceName: 'herald', metricsNamespace: 'Herald' } as const;

/**
 * No `NODE_OPTIONS=--enable-source-maps` (ADR 17): with it, Node reads and parses the source map and scans
 * the whole bundle for line lengths at every cold start, 10 to 20 ms of a 120 to 150 ms init, to make stack
 * traces readable when one is printed. The maps are still built and shipped next to the bundle's files
 * (`index.mjs.map`, `chunk-*.mjs.map`, in the asset and in the deployed package), so a trace's
 * `file:line:column` frames can be mapped offline; `keepNames` keeps function and method names readable in
 * the raw trace.
 */
const SHARED_ENVIRONMENT = {
  POWERTOOLS_SERVICE_NAME: POWERTOOLS.serviceName,
  POWERTOOLS_METRICS_NAMESPACE: POWERTOOLS.metricsNamespace,
} as const;

/**
 * The one way Herald builds a Lambda function: Node 22 on arm64, bundled locally by esbuild (never Docker)
 * into minified ESM chunks with source map files, the AWS SDK included so its version is the one
 * package-lock.json pins (bundledHandler), X-Ray tracing, and an explicit log group with a retention.
 *
 * The function gets its own role with no AWS managed policy: it may write to its own log group (and X-Ray),
 * and everything else is granted by the stack. The log group and role are created next to the function (ids
 * `<id>LogGroup` and `<id>Role`) because a subclass cannot create children before calling `super`.
 */
export class HeraldFunction extends NodejsFunction {
  /** The function's log group, with the configured retention. */
  public readonly functionLogGroup: LogGroup;
  /** The execution role; the stack adds every data-plane permission to it. */
  public readonly serviceRole: iam.Role;

  constructor(scope: Construct, id: string, props: HeraldFunctionProps) {
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the Herald ${id} function`,
    });

    super(scope, id, {
      code: bundledHandler(props.entry),
      handler: 'index.handler',
      description: props.description,
      runtime: HERALD_RUNTIME,
      architecture: Architecture.ARM_64,
      timeout: props.timeout ?? Duration.seconds(10),
      memorySize: props.memorySize ?? 256,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      environment: { ...SHARED_ENVIRONMENT, ...props.environment },
    });

    this.functionLogGroup = logGroup;
    this.serviceRole = role;
    logGroup.grantWrite(role);

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node 22 is pinned on purpose to match the Node major the project runs locally (package.json engines ' +
        'and devDependency); the runtime and the local toolchain are upgraded together.',
    });
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Tracing.ACTIVE grants xray:PutTraceSegments and xray:PutTelemetryRecords, which support no ' +
        'resource-level permissions, so their resource must be "*". Every data-plane grant is scoped.',
    });
  }
}

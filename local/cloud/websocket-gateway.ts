/**
 * A local stand-in for an API Gateway WebSocket API stage and its `@connections` management API, on one
 * Node HTTP server bound to loopback: upgrade requests on `/<stage>` are WebSocket connections, plain HTTP
 * requests on `/<stage>/@connections/<id>` are the management API that the real
 * `@aws-sdk/client-apigatewaymanagementapi` client calls (SigV4 is not checked).
 *
 * It behaves as API Gateway documents, and where the documentation is silent, as events captured from AWS
 * show:
 * - `$connect`: identity sources checked (missing or empty: 401 without invoking the authorizer), the REQUEST
 *   authorizer invoked (IAM policy Allow: go on; Deny: 403; error `Unauthorized`: 401; anything else: 500),
 *   then the `$connect` integration (a status outside 2xx refuses the handshake with it). Only then is the
 *   upgrade completed: the connection cannot be posted to before.
 * - messages: routed by the route selection expression (not JSON, no value or no such route: `$default`; no
 *   `$default`: a `Forbidden` frame), invoked with a MESSAGE event; a two-way route's `body` goes back as one
 *   frame; a failed invocation sends AWS's `Internal server error` frame and keeps the connection.
 * - `$disconnect` after every end of a connection (client close, network drop, `DELETE @connections`, idle
 *   timeout, maximum duration, oversized message, gateway stop), with `disconnectStatusCode` and
 *   `disconnectReason`; its failure is only logged.
 *
 * Choices where AWS documents nothing (more at each constant and function):
 * - Frame vs message size: `ws` enforces `maxPayload` on a whole message (the sum of its fragments), not per
 *   frame, so the smaller of the frame (32 KB) and message (128 KB) limits applies to messages. Clients that
 *   send one frame per message (browsers, `ws`) see AWS's behaviour; a client fragmenting a 100 KB message
 *   into 32 KB frames, which AWS accepts, is closed with 1009 here.
 * - Ordering: AWS does not order the invocations of one connection's messages; here they run one at a time
 *   in arrival order, and `$disconnect` runs after the messages received before the close.
 * - The authorizer's `context` values reach later events as strings (as API Gateway's proxy integrations
 *   convert numbers and booleans), with `principalId` added, and `integrationLatency` on `$connect` only.
 * - Ping and pong frames do not count as activity for the idle timeout.
 */
import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  type GatewayLimits,
  LambdaInvocationError,
  type LambdaInvoker,
  type WebSocketApiDefinition,
  type WebSocketRoute,
} from './types';

export interface WebSocketGatewayOptions {
  readonly api: WebSocketApiDefinition;
  /** invoke(functionId, event) -> result; rejects with LambdaInvocationError. */
  readonly invoker: LambdaInvoker;
  readonly region: string;
  /** @default '127.0.0.1' (loopback only) */
  readonly host?: string;
  /** 0 = any free port. @default 3001 */
  readonly port?: number;
  readonly limits?: GatewayLimits;
  /**
   * One line per connect, disconnect, route invocation and `@connections` call (route key, connection id,
   * status, ms). Never given tokens or query strings.
   */
  readonly log?: (line: string) => void;
}

export interface WebSocketGateway {
  readonly port: number;
  /** ws://127.0.0.1:<port>/<stage> */
  readonly url: string;
  /** http://127.0.0.1:<port>/<stage>: the @connections endpoint (the management API) */
  readonly callbackUrl: string;
  /**
   * The host names AWS would use for this API, to redirect to this gateway:
   * `<apiId>.execute-api.<region>.amazonaws.com`.
   */
  readonly domainName: string;
  connectionCount(): number;
  /** Closes every connection (firing $disconnect), then the server. */
  stop(): Promise<void>;
}

/** The account id in local ARNs (the one LocalStack and the SQS emulator use too). */
const ACCOUNT_ID = '000000000000';

const DEFAULT_LIMITS: Required<GatewayLimits> = {
  maxFrameBytes: 32 * 1024,
  maxMessageBytes: 128 * 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
};

/** How long a closing connection may take to answer the close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 2000;

/**
 * `disconnectReason` when the closing side gave none. 1005 is AWS's text (captured $disconnect events); 1000
 * is what AWS reports for `DELETE @connections`; 1001 is the idle/duration timeout text; the rest are chosen.
 */
const CLOSE_REASONS: Readonly<Record<number, string>> = {
  1000: 'Connection Closed Normally',
  1001: 'Going away',
  1005: 'Client-side close frame status not set',
  1006: 'Connection Closed Abnormally',
  1009: 'Message too big',
};

type Json = Record<string, unknown>;

interface Connection {
  readonly id: string;
  state: 'connecting' | 'open' | 'closed';
  socket: WebSocket | undefined;
  readonly connectedAt: number;
  lastActiveAt: number;
  readonly sourceIp: string;
  readonly userAgent: string | undefined;
  /** The Host header of the upgrade request: AWS sends it again in the $disconnect headers. */
  readonly host: string | undefined;
  /** `requestContext.authorizer` of every event after $connect: the authorizer's context and principalId. */
  authorizer: Record<string, string> | undefined;
  /** The invocations of this connection's messages, one after the other. */
  queue: Promise<void>;
  /** Set when the gateway ends the connection: what $disconnect reports. */
  closing: { readonly code: number; readonly reason: string } | undefined;
  readonly timers: NodeJS.Timeout[];
  readonly closed: Promise<void>;
  markClosed(): void;
}

type HandshakeOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly status: number; readonly body: string };

export async function startWebSocketGateway(options: WebSocketGatewayOptions): Promise<WebSocketGateway> {
  const { api, invoker, region } = options;
  const host = options.host ?? '127.0.0.1';
  const limits: Required<GatewayLimits> = { ...DEFAULT_LIMITS, ...definedOnly(options.limits ?? {}) };
  const log = options.log ?? (() => {});
  const stage = api.stageName;
  const domainName = `${api.apiId}.execute-api.${region}.amazonaws.com`;
  const connectArn = `arn:aws:execute-api:${region}:${ACCOUNT_ID}:${api.apiId}/${stage}/$connect`;
  const routes = new Map<string, WebSocketRoute>(api.routes.map((route) => [route.routeKey, route]));
  const throttle = api.throttle
    ? new TokenBucket(api.throttle.rateLimit, api.throttle.burstLimit)
    : undefined;

  const connections = new Map<string, Connection>();
  const handshakes = new Set<Promise<void>>();
  const background = new Set<Promise<void>>();
  let stopping = false;
  let port = 0;

  const track = (work: Promise<void>): void => {
    const tracked = work.catch((error: unknown) => log(`gateway error: ${describe(error)}`));
    background.add(tracked);
    void tracked.finally(() => background.delete(tracked));
  };

  // ws enforces maxPayload per message (the sum of a message's frames): see the module comment.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.min(limits.maxFrameBytes, limits.maxMessageBytes),
    perMessageDeflate: false,
    clientTracking: false,
  });

  const server: Server = createServer((req, res) => {
    handleManagementRequest(req, res).catch((error: unknown) => {
      log(`@connections error: ${describe(error)}`);
      if (!res.headersSent) sendJson(res, 500, { message: 'Internal server error' }, 'InternalServerError');
      else res.destroy();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const handshake = handleUpgrade(req, socket, head).catch((error: unknown) => {
      log(`$connect error: ${describe(error)}`);
      refuse(socket, 500, JSON.stringify({ message: 'Internal server error' }));
    });
    handshakes.add(handshake);
    void handshake.finally(() => handshakes.delete(handshake));
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 3001, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;

  // ---- $connect ------------------------------------------------------------------------------------------

  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => {}); // a client that resets mid-handshake must not crash the gateway
    const url = requestUrl(req);
    if (url === undefined || !isStagePath(url.pathname)) {
      refuse(socket, 403, JSON.stringify({ message: 'Forbidden' }));
      return;
    }
    if (!isWebSocketHandshake(req)) {
      refuse(socket, 400, JSON.stringify({ message: 'Bad Request' }));
      return;
    }
    if (stopping) {
      refuse(socket, 503, JSON.stringify({ message: 'Service Unavailable' }));
      return;
    }
    const started = performance.now();
    const connectedAt = Date.now();
    const conn = newConnection(
      awsId(),
      connectedAt,
      sourceIpOf(req),
      req.headers['user-agent'],
      req.headers.host,
    );
    if (throttle && !throttle.take()) {
      log(`$connect ${conn.id} 429 (stage throttled) ${elapsed(started)} ms`);
      refuse(socket, 429, JSON.stringify({ message: 'Too Many Requests' }));
      return;
    }
    connections.set(conn.id, conn);
    let outcome: HandshakeOutcome;
    try {
      outcome = await connectHandshake(conn, req, url);
    } catch (error) {
      connections.delete(conn.id);
      throw error;
    }
    if (!outcome.ok) {
      connections.delete(conn.id);
      conn.state = 'closed';
      conn.markClosed();
      log(`$connect ${conn.id} ${outcome.status} ${elapsed(started)} ms`);
      refuse(socket, outcome.status, outcome.body);
      return;
    }
    if (socket.readable && socket.writable) {
      wss.handleUpgrade(req, socket, head, (ws) => attach(conn, ws));
    }
    if (conn.state === 'connecting') {
      // The client went away while $connect ran (or the handshake failed late): the backend was told of the
      // connection, so it is told of its end.
      log(`$connect ${conn.id} 200, but the client left before the upgrade completed ${elapsed(started)} ms`);
      ended(conn, 1006, '');
      return;
    }
    log(`$connect ${conn.id} 200 ${elapsed(started)} ms`);
  }

  async function connectHandshake(
    conn: Connection,
    req: IncomingMessage,
    url: URL,
  ): Promise<HandshakeOutcome> {
    const route = routes.get('$connect');
    const requestId = awsId();
    const requestTimeEpoch = Date.now();
    const query = queryMaps(url.searchParams);
    const context = (routeKey: string): Json =>
      requestContextOf(conn, { routeKey, eventType: 'CONNECT' }, requestId, requestTimeEpoch);
    const forwarded: [string, string][] = [
      ['X-Amzn-Trace-Id', traceId()],
      ['X-Forwarded-For', conn.sourceIp],
      ['X-Forwarded-Port', String(port)],
      ['X-Forwarded-Proto', 'http'],
    ];

    let integrationLatency = 0;
    if (route?.authorizer) {
      const { functionId, identitySources } = route.authorizer;
      const contextVariables: Record<string, string> = {
        connectionId: conn.id,
        requestId,
        apiId: api.apiId,
        stage,
        routeKey: '$connect',
        eventType: 'CONNECT',
        domainName,
        'identity.sourceIp': conn.sourceIp,
      };
      for (const source of identitySources) {
        if (!IDENTITY_SOURCE.test(source)) log(`$connect: identity source ${source} is not supported: 401`);
      }
      const missing = identitySources.find(
        (source) => !identityValue(source, req, url.searchParams, contextVariables),
      );
      if (missing !== undefined) {
        log(`authorizer ${conn.id} not invoked: an identity source is missing`);
        return refusal(401, 'Unauthorized');
      }
      // The authorizer sees the upgrade headers as sent, with `content-length: 0` (captured events).
      const contentLength: [string, string][] =
        req.headers['content-length'] === undefined ? [['content-length', '0']] : [];
      const headers = headerMaps(req.rawHeaders, [], [...contentLength, ...forwarded]);
      const event = {
        type: 'REQUEST',
        methodArn: connectArn,
        headers: headers.single,
        multiValueHeaders: headers.multi,
        queryStringParameters: query.single ?? {},
        multiValueQueryStringParameters: query.multi ?? {},
        stageVariables: {},
        requestContext: context('$connect'),
      };
      const t0 = performance.now();
      let result: unknown;
      try {
        result = await invoker.invoke(functionId, event);
      } catch (error) {
        if (error instanceof LambdaInvocationError && error.errorMessage === 'Unauthorized') {
          return refusal(401, 'Unauthorized');
        }
        log(`authorizer ${conn.id} failed: ${describe(error)}`);
        return refusal(500, 'Internal server error');
      }
      integrationLatency = elapsed(t0);
      const decision = evaluateAuthorizerResult(result, connectArn);
      if (decision.kind === 'malformed') {
        log(`authorizer ${conn.id} returned an invalid response: ${decision.why}`);
        return refusal(500, 'Internal server error');
      }
      if (decision.kind === 'deny') return refusal(403, 'Forbidden');
      conn.authorizer = { ...decision.context, principalId: decision.principalId };
    }

    if (route?.functionId !== undefined) {
      // The $connect integration gets them without Connection and Upgrade (captured events).
      const headers = headerMaps(req.rawHeaders, ['connection', 'upgrade'], forwarded);
      const requestContext = context('$connect');
      if (conn.authorizer) requestContext.authorizer = { ...conn.authorizer, integrationLatency };
      const event: Json = { headers: headers.single, multiValueHeaders: headers.multi };
      if (query.single) {
        event.queryStringParameters = query.single;
        event.multiValueQueryStringParameters = query.multi;
      }
      event.requestContext = requestContext;
      event.isBase64Encoded = false;
      let result: unknown;
      try {
        result = await invoker.invoke(route.functionId, event);
      } catch (error) {
        log(`$connect ${conn.id} integration failed: ${describe(error)}`);
        return refusal(500, 'Internal server error');
      }
      const statusCode = isRecord(result) ? result.statusCode : undefined;
      if (typeof statusCode === 'number' && (statusCode < 200 || statusCode > 299)) {
        const body = isRecord(result) && typeof result.body === 'string' ? result.body : '';
        return { ok: false, status: statusCode, body };
      }
    }
    return { ok: true };
  }

  function attach(conn: Connection, ws: WebSocket): void {
    conn.socket = ws;
    conn.state = 'open';
    ws.on('message', (data: RawData, isBinary: boolean) => onMessage(conn, data, isBinary));
    ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') conn.closing ??= { code: 1009, reason: '' };
      log(`connection ${conn.id} error: ${error.message}`);
    });
    ws.on('close', (code: number, reason: Buffer) => ended(conn, code, reason.toString('utf8')));

    const checkIdle = (): void => {
      if (conn.state !== 'open') return;
      const remaining = conn.lastActiveAt + limits.idleTimeoutMs - Date.now();
      if (remaining > 0) conn.timers.push(setTimeout(checkIdle, remaining).unref());
      else closeConnection(conn, 1001, 'Going away');
    };
    conn.timers.push(setTimeout(checkIdle, limits.idleTimeoutMs).unref());
    conn.timers.push(
      setTimeout(() => closeConnection(conn, 1001, 'Going away'), limits.maxConnectionMs).unref(),
    );
  }

  // ---- messages ------------------------------------------------------------------------------------------

  function onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    conn.lastActiveAt = Date.now();
    const buffer = Array.isArray(data)
      ? Buffer.concat(data)
      : Buffer.isBuffer(data)
        ? data
        : Buffer.from(data);
    if (buffer.length > limits.maxMessageBytes) {
      closeConnection(conn, 1009, '');
      return;
    }
    conn.queue = conn.queue
      .then(() => routeMessage(conn, buffer, isBinary))
      .catch((error: unknown) => {
        log(`message ${conn.id} error: ${describe(error)}`);
      });
  }

  async function routeMessage(conn: Connection, buffer: Buffer, isBinary: boolean): Promise<void> {
    const started = performance.now();
    const requestId = awsId();
    const body = isBinary ? buffer.toString('base64') : buffer.toString('utf8');
    if (throttle && !throttle.take()) {
      log(`message ${conn.id} 429 (stage throttled)`);
      send(conn, JSON.stringify({ message: 'Too Many Requests', connectionId: conn.id, requestId }));
      return;
    }
    const selected = isBinary ? undefined : selectRouteKey(api.routeSelectionExpression, body);
    const route =
      (selected !== undefined && selected !== '$connect' && selected !== '$disconnect'
        ? routes.get(selected)
        : undefined) ?? routes.get('$default');
    if (route === undefined) {
      log(`message ${conn.id} 403 (no route, no $default) ${elapsed(started)} ms`);
      send(conn, JSON.stringify({ message: 'Forbidden', connectionId: conn.id, requestId }));
      return;
    }
    if (route.functionId === undefined) {
      log(`${route.routeKey} ${conn.id} (no Lambda integration)`);
      return;
    }
    const requestTimeEpoch = Date.now();
    const requestContext = requestContextOf(
      conn,
      { routeKey: route.routeKey, messageId: awsId(), eventType: 'MESSAGE' },
      requestId,
      requestTimeEpoch,
      // Captured MESSAGE events carry the source IP only.
      { sourceIp: conn.sourceIp },
    );
    if (conn.authorizer) requestContext.authorizer = { ...conn.authorizer };
    let result: unknown;
    try {
      result = await invoker.invoke(route.functionId, { requestContext, body, isBase64Encoded: isBinary });
    } catch (error) {
      log(`${route.routeKey} ${conn.id} 500 ${elapsed(started)} ms: ${describe(error)}`);
      send(conn, JSON.stringify({ message: 'Internal server error', connectionId: conn.id, requestId }));
      return;
    }
    const statusCode = isRecord(result) && typeof result.statusCode === 'number' ? result.statusCode : 200;
    log(`${route.routeKey} ${conn.id} ${statusCode} ${elapsed(started)} ms`);
    if (!route.twoWay) return;
    const reply = routeResponse(result);
    if (reply !== undefined) send(conn, reply);
  }

  function send(conn: Connection, data: string | Buffer, callback?: (error?: Error) => void): boolean {
    const ws = conn.socket;
    if (ws === undefined || !isLive(conn)) return false;
    conn.lastActiveAt = Date.now();
    ws.send(data, { binary: typeof data !== 'string' }, callback);
    return true;
  }

  // ---- the end of a connection ---------------------------------------------------------------------------

  function closeConnection(conn: Connection, code: number, reason: string): void {
    const ws = conn.socket;
    if (conn.state !== 'open' || ws === undefined) return;
    conn.closing ??= { code, reason };
    ws.close(code, reason);
    conn.timers.push(setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref());
  }

  function ended(conn: Connection, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    conn.state = 'closed';
    connections.delete(conn.id);
    for (const timer of conn.timers) clearTimeout(timer);
    // When the gateway closed the connection, its code and reason count, not the client's echo of them.
    const statusCode = conn.closing?.code ?? code;
    const closeReason = (conn.closing ? conn.closing.reason : reason) || CLOSE_REASONS[statusCode] || '';
    track(
      conn.queue.then(() => invokeDisconnect(conn, statusCode, closeReason)).finally(() => conn.markClosed()),
    );
  }

  async function invokeDisconnect(conn: Connection, statusCode: number, reason: string): Promise<void> {
    const route = routes.get('$disconnect');
    const started = performance.now();
    if (route?.functionId === undefined) {
      log(`$disconnect ${conn.id} ${statusCode} (no integration)`);
      return;
    }
    const requestId = awsId();
    const requestTimeEpoch = Date.now();
    // AWS's $disconnect headers: the API's host and three empty headers (captured events).
    const headers: Record<string, string> = {
      Host: conn.host ?? domainName,
      'x-api-key': '',
      'X-Forwarded-For': '',
      'x-restapi': '',
    };
    const requestContext = requestContextOf(
      conn,
      {
        routeKey: '$disconnect',
        disconnectStatusCode: statusCode,
        eventType: 'DISCONNECT',
        disconnectReason: reason,
      },
      requestId,
      requestTimeEpoch,
    );
    if (conn.authorizer) requestContext.authorizer = { ...conn.authorizer };
    const event = {
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
      requestContext,
      isBase64Encoded: false,
    };
    try {
      await invoker.invoke(route.functionId, event);
      log(`$disconnect ${conn.id} ${statusCode} ${elapsed(started)} ms`);
    } catch (error) {
      // $disconnect is best effort: its failure is only logged.
      log(`$disconnect ${conn.id} ${statusCode} failed ${elapsed(started)} ms: ${describe(error)}`);
    }
  }

  // ---- @connections --------------------------------------------------------------------------------------

  async function handleManagementRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = requestUrl(req);
    const match = url && /^\/([^/]+)\/(?:@|%40)connections\/([^/]+)\/?$/i.exec(url.pathname);
    const connectionId = match?.[2] !== undefined ? safeDecode(match[2]) : undefined;
    if (!match || safeDecode(match[1] ?? '') !== stage || connectionId === undefined) {
      await drain(req, 0);
      sendJson(res, 403, { message: 'Forbidden' }, 'ForbiddenException');
      return;
    }
    const method = req.method ?? '';
    const logCall = (status: number): void => log(`@connections ${method} ${connectionId} ${status}`);
    if (method === 'POST') {
      const body = await drain(req, limits.maxMessageBytes);
      if (body === undefined) {
        logCall(413);
        sendJson(
          res,
          413,
          { message: `Message too long: the limit is ${limits.maxMessageBytes} bytes` },
          'PayloadTooLargeException',
        );
        return;
      }
      const conn = connections.get(connectionId);
      if (conn === undefined || !isLive(conn)) return gone(res, logCall);
      const delivered = await new Promise<boolean>((resolve) => {
        // A text frame when the body is UTF-8 (checked natively, without decoding it twice), binary otherwise.
        const started = send(conn, isUtf8(body) ? body.toString('utf8') : body, (error) => resolve(!error));
        if (!started) resolve(false);
      });
      if (!delivered) return gone(res, logCall);
      logCall(200);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '0' }).end();
      return;
    }
    await drain(req, 0);
    if (method !== 'GET' && method !== 'DELETE') {
      sendJson(res, 403, { message: 'Forbidden' }, 'ForbiddenException');
      return;
    }
    const conn = connections.get(connectionId);
    if (conn === undefined || !isLive(conn)) return gone(res, logCall);
    if (method === 'GET') {
      logCall(200);
      sendJson(res, 200, {
        connectedAt: new Date(conn.connectedAt).toISOString(),
        identity: identityOf(conn),
        lastActiveAt: new Date(conn.lastActiveAt).toISOString(),
      });
      return;
    }
    logCall(204);
    res.writeHead(204).end();
    closeConnection(conn, 1000, '');
  }

  function gone(res: ServerResponse, logCall: (status: number) => void): void {
    logCall(410);
    sendJson(res, 410, { message: null }, 'GoneException');
  }

  // ---- lifecycle -----------------------------------------------------------------------------------------

  function newConnection(
    id: string,
    connectedAt: number,
    sourceIp: string,
    userAgent: string | undefined,
    hostHeader: string | undefined,
  ): Connection {
    let markClosed = (): void => {};
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    return {
      id,
      state: 'connecting',
      socket: undefined,
      connectedAt,
      lastActiveAt: connectedAt,
      sourceIp,
      userAgent,
      host: hostHeader,
      authorizer: undefined,
      queue: Promise.resolve(),
      closing: undefined,
      timers: [],
      closed,
      markClosed,
    };
  }

  /** Open, and not being closed: what can be posted to and counts as a connection. */
  function isLive(conn: Connection): boolean {
    return conn.state === 'open' && conn.socket?.readyState === WebSocket.OPEN;
  }

  function isStagePath(pathname: string): boolean {
    return pathname === `/${stage}` || pathname === `/${stage}/`;
  }

  /** An event's requestContext: what tells the events apart (`own`), then what every event of a connection has. */
  function requestContextOf(
    conn: Connection,
    own: Json,
    requestId: string,
    requestTimeEpoch: number,
    identity: Json = identityOf(conn),
  ): Json {
    return {
      ...own,
      extendedRequestId: requestId,
      requestTime: requestTime(requestTimeEpoch),
      messageDirection: 'IN',
      stage,
      connectedAt: conn.connectedAt,
      requestTimeEpoch,
      identity,
      requestId,
      domainName,
      connectionId: conn.id,
      apiId: api.apiId,
    };
  }

  function identityOf(conn: Connection): Json {
    return conn.userAgent === undefined
      ? { sourceIp: conn.sourceIp }
      : { sourceIp: conn.sourceIp, userAgent: conn.userAgent };
  }

  return {
    port,
    url: `ws://${urlHost}:${port}/${stage}`,
    callbackUrl: `http://${urlHost}:${port}/${stage}`,
    domainName,
    connectionCount: () => [...connections.values()].filter(isLive).length,
    async stop() {
      stopping = true;
      await Promise.allSettled([...handshakes]);
      const open = [...connections.values()];
      for (const conn of open) closeConnection(conn, 1001, 'Going away');
      await Promise.allSettled(open.map((conn) => conn.closed));
      await Promise.allSettled([...background]);
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

// ---- the authorizer's answer -----------------------------------------------------------------------------

type AuthorizerDecision =
  | { readonly kind: 'allow'; readonly principalId: string; readonly context: Record<string, string> }
  | { readonly kind: 'deny' }
  | { readonly kind: 'malformed'; readonly why: string };

/**
 * Evaluates a REQUEST authorizer's IAM policy against the $connect method ARN as API Gateway does: an
 * explicit Deny wins, then an Allow (wildcards `*` and `?` in Action and Resource), and no matching statement
 * denies. Anything API Gateway would reject as an invalid authorizer response (no principalId, no policy, a
 * context value that is not a string, number or boolean) is `malformed`: the client gets 500.
 */
export function evaluateAuthorizerResult(result: unknown, methodArn: string): AuthorizerDecision {
  if (!isRecord(result)) return { kind: 'malformed', why: 'the response is not an object' };
  const { principalId, policyDocument, context } = result;
  if (typeof principalId !== 'string') return { kind: 'malformed', why: 'principalId is not a string' };
  if (!isRecord(policyDocument)) return { kind: 'malformed', why: 'policyDocument is missing' };
  const statements = Array.isArray(policyDocument.Statement)
    ? (policyDocument.Statement as unknown[])
    : isRecord(policyDocument.Statement)
      ? [policyDocument.Statement]
      : undefined;
  if (statements === undefined) return { kind: 'malformed', why: 'policyDocument.Statement is missing' };
  let allowed = false;
  for (const statement of statements) {
    if (!isRecord(statement)) return { kind: 'malformed', why: 'a statement is not an object' };
    const { Effect: effect } = statement;
    const actions = stringList(statement.Action);
    const resources = stringList(statement.Resource);
    if ((effect !== 'Allow' && effect !== 'Deny') || actions === undefined || resources === undefined) {
      return { kind: 'malformed', why: 'a statement lacks a valid Effect, Action or Resource' };
    }
    const applies =
      actions.some((action) => wildcardMatch(action.toLowerCase(), 'execute-api:invoke')) &&
      resources.some((resource) => wildcardMatch(resource, methodArn));
    if (!applies) continue;
    if (effect === 'Deny') return { kind: 'deny' };
    allowed = true;
  }
  if (!allowed) return { kind: 'deny' };
  const values: Record<string, string> = {};
  if (context !== undefined && context !== null) {
    if (!isRecord(context)) return { kind: 'malformed', why: 'context is not an object' };
    for (const [key, value] of Object.entries(context)) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        values[key] = String(value);
      } else {
        return { kind: 'malformed', why: `context.${key} is not a string, number or boolean` };
      }
    }
  }
  return { kind: 'allow', principalId, context: values };
}

function stringList(value: unknown): string[] | undefined {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string')) {
    return value as string[];
  }
  return undefined;
}

function wildcardMatch(pattern: string, value: string): boolean {
  const source = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 's').test(value);
}

/**
 * The value of one identity source (`route.request.header.X`, case-insensitive,
 * `route.request.querystring.X`, `stageVariables.X`, `context.X`); undefined or empty means missing. Local
 * stages have no stage variables, and an expression of another form never has a value (the gateway logs it).
 */
const IDENTITY_SOURCE = /^(route\.request\.(header|querystring)\.|stageVariables\.|context\.)./i;

function identityValue(
  source: string,
  req: IncomingMessage,
  query: URLSearchParams,
  context: Readonly<Record<string, string>>,
): string | undefined {
  const header = /^route\.request\.header\.(.+)$/i.exec(source)?.[1];
  if (header !== undefined) {
    const value = req.headers[header.toLowerCase()];
    return Array.isArray(value) ? value.join(',') : value;
  }
  const parameter = /^route\.request\.querystring\.(.+)$/i.exec(source)?.[1];
  if (parameter !== undefined) return query.getAll(parameter).at(-1);
  const variable = /^context\.(.+)$/.exec(source)?.[1];
  if (variable !== undefined) return context[variable];
  return undefined;
}

// ---- route selection and responses -----------------------------------------------------------------------

/**
 * Evaluates a route selection expression against a message body, as API Gateway documents it:
 * `$request.body.a.b`, or a template such as `${request.body.service}/${request.body.action}` (a path that
 * is not found is ""), or a static value (`\$default` for `$default`). Undefined when the body is not JSON or
 * the single variable has no value: the message goes to `$default`. Values that are not strings are
 * stringified (JSON).
 */
export function selectRouteKey(expression: string, body: string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const single =
    /^\$request\.body\.(.+)$/.exec(expression)?.[1] ?? /^\$\{request\.body\.([^}]+)\}$/.exec(expression)?.[1];
  if (single !== undefined) return stringifyValue(valueAt(json, single));
  if (expression.includes('${')) {
    return expression.replace(
      /\$\{request\.body\.([^}]+)\}/g,
      (_match, path: string) => stringifyValue(valueAt(json, path)) ?? '',
    );
  }
  return expression.replace(/^\\\$/, '$');
}

function valueAt(json: unknown, path: string): unknown {
  let current: unknown = json;
  for (const part of path.split('.')) {
    const segment = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (segment === null) return undefined;
    const [, name = '', indexes = ''] = segment;
    if (name !== '') current = isRecord(current) ? current[name] : undefined;
    for (const index of indexes.matchAll(/\[(\d+)\]/g)) {
      current = Array.isArray(current) ? current[Number(index[1])] : undefined;
    }
    if (current === undefined) return undefined;
  }
  return current;
}

function stringifyValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * What a two-way route sends back: a proxy-shaped result (`statusCode` or `body`) sends its `body`
 * (whatever its status code; base64-decoded to a binary frame when `isBase64Encoded`), nothing without one;
 * any other non-null result is sent as the function's raw JSON response payload (a choice: AWS documents only
 * the proxy shape).
 */
function routeResponse(result: unknown): string | Buffer | undefined {
  if (result === undefined || result === null) return undefined;
  if (isRecord(result) && ('statusCode' in result || 'body' in result)) {
    const { body } = result;
    if (body === undefined || body === null) return undefined;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return result.isBase64Encoded === true ? Buffer.from(text, 'base64') : text;
  }
  return JSON.stringify(result);
}

// ---- HTTP details ----------------------------------------------------------------------------------------

function refusal(status: number, message: string): HandshakeOutcome {
  return { ok: false, status, body: JSON.stringify({ message }) };
}

/** Answers an upgrade request with a plain HTTP error, as API Gateway refuses a handshake. */
function refuse(socket: Duplex, status: number, body: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const payload = Buffer.from(body, 'utf8');
  socket.end(
    Buffer.concat([
      Buffer.from(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
          'Content-Type: application/json\r\n' +
          `Content-Length: ${payload.length}\r\n` +
          'Connection: close\r\n\r\n',
        'latin1',
      ),
      payload,
    ]),
  );
}

function sendJson(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(payload)),
    ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
  });
  res.end(payload);
}

/**
 * Reads a request body; undefined once it passes `limit` bytes (the rest is read and dropped). With 'data'
 * and 'end' listeners: `for await` over the request built an async iterator per `@connections` call, 2.7% of
 * the main thread's time in a 100-member group's fan-out (bench --cpu-prof).
 */
function drain(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.once('end', () => {
      if (size > limit) resolve(undefined);
      else resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks));
    });
    req.once('error', reject);
    // A request aborted before its end: as `for await` did, the read fails.
    req.once('close', () => {
      if (!req.complete) reject(new Error('the request was aborted'));
    });
  });
}

function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return undefined;
  }
}

function isWebSocketHandshake(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  return (
    req.method === 'GET' &&
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    /^[+/0-9A-Za-z]{22}==$/.test(key) &&
    (version === '13' || version === '8')
  );
}

/**
 * Headers as API Gateway passes them: the client's names as sent, the last value in `single` and all values
 * in `multi`, without `skip`, plus the forwarding headers API Gateway adds.
 */
function headerMaps(
  rawHeaders: readonly string[],
  skip: readonly string[],
  added: readonly [string, string][],
): { single: Record<string, string>; multi: Record<string, string[]> } {
  const byName = new Map<string, { name: string; values: string[] }>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? '';
    const value = rawHeaders[i + 1] ?? '';
    const key = name.toLowerCase();
    if (skip.includes(key)) continue;
    const entry = byName.get(key);
    if (entry) entry.values.push(value);
    else byName.set(key, { name, values: [value] });
  }
  for (const [name, value] of added) byName.set(name.toLowerCase(), { name, values: [value] });
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const { name, values } of byName.values()) {
    single[name] = values.at(-1) ?? '';
    multi[name] = values;
  }
  return { single, multi };
}

function queryMaps(params: URLSearchParams): {
  single: Record<string, string> | undefined;
  multi: Record<string, string[]> | undefined;
} {
  const multi: Record<string, string[]> = {};
  for (const [name, value] of params) {
    const values = multi[name] ?? [];
    values.push(value);
    multi[name] = values;
  }
  const names = Object.keys(multi);
  if (names.length === 0) return { single: undefined, multi: undefined };
  const single: Record<string, string> = {};
  for (const name of names) single[name] = multi[name]?.at(-1) ?? '';
  return { single, multi };
}

function sourceIpOf(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '127.0.0.1';
  return address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address;
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

// ---- ids, times, small helpers ---------------------------------------------------------------------------

/** An id shaped like API Gateway's connection and request ids: 11 random bytes, base64url, `=`-padded. */
function awsId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

function traceId(): string {
  const epoch = Math.floor(Date.now() / 1000).toString(16);
  return `Root=1-${epoch}-${randomBytes(12).toString('hex')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's `requestTime`: `09/Feb/2026:10:00:00 +0000`. */
export function requestTime(epochMs: number): string {
  const date = new Date(epochMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()] ?? ''}/${date.getUTCFullYear()}:` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`
  );
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Stage throttling as API Gateway describes it: a bucket refilled at `rateLimit`/s, holding `burstLimit`. */
class TokenBucket {
  private tokens: number;
  private updatedAt = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
    this.updatedAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

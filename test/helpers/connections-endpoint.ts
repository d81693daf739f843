/**
 * A stand-in for API Gateway's `@connections` endpoint, on 127.0.0.1, for integration tests of code that calls
 * it through the real `@aws-sdk/client-apigatewaymanagementapi`: it answers as AWS does (200, 410 GoneException)
 * and records what each connection received. The full local gateway is the local cloud's job.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ConnectionsEndpoint {
  /** The callback URL to give the SDK client, `http://127.0.0.1:<port>/<stage>`. */
  readonly url: string;
  readonly live: Set<string>;
  /** Connection id -> HTTP status to answer with instead of 200 (e.g. 500, 429). */
  readonly failing: Map<string, number>;
  received(connectionId: string): unknown[];
  close(): Promise<void>;
}

export async function startConnectionsEndpoint(stage = 'prod'): Promise<ConnectionsEndpoint> {
  const live = new Set<string>();
  const failing = new Map<string, number>();
  const inbox = new Map<string, unknown[]>();
  const prefix = `/${stage}/@connections/`;

  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const path = req.url ?? '';
    if (!path.startsWith(prefix)) {
      res.writeHead(404).end();
      return;
    }
    const connectionId = decodeURIComponent(path.slice(prefix.length));
    const status = failing.get(connectionId);
    if (status !== undefined) {
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-amzn-errortype': 'InternalServerError',
      });
      res.end(JSON.stringify({ message: 'Internal server error' }));
      return;
    }
    if (!live.has(connectionId)) {
      res.writeHead(410, { 'content-type': 'application/json', 'x-amzn-errortype': 'GoneException' });
      res.end(JSON.stringify({ message: null }));
      return;
    }
    if (req.method === 'POST') {
      const list = inbox.get(connectionId) ?? [];
      list.push(JSON.parse(body.toString('utf8')));
      inbox.set(connectionId, list);
    }
    res.writeHead(200).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${stage}`,
    live,
    failing,
    received: (connectionId) => inbox.get(connectionId) ?? [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

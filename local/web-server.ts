/**
 * The web chat page of `npm start`: bundles web/ with esbuild and serves it on 127.0.0.1, with two dev-only
 * endpoints: `GET /api/config` (where the WebSocket API is) and `GET /api/token?user=<id>` (a development token
 * minted with the local dev secret, so that signing in is typing a user id). Never expose it beyond localhost:
 * anyone who reaches it can act as any user.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { UserId } from '../protocol';
import { REPO_ROOT } from './state';
import { mintToken, readSigningSecret } from './tokens';

export const WEB_SOURCE_DIR = join(REPO_ROOT, 'web');
export const WEB_BUILD_DIR = join(REPO_ROOT, '.herald', 'web');

/** The files the page is made of, by URL path: nothing else is served. */
const FILES = {
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/app.js.map': { file: 'app.js.map', type: 'application/json; charset=utf-8' },
  '/styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
} as const;

/** Bundles the page into `outDir` (app.js, its source map, index.html, styles.css) and reads them back. */
export async function buildWebPage(outDir = WEB_BUILD_DIR): Promise<Map<string, Buffer>> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(WEB_SOURCE_DIR, 'main.tsx')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = new Map<string, Buffer>();
  for (const [path, { file }] of Object.entries(FILES)) {
    const from = file.endsWith('.js') || file.endsWith('.map') ? outDir : WEB_SOURCE_DIR;
    files.set(path, readFileSync(join(from, file)));
  }
  return files;
}

/** Where the dev signing secret lives: Herald's local state, or the e2e target's token source. */
export interface DevTokenSource {
  readonly secretArn: string;
  readonly region: string;
  readonly endpoint?: string;
  readonly issuer: string;
  readonly audience: string;
}

/** Mints tokens like `npm run token`, reading the secret once. */
export function devTokenMinter(source: DevTokenSource): (userId: string) => Promise<string> {
  let secret: Promise<string> | undefined;
  return async (userId) => {
    secret ??= readSigningSecret(source.secretArn, source.region, source.endpoint);
    secret.catch(() => {
      secret = undefined; // try again on the next request
    });
    return mintToken(userId, {
      secret: await secret,
      issuer: source.issuer,
      audience: source.audience,
      expiresIn: '1h',
    });
  };
}

export interface WebServerOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** The WebSocket API the page connects to. */
  readonly wsUrl: string;
  /** Mints a development token for a valid user id. */
  readonly mintToken: (userId: string) => Promise<string>;
  /** Where the bundle goes. @default .herald/web */
  readonly outDir?: string;
}

export interface WebServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export class WebPortInUseError extends Error {
  override readonly name = 'WebPortInUseError';
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const files = await buildWebPage(options.outDir);
  const wsOrigin = new URL(options.wsUrl).origin;
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    `connect-src 'self' ${wsOrigin}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  let port = options.port;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // A page on another site that rebinds its DNS name to 127.0.0.1 must not mint tokens here.
    const host = req.headers.host ?? '';
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return sendJson(res, 403, { error: `unexpected Host header: open http://127.0.0.1:${port}/` });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, 405, { error: 'only GET and HEAD' });
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname === '/api/config') return sendJson(res, 200, { wsUrl: options.wsUrl });
    if (url.pathname === '/api/token') {
      const user = UserId.safeParse(url.searchParams.get('user') ?? '');
      if (!user.success) {
        return sendJson(res, 400, {
          error: 'user must be a user id: 1 to 128 characters of letters, digits and _ . @ | + = -',
        });
      }
      return sendJson(res, 200, { userId: user.data, token: await options.mintToken(user.data) });
    }
    const path = url.pathname === '/' ? '/index.html' : url.pathname;
    const body = files.get(path);
    const entry = FILES[path as keyof typeof FILES] as (typeof FILES)[keyof typeof FILES] | undefined;
    if (!body || !entry) return sendJson(res, 404, { error: `no ${url.pathname} here` });
    res.writeHead(200, {
      'Content-Type': entry.type,
      'Content-Length': body.length,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      ...(path === '/index.html' ? { 'Content-Security-Policy': csp } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: error instanceof Error ? error.message : 'failed' });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new WebPortInUseError(
              `Port ${options.port} of the web chat page is in use: pick another with --web-port.`,
            )
          : error,
      ),
    );
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(text);
}

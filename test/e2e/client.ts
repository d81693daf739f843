/** A WebSocket test client for Herald, on `ws`: connects with a token, records frames, waits for them. */
import { inject } from 'vitest';
import WebSocket from 'ws';
import { mintToken, readSigningSecret } from '../../local/tokens';
import { type AckFrame, type ConversationEvent, type ErrorFrame, ServerFrame } from '../../protocol';

type MessageEvent = Extract<ConversationEvent, { kind: 'message' }>;

const target = () => inject('heraldTarget');
let secret: Promise<string> | undefined;

export async function tokenFor(userId: string, overrides: { audience?: string; expiresIn?: number } = {}) {
  const t = target();
  if ('preMinted' in t.tokens) {
    const token = process.env[`HERALD_TOKEN_${userId.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`];
    if (!token) throw new Error(`set HERALD_TOKEN_${userId.toUpperCase()} or HERALD_DEV_SECRET_ARN`);
    return token;
  }
  const source = t.tokens;
  secret ??= readSigningSecret(source.secretArn, source.region, source.endpoint);
  return mintToken(userId, {
    secret: await secret,
    issuer: source.issuer,
    audience: overrides.audience ?? source.audience,
    ...(overrides.expiresIn === undefined ? {} : { expiresIn: overrides.expiresIn }),
  });
}

export class TestClient {
  readonly frames: ServerFrame[] = [];
  readonly raw: string[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly userId: string,
    readonly ws: WebSocket,
  ) {
    ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      const parsed = ServerFrame.safeParse(JSON.parse(text));
      if (parsed.success) this.frames.push(parsed.data);
      this.notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.notify();
    });
  }

  /** Opens a connection as `userId`; rejects with the HTTP status when the handshake is refused. */
  static async connect(userId: string, token?: string | null): Promise<TestClient> {
    const t = target();
    const query = token === null ? '' : `?token=${encodeURIComponent(token ?? (await tokenFor(userId)))}`;
    const ws = new WebSocket(`${t.wsUrl}${query}`);
    const client = new TestClient(userId, ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new HandshakeRefused(res.statusCode ?? 0)));
      ws.once('error', reject);
    });
    return client;
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  sendMessage(conversationId: string, clientMessageId: string, text = clientMessageId): void {
    this.send({ action: 'send', v: 1, conversationId, clientMessageId, text });
  }

  events(conversationId?: string): ConversationEvent[] {
    return this.frames
      .flatMap((f) => (f.type === 'event' ? [f.event] : []))
      .filter((e) => conversationId === undefined || e.conversationId === conversationId);
  }

  messages(conversationId?: string): MessageEvent[] {
    return this.frames
      .flatMap((f) => (f.type === 'event' && f.event.kind === 'message' ? [f.event] : []))
      .filter((m) => conversationId === undefined || m.conversationId === conversationId);
  }
  acks(): AckFrame[] {
    return this.frames.filter((f): f is AckFrame => f.type === 'ack');
  }
  errors(): ErrorFrame[] {
    return this.frames.filter((f): f is ErrorFrame => f.type === 'error');
  }

  /** Resolves once `check` stops throwing (re-checked on every frame), or rejects after `timeoutMs`. */
  async until(check: () => void, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        check();
        return;
      } catch (error) {
        const left = deadline - Date.now();
        if (left <= 0) throw error;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 250));
          this.waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.ws.close(1000, 'bye');
    await this.until(() => {
      if (!this.closed) throw new Error('not closed yet');
    });
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

export class HandshakeRefused extends Error {
  constructor(readonly status: number) {
    super(`handshake refused with HTTP ${status}`);
  }
}

export const unique = (prefix: string) => `${prefix}${Math.random().toString(36).slice(2, 8)}`;

export function directId(a: string, b: string): string {
  return a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
}

/**
 * A small in-process Herald for the SDK's socket tests: a `ws` server that speaks the protocol (send with ack and
 * fan-out, sync with paging, history, listConversations, ping/pong), with hooks to misbehave.
 */
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { tokenSubject } from '../../../client/ids';
import {
  type ClientFrame,
  ClientFrame as ClientFrameSchema,
  type ConversationEvent,
  type ServerFrame,
} from '../../../protocol';

export interface FakeConnection {
  readonly userId: string;
  readonly token: string;
  readonly ws: WebSocket;
  readonly received: ClientFrame[];
}

/** Returns true when it handled the frame itself. */
export type Hook = (conn: FakeConnection, frame: ClientFrame) => boolean;

export class FakeHerald {
  readonly connections: FakeConnection[] = [];
  readonly received: { userId: string; frame: ClientFrame }[] = [];
  readonly events = new Map<string, ConversationEvent[]>();
  answerPings = true;
  /** Events per sync result before `hasMore` (the real server's byte budget, scaled down). */
  syncPage = 100;
  hook: Hook | undefined;
  private readonly seen = new Map<string, ConversationEvent>();
  private waiters: (() => void)[] = [];

  private constructor(private readonly wss: WebSocketServer) {
    wss.on('connection', (ws, request) => {
      const token = new URL(request.url ?? '/', 'http://x').searchParams.get('token') ?? '';
      const conn: FakeConnection = { userId: tokenSubject(token) ?? 'nobody', token, ws, received: [] };
      this.connections.push(conn);
      ws.on('message', (data) => {
        const frame = ClientFrameSchema.parse(JSON.parse(data.toString()));
        conn.received.push(frame);
        this.received.push({ userId: conn.userId, frame });
        if (!this.hook?.(conn, frame)) this.handle(conn, frame);
        this.notify();
      });
      ws.on('close', () => this.notify());
      this.notify();
    });
  }

  /** While set, handshakes wait here until released: a connection that is slow to open. */
  heldHandshakes: (() => void)[] | undefined;

  static async start(): Promise<FakeHerald> {
    let server: FakeHerald | undefined;
    const wss = new WebSocketServer({
      port: 0,
      host: '127.0.0.1',
      verifyClient: (_info, done) => {
        if (server?.heldHandshakes) server.heldHandshakes.push(() => done(true));
        else done(true);
        server?.notify();
      },
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    server = new FakeHerald(wss);
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/prod`;
  }

  /** Live connections of a user. */
  live(userId: string): FakeConnection[] {
    return this.connections.filter((c) => c.userId === userId && c.ws.readyState === WebSocket.OPEN);
  }

  /** Stores an event as the server would (next seq) and pushes it to every live connection but `except`. */
  append(
    conversationId: string,
    actorId: string,
    clientMessageId: string,
    text: string,
    options: { except?: FakeConnection; push?: boolean } = {},
  ): ConversationEvent {
    const key = `${conversationId}/${actorId}/${clientMessageId}`;
    const existing = this.seen.get(key);
    if (existing) return existing;
    const log = this.events.get(conversationId) ?? [];
    this.events.set(conversationId, log);
    const event: ConversationEvent = {
      kind: 'message',
      conversationId,
      seq: log.length + 1,
      at: 1_800_000_000_000 + log.length,
      actorId,
      clientMessageId,
      text,
    };
    log.push(event);
    this.seen.set(key, event);
    if (options.push ?? true) {
      for (const c of this.connections) {
        if (c !== options.except && c.ws.readyState === WebSocket.OPEN) {
          this.push(c, { type: 'event', v: 1, event });
        }
      }
    }
    return event;
  }

  push(conn: FakeConnection, frame: ServerFrame | string): void {
    conn.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  handle(conn: FakeConnection, frame: ClientFrame): void {
    switch (frame.action) {
      case 'send': {
        const event = this.append(frame.conversationId, conn.userId, frame.clientMessageId, frame.text, {
          except: conn,
        });
        this.push(conn, {
          type: 'ack',
          v: 1,
          conversationId: event.conversationId,
          clientMessageId: event.clientMessageId,
          seq: event.seq,
          at: event.at,
        });
        return;
      }
      case 'createGroup': {
        const conversationId = `grp:${frame.clientMessageId.replace(/-/g, '').slice(0, 22)}`;
        const members = [conn.userId, ...frame.members.filter((m) => m !== conn.userId)];
        const event: ConversationEvent = {
          kind: 'group.created',
          conversationId,
          seq: 1,
          at: 1_800_000_000_000,
          actorId: conn.userId,
          clientMessageId: frame.clientMessageId,
          name: frame.name.trim(),
          members,
        };
        this.events.set(conversationId, [event]);
        for (const c of this.connections) {
          if (c !== conn && c.ws.readyState === WebSocket.OPEN) this.push(c, { type: 'event', v: 1, event });
        }
        this.push(conn, {
          type: 'ack',
          v: 1,
          conversationId,
          clientMessageId: frame.clientMessageId,
          seq: 1,
          at: event.at,
        });
        return;
      }
      case 'ping':
        if (this.answerPings)
          this.push(conn, {
            type: 'pong',
            v: 1,
            at: Date.now(),
            ...(frame.requestId ? { requestId: frame.requestId } : {}),
          });
        return;
      case 'sync': {
        const results = frame.positions.map(({ conversationId, afterSeq }) => {
          const after = (this.events.get(conversationId) ?? []).filter((e) => e.seq > afterSeq);
          const events = after.slice(0, this.syncPage);
          const lastSeq = this.events.get(conversationId)?.length ?? 0;
          return { conversationId, events, hasMore: after.length > events.length, lastSeq };
        });
        this.push(conn, { type: 'sync', v: 1, requestId: frame.requestId, results });
        return;
      }
      case 'history': {
        const log = this.events.get(frame.conversationId) ?? [];
        const limit = frame.limit ?? 50;
        const all =
          frame.afterSeq !== undefined
            ? log.filter((e) => e.seq > (frame.afterSeq ?? 0)).slice(0, limit)
            : log.filter((e) => e.seq < (frame.beforeSeq ?? Number.POSITIVE_INFINITY)).slice(-limit);
        const hasMore =
          frame.afterSeq !== undefined ? (all.at(-1)?.seq ?? 0) < log.length : (all[0]?.seq ?? 1) > 1;
        this.push(conn, {
          type: 'history',
          v: 1,
          requestId: frame.requestId,
          conversationId: frame.conversationId,
          events: all,
          hasMore,
          lastSeq: log.length,
        });
        return;
      }
      case 'listConversations':
        this.push(conn, {
          type: 'conversations',
          v: 1,
          requestId: frame.requestId,
          items: [...this.events].map(([conversationId, log]) => ({
            conversationId,
            kind: 'direct' as const,
            lastSeq: log.length,
            readSeq: 0,
            unread: log.length,
          })),
        });
        return;
      default:
        return;
    }
  }

  /** Resolves once `check` returns a value other than undefined/false, re-checked after every frame and close. */
  async until<T>(check: () => T | undefined | false, timeoutMs = 5_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value;
      if (Date.now() > deadline) throw new Error('FakeHerald.until: timed out');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** An unsigned JWT-shaped token whose `sub` is the user: the fake server and the SDK read it. */
export function fakeToken(userId: string, claims: Record<string, unknown> = {}): string {
  return `e30.${Buffer.from(JSON.stringify({ sub: userId, ...claims })).toString('base64url')}.x`;
}

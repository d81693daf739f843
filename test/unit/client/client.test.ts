import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { HeraldClient, type HeraldClientOptions } from '../../../client/client';
import { HeraldError } from '../../../client/errors';
import type { HeraldEventMap } from '../../../client/events';
import { LocalStorageStore, MemoryStore } from '../../../client/store';
import type { ConversationEvent } from '../../../protocol';
import { FakeHerald, fakeToken } from './fake-herald';

const conv = 'dm:alice:bob';
let server: FakeHerald;
const clients: HeraldClient[] = [];

beforeEach(async () => {
  server = await FakeHerald.start();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server.stop();
});

function makeClient(userId: string, options: Partial<HeraldClientOptions> = {}) {
  let tokens = 0;
  const client = new HeraldClient({
    url: server.url,
    token: async () => {
      tokens += 1;
      return fakeToken(userId);
    },
    WebSocket,
    backoff: { baseMs: 20, maxMs: 100 },
    discoverConversations: false,
    ...options,
  });
  clients.push(client);
  const events: ConversationEvent[] = [];
  const errors: HeraldError[] = [];
  const states: string[] = [];
  client.on('event', (e) => events.push(e));
  client.on('error', (e) => errors.push(e));
  client.on('state', (s) => states.push(s.state));
  return { client, events, errors, states, tokens: () => tokens };
}

function next<K extends keyof HeraldEventMap>(
  client: HeraldClient,
  type: K,
  accept: (payload: HeraldEventMap[K]) => boolean = () => true,
): Promise<HeraldEventMap[K]> {
  return new Promise((resolve) => {
    const off = client.on(type, (payload) => {
      if (!accept(payload)) return;
      off();
      resolve(payload);
    });
  });
}

const texts = (events: readonly ConversationEvent[]) =>
  events.map((e) => (e.kind === 'message' ? e.text : e.kind));
const seqsOf = (events: readonly ConversationEvent[], conversationId = conv) =>
  events.filter((e) => e.conversationId === conversationId).map((e) => e.seq);

/** bob's message `seq` in `conv`, as the server writes it. */
const message = (seq: number) => ({
  kind: 'message' as const,
  conversationId: conv,
  seq,
  at: seq,
  actorId: 'bob',
  clientMessageId: `b${seq}`,
  text: `m${seq}`,
});

/** Answers every sync with `results`, as raw JSON a later server might write, instead of the fake's own answer. */
function answerSyncsWith(results: readonly unknown[], extra: Readonly<Record<string, unknown>> = {}): void {
  server.hook = (conn, frame) => {
    if (frame.action !== 'sync') return false;
    server.push(conn, JSON.stringify({ type: 'sync', v: 1, requestId: frame.requestId, ...extra, results }));
    return true;
  };
}

describe('HeraldClient against a fake Herald', () => {
  it('send resolves with the ack; the other user gets the event; both see it once, in order', async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    expect(alice.client.userId).toBe('alice');

    const bobGotIt = next(bob.client, 'message');
    const ack = await alice.client.send(conv, 'Hi Bob');
    expect(ack).toMatchObject({ conversationId: conv, seq: 1 });
    expect((await bobGotIt).text).toBe('Hi Bob');
    const second = await bob.client.send(conv, 'Hi Alice');
    expect(second.seq).toBe(2);
    await server.until(() => alice.events.length === 2);
    expect(texts(alice.events)).toEqual(['Hi Bob', 'Hi Alice']);
    expect(alice.events[0]).toMatchObject({
      actorId: 'alice',
      clientMessageId: ack.clientMessageId,
      at: ack.at,
    });
    expect(seqsOf(bob.events)).toEqual([1, 2]);
    expect(alice.client.positions()).toEqual({ [conv]: 2 });
  });

  it('rejects with a HeraldError carrying the server code when an error quotes the clientMessageId', async () => {
    server.hook = (conn, frame) => {
      if (frame.action !== 'send' || frame.text !== 'nope') return false;
      server.push(conn, {
        type: 'error',
        v: 1,
        code: 'NOT_A_MEMBER',
        message: 'no',
        clientMessageId: frame.clientMessageId,
      });
      return true;
    };
    const { client } = makeClient('alice');
    await client.connect();
    const refused = client.send('grp:x', 'nope');
    await expect(refused).rejects.toBeInstanceOf(HeraldError);
    await expect(refused).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    expect(client.pendingCommands).toBe(0);
    await expect(client.send('x', '')).rejects.toMatchObject({ code: 'INVALID_FRAME' });
  });

  it('sends again with the same clientMessageId after RATE_LIMITED', async () => {
    let refusals = 0;
    server.hook = (conn, frame) => {
      if (frame.action !== 'send' || refusals > 0) return false;
      refusals += 1;
      server.push(conn, {
        type: 'error',
        v: 1,
        code: 'RATE_LIMITED',
        message: 'slow down',
        clientMessageId: frame.clientMessageId,
      });
      return true;
    };
    const { client } = makeClient('alice', { retryDelayMs: 30 });
    await client.connect();
    const ack = await client.send(conv, 'again');
    const sends = server.received.filter((r) => r.frame.action === 'send');
    expect(sends).toHaveLength(2);
    expect(sends.map((s) => (s.frame.action === 'send' ? s.frame.clientMessageId : ''))).toEqual([
      ack.clientMessageId,
      ack.clientMessageId,
    ]);
  });

  it('finds a command whose ack was lost with sync, and resolves it with the stored seq', async () => {
    server.hook = (conn, frame) => {
      if (frame.action !== 'send') return false;
      server.append(frame.conversationId, conn.userId, frame.clientMessageId, frame.text, { except: conn });
      return true; // stored, never acked: the resend within 5 minutes is dropped by the real queue too
    };
    const store = new MemoryStore();
    store.setPosition(conv, 0);
    const { client, events } = makeClient('alice', { commandTimeoutMs: 100, store });
    await client.connect();
    const ack = await client.send(conv, 'lost ack');
    expect(ack.seq).toBe(1);
    expect(server.received.filter((r) => r.frame.action === 'sync')).toHaveLength(2); // on connect, on timeout
    await server.until(() => events.length === 1);
    expect(texts(events)).toEqual(['lost ack']);

    // In a conversation the SDK does not follow, the newest history page is searched instead.
    const ack2 = await client.send('dm:alice:carol', 'lost too');
    expect(ack2.seq).toBe(1);
    expect(server.received.filter((r) => r.frame.action === 'history')).toHaveLength(1);
  });

  it('orders its own acked message before a later event of the other user that arrived first', async () => {
    let pendingAck: (() => void) | undefined;
    server.hook = (conn, frame) => {
      if (frame.action !== 'send' || conn.userId !== 'alice') return false;
      const event = server.append(frame.conversationId, 'alice', frame.clientMessageId, frame.text, {
        except: conn,
      });
      server.append(conv, 'bob', 'b-late', 'from bob');
      server.push(conn, 'barrier'); // not JSON: its error event proves bob's frame before it was handled
      pendingAck = () =>
        server.push(conn, {
          type: 'ack',
          v: 1,
          conversationId: conv,
          clientMessageId: event.clientMessageId,
          seq: 1,
          at: event.at,
        });
      return true;
    };
    const store = new MemoryStore();
    store.setPosition(conv, 0); // a conversation the SDK follows (from its start)
    const { client, events, errors } = makeClient('alice', { gapTimeoutMs: 5_000, store });
    await client.connect();
    const sent = client.send(conv, 'mine');
    await server.until(() => pendingAck);
    await server.until(() => errors.length === 1);
    expect(events).toEqual([]); // bob's seq 2 is held until alice's seq 1 is known
    pendingAck?.();
    await sent;
    await server.until(() => events.length === 2);
    expect(texts(events)).toEqual(['mine', 'from bob']);
  });

  it("creates a group: the ack names it, and the creator's group.created event is fetched, not invented", async () => {
    const alice = makeClient('alice');
    const bob = makeClient('bob');
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    const created = next(alice.client, 'group.created');
    const ack = await alice.client.createGroup('  Trip  ', ['bob']);
    expect(ack.conversationId).toMatch(/^grp:/);
    expect(await created).toMatchObject({
      conversationId: ack.conversationId,
      name: 'Trip',
      members: ['alice', 'bob'],
    });
    expect(server.received.find((r) => r.frame.action === 'sync')?.frame).toMatchObject({
      positions: [{ conversationId: ack.conversationId, afterSeq: 0 }],
    });
    await server.until(() => bob.events.length === 1);
    expect(bob.events[0]).toMatchObject({ kind: 'group.created', seq: 1 });
    expect(alice.client.positions()).toEqual({ [ack.conversationId]: 1 });
    expect(alice.events).toHaveLength(1);
  });

  it('fills a gap in the live stream with sync', async () => {
    const { client, events } = makeClient('alice', { gapTimeoutMs: 50 });
    await client.connect();
    server.append(conv, 'bob', 'b1', 'one');
    await server.until(() => events.length === 1);
    server.append(conv, 'bob', 'b2', 'two', { push: false });
    server.append(conv, 'bob', 'b3', 'three');
    await server.until(() => events.length === 3);
    expect(texts(events)).toEqual(['one', 'two', 'three']);
  });

  it('reconnects after a forced close with a fresh token and catches up: every event once, in order', async () => {
    const alice = makeClient('alice');
    await alice.client.connect();
    server.append(conv, 'bob', 'b1', 'm1');
    await server.until(() => alice.events.length === 1);

    server.syncPage = 2; // several sync rounds (hasMore)
    let injected = false;
    server.hook = (_conn, frame) => {
      if (frame.action !== 'sync' || injected) return false;
      injected = true;
      server.append(conv, 'bob', 'b7', 'm7'); // a live event, pushed before the sync answer, also in it
      return false;
    };
    const reopened = next(alice.client, 'synced');
    for (const c of server.live('alice')) c.ws.terminate();
    await next(alice.client, 'state', (s) => s.state === 'reconnecting');
    for (let n = 2; n <= 6; n++) server.append(conv, 'bob', `b${n}`, `m${n}`);
    await reopened;
    await server.until(() => alice.events.length >= 7);
    expect(texts(alice.events)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(alice.tokens()).toBe(2);
    expect(alice.states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    const syncs = server.received.filter((r) => r.frame.action === 'sync').map((r) => r.frame);
    expect(syncs[0]).toMatchObject({ positions: [{ conversationId: conv, afterSeq: 1 }] });
    expect(syncs.length).toBeGreaterThanOrEqual(3);
  });

  it('pages history forwards when sync answers gap', async () => {
    server.hook = (conn, frame) => {
      if (frame.action !== 'sync') return false;
      server.push(conn, {
        type: 'sync',
        v: 1,
        requestId: frame.requestId,
        results: frame.positions.map((p) => ({
          conversationId: p.conversationId,
          gap: true as const,
          lastSeq: 150,
        })),
      });
      return true;
    };
    for (let n = 1; n <= 150; n++) server.append(conv, 'bob', `b${n}`, `m${n}`, { push: false });
    const store = new MemoryStore();
    store.setPosition(conv, 10);
    const { client, events } = makeClient('alice', { store });
    await client.connect();
    expect(seqsOf(events)).toEqual(Array.from({ length: 140 }, (_, i) => i + 11));
    expect(server.received.filter((r) => r.frame.action === 'history')).toHaveLength(2);
    expect(store.load().positions[conv]).toBe(150);
  });

  it('queues sends while offline, persists them, and flushes them in order on reconnect', async () => {
    const store = new MemoryStore();
    const { client } = makeClient('alice', {
      store,
      backoff: { baseMs: 300, maxMs: 300 },
      random: () => 0.99,
    });
    await client.connect();
    const lost = next(client, 'state', (s) => s.state === 'reconnecting');
    for (const c of server.live('alice')) c.ws.terminate();
    await lost;
    const sends = ['first', 'second', 'third'].map((text) => client.send(conv, text));
    expect(store.load().pending.map((c) => (c.frame.action === 'send' ? c.frame.text : ''))).toEqual([
      'first',
      'second',
      'third',
    ]);
    const acks = await Promise.all(sends);
    expect(acks.map((a) => a.seq)).toEqual([1, 2, 3]);
    expect(server.events.get(conv)?.map((e) => (e.kind === 'message' ? e.text : ''))).toEqual([
      'first',
      'second',
      'third',
    ]);
    expect(store.load().pending).toEqual([]);
  });

  it('sends the commands a previous session left in the store, and reports their acks as events', async () => {
    const store = new MemoryStore();
    store.putPending({
      frame: {
        action: 'send',
        v: 1,
        conversationId: conv,
        clientMessageId: 'left-over',
        text: 'from before',
      },
      createdAt: 0,
    });
    const { client } = makeClient('alice', { store });
    const acked = next(client, 'ack');
    await client.connect();
    expect(await acked).toMatchObject({ clientMessageId: 'left-over', seq: 1 });
    expect(store.load().pending).toEqual([]);
  });

  it('sends the highest read position of each conversation on reconnect; drops typing while offline', async () => {
    const { client } = makeClient('alice', { backoff: { baseMs: 300, maxMs: 300 }, random: () => 0.99 });
    await client.connect();
    client.markRead(conv, 3);
    await server.until(() => server.received.some((r) => r.frame.action === 'markRead'));
    const lost = next(client, 'state', (s) => s.state === 'reconnecting');
    for (const c of server.live('alice')) c.ws.terminate();
    await lost;
    client.markRead(conv, 5);
    client.markRead(conv, 4);
    client.markRead('grp:other', 9);
    client.typing(conv, 'start');
    await next(client, 'synced');
    await server.until(() => server.received.filter((r) => r.frame.action === 'markRead').length === 3);
    const reads = server.received.flatMap((r) => (r.frame.action === 'markRead' ? [r.frame] : []));
    expect(reads.map((f) => [f.conversationId, f.seq])).toEqual([
      [conv, 3],
      [conv, 5],
      ['grp:other', 9],
    ]);
    expect(reads.every((f) => typeof f.requestId === 'string')).toBe(true);
    expect(server.received.some((r) => r.frame.action === 'typing')).toBe(false);
  });

  it('keeps unanswered sends in a LocalStorageStore across a restart, and the next client flushes them in order', async () => {
    const items = new Map<string, string>();
    const storage = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    };
    let acking = false;
    server.hook = (_conn, frame) => frame.action === 'send' && !acking; // the server takes nothing yet
    const first = makeClient('alice', { store: new LocalStorageStore(storage, 'herald:alice') });
    await first.client.connect();
    const lost = ['one', 'two', 'three'].map((text) =>
      first.client.send(conv, text).catch((e: unknown) => e),
    );
    await server.until(() => server.received.some((r) => r.frame.action === 'send'));
    first.client.close();
    for (const outcome of await Promise.all(lost)) expect(outcome).toMatchObject({ code: 'CLOSED' });
    expect(JSON.parse(items.get('herald:alice:pending') ?? '[]')).toHaveLength(3);

    acking = true;
    const second = makeClient('alice', { store: new LocalStorageStore(storage, 'herald:alice') });
    const acks: number[] = [];
    second.client.on('ack', (a) => acks.push(a.seq));
    await second.client.connect();
    await server.until(() => acks.length === 3);
    expect(server.events.get(conv)?.map((e) => (e.kind === 'message' ? e.text : ''))).toEqual([
      'one',
      'two',
      'three',
    ]);
    expect(texts(second.events)).toEqual(['one', 'two', 'three']); // its own messages, from the acks
    expect(JSON.parse(items.get('herald:alice:pending') ?? '[]')).toEqual([]);
    expect(JSON.parse(items.get('herald:alice:positions') ?? '{}')).toEqual({ [conv]: 3 });
  });

  it('a connection lost while its renewal is opening hands over to the renewal', async () => {
    const { client, states } = makeClient('alice', { renewAfterMs: 100, renewJitterMs: 0 });
    await client.connect();
    server.heldHandshakes = [];
    const held = server.heldHandshakes;
    await server.until(() => held.length === 1); // the renewal's handshake hangs
    for (const c of server.live('alice')) c.ws.terminate();
    await next(client, 'state', (s) => s.state === 'reconnecting');
    server.heldHandshakes = undefined;
    const synced = next(client, 'synced');
    for (const release of held) release();
    await synced;
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(server.connections).toHaveLength(2); // no reconnection of its own: the renewal was it
    expect((await client.send(conv, 'back')).seq).toBe(1);
  });

  it('a renewal whose token comes after a reconnection replaced its connection is dropped', async () => {
    let calls = 0;
    let renewalToken: (() => void) | undefined;
    const opened: string[] = [];
    class Recorded extends WebSocket {
      constructor(url: string) {
        super(url);
        opened.push(new URL(url).searchParams.get('token') ?? '');
      }
    }
    const { client, states } = makeClient('alice', {
      WebSocket: Recorded,
      renewAfterMs: 100,
      renewJitterMs: 0,
      token: () => {
        calls += 1;
        if (calls !== 2) return fakeToken('alice', { call: calls });
        return new Promise<string>((resolve) => {
          renewalToken = () => resolve(fakeToken('alice', { call: 2 }));
        });
      },
    });
    await client.connect();
    await server.until(() => renewalToken);
    const reconnected = next(client, 'synced');
    for (const c of server.live('alice')) c.ws.terminate();
    await reconnected;
    renewalToken?.();
    expect((await client.send(conv, 'after')).seq).toBe(1); // a round trip after the late token
    expect(opened).not.toContain(fakeToken('alice', { call: 2 })); // the late renewal opened nothing
    expect(opened.slice(0, 2)).toEqual([fakeToken('alice', { call: 1 }), fakeToken('alice', { call: 3 })]);
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    client.close();
  });

  it('retries a handshake whose socket reports an error and never closes (Node’s WebSocket on a 401)', async () => {
    let refused = 0;
    /** The first socket behaves like Node 22's global WebSocket refused with 401: `error`, then nothing. */
    class RefusedOnce {
      static instances = 0;
      private readonly inner: WebSocket | undefined;
      private readonly listeners = new Map<string, ((event: unknown) => void)[]>();
      constructor(url: string) {
        if (RefusedOnce.instances++ === 0) {
          refused += 1;
          setTimeout(() => {
            for (const listener of this.listeners.get('error') ?? []) listener(new Error('401'));
          }, 5);
        } else {
          this.inner = new WebSocket(url);
        }
      }
      get readyState() {
        return this.inner?.readyState ?? 0;
      }
      addEventListener(type: string, listener: (event: never) => void) {
        if (this.inner) this.inner.addEventListener(type as 'open', listener as () => void);
        else
          this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener as (e: unknown) => void]);
      }
      send(data: string) {
        this.inner?.send(data);
      }
      close() {
        this.inner?.close();
      }
    }
    const alice = makeClient('alice', {
      WebSocket: RefusedOnce as unknown as HeraldClientOptions['WebSocket'],
    });
    await alice.client.connect();
    expect(refused).toBe(1);
    expect(alice.states).toContain('reconnecting');
    expect(alice.client.state).toBe('open');
    expect(alice.tokens()).toBe(2);
  });

  it('pings when idle, and replaces a connection whose pong does not come', async () => {
    const { client, states } = makeClient('alice', { pingIntervalMs: 40, pongTimeoutMs: 80 });
    await client.connect();
    await server.until(() => server.received.filter((r) => r.frame.action === 'ping').length >= 3);
    expect(server.connections).toHaveLength(1); // answered pings keep the connection
    const ping = server.received.find((r) => r.frame.action === 'ping')?.frame;
    expect(ping).toMatchObject({ action: 'ping', v: 1, requestId: expect.any(String) });

    server.answerPings = false;
    await next(client, 'state', (s) => s.state === 'reconnecting');
    server.answerPings = true;
    await next(client, 'state', (s) => s.state === 'open');
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(server.connections).toHaveLength(2);
  });

  it('renews the connection: opens the new one, catches up, closes the old one; nothing lost or repeated', async () => {
    const { client, events, states } = makeClient('alice', { renewAfterMs: 200, renewJitterMs: 0 });
    await client.connect();
    server.append(conv, 'bob', 'b1', 'm1');
    await server.until(() => server.connections.length === 2);
    // Both connections are live now: bob's events reach both, the SDK shows each once.
    server.append(conv, 'bob', 'b2', 'm2');
    server.append(conv, 'bob', 'b3', 'm3');
    await server.until(() => server.connections[0]?.ws.readyState === WebSocket.CLOSED);
    server.append(conv, 'bob', 'b4', 'm4');
    await server.until(() => events.length >= 4);
    expect(texts(events)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(states).toEqual(['connecting', 'open']);
    const ack = await client.send(conv, 'after renewal');
    expect(ack.seq).toBe(5);
    expect(server.connections[1]?.received.some((f) => f.action === 'send')).toBe(true);
    client.close();
  });

  it('reports invalid server frames as error events and carries on', async () => {
    const { client, errors } = makeClient('alice');
    await client.connect();
    const conn = server.live('alice')[0];
    if (!conn) throw new Error('no connection');
    server.push(conn, 'not json');
    server.push(conn, JSON.stringify({ type: 'event', v: 1, event: { kind: 'nope' } }));
    await server.until(() => errors.length === 2);
    expect(errors.map((e) => e.code)).toEqual(['INVALID_SERVER_FRAME', 'INVALID_SERVER_FRAME']);
    expect((await client.send(conv, 'still fine')).seq).toBe(1);
  });

  it('keeps a frame, and a sync page, carrying a field it does not know, and drops the field', async () => {
    // A later server within protocol v1 may add fields (docs/protocol.md, "Forward compatibility").
    answerSyncsWith(
      [
        {
          conversationId: conv,
          events: [{ ...message(2), reactions: {} }],
          hasMore: false,
          lastSeq: 2,
          x: 1,
        },
      ],
      { servedBy: 'later' },
    );
    const store = new MemoryStore();
    store.setPosition(conv, 1);
    const { client, events, errors } = makeClient('alice', { store });
    await client.connect();
    expect(events).toEqual([message(2)]);
    const conn = server.live('alice')[0];
    if (!conn) throw new Error('no connection');
    server.push(
      conn,
      JSON.stringify({ type: 'event', v: 1, event: { ...message(3), pinned: true }, shard: 7 }),
    );
    await server.until(() => events.length === 2);
    expect(events).toEqual([message(2), message(3)]);
    expect(errors).toEqual([]);
    expect(client.positions()).toEqual({ [conv]: 3 });
  });

  it('answers queries by requestId, and rejects them with the server code', async () => {
    for (let n = 1; n <= 5; n++) server.append(conv, 'bob', `b${n}`, `m${n}`, { push: false });
    server.hook = (conn, frame) => {
      if (frame.action !== 'listMembers') return false;
      server.push(conn, {
        type: 'error',
        v: 1,
        code: 'NOT_A_MEMBER',
        message: 'no',
        requestId: frame.requestId,
      });
      return true;
    };
    const { client } = makeClient('alice');
    await client.connect();
    const [older, newer] = await Promise.all([
      client.history(conv, { beforeSeq: 3 }),
      client.history(conv, { afterSeq: 3, limit: 1 }),
    ]);
    expect(older).toMatchObject({ conversationId: conv, hasMore: false, lastSeq: 5 });
    expect(seqsOf(older.events)).toEqual([1, 2]);
    expect(seqsOf(newer.events)).toEqual([4]);
    expect(newer.hasMore).toBe(true);
    await expect(client.listMembers('grp:other')).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    const page = await client.listConversations();
    expect(page.items.map((i) => i.conversationId)).toEqual([conv]);
  });

  it('discovers conversations on connect and follows them from their lastSeq', async () => {
    for (let n = 1; n <= 3; n++) server.append(conv, 'bob', `b${n}`, `m${n}`, { push: false });
    const { client, events } = makeClient('alice', { discoverConversations: true });
    const listed = next(client, 'conversations');
    await client.connect();
    expect((await listed).map((c) => c.conversationId)).toEqual([conv]);
    expect(client.positions()).toEqual({ [conv]: 3 });
    server.append(conv, 'bob', 'b4', 'm4');
    await server.until(() => events.length === 1);
    expect(seqsOf(events)).toEqual([4]);
  });

  it('close() rejects what is unanswered with CLOSED', async () => {
    server.hook = (_conn, frame) => frame.action === 'send';
    const { client, states } = makeClient('alice');
    await client.connect();
    const sent = client.send(conv, 'never answered');
    await server.until(() => server.received.some((r) => r.frame.action === 'send'));
    client.close();
    await expect(sent).rejects.toMatchObject({ code: 'CLOSED' });
    expect(states.at(-1)).toBe('closed');
  });
});

describe('forward compatibility: event kinds and frame types a later server adds within v1', () => {
  /** An event of a kind this SDK does not know, with fields of its own. */
  const pinned = (seq: number) => ({
    kind: 'message.pinned',
    conversationId: conv,
    seq,
    at: seq,
    actorId: 'bob',
    clientMessageId: `p${seq}`,
    pinnedSeq: 1,
  });
  const pushTo = (userId: string, frame: unknown) => {
    const conn = server.live(userId)[0];
    if (!conn) throw new Error('no connection');
    server.push(conn, JSON.stringify(frame));
  };
  /** A client that follows `conv` from `from`, and what it emits besides events and errors. */
  function follower(from: number, options: Partial<HeraldClientOptions> = {}) {
    const store = new MemoryStore();
    store.setPosition(conv, from);
    const made = makeClient('alice', { store, gapTimeoutMs: 50, ...options });
    const unsupported: HeraldEventMap['unsupported'][] = [];
    const byKind: string[] = [];
    made.client.on('unsupported', (u) => unsupported.push(u));
    made.client.on('message', (m) => byKind.push(`message ${m.seq}`));
    const syncs = () => server.received.filter((r) => r.frame.action === 'sync').length;
    return { ...made, store, unsupported, byKind, syncs };
  }

  it('passes a live event of an unknown kind: the known ones around it arrive in order, no gap, no sync', async () => {
    const alice = follower(0);
    await alice.client.connect();
    expect(alice.syncs()).toBe(1); // the catch-up on connect
    pushTo('alice', { type: 'event', v: 1, event: message(1) });
    pushTo('alice', { type: 'event', v: 1, event: pinned(2) });
    pushTo('alice', { type: 'event', v: 1, event: message(3) });
    pushTo('alice', { type: 'event', v: 1, event: pinned(4) }); // the same kind again: reported once
    await server.until(() => alice.client.positions()[conv] === 4);
    await new Promise((resolve) => setTimeout(resolve, 150)); // past gapTimeoutMs: a gap would have synced
    expect(alice.events).toEqual([message(1), message(3)]);
    expect(alice.byKind).toEqual(['message 1', 'message 3']);
    expect(alice.syncs()).toBe(1);
    expect(alice.errors).toEqual([]);
    expect(alice.unsupported).toEqual([
      { what: 'event', kind: 'message.pinned', conversationId: conv, seq: 2 },
    ]);
    expect(alice.store.load().positions[conv]).toBe(4);
    pushTo('alice', { type: 'event', v: 1, event: message(5) });
    await server.until(() => alice.events.length === 3);
    expect(seqsOf(alice.events)).toEqual([1, 3, 5]);
  });

  it('keeps a sync page holding an unknown kind whole, and gets past its seq', async () => {
    answerSyncsWith([
      { conversationId: conv, events: [message(2), pinned(3), message(4)], hasMore: false, lastSeq: 4 },
    ]);
    const alice = follower(1);
    await alice.client.connect();
    expect(alice.events).toEqual([message(2), message(4)]);
    expect(alice.client.positions()).toEqual({ [conv]: 4 });
    expect(alice.errors).toEqual([]);
    expect(alice.unsupported).toEqual([
      { what: 'event', kind: 'message.pinned', conversationId: conv, seq: 3 },
    ]);
    pushTo('alice', { type: 'event', v: 1, event: message(5) });
    await server.until(() => alice.events.length === 3);
    expect(seqsOf(alice.events)).toEqual([2, 4, 5]);
    expect(alice.syncs()).toBe(1);
  });

  it('keeps a history page holding an unknown kind: catching up pages past it, history() leaves it out', async () => {
    const log = [message(1), pinned(2), message(3), pinned(4), pinned(5), message(6)];
    server.hook = (conn, frame) => {
      if (frame.action === 'sync') {
        server.push(conn, {
          type: 'sync',
          v: 1,
          requestId: frame.requestId,
          results: [{ conversationId: conv, gap: true, lastSeq: 6 }],
        });
        return true;
      }
      if (frame.action !== 'history') return false;
      const events =
        frame.afterSeq !== undefined
          ? log.filter((e) => e.seq > (frame.afterSeq ?? 0)).slice(0, frame.limit ?? 50)
          : log.filter((e) => e.seq < (frame.beforeSeq ?? 99)).slice(-(frame.limit ?? 50));
      const hasMore =
        frame.afterSeq !== undefined ? (events.at(-1)?.seq ?? 6) < 6 : (events[0]?.seq ?? 1) > 1;
      server.push(
        conn,
        JSON.stringify({
          type: 'history',
          v: 1,
          requestId: frame.requestId,
          conversationId: conv,
          events,
          hasMore,
          lastSeq: 6,
        }),
      );
      return true;
    };
    const alice = follower(0);
    await alice.client.connect();
    expect(alice.events).toEqual([message(1), message(3), message(6)]);
    expect(alice.client.positions()).toEqual({ [conv]: 6 });
    expect(alice.errors).toEqual([]);

    const page = await alice.client.history(conv, { beforeSeq: 4, limit: 3 });
    expect(page).toEqual({
      conversationId: conv,
      events: [message(1), message(3)],
      hasMore: false,
      lastSeq: 6,
    });
    // A page of nothing but unknown kinds (4 and 5) is not taken for the end: the next one is fetched.
    const before = server.received.filter((r) => r.frame.action === 'history').length;
    const older = await alice.client.history(conv, { beforeSeq: 6, limit: 2 });
    expect(older.events).toEqual([message(3)]);
    expect(older.hasMore).toBe(true);
    expect(server.received.filter((r) => r.frame.action === 'history').length - before).toBe(2);
    const newer = await alice.client.history(conv, { afterSeq: 3, limit: 2 });
    expect(newer.events).toEqual([message(6)]);
    expect(alice.unsupported).toHaveLength(1);
  });

  it('leaves out a listed conversation’s last event of an unknown kind, and keeps the conversation', async () => {
    server.hook = (conn, frame) => {
      if (frame.action !== 'listConversations') return false;
      const item = { conversationId: conv, kind: 'direct', lastSeq: 2, readSeq: 0, unread: 2 };
      server.push(
        conn,
        JSON.stringify({
          type: 'conversations',
          v: 1,
          requestId: frame.requestId,
          items: [
            { ...item, lastEvent: pinned(2) },
            {
              ...item,
              conversationId: 'dm:alice:carol',
              lastEvent: { ...message(1), conversationId: 'dm:alice:carol' },
            },
          ],
        }),
      );
      return true;
    };
    const { client } = makeClient('alice');
    await client.connect();
    const page = await client.listConversations();
    expect(page.items.map((i) => [i.conversationId, i.lastEvent?.seq])).toEqual([
      [conv, undefined],
      ['dm:alice:carol', 1],
    ]);
    expect('lastEvent' in (page.items[0] ?? {})).toBe(false);
  });

  it('still refuses a known kind with a bad field, and an unknown kind without the common fields', async () => {
    const alice = follower(0);
    await alice.client.connect();
    const { text: _text, ...noText } = message(1);
    pushTo('alice', { type: 'event', v: 1, event: noText });
    pushTo('alice', { type: 'event', v: 1, event: { ...message(1), seq: 0 } });
    pushTo('alice', { type: 'event', v: 1, event: { ...pinned(1), seq: undefined } });
    await server.until(() => alice.errors.length === 3);
    expect(alice.errors.map((e) => [e.code, e.details?.fields?.map((f) => f.path)])).toEqual([
      ['INVALID_SERVER_FRAME', ['event.text']],
      ['INVALID_SERVER_FRAME', ['event.seq']],
      ['INVALID_SERVER_FRAME', ['event.seq']],
    ]);
    expect(alice.events).toEqual([]);
    expect(alice.unsupported).toEqual([]);
    expect(alice.client.positions()).toEqual({ [conv]: 0 });
  });

  it('still drops a sync page holding a known kind with a bad field', async () => {
    answerSyncsWith([
      { conversationId: conv, events: [message(1), { ...message(2), text: 7 }], hasMore: false, lastSeq: 2 },
    ]);
    const alice = follower(0, { queryTimeoutMs: 200 });
    await alice.client.connect();
    expect(alice.events).toEqual([]);
    expect(alice.errors.map((e) => e.code)).toEqual(['INVALID_SERVER_FRAME', 'TIMEOUT']);
    expect(alice.errors[0]?.details?.fields?.map((f) => f.path)).toEqual(['results.0']); // as before: a union of two result shapes
    expect(alice.client.positions()).toEqual({ [conv]: 0 });
  });

  it('ignores frames of an unknown type, reporting each type once and no error', async () => {
    const alice = follower(0);
    await alice.client.connect();
    for (let n = 0; n < 20; n++) pushTo('alice', { type: 'reaction', v: 1, conversationId: conv, n });
    pushTo('alice', { type: 'call.ringing', v: 1 });
    pushTo('alice', { type: 'event', v: 1, event: message(1) });
    await server.until(() => alice.events.length === 1);
    expect(alice.errors).toEqual([]);
    expect(alice.unsupported).toEqual([
      { what: 'frame', type: 'reaction' },
      { what: 'frame', type: 'call.ringing' },
    ]);
    pushTo('alice', { type: 'reaction' }); // still a frame: `v` is checked
    await server.until(() => alice.errors.length === 1);
    expect(alice.errors[0]?.code).toBe('INVALID_SERVER_FRAME');
    expect((await alice.client.send(conv, 'still fine')).seq).toBe(1);
  });
});

describe('keepalive with fake timers, at the default intervals', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pings after 4 idle minutes, keeps an answered connection, replaces one whose pong is 20 s late', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { client, states } = makeClient('alice', { random: () => 0.5 });
    server.hook = (conn, frame) => {
      if (frame.action !== 'ping' || !server.answerPings) return false;
      server.handle(conn, frame);
      server.push(conn, 'barrier'); // not JSON: its error event shows the pong before it was handled
      return true;
    };
    await client.connect(); // t = 0
    const pings = () => server.received.filter((r) => r.frame.action === 'ping').length;

    vi.advanceTimersByTime(239_999);
    expect(pings()).toBe(0);
    const answered = next(client, 'error'); // the barrier
    vi.advanceTimersByTime(1); // t = 240 s: idle for 4 minutes
    await server.until(() => pings() === 1);
    await answered;
    vi.advanceTimersByTime(30_000); // t = 270 s, past the pong timeout: the answered connection stays
    expect(client.state).toBe('open');
    expect(server.connections).toHaveLength(1);

    server.answerPings = false;
    vi.advanceTimersByTime(210_000); // t = 480 s: 4 minutes after the last frame sent
    await server.until(() => pings() === 2);
    const lost = next(client, 'state', (s) => s.state === 'reconnecting');
    vi.advanceTimersByTime(19_999);
    expect(client.state).toBe('open');
    vi.advanceTimersByTime(1); // 20 s without a pong
    await lost;
    const back = next(client, 'state', (s) => s.state === 'open');
    vi.advanceTimersByTime(100); // the backoff: at most baseMs (20) * 2^0 here
    await back;
    expect(states).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    expect(server.connections).toHaveLength(2);
  });
});

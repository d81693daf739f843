/**
 * The client SDK against the real local cloud: two SDK clients chat, a receiver loses its connection in the middle
 * of a burst and catches up with nothing lost or repeated, offline sends flush on reconnect, a renewal hands over
 * without a gap. One client uses Node's global WebSocket (the SDK's default), the others `ws` so the tests can
 * cut their socket.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import {
  type ConversationEvent,
  type EventOf,
  HeraldClient,
  type HeraldClientOptions,
  HeraldError,
} from '../../client';
import { directId, tokenFor, unique } from './client';

const target = () => inject('heraldTarget');
const open: HeraldClient[] = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** A `ws` WebSocket that remembers its instances, so a test can kill the client's current socket. */
function trackedSockets() {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return { Tracked, sockets, current: () => sockets.at(-1) };
}

function sdk(userId: string, options: Partial<HeraldClientOptions> = {}) {
  const client = new HeraldClient({
    url: target().wsUrl,
    token: () => tokenFor(userId),
    backoff: { baseMs: 100, maxMs: 1_000 },
    ...options,
  });
  open.push(client);
  const events: ConversationEvent[] = [];
  const errors: HeraldError[] = [];
  client.on('event', (e) => events.push(e));
  client.on('error', (e) => errors.push(e));
  const messages = () => events.filter((e): e is EventOf<'message'> => e.kind === 'message');
  return { client, events, errors, messages };
}

/** Resolves once `check` holds, re-checked on every event of `client`; rejects after `timeoutMs`. */
function until(client: HeraldClient, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const offs: (() => void)[] = [];
    const done = () => {
      for (const off of offs) off();
      clearTimeout(timer);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error('until: timed out'));
    }, timeoutMs);
    const recheck = () => {
      if (!check()) return;
      done();
      resolve();
    };
    offs.push(client.on('event', recheck), client.on('state', recheck), client.on('ack', recheck));
  });
}

describe('client SDK on the local cloud', () => {
  it('two SDK clients chat: acks with seqs, each sees every message once and in order, history agrees', async () => {
    const [a, b] = [unique('sa'), unique('sb')];
    const conv = directId(a, b);
    const alice = sdk(a); // Node 22's global WebSocket
    const bob = sdk(b, { WebSocket: trackedSockets().Tracked });
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    expect(alice.client.state).toBe('open');

    const first = await alice.client.send(conv, 'Hi Bob');
    expect(first).toMatchObject({ conversationId: conv, seq: 1 });
    await until(bob.client, () => bob.messages().length === 1);
    const reply = await bob.client.send(conv, 'Hi Alice');
    expect(reply.seq).toBe(2);
    const third = await alice.client.send(conv, 'How are you?');
    expect(third.seq).toBe(3);
    await until(bob.client, () => bob.messages().length === 3);
    await until(alice.client, () => alice.messages().length === 3);

    const expected = ['Hi Bob', 'Hi Alice', 'How are you?'];
    for (const side of [alice, bob]) {
      expect(side.messages().map((m) => m.text)).toEqual(expected);
      expect(side.messages().map((m) => m.seq)).toEqual([1, 2, 3]);
    }
    expect([...alice.errors, ...bob.errors]).toEqual([]);
    expect(bob.messages()[0]).toMatchObject({
      actorId: a,
      clientMessageId: first.clientMessageId,
      at: first.at,
    });

    const page = await bob.client.history(conv);
    expect(page.events.map((e) => (e.kind === 'message' ? e.text : e.kind))).toEqual(expected);
    expect(page.lastSeq).toBe(3);
    const listed = await alice.client.listConversations();
    expect(listed.items.find((i) => i.conversationId === conv)).toMatchObject({ lastSeq: 3, kind: 'direct' });
    const members = await alice.client.listMembers(conv);
    expect(members.members.map((m) => m.userId)).toEqual([a, b].sort());
  });

  it('a group with edits, a recall and a refusal: typed events on both sides, HeraldError with the server code', async () => {
    const [a, b] = [unique('ga'), unique('gb')];
    const alice = sdk(a);
    const bob = sdk(b);
    await Promise.all([alice.client.connect(), bob.client.connect()]);

    const group = await alice.client.createGroup('SDK group', [b]);
    expect(group).toMatchObject({ seq: 1, conversationId: expect.stringMatching(/^grp:/) });
    const gid = group.conversationId;
    const sent = await alice.client.send(gid, 'first draft');
    expect(sent.seq).toBe(2);
    expect((await alice.client.edit(gid, sent.seq, 'final text')).seq).toBe(3);
    const refused = bob.client.edit(gid, sent.seq, 'not yours');
    await expect(refused).rejects.toBeInstanceOf(HeraldError);
    await expect(refused).rejects.toMatchObject({ code: 'NOT_ALLOWED' });
    expect((await alice.client.recall(gid, sent.seq)).seq).toBe(4);
    expect((await alice.client.rename(gid, 'Renamed')).seq).toBe(5);

    const kinds = ['group.created', 'message', 'edit', 'recall', 'group.renamed'];
    await until(bob.client, () => bob.events.length === 5);
    await until(alice.client, () => alice.events.length === 5);
    for (const side of [alice, bob]) {
      expect(side.events.map((e) => e.kind)).toEqual(kinds);
      expect(side.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    }
    expect(alice.events[0]).toMatchObject({ kind: 'group.created', name: 'SDK group', members: [a, b] });
    expect(bob.events[2]).toMatchObject({ kind: 'edit', targetSeq: 2, text: 'final text' });
    const { members } = await bob.client.listMembers(gid);
    expect(members.map((m) => [m.userId, m.role])).toEqual([
      [a, 'owner'],
      [b, 'member'],
    ]); // ascending by user id: 'ga…' < 'gb…'
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  }, 60_000);

  it('receipts, typing and presence arrive as typed events', async () => {
    const [a, b] = [unique('ea'), unique('eb')];
    const conv = directId(a, b);
    const alice = sdk(a);
    await alice.client.connect();
    await alice.client.send(conv, 'ping me'); // makes them contacts
    const online = new Promise<boolean>((resolve) => alice.client.on('presence', (p) => resolve(p.online)));
    const bob = sdk(b);
    await bob.client.connect();
    expect(await online).toBe(true);

    const receipt = new Promise<number>((resolve) => alice.client.on('receipt', (r) => resolve(r.readSeq)));
    bob.client.markRead(conv, 1);
    expect(await receipt).toBe(1);
    const typing = new Promise<string>((resolve) =>
      bob.client.on('typing', (t) => resolve(`${t.userId} ${t.state}`)),
    );
    alice.client.typing(conv, 'start');
    expect(await typing).toBe(`${a} start`);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  it('a receiver whose socket dies in the middle of a 40-message burst ends with every message once, in order', async () => {
    const [a, b] = [unique('ba'), unique('bb')];
    const conv = directId(a, b);
    const sockets = trackedSockets();
    const sender = sdk(a, { pipeline: 10 });
    const receiver = sdk(b, { WebSocket: sockets.Tracked });
    await Promise.all([sender.client.connect(), receiver.client.connect()]);
    const states: string[] = [];
    receiver.client.on('state', (s) => states.push(s.state));

    const texts = Array.from({ length: 40 }, (_, i) => `burst ${i + 1}`);
    const acks = Promise.all(texts.map((t) => sender.client.send(conv, t)));
    await until(receiver.client, () => receiver.messages().length >= 8);
    sockets.current()?.terminate(); // the connection dies mid-burst: no close frame, no warning
    const beforeCut = receiver.messages().length;
    const sent = await acks;
    await until(
      receiver.client,
      () => receiver.client.state === 'open' && receiver.messages().length >= 40,
      60_000,
    );

    expect(states).toEqual(['reconnecting', 'open']);
    expect(sockets.sockets.length).toBe(2);
    // The acks name the stored order (a pipeline of 10 may store them in another order than sent).
    expect(sent.map((s) => s.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const storedText = new Map(sent.map((s, i) => [s.seq, texts[i]]));
    const got = receiver.messages();
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(got.map((m) => m.text)).toEqual(got.map((m) => storedText.get(m.seq)));
    expect(receiver.client.positions()[conv]).toBe(40);
    expect(beforeCut).toBeLessThan(40); // the cut did fall inside the burst
    expect(receiver.errors).toEqual([]);
    expect(sender.errors).toEqual([]);
  }, 120_000);

  it('sends made while offline wait in the store and flush in order on reconnect', async () => {
    const [a, b] = [unique('oa'), unique('ob')];
    const conv = directId(a, b);
    const sockets = trackedSockets();
    const alice = sdk(a, {
      WebSocket: sockets.Tracked,
      backoff: { baseMs: 1_500, maxMs: 1_500 },
      random: () => 0.99,
    });
    const bob = sdk(b);
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    expect((await alice.client.send(conv, 'online')).seq).toBe(1);

    const lost = until(alice.client, () => alice.client.state === 'reconnecting');
    sockets.current()?.close();
    await lost;
    const queued = ['offline 1', 'offline 2', 'offline 3'].map((t) => alice.client.send(conv, t));
    expect(alice.client.pendingCommands).toBe(3);
    const acks = await Promise.all(queued);
    expect(acks.map((x) => x.seq)).toEqual([2, 3, 4]);
    expect(alice.client.pendingCommands).toBe(0);
    await until(bob.client, () => bob.messages().length === 4);
    expect(bob.messages().map((m) => m.text)).toEqual(['online', 'offline 1', 'offline 2', 'offline 3']);
    expect(alice.messages().map((m) => m.seq)).toEqual([1, 2, 3, 4]); // its own, from the acks
    expect(alice.errors).toEqual([]);
  }, 60_000);

  it('renews its connection without a gap or a repeat while messages arrive', async () => {
    const [a, b] = [unique('ra'), unique('rb')];
    const conv = directId(a, b);
    const sockets = trackedSockets();
    const alice = sdk(a, { WebSocket: sockets.Tracked, renewAfterMs: 2_000, renewJitterMs: 0 });
    const bob = sdk(b);
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    const states: string[] = [];
    alice.client.on('state', (s) => states.push(s.state));

    let n = 0;
    while (sockets.sockets.length < 2 || sockets.sockets[0]?.readyState !== WebSocket.CLOSED) {
      await bob.client.send(conv, `r${++n}`);
      if (n > 200) throw new Error('no renewal');
    }
    await bob.client.send(conv, `r${++n}`);
    await until(alice.client, () => alice.messages().length >= n);
    expect(alice.messages().map((m) => m.text)).toEqual(Array.from({ length: n }, (_, i) => `r${i + 1}`));
    expect(alice.messages().map((m) => m.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(states).toEqual([]); // a renewal never shows as a reconnection
    expect(alice.errors).toEqual([]);
  }, 60_000);
});

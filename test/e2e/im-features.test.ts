/**
 * The IM features end to end, through real WebSocket clients: groups and membership changes, edit and recall,
 * offline catch-up with sync, history paging, read positions across devices, conversation listings, presence
 * (also when a connection dies silently), typing. Runs against the local cloud or any deployment.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../protocol';
import { directId, TestClient, unique } from './client';

const clients: TestClient[] = [];
const open = async (userId: string) => {
  const client = await TestClient.connect(userId);
  clients.push(client);
  return client;
};
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});

const ofType = <T extends ServerFrame['type']>(client: TestClient, type: T) =>
  client.frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);

let request = 0;
/** Sends a query and resolves with its answer (the frame carrying the same requestId). */
async function ask<T extends ServerFrame['type']>(
  client: TestClient,
  type: T,
  frame: Record<string, unknown>,
) {
  const requestId = `q${++request}`;
  client.send({ v: 1, requestId, ...frame });
  let answer: Extract<ServerFrame, { type: T }> | undefined;
  await client.until(() => {
    const found = client.frames.find(
      (f) => 'requestId' in f && f.requestId === requestId && (f.type === type || f.type === 'error'),
    );
    if (!found) throw new Error(`no answer to ${requestId} yet`);
    if (found.type === 'error') throw new Error(`query refused: ${found.code} ${found.message}`);
    answer = found as Extract<ServerFrame, { type: T }>;
  });
  if (!answer) throw new Error('unreachable');
  return answer;
}

/** Creates a group and returns its id (from the creator's ack and the members' group.created event). */
async function createGroup(owner: TestClient, name: string, members: string[]): Promise<string> {
  const clientMessageId = unique('create');
  owner.send({ action: 'createGroup', v: 1, clientMessageId, name, members });
  await owner.until(() => expect(owner.acks().some((a) => a.clientMessageId === clientMessageId)).toBe(true));
  const ack = owner.acks().find((a) => a.clientMessageId === clientMessageId);
  if (!ack) throw new Error('no ack');
  expect(ack.seq).toBe(1);
  return ack.conversationId;
}

describe('groups', () => {
  it('three users: one offline while messages, an edit and a recall happen, then catching up in order', async () => {
    const [a, b, c] = [unique('ava'), unique('bo'), unique('cy')];
    const ava = await open(a);
    const bo = await open(b);
    const groupId = await createGroup(ava, 'Trip', [b, c]);
    await bo.until(() => expect(bo.events(groupId).map((e) => e.kind)).toEqual(['group.created']));

    // Each step waits for the previous one to arrive, so the expected order is well defined (two senders'
    // concurrent commands are ordered by the queue, not by who typed first).
    ava.sendMessage(groupId, 'g1', 'Where do we meet?');
    await bo.until(() => expect(bo.messages(groupId)).toHaveLength(1));
    bo.sendMessage(groupId, 'g2', 'At the statoin');
    await ava.until(() => expect(ava.messages(groupId)).toHaveLength(1));
    const typo = ava.messages(groupId)[0];
    bo.send({
      action: 'edit',
      v: 1,
      conversationId: groupId,
      clientMessageId: 'g3',
      targetSeq: typo?.seq,
      text: 'At the station',
    });
    await ava.until(() => expect(ava.events(groupId).map((e) => e.kind)).toContain('edit'));
    ava.sendMessage(groupId, 'g4', 'oops, wrong chat');
    await bo.until(() => expect(bo.messages(groupId)).toHaveLength(2));
    const wrong = bo.messages(groupId).find((m) => m.clientMessageId === 'g4');
    // Ava edits the wrong message first (the edit carries text of its own), then recalls it.
    ava.send({
      action: 'edit',
      v: 1,
      conversationId: groupId,
      clientMessageId: 'g4e',
      targetSeq: wrong?.seq,
      text: 'oops, my home address is…',
    });
    await bo.until(() => expect(bo.events(groupId).map((e) => e.clientMessageId)).toContain('g4e'));
    ava.send({
      action: 'recall',
      v: 1,
      conversationId: groupId,
      clientMessageId: 'g5',
      targetSeq: wrong?.seq,
    });
    await bo.until(() => expect(bo.events(groupId).map((e) => e.kind)).toContain('recall'));

    // Cy was offline for all of it; now she connects and catches up from 0.
    const cy = await open(c);
    const sync = await ask(cy, 'sync', {
      action: 'sync',
      positions: [{ conversationId: groupId, afterSeq: 0 }],
    });
    const result = sync.results[0];
    if (!result || 'gap' in result) throw new Error('expected events, not a gap');
    expect(result.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(result.events.map((e) => e.kind)).toEqual([
      'group.created',
      'message',
      'message',
      'edit',
      'message',
      'edit',
      'recall',
    ]);
    expect(result.hasMore).toBe(false);
    // History shows the current state: the edited text, and the recalled message emptied.
    const byId = new Map(result.events.map((e) => [e.clientMessageId, e]));
    expect(byId.get('g2')).toMatchObject({ kind: 'message', text: 'At the station' });
    expect(byId.get('g2')).toHaveProperty('editedAt');
    expect(byId.get('g4')).toMatchObject({ kind: 'message', text: '', recalled: true });
    // The recall took the edit's text with it; the other edit keeps its own.
    expect(byId.get('g4e')).toMatchObject({ kind: 'edit', text: '', recalled: true });
    expect(byId.get('g3')).toMatchObject({ kind: 'edit', text: 'At the station' });
    expect(byId.get('g3')).not.toHaveProperty('recalled');
    expect(JSON.stringify(result.events)).not.toContain('home address');
    // Syncing again from the last seq returns nothing twice.
    const again = await ask(cy, 'sync', {
      action: 'sync',
      positions: [{ conversationId: groupId, afterSeq: 7 }],
    });
    expect(again.results[0]).toMatchObject({ events: [], hasMore: false, lastSeq: 7 });
  });

  it('a removed member receives nothing more, even on an open connection', async () => {
    const [a, b, c] = [unique('di'), unique('ed'), unique('flo')];
    const di = await open(a);
    const ed = await open(b);
    const flo = await open(c);
    const groupId = await createGroup(di, 'Club', [b, c]);
    di.sendMessage(groupId, 'before', 'hello all');
    await flo.until(() => expect(flo.messages(groupId)).toHaveLength(1));

    di.send({
      action: 'removeMembers',
      v: 1,
      conversationId: groupId,
      clientMessageId: 'kick',
      userIds: [c],
    });
    await flo.until(() => expect(flo.events(groupId).map((e) => e.kind)).toContain('members.removed'));
    di.sendMessage(groupId, 'after', 'flo is gone');
    await ed.until(() => expect(ed.messages(groupId).map((m) => m.clientMessageId)).toContain('after'));
    await new Promise((r) => setTimeout(r, 500));
    expect(flo.messages(groupId).map((m) => m.clientMessageId)).toEqual(['before']);

    // And Flo can neither post nor read any more.
    flo.sendMessage(groupId, 'sneak', 'let me back');
    await flo.until(() => expect(flo.errors().map((e) => e.code)).toContain('NOT_A_MEMBER'));
    flo.send({ v: 1, action: 'history', requestId: 'h-flo', conversationId: groupId });
    await flo.until(() =>
      expect(flo.errors().find((e) => e.requestId === 'h-flo')).toMatchObject({ code: 'NOT_A_MEMBER' }),
    );
  });

  it('enforces roles: members cannot add, rename or remove; owners can', async () => {
    const [a, b, c] = [unique('gil'), unique('hal'), unique('ivy')];
    const gil = await open(a);
    const hal = await open(b);
    const groupId = await createGroup(gil, 'Team', [b]);
    hal.send({ action: 'addMembers', v: 1, conversationId: groupId, clientMessageId: 'h-add', userIds: [c] });
    hal.send({ action: 'rename', v: 1, conversationId: groupId, clientMessageId: 'h-ren', name: 'Mine' });
    await hal.until(() => expect(hal.errors().map((e) => [e.code, e.clientMessageId])).toHaveLength(2));
    expect(hal.errors().map((e) => e.code)).toEqual(['NOT_ALLOWED', 'NOT_ALLOWED']);

    gil.send({
      action: 'rename',
      v: 1,
      conversationId: groupId,
      clientMessageId: 'g-ren',
      name: 'Dream Team',
    });
    gil.send({ action: 'addMembers', v: 1, conversationId: groupId, clientMessageId: 'g-add', userIds: [c] });
    await hal.until(() =>
      expect(hal.events(groupId).map((e) => e.kind)).toEqual([
        'group.created',
        'group.renamed',
        'members.added',
      ]),
    );
    const members = await ask(gil, 'members', { action: 'listMembers', conversationId: groupId });
    expect(members.members.map((m) => [m.userId, m.role]).sort()).toEqual(
      [
        [a, 'owner'],
        [b, 'member'],
        [c, 'member'],
      ].sort(),
    );
  });
});

describe('member lists', () => {
  it('pages a 250-member group’s members (two pages, every member once), and a direct one before its first message', async () => {
    const owner = unique('rex');
    const others = Array.from({ length: 249 }, (_, i) => `${owner}-m${String(i).padStart(3, '0')}`); // never connect
    const rex = await open(owner);
    const groupId = await createGroup(rex, 'Crowd', others);
    const first = await ask(rex, 'members', { action: 'listMembers', conversationId: groupId });
    expect(first.members).toHaveLength(200);
    expect(first.nextCursor).toBeDefined();
    const second = await ask(rex, 'members', {
      action: 'listMembers',
      conversationId: groupId,
      cursor: first.nextCursor,
    });
    expect(second.members).toHaveLength(50);
    expect(second.nextCursor).toBeUndefined();
    const listed = [...first.members, ...second.members].map((m) => m.userId);
    expect(listed).toEqual([owner, ...others].sort());
    expect(second.members.concat(first.members).find((m) => m.userId === owner)?.role).toBe('owner');

    // A direct conversation with no message yet is empty, not foreign, to the two users it names.
    const other = unique('sol');
    const conversationId = directId(owner, other);
    const direct = await ask(rex, 'members', { action: 'listMembers', conversationId });
    expect(direct.members).toEqual(
      [owner, other].sort().map((userId) => ({ userId, role: 'member', joinedAt: 0, readSeq: 0 })),
    );
    const history = await ask(rex, 'history', { action: 'history', conversationId });
    expect(history).toMatchObject({ events: [], hasMore: false, lastSeq: 0 });
  });
});

describe('read positions, listings and history', () => {
  it('syncs a read position across two devices of one user and to the other member', async () => {
    const [a, b] = [unique('jo'), unique('kai')];
    const conversationId = directId(a, b);
    const joPhone = await open(a);
    const joLaptop = await open(a);
    const kai = await open(b);
    for (const id of ['k1', 'k2', 'k3']) kai.sendMessage(conversationId, id);
    await joPhone.until(() => expect(joPhone.messages()).toHaveLength(3));

    const before = await ask(joLaptop, 'conversations', { action: 'listConversations' });
    expect(before.items.find((i) => i.conversationId === conversationId)).toMatchObject({
      unread: 3,
      readSeq: 0,
    });

    joPhone.send({ action: 'markRead', v: 1, conversationId, seq: 2 });
    await joLaptop.until(() =>
      expect(ofType(joLaptop, 'receipt')).toEqual([expect.objectContaining({ userId: a, readSeq: 2 })]),
    );
    await kai.until(() =>
      expect(ofType(kai, 'receipt')).toEqual([expect.objectContaining({ userId: a, readSeq: 2 })]),
    );
    expect(ofType(joPhone, 'receipt')).toEqual([]); // not echoed to the device that sent it

    const after = await ask(joLaptop, 'conversations', { action: 'listConversations' });
    expect(after.items.find((i) => i.conversationId === conversationId)).toMatchObject({
      unread: 1,
      readSeq: 2,
      lastSeq: 3,
    });
    // Read positions never move back.
    joLaptop.send({ action: 'markRead', v: 1, conversationId, seq: 1 });
    await new Promise((r) => setTimeout(r, 400));
    expect(ofType(kai, 'receipt')).toHaveLength(1);
  });

  it('pages history backwards and forwards, newest first on request', async () => {
    const [a, b] = [unique('lu'), unique('mo')];
    const conversationId = directId(a, b);
    const lu = await open(a);
    for (let i = 1; i <= 12; i++) {
      lu.sendMessage(conversationId, `h${i}`);
      await new Promise((r) => setTimeout(r, 110));
    }
    await lu.until(() => expect(lu.acks()).toHaveLength(12));
    const newest = await ask(lu, 'history', { action: 'history', conversationId, limit: 5 });
    expect(newest.events.map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(newest).toMatchObject({ hasMore: true, lastSeq: 12 });
    const older = await ask(lu, 'history', { action: 'history', conversationId, beforeSeq: 8, limit: 5 });
    expect(older.events.map((e) => e.seq)).toEqual([3, 4, 5, 6, 7]);
    const oldest = await ask(lu, 'history', { action: 'history', conversationId, beforeSeq: 3, limit: 5 });
    expect(oldest).toMatchObject({ hasMore: false });
    expect(oldest.events.map((e) => e.seq)).toEqual([1, 2]);
    const forwards = await ask(lu, 'history', { action: 'history', conversationId, afterSeq: 10 });
    expect(forwards.events.map((e) => e.seq)).toEqual([11, 12]);
  });
});

describe('presence and typing', () => {
  it('tells contacts when a user comes online, and when their only connection silently dies', async () => {
    const [a, b] = [unique('ned'), unique('oz')];
    const conversationId = directId(a, b);
    const ned = await open(a);
    const first = await open(b);
    first.sendMessage(conversationId, 'hi'); // now they are contacts
    await ned.until(() => expect(ned.messages()).toHaveLength(1));
    await first.close();
    await ned.until(() => expect(ofType(ned, 'presence').at(-1)).toMatchObject({ userId: b, online: false }));

    const oz = await TestClient.connect(b);
    await ned.until(() => expect(ofType(ned, 'presence').at(-1)).toMatchObject({ userId: b, online: true }));
    oz.ws.terminate(); // no close frame: the network just went away
    await ned.until(() => expect(ofType(ned, 'presence').at(-1)).toMatchObject({ userId: b, online: false }));
  });

  it('answers ping with pong on the same connection, and nothing to anyone else', async () => {
    const [a, b] = [unique('ras'), unique('sol')];
    const ras = await open(a);
    const sol = await open(b);
    ras.sendMessage(directId(a, b), 'hello');
    await sol.until(() => expect(sol.messages()).toHaveLength(1));
    const before = Date.now();
    ras.send({ action: 'ping', v: 1, requestId: 'hb-1' });
    await ras.until(() => expect(ofType(ras, 'pong')).toHaveLength(1));
    const [pong] = ofType(ras, 'pong');
    expect(pong).toMatchObject({ type: 'pong', v: 1, requestId: 'hb-1' });
    expect(pong?.at).toBeGreaterThanOrEqual(before - 1000);
    await new Promise((r) => setTimeout(r, 300));
    expect(ofType(sol, 'pong')).toEqual([]);
  });

  it('relays typing to the other members only, and drops a flood of it', async () => {
    const [a, b] = [unique('pia'), unique('quin')];
    const conversationId = directId(a, b);
    const pia = await open(a);
    const quin = await open(b);
    pia.sendMessage(conversationId, 'start');
    await quin.until(() => expect(quin.messages()).toHaveLength(1));
    for (let i = 0; i < 5; i++) pia.send({ action: 'typing', v: 1, conversationId, state: 'start' });
    await quin.until(() => expect(ofType(quin, 'typing')).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 500));
    expect(ofType(quin, 'typing')).toEqual([
      { type: 'typing', v: 1, conversationId, userId: a, state: 'start' },
    ]);
    expect(ofType(pia, 'typing')).toEqual([]);
  });
});

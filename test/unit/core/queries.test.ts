import { describe, expect, it } from 'vitest';
import { InvalidFrameError, NotAMemberError } from '../../../lambdas/core/errors';
import {
  DEFAULT_MEMBERS_PAGE,
  encodeCursor,
  encodeMembersCursor,
  listConversations,
  listMembers,
  MAX_LISTED_CONVERSATIONS,
  readHistory,
  sync,
} from '../../../lambdas/core/queries';
import {
  ConversationsPageFrame,
  type HistoryFrame,
  HistoryPageFrame,
  LIMITS,
  type ListConversationsFrame,
  ListMembersFrame,
  MembersFrame,
  type SyncFrame,
  SyncPageFrame,
} from '../../../protocol';
import { InMemoryConversationReader } from '../../helpers/fake-reader';

const DM = 'dm:alice:bob';
const GROUP = 'grp:team';
/** The largest WebSocket message API Gateway sends. */
const WEBSOCKET_MESSAGE_BYTES = 128 * 1024;

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).byteLength;
const seqs = (events: readonly { seq: number }[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** A text of `kib` KiB in UTF-8 (two bytes a character), so pages fill up by bytes before they do by count. */
const bulky = (kib: number) => (seq: number) => `${seq}:${'é'.repeat(kib * 512 - 8)}`;

function setup() {
  const reader = new InMemoryConversationReader();
  reader.join(DM, 'alice').join(DM, 'bob');
  return { reader, deps: { reader } };
}

const history = (fields: Partial<HistoryFrame> = {}): HistoryFrame => ({
  action: 'history',
  v: 1,
  requestId: 'r-1',
  conversationId: DM,
  ...fields,
});

describe('readHistory', () => {
  it('answers the newest page, ascending, with hasMore and lastSeq', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 120);
    const page = HistoryPageFrame.parse(await readHistory(deps, 'alice', history()));
    expect(seqs(page.events)).toEqual(range(71, 120));
    expect(page).toMatchObject({
      type: 'history',
      requestId: 'r-1',
      conversationId: DM,
      hasMore: true,
      lastSeq: 120,
    });
  });

  it('pages backwards from beforeSeq until the first event, each event once', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 120);
    const seen: number[] = [];
    let beforeSeq: number | undefined;
    for (let round = 0; round < 10; round++) {
      const page = await readHistory(deps, 'alice', history({ beforeSeq, limit: 50 }));
      seen.unshift(...seqs(page.events));
      if (!page.hasMore) break;
      beforeSeq = page.events[0]?.seq;
    }
    expect(seen).toEqual(range(1, 120));
  });

  it('pages forwards from afterSeq, and says when the newest is reached', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 30);
    const first = await readHistory(deps, 'alice', history({ afterSeq: 0, limit: 20 }));
    expect(seqs(first.events)).toEqual(range(1, 20));
    expect(first.hasMore).toBe(true);
    const second = await readHistory(deps, 'alice', history({ afterSeq: 20, limit: 20 }));
    expect(seqs(second.events)).toEqual(range(21, 30));
    expect(second.hasMore).toBe(false);
    const past = await readHistory(deps, 'alice', history({ afterSeq: 30 }));
    expect(past).toMatchObject({ events: [], hasMore: false, lastSeq: 30 });
  });

  it('answers a forward page from the newest seq with no events, hasMore false and lastSeq the newest', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 30);
    const page = HistoryPageFrame.parse(
      await readHistory(deps, 'alice', history({ afterSeq: 30, limit: 5 })),
    );
    expect(page).toMatchObject({ events: [], hasMore: false, lastSeq: 30 });
  });

  it('answers a forward page past the newest seq with lastSeq the newest, not afterSeq', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 30);
    for (const afterSeq of [31, 45, 1_000_000]) {
      const page = HistoryPageFrame.parse(await readHistory(deps, 'alice', history({ afterSeq })));
      expect(page).toMatchObject({ events: [], hasMore: false, lastSeq: 30 });
    }
  });

  it('answers forward pages of an empty conversation with no events, hasMore false and lastSeq 0', async () => {
    const { reader, deps } = setup();
    reader.join(GROUP, 'alice', { role: 'owner' }); // member rows, no event and no meta row yet
    for (const [conversationId, afterSeq] of [
      [DM, 0],
      [DM, 7],
      [GROUP, 0],
      [GROUP, 3],
    ] as const) {
      const page = HistoryPageFrame.parse(
        await readHistory(deps, 'alice', history({ conversationId, afterSeq })),
      );
      expect(page).toMatchObject({ events: [], hasMore: false, lastSeq: 0 });
    }
  });

  it('takes lastSeq from a returned event newer than a lagging meta row, never from afterSeq', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 10);
    const meta = reader.metas.get(DM);
    if (meta) reader.metas.set(DM, { ...meta, lastSeq: 8 }); // the meta row's replica lags two events
    const forwards = await readHistory(deps, 'alice', history({ afterSeq: 6 }));
    expect(forwards).toMatchObject({ hasMore: false, lastSeq: 10 });
    expect(seqs(forwards.events)).toEqual([7, 8, 9, 10]);
    const past = await readHistory(deps, 'alice', history({ afterSeq: 12 }));
    expect(past).toMatchObject({ events: [], hasMore: false, lastSeq: 8 });
  });

  it('says hasMore forwards when the meta row knows of events a lagging replica does not show yet', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 10);
    reader.hidden.add(`${DM}#10`);
    const page = await readHistory(deps, 'alice', history({ afterSeq: 5 }));
    expect(seqs(page.events)).toEqual([6, 7, 8, 9]);
    expect(page).toMatchObject({ hasMore: true, lastSeq: 10 });
  });

  it('stops at the byte budget, so a page fits one WebSocket message', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 100, bulky(8));
    const page = await readHistory(deps, 'alice', history({ limit: 100 }));
    expect(page.events.length).toBeGreaterThan(5);
    expect(page.events.length).toBeLessThan(100);
    expect(page.events.at(-1)?.seq).toBe(100); // the newest ones, still ascending
    expect(page.hasMore).toBe(true);
    expect(bytes(page.events)).toBeLessThanOrEqual(LIMITS.maxPageBytes);
    expect(bytes(page)).toBeLessThan(WEBSOCKET_MESSAGE_BYTES);
  });

  it('answers an empty conversation with no events and lastSeq 0', async () => {
    const { deps } = setup();
    expect(await readHistory(deps, 'alice', history())).toMatchObject({
      events: [],
      hasMore: false,
      lastSeq: 0,
    });
  });

  it('refuses a non-member with NOT_A_MEMBER and the requestId, reading no events', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 3);
    const refused = readHistory(deps, 'mallory', history());
    await expect(refused).rejects.toBeInstanceOf(NotAMemberError);
    await expect(refused).rejects.toMatchObject({ code: 'NOT_A_MEMBER', ref: { requestId: 'r-1' } });
    expect(reader.calls.readEvents).toBe(0);
  });

  it('answers a direct conversation that names the caller as empty before its first message', async () => {
    const { reader, deps } = setup();
    const carol = 'dm:alice:carol'; // no member row, no meta row, no event
    for (const fields of [{}, { afterSeq: 0 }, { afterSeq: 4 }, { beforeSeq: 9 }]) {
      const page = HistoryPageFrame.parse(
        await readHistory(deps, 'carol', history({ conversationId: carol, ...fields })),
      );
      expect(page).toEqual({
        type: 'history',
        v: 1,
        requestId: 'r-1',
        conversationId: carol,
        events: [],
        hasMore: false,
        lastSeq: 0,
      });
    }
    // The id decides a direct conversation's members: no member row is read.
    expect(reader.memberReads.getMember).toBe(0);
  });

  it.each([
    ['names two other users', 'dm:bob:carol'],
    ['is not in canonical order', 'dm:carol:alice'],
  ])('refuses a direct id that %s with NOT_A_MEMBER', async (_name, conversationId) => {
    const { reader, deps } = setup();
    reader.join(conversationId, 'alice').join(conversationId, 'carol'); // even with stray rows
    const refused = readHistory(deps, 'alice', history({ conversationId }));
    await expect(refused).rejects.toMatchObject({ code: 'NOT_A_MEMBER', ref: { requestId: 'r-1' } });
    expect(reader.calls.readEvents).toBe(0);
  });
});

const syncFrame = (positions: SyncFrame['positions']): SyncFrame => ({
  action: 'sync',
  v: 1,
  requestId: 'r-2',
  positions,
});

/** A client that syncs until nothing is left, as a reconnecting client does; returns what it received. */
async function syncUntilDone(
  deps: { reader: InMemoryConversationReader },
  positions: Record<string, number>,
): Promise<{ received: Record<string, number[]>; rounds: number }> {
  const received: Record<string, number[]> = Object.fromEntries(Object.keys(positions).map((c) => [c, []]));
  for (let rounds = 1; rounds <= 50; rounds++) {
    const frame = syncFrame(
      Object.entries(positions).map(([conversationId, afterSeq]) => ({ conversationId, afterSeq })),
    );
    const page = SyncPageFrame.parse(await sync(deps, 'alice', frame));
    expect(bytes(page)).toBeLessThan(WEBSOCKET_MESSAGE_BYTES);
    let more = false;
    for (const result of page.results) {
      if ('gap' in result) throw new Error(`unexpected gap in ${result.conversationId}`);
      received[result.conversationId]?.push(...seqs(result.events));
      positions[result.conversationId] = result.events.at(-1)?.seq ?? positions[result.conversationId] ?? 0;
      more ||= result.hasMore;
    }
    if (!more) return { received, rounds };
  }
  throw new Error('sync never finished');
}

describe('sync', () => {
  it('answers a gap past LIMITS.maxReplayEvents: 1,200 missed events are paged through history instead', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 1200);
    const page = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 0 }]));
    expect(page.results).toEqual([{ conversationId: DM, gap: true, lastSeq: 1200 }]);
    expect(reader.calls.readEvents).toBe(0);
  });

  it('replays exactly LIMITS.maxReplayEvents, and answers a gap at one more', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', LIMITS.maxReplayEvents + 1);
    const replayed = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 1 }]));
    expect(replayed.results[0]).not.toHaveProperty('gap');
    const gap = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 0 }]));
    expect(gap.results[0]).toMatchObject({ gap: true });
  });

  it('delivers 300 missed events over several rounds, every event once and in order', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 300, bulky(1));
    const { received, rounds } = await syncUntilDone(deps, { [DM]: 0 });
    expect(rounds).toBeGreaterThan(2);
    expect(received[DM]).toEqual(range(1, 300));
  });

  it('shares one byte budget across conversations and still delivers each exactly once, in order', async () => {
    const { reader, deps } = setup();
    const conversations = ['dm:alice:carol', 'dm:alice:dave', GROUP, 'grp:quiet'];
    for (const c of conversations) reader.join(c, 'alice');
    reader.say('dm:alice:carol', 'carol', 200, bulky(1));
    reader.say('dm:alice:dave', 'dave', 120, bulky(2));
    reader.say(GROUP, 'erin', 400, (seq) => `short ${seq}`);
    reader.say('grp:quiet', 'erin', 5);
    const { received, rounds } = await syncUntilDone(deps, {
      'dm:alice:carol': 0,
      'dm:alice:dave': 20,
      [GROUP]: 100,
      'grp:quiet': 5,
    });
    expect(rounds).toBeGreaterThan(2);
    expect(received).toEqual({
      'dm:alice:carol': range(1, 200),
      'dm:alice:dave': range(21, 120),
      [GROUP]: range(101, 400),
      'grp:quiet': [],
    });
  });

  it('answers an up-to-date position (and one ahead of a stale meta row) with no events and no reads', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 7);
    const page = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 7 }]));
    expect(page.results).toEqual([{ conversationId: DM, events: [], hasMore: false, lastSeq: 7 }]);
    const ahead = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 9 }]));
    expect(ahead.results).toEqual([{ conversationId: DM, events: [], hasMore: false, lastSeq: 7 }]);
    expect(reader.calls.readEvents).toBe(0);
  });

  it('stops before a hole a lagging replica leaves, and fills it on the next round', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 10);
    reader.hidden.add(`${DM}#6`);
    const first = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 2 }]));
    expect(first.results).toEqual([
      expect.objectContaining({ hasMore: true, lastSeq: 10, events: reader.events.get(DM)?.slice(2, 5) }),
    ]);
    reader.hidden.clear();
    const second = await sync(deps, 'alice', syncFrame([{ conversationId: DM, afterSeq: 5 }]));
    const [result] = second.results;
    expect(result && 'events' in result && seqs(result.events)).toEqual(range(6, 10));
  });

  // Decision (see sync's comment): foreign positions are skipped; only a frame of foreign positions fails.
  it('skips conversations the caller is not a member of and answers the others', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 3);
    reader.join('dm:bob:carol', 'bob').join('dm:bob:carol', 'carol');
    reader.say('dm:bob:carol', 'carol', 3);
    const page = await sync(
      deps,
      'alice',
      syncFrame([
        { conversationId: 'dm:bob:carol', afterSeq: 0 },
        { conversationId: DM, afterSeq: 1 },
        { conversationId: 'grp:left-long-ago', afterSeq: 40 },
      ]),
    );
    expect(page.results.map((r) => r.conversationId)).toEqual([DM]);
  });

  it('refuses a sync in which every conversation is foreign with NOT_A_MEMBER and the requestId', async () => {
    const { reader, deps } = setup();
    reader.join('dm:bob:carol', 'bob');
    const refused = sync(deps, 'alice', syncFrame([{ conversationId: 'dm:bob:carol', afterSeq: 0 }]));
    await expect(refused).rejects.toBeInstanceOf(NotAMemberError);
    await expect(refused).rejects.toMatchObject({ ref: { requestId: 'r-2' } });
  });

  it('answers a direct conversation that names the caller as empty before its first message', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 2);
    const page = SyncPageFrame.parse(
      await sync(
        deps,
        'alice',
        syncFrame([
          { conversationId: 'dm:alice:carol', afterSeq: 0 },
          { conversationId: DM, afterSeq: 1 },
          { conversationId: 'dm:alice:dave', afterSeq: 3 },
          { conversationId: 'dm:bob:carol', afterSeq: 0 }, // not alice's
        ]),
      ),
    );
    expect(page.results).toEqual([
      { conversationId: 'dm:alice:carol', events: [], hasMore: false, lastSeq: 0 },
      { conversationId: DM, events: reader.events.get(DM)?.slice(1), hasMore: false, lastSeq: 2 },
      { conversationId: 'dm:alice:dave', events: [], hasMore: false, lastSeq: 0 },
    ]);
    // Alone, such a position is answered too, not refused as foreign.
    const alone = await sync(deps, 'carol', syncFrame([{ conversationId: 'dm:alice:carol', afterSeq: 0 }]));
    expect(alone.results).toEqual([
      { conversationId: 'dm:alice:carol', events: [], hasMore: false, lastSeq: 0 },
    ]);
  });

  it('answers a repeated conversation once, for its first position', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 4);
    const page = await sync(
      deps,
      'alice',
      syncFrame([
        { conversationId: DM, afterSeq: 2 },
        { conversationId: DM, afterSeq: 0 },
      ]),
    );
    expect(page.results).toHaveLength(1);
    const [result] = page.results;
    expect(result && 'events' in result && seqs(result.events)).toEqual([3, 4]);
  });

  it('keeps a frame of LIMITS.maxSyncConversations long-id results inside one WebSocket message', async () => {
    const { reader, deps } = setup();
    const ids = Array.from(
      { length: LIMITS.maxSyncConversations },
      (_, i) => `grp:${String(i).padStart(3, '0')}${'x'.repeat(LIMITS.maxConversationIdLength - 7)}`,
    );
    for (const id of ids) {
      reader.join(id, 'alice');
      reader.say(id, 'bob', 40, bulky(1));
    }
    const page = SyncPageFrame.parse(
      await sync(deps, 'alice', syncFrame(ids.map((conversationId) => ({ conversationId, afterSeq: 0 })))),
    );
    expect(page.results).toHaveLength(ids.length);
    expect(bytes(page)).toBeLessThan(WEBSOCKET_MESSAGE_BYTES);
    expect(page.results.at(-1)).toMatchObject({ events: [], hasMore: true });
    // Reading stopped once the frame was full: not every conversation was read.
    expect(reader.calls.readEvents).toBeLessThan(ids.length);
  });
});

const listFrame = (fields: Partial<ListConversationsFrame> = {}): ListConversationsFrame => ({
  action: 'listConversations',
  v: 1,
  requestId: 'r-3',
  ...fields,
});

describe('listConversations', () => {
  it('lists the caller’s conversations by newest activity with read positions and unread counts', async () => {
    const { reader, deps } = setup();
    reader.join(GROUP, 'alice', { role: 'owner', readSeq: 2 }).join(GROUP, 'bob');
    reader.join('dm:alice:carol', 'alice', { readSeq: 9 });
    reader.join('dm:bob:carol', 'bob'); // not alice's
    reader.say(DM, 'bob', 4, undefined, { at: 3000 });
    reader.say(GROUP, 'bob', 5, undefined, { at: 5000, name: 'Team' });
    reader.say('dm:alice:carol', 'carol', 3, undefined, { at: 4000 });
    reader.say('dm:bob:carol', 'carol', 1, undefined, { at: 9000 });
    reader.join('grp:no-event-yet', 'alice');

    const page = ConversationsPageFrame.parse(await listConversations(deps, 'alice', listFrame()));
    expect(page.nextCursor).toBeUndefined();
    expect(page.items).toEqual([
      {
        conversationId: GROUP,
        kind: 'group',
        name: 'Team',
        lastSeq: 5,
        lastEvent: reader.events.get(GROUP)?.[4],
        readSeq: 2,
        unread: 3,
      },
      {
        conversationId: 'dm:alice:carol',
        kind: 'direct',
        lastSeq: 3,
        lastEvent: reader.events.get('dm:alice:carol')?.[2],
        readSeq: 9,
        unread: 0,
      },
      {
        conversationId: DM,
        kind: 'direct',
        lastSeq: 4,
        lastEvent: reader.events.get(DM)?.[3],
        readSeq: 0,
        unread: 4,
      },
    ]);
  });

  it('pages with an opaque cursor: every conversation once, in order, ties broken by id', async () => {
    const { reader, deps } = setup();
    const ids = Array.from({ length: 120 }, (_, i) => `grp:${String(i).padStart(3, '0')}`);
    ids.forEach((id, i) => {
      reader.join(id, 'alice');
      reader.say(id, 'bob', 1, undefined, { at: 1000 + Math.floor(i / 7) }); // groups of equal times
    });
    const listed: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = ConversationsPageFrame.parse(
        await listConversations(deps, 'alice', listFrame({ cursor, limit: 50 })),
      );
      listed.push(...page.items.map((i) => i.conversationId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    const expected = [...ids].sort((a, b) => {
      const ta = Math.floor(ids.indexOf(a) / 7);
      const tb = Math.floor(ids.indexOf(b) / 7);
      return tb - ta || (a < b ? -1 : 1);
    });
    expect(listed).toEqual(expected);
  });

  it('reads the caller’s member rows page by page, and considers at most MAX_LISTED_CONVERSATIONS', async () => {
    const reader = new InMemoryConversationReader();
    const deps = { reader };
    const id = (i: number) => `grp:${String(i).padStart(5, '0')}`;
    for (let i = 0; i < MAX_LISTED_CONVERSATIONS + 100; i++) {
      reader.join(id(i), 'alice');
      reader.say(id(i), 'bob', 1, undefined, { at: 10_000 - i });
    }
    const first = await listConversations(deps, 'alice', listFrame({ limit: 1 }));
    expect(first.items.map((i) => i.conversationId)).toEqual([id(0)]);
    expect(reader.calls.listMemberships).toBe(2); // 1,000 rows a read
    // Past the cap (by id order of the index), conversations are not listed.
    const cursor = encodeCursor({
      t: 10_000 - (MAX_LISTED_CONVERSATIONS - 2),
      c: id(MAX_LISTED_CONVERSATIONS - 2),
    });
    const tail = await listConversations(deps, 'alice', listFrame({ cursor, limit: 50 }));
    expect(tail.items.map((i) => i.conversationId)).toEqual([id(MAX_LISTED_CONVERSATIONS - 1)]);
    expect(tail.nextCursor).toBeUndefined();
  });

  it.each([
    ['not base64url', 'not a cursor!'],
    ['base64url of something not JSON', Buffer.from('{{{').toString('base64url')],
    ['JSON of the wrong shape', Buffer.from(JSON.stringify({ t: 'soon', c: 1 })).toString('base64url')],
    ['JSON with extra fields', Buffer.from(JSON.stringify({ t: 1, c: DM, x: 1 })).toString('base64url')],
  ])('refuses a cursor that is %s with INVALID_FRAME and the requestId', async (_name, cursor) => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 1);
    const refused = listConversations(deps, 'alice', listFrame({ cursor }));
    await expect(refused).rejects.toBeInstanceOf(InvalidFrameError);
    await expect(refused).rejects.toMatchObject({
      code: 'INVALID_FRAME',
      ref: { requestId: 'r-3' },
      details: [{ path: 'cursor' }],
    });
    expect(reader.calls.listMemberships).toBe(0);
  });

  it('is unchanged by queries on a direct conversation before its first message: it is not listed', async () => {
    const { reader, deps } = setup();
    reader.say(DM, 'bob', 1);
    const empty = 'dm:alice:carol';
    await readHistory(deps, 'alice', history({ conversationId: empty }));
    await sync(deps, 'alice', syncFrame([{ conversationId: empty, afterSeq: 0 }]));
    await listMembers(deps, 'alice', {
      action: 'listMembers',
      v: 1,
      requestId: 'r-4',
      conversationId: empty,
    });
    const page = await listConversations(deps, 'alice', listFrame());
    expect(page.items.map((i) => i.conversationId)).toEqual([DM]);
    expect(await listConversations(deps, 'carol', listFrame())).toMatchObject({ items: [] });
  });

  it('answers a user in no conversation with an empty page', async () => {
    const { deps } = setup();
    expect(await listConversations(deps, 'zoe', listFrame())).toEqual({
      type: 'conversations',
      v: 1,
      requestId: 'r-3',
      items: [],
    });
  });

  it('keeps a page inside the byte budget even when last events are huge', async () => {
    const { reader, deps } = setup();
    for (let i = 0; i < 50; i++) {
      const id = `grp:${i}`;
      reader.join(id, 'alice');
      reader.say(id, 'bob', 1, bulky(4));
    }
    const page = await listConversations(deps, 'alice', listFrame({ limit: 50 }));
    expect(page.items.length).toBeLessThan(50);
    expect(page.nextCursor).toBeDefined();
    expect(bytes(page)).toBeLessThan(WEBSOCKET_MESSAGE_BYTES);
  });
});

const membersFrame = (fields: Partial<ListMembersFrame> = {}): ListMembersFrame => ({
  action: 'listMembers',
  v: 1,
  requestId: 'r-4',
  conversationId: GROUP,
  ...fields,
});

/** Pages through listMembers as a client does; returns the user ids in the order received, and the pages. */
async function listAllMembers(
  deps: { reader: InMemoryConversationReader },
  userId: string,
  fields: Partial<ListMembersFrame> = {},
): Promise<{ userIds: string[]; pages: MembersFrame[] }> {
  const pages: MembersFrame[] = [];
  let cursor: string | undefined;
  do {
    const page = MembersFrame.parse(await listMembers(deps, userId, membersFrame({ ...fields, cursor })));
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor !== undefined && pages.length < 50);
  return { userIds: pages.flatMap((p) => p.members.map((m) => m.userId)), pages };
}

const userIds = (count: number, width = 4) =>
  Array.from({ length: count }, (_, i) => `u${String(i).padStart(width, '0')}`);

describe('listMembers', () => {
  it('lists the member records to a member, by user id', async () => {
    const { reader, deps } = setup();
    reader.join(GROUP, 'bob', { role: 'admin' }).join(GROUP, 'alice', { role: 'owner', readSeq: 3 });
    const frame = MembersFrame.parse(await listMembers(deps, 'bob', membersFrame()));
    expect(frame).toEqual({
      type: 'members',
      v: 1,
      requestId: 'r-4',
      conversationId: GROUP,
      members: [
        { userId: 'alice', role: 'owner', joinedAt: 1_700_000_000_000, readSeq: 3 },
        { userId: 'bob', role: 'admin', joinedAt: 1_700_000_000_000, readSeq: 0 },
      ],
    });
  });

  it('pages a 250-member group in pages of LIMITS.maxMembersPage: every member once, in id order', async () => {
    const { reader, deps } = setup();
    const ids = userIds(250);
    for (const id of [...ids].reverse()) reader.join(GROUP, id);
    const { userIds: listed, pages } = await listAllMembers(deps, 'u0123');
    expect(DEFAULT_MEMBERS_PAGE).toBe(LIMITS.maxMembersPage);
    expect(pages.map((p) => p.members.length)).toEqual([LIMITS.maxMembersPage, 250 - LIMITS.maxMembersPage]);
    expect(listed).toEqual(ids);
    expect(pages.at(-1)?.nextCursor).toBeUndefined();
  });

  it('pages by the frame’s limit, and ends a page that is exactly full without an empty page after it', async () => {
    const { reader, deps } = setup();
    const ids = userIds(21);
    for (const id of ids) reader.join(GROUP, id);
    const bySeven = await listAllMembers(deps, 'u0000', { limit: 7 });
    expect(bySeven.pages.map((p) => p.members.length)).toEqual([7, 7, 7]);
    expect(bySeven.userIds).toEqual(ids);
    const whole = await listAllMembers(deps, 'u0000', { limit: 21 });
    expect(whole.pages).toHaveLength(1);
    expect(whole.pages[0]?.nextCursor).toBeUndefined();
  });

  it('resumes after the cursor’s user even when that user has left meanwhile', async () => {
    const { reader, deps } = setup();
    for (const id of userIds(6)) reader.join(GROUP, id);
    const first = await listMembers(deps, 'u0000', membersFrame({ limit: 3 }));
    expect(first.nextCursor).toBe(encodeMembersCursor('u0002'));
    reader.members.get(GROUP)?.delete('u0002');
    const second = await listMembers(deps, 'u0000', membersFrame({ limit: 3, cursor: first.nextCursor }));
    expect(second.members.map((m) => m.userId)).toEqual(['u0003', 'u0004', 'u0005']);
    expect(second.nextCursor).toBeUndefined();
  });

  it('keeps a worst-case full page (128-character ids, largest numbers, longest role) well inside maxPageBytes', async () => {
    const { reader, deps } = setup();
    // User ids use characters that JSON never escapes, so 128 characters are 128 bytes in the frame.
    const longId = (i: number) => `${String(i).padStart(4, '0')}${'x'.repeat(LIMITS.maxUserIdLength - 4)}`;
    const group = `grp:${'g'.repeat(LIMITS.maxConversationIdLength - 4)}`;
    const ids = Array.from({ length: LIMITS.maxMembersPage + 1 }, (_, i) => longId(i));
    for (const id of ids) {
      reader.join(group, id, { joinedAt: -Number.MAX_SAFE_INTEGER, readSeq: Number.MAX_SAFE_INTEGER });
    }
    const page = MembersFrame.parse(
      await listMembers(
        deps,
        longId(0),
        membersFrame({ conversationId: group, requestId: 'r'.repeat(LIMITS.maxRequestIdLength) }),
      ),
    );
    expect(page.members).toHaveLength(LIMITS.maxMembersPage);
    expect(page.members.every((m) => m.userId.length === LIMITS.maxUserIdLength && m.role === 'member')).toBe(
      true,
    );
    expect(page.nextCursor).toBeDefined();
    const size = bytes(page);
    expect(size).toBeLessThanOrEqual(LIMITS.maxPageBytes / 2);
    expect(size).toBeLessThan(WEBSOCKET_MESSAGE_BYTES);
  });

  it('answers a direct conversation that names the caller with its two users before its first message', async () => {
    const { reader, deps } = setup();
    const conversationId = 'dm:alice:carol';
    const before = MembersFrame.parse(await listMembers(deps, 'carol', membersFrame({ conversationId })));
    expect(before).toEqual({
      type: 'members',
      v: 1,
      requestId: 'r-4',
      conversationId,
      members: [
        { userId: 'alice', role: 'member', joinedAt: 0, readSeq: 0 },
        { userId: 'carol', role: 'member', joinedAt: 0, readSeq: 0 },
      ],
    });
    // Paged like any other conversation.
    const { pages } = await listAllMembers(deps, 'alice', { conversationId, limit: 1 });
    expect(pages.map((p) => p.members.map((m) => m.userId))).toEqual([['alice'], ['carol']]);
    // From the first message on, the member rows speak.
    reader
      .join(conversationId, 'alice', { readSeq: 4, joinedAt: 5 })
      .join(conversationId, 'carol', { joinedAt: 5 });
    const after = await listMembers(deps, 'carol', membersFrame({ conversationId }));
    expect(after.members).toEqual([
      { userId: 'alice', role: 'member', joinedAt: 5, readSeq: 4 },
      { userId: 'carol', role: 'member', joinedAt: 5, readSeq: 0 },
    ]);
    expect(reader.memberReads.getMember).toBe(0);
  });

  it.each([
    ['a group', GROUP],
    ['a direct conversation of two others', 'dm:bob:carol'],
  ])(
    'refuses a non-member of %s with NOT_A_MEMBER and the requestId, reading no member page',
    async (_name, conversationId) => {
      const { reader, deps } = setup();
      reader.join(GROUP, 'alice');
      await expect(listMembers(deps, 'mallory', membersFrame({ conversationId }))).rejects.toMatchObject({
        code: 'NOT_A_MEMBER',
        ref: { requestId: 'r-4' },
      });
      expect(reader.memberReads.readMembers).toBe(0);
    },
  );

  it.each([
    ['not base64url', 'not a cursor!'],
    ['base64url of something not JSON', Buffer.from('{{{').toString('base64url')],
    ['a listConversations cursor', encodeCursor({ t: 1, c: GROUP })],
    ['JSON of an invalid user id', Buffer.from(JSON.stringify({ u: 'a:b' })).toString('base64url')],
    ['JSON with extra fields', Buffer.from(JSON.stringify({ u: 'bob', x: 1 })).toString('base64url')],
  ])('refuses a cursor that is %s with INVALID_FRAME and the requestId', async (_name, cursor) => {
    const { reader, deps } = setup();
    reader.join(GROUP, 'alice');
    const refused = listMembers(deps, 'alice', membersFrame({ cursor }));
    await expect(refused).rejects.toBeInstanceOf(InvalidFrameError);
    await expect(refused).rejects.toMatchObject({
      code: 'INVALID_FRAME',
      ref: { requestId: 'r-4' },
      details: [{ path: 'cursor' }],
    });
    expect(reader.memberReads).toEqual({ getMember: 0, readMembers: 0 });
  });

  it('accepts limit 1 to LIMITS.maxMembersPage and a cursor of at most 512 characters in the frame', () => {
    const valid = { action: 'listMembers', v: 1, requestId: 'r', conversationId: GROUP };
    expect(ListMembersFrame.safeParse({ ...valid, limit: LIMITS.maxMembersPage }).success).toBe(true);
    expect(ListMembersFrame.safeParse({ ...valid, limit: LIMITS.maxMembersPage + 1 }).success).toBe(false);
    expect(ListMembersFrame.safeParse({ ...valid, limit: 0 }).success).toBe(false);
    expect(ListMembersFrame.safeParse({ ...valid, cursor: 'c'.repeat(513) }).success).toBe(false);
    // A cursor of the longest user id stays far below that.
    expect(encodeMembersCursor('x'.repeat(LIMITS.maxUserIdLength)).length).toBeLessThan(512);
  });
});

import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConversationReader, StoredItemError } from '../../lambdas/adapters/dynamo-conversation-reader';
import { eventToItem, lastEventSummary } from '../../lambdas/adapters/dynamo-event-items';
import { CONVERSATION_SK } from '../../lambdas/adapters/dynamo-keys';
import { INDEX } from '../../lambdas/config';
import type { MemberRole } from '../../lambdas/core/ports';
import { listConversations, listMembers, readHistory, sync } from '../../lambdas/core/queries';
import { type ConversationEvent, ConversationsPageFrame, MembersFrame, SyncPageFrame } from '../../protocol';
import { createHeraldTables, documentClient, type HeraldTableNames, runId } from '../helpers/provision';

let tables: HeraldTableNames;
const db = documentClient();
const T0 = 1_760_000_000_000;

beforeAll(async () => {
  tables = await createHeraldTables();
});
afterAll(async () => {
  await tables?.drop();
  expect(sent.length).toBeGreaterThan(0);
  expect(sent.filter((name) => name.includes('Scan'))).toEqual([]);
});

/** Every command the readers sent, by name: the suite checks it never held a Scan. */
const sent: string[] = [];
const spied = new Proxy(db, {
  get: (target, property, receiver) =>
    property === 'send'
      ? (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
          sent.push(command.constructor.name);
          return target.send(command);
        }
      : Reflect.get(target, property, receiver),
});
const sentSince = (mark: number, name: string) => sent.slice(mark).filter((n) => n === name).length;

const reader = (client: DynamoDBDocumentClient = spied) =>
  new DynamoConversationReader(client, {
    conversations: tables.conversations,
    messages: tables.messages,
    byMemberIndex: INDEX.conversationsByMember,
  });

async function putAll(table: string, items: Record<string, unknown>[]): Promise<void> {
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  for (let i = 0; i < chunks.length; i += 8) {
    await Promise.all(
      chunks.slice(i, i + 8).map(async (chunk) => {
        let pending = chunk.map((Item) => ({ PutRequest: { Item } }));
        while (pending.length > 0) {
          const out = await db.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
          pending = (out.UnprocessedItems?.[table] ?? []).flatMap((r) =>
            r.PutRequest?.Item ? [{ PutRequest: { Item: r.PutRequest.Item } }] : [],
          );
        }
      }),
    );
  }
}

const message = (conversationId: string, seq: number, text = `message ${seq}`): ConversationEvent => ({
  kind: 'message',
  conversationId,
  seq,
  at: T0 + seq * 1000,
  actorId: 'bob',
  clientMessageId: `m-${seq}`,
  text,
});

/** Writes a conversation as the event store does (layout: dynamo-event-items.ts). */
async function seedConversation(
  conversationId: string,
  options: {
    events?: ConversationEvent[];
    members?: { userId: string; role?: MemberRole; readSeq?: number }[];
    kind?: 'direct' | 'group';
    name?: string;
  },
): Promise<void> {
  const events = options.events ?? [];
  const last = events.at(-1);
  await putAll(
    tables.messages,
    events.map((e) => eventToItem(e, e.at + 5)),
  );
  const members = options.members ?? [];
  await putAll(tables.conversations, [
    ...(last
      ? [
          {
            conversationId,
            sk: CONVERSATION_SK.meta,
            kind: options.kind ?? 'direct',
            ...(options.name === undefined ? {} : { name: options.name }),
            lastSeq: last.seq,
            memberCount: members.length,
            createdAt: T0,
            lastEventAt: last.at,
            lastEvent: lastEventSummary(last),
          },
        ]
      : []),
    ...members.map((m) => ({
      conversationId,
      sk: CONVERSATION_SK.member(m.userId),
      memberId: m.userId,
      role: m.role ?? 'member',
      joinedAt: T0,
      readSeq: m.readSeq ?? 0,
    })),
    ...(last
      ? [
          {
            conversationId,
            sk: CONVERSATION_SK.send(`${last.actorId}/${last.clientMessageId}`),
            seq: last.seq,
          },
        ]
      : []),
  ]);
}

const seqs = (events: readonly { seq: number }[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A client whose BatchGets are throttled: the first `times` calls process half their keys. */
function throttledBatchGets(real: DynamoDBDocumentClient, times: number) {
  const state = { throttled: 0 };
  const send = async (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
    if (command instanceof BatchGetCommand && state.throttled < times) {
      state.throttled++;
      const [entry] = Object.entries(command.input.RequestItems ?? {});
      if (entry) {
        const [table, request] = entry;
        const keys = request.Keys ?? [];
        const half = Math.ceil(keys.length / 2);
        const out = await real.send(
          new BatchGetCommand({ RequestItems: { [table]: { ...request, Keys: keys.slice(0, half) } } }),
        );
        return { ...out, UnprocessedKeys: { [table]: { Keys: keys.slice(half) } } };
      }
    }
    return real.send(command);
  };
  const client = new Proxy(real, {
    get: (target, property, receiver) =>
      property === 'send' ? send : Reflect.get(target, property, receiver),
  });
  return { client, state };
}

describe('DynamoConversationReader (DynamoDB Local)', () => {
  it('reads events by seq range, both ways, with exclusive bounds and a limit', async () => {
    const c = `dm:alice:bob-${runId()}`;
    await seedConversation(c, { events: range(1, 30).map((s) => message(c, s)) });
    const r = reader();
    expect(seqs(await r.readEvents(c, { order: 'ascending', limit: 5 }))).toEqual([1, 2, 3, 4, 5]);
    expect(seqs(await r.readEvents(c, { order: 'descending', limit: 3 }))).toEqual([30, 29, 28]);
    expect(seqs(await r.readEvents(c, { afterSeq: 10, order: 'ascending', limit: 4 }))).toEqual([
      11, 12, 13, 14,
    ]);
    expect(seqs(await r.readEvents(c, { beforeSeq: 10, order: 'descending', limit: 4 }))).toEqual([
      9, 8, 7, 6,
    ]);
    expect(
      seqs(await r.readEvents(c, { afterSeq: 10, beforeSeq: 14, order: 'descending', limit: 50 })),
    ).toEqual([13, 12, 11]);
    expect(await r.readEvents(c, { afterSeq: 10, beforeSeq: 11, order: 'ascending', limit: 50 })).toEqual([]);
    expect(await r.readEvents(`dm:nobody:${runId()}`, { order: 'ascending', limit: 5 })).toEqual([]);
    expect((await r.readEvents(c, { afterSeq: 0, order: 'ascending', limit: 1 }))[0]).toEqual(message(c, 1));
  });

  it('returns messages in their current state: edited text, recalled with text emptied', async () => {
    const c = `dm:alice:bob-${runId()}`;
    await seedConversation(c, { events: range(1, 4).map((s) => message(c, s)) });
    // As the event store leaves them after an edit (seq 3) and a recall (seq 4) of the messages 1 and 2.
    await putAll(tables.messages, [
      { ...eventToItem(message(c, 1, 'fixed typo'), T0 + 6), editedAt: T0 + 3000 },
      { ...eventToItem(message(c, 2, ''), T0 + 7), recalled: true },
      eventToItem({ ...message(c, 3), kind: 'edit', targetSeq: 1, text: 'fixed typo' }, T0 + 8),
    ]);
    await db.send(
      new PutCommand({
        TableName: tables.messages,
        Item: eventToItem(
          {
            kind: 'recall',
            conversationId: c,
            seq: 4,
            at: T0,
            actorId: 'bob',
            clientMessageId: 'm-4',
            targetSeq: 2,
          },
          T0,
        ),
      }),
    );
    const events = await reader().readEvents(c, { order: 'ascending', limit: 10 });
    expect(events).toEqual([
      { ...message(c, 1, 'fixed typo'), editedAt: T0 + 3000 },
      { ...message(c, 2, ''), recalled: true },
      { ...message(c, 3), kind: 'edit', targetSeq: 1, text: 'fixed typo' },
      {
        kind: 'recall',
        conversationId: c,
        seq: 4,
        at: T0,
        actorId: 'bob',
        clientMessageId: 'm-4',
        targetSeq: 2,
      },
    ]);
  });

  it('reads on past DynamoDB’s 1 MB page until the limit is reached', async () => {
    const c = `grp:big-${runId()}`;
    // 100 events of 4,000 three-byte characters: about 1.2 MB, more than one Query page.
    await seedConversation(c, {
      kind: 'group',
      events: range(1, 100).map((s) => message(c, s, '€'.repeat(4000))),
    });
    const mark = sent.length;
    const events = await reader().readEvents(c, { order: 'ascending', limit: 100 });
    expect(seqs(events)).toEqual(range(1, 100));
    expect(sentSince(mark, 'QueryCommand')).toBeGreaterThan(1);
  });

  it('fails loudly on an event item that breaks the layout, rather than skip a seq', async () => {
    const c = `dm:alice:bob-${runId()}`;
    await seedConversation(c, { events: [message(c, 1)] });
    await db.send(
      new PutCommand({ TableName: tables.messages, Item: { conversationId: c, seq: 2, kind: 'message' } }),
    );
    await expect(reader().readEvents(c, { order: 'ascending', limit: 5 })).rejects.toBeInstanceOf(
      StoredItemError,
    );
  });

  it('reads the meta rows of 250 conversations in batches of 100, skipping missing and repeated ids', async () => {
    const id = runId();
    const ids = Array.from({ length: 250 }, (_, i) => `grp:${id}-${i}`);
    await putAll(
      tables.conversations,
      ids.map((conversationId, i) => ({
        conversationId,
        sk: CONVERSATION_SK.meta,
        kind: 'group',
        name: `Group ${i}`,
        createdBy: 'alice',
        lastSeq: i + 1,
        memberCount: 2,
        createdAt: T0,
        lastEventAt: T0 + i,
        lastEvent: lastEventSummary(message(conversationId, i + 1, 'x'.repeat(500))),
      })),
    );
    const asked = [...ids, `grp:${id}-missing`, ids[0] ?? ''];
    const mark = sent.length;
    const metas = await reader().getMetas(asked);
    expect(metas.size).toBe(250);
    expect(sentSince(mark, 'BatchGetCommand')).toBe(3);
    expect(metas.get(ids[7] ?? '')).toEqual({
      conversationId: ids[7],
      kind: 'group',
      name: 'Group 7',
      lastSeq: 8,
      lastEventAt: T0 + 7,
      lastEvent: message(ids[7] ?? '', 8, 'x'.repeat(200)),
    });
    expect(await reader().getMetas([])).toEqual(new Map());
  });

  it('retries the keys a throttled BatchGet leaves unprocessed', async () => {
    const id = runId();
    const ids = Array.from({ length: 150 }, (_, i) => `dm:alice:u${i}-${id}`);
    await putAll(
      tables.conversations,
      ids.map((conversationId) => ({
        conversationId,
        sk: CONVERSATION_SK.meta,
        kind: 'direct',
        lastSeq: 1,
        createdAt: T0,
        lastEventAt: T0,
      })),
    );
    const { client, state } = throttledBatchGets(db, 3);
    const metas = await reader(client).getMetas(ids);
    expect(state.throttled).toBe(3);
    expect([...metas.keys()].sort()).toEqual([...ids].sort());
  });

  it('reads member rows one at a time, in batches, and all of a conversation’s', async () => {
    const c = `grp:members-${runId()}`;
    await seedConversation(c, {
      kind: 'group',
      name: 'Team',
      events: [message(c, 1)],
      members: [
        { userId: 'alice', role: 'owner', readSeq: 1 },
        { userId: 'bob', role: 'admin' },
        { userId: 'carol' },
      ],
    });
    const r = reader();
    expect(await r.getMember(c, 'bob')).toEqual({ userId: 'bob', role: 'admin', joinedAt: T0, readSeq: 0 });
    expect(await r.getMember(c, 'mallory')).toBeUndefined();
    const other = `dm:alice:zed-${runId()}`;
    const memberships = await r.getMemberships('alice', [c, other]);
    expect([...memberships.entries()]).toEqual([
      [c, { userId: 'alice', role: 'owner', joinedAt: T0, readSeq: 1 }],
    ]);
    // The meta and idempotency rows share the partition; only member rows are listed.
    expect((await r.readMembers(c, { limit: 10 })).items).toEqual([
      { userId: 'alice', role: 'owner', joinedAt: T0, readSeq: 1 },
      { userId: 'bob', role: 'admin', joinedAt: T0, readSeq: 0 },
      { userId: 'carol', role: 'member', joinedAt: T0, readSeq: 0 },
    ]);
  });

  it('pages a conversation’s member rows by user id with Limit and ExclusiveStartKey', async () => {
    const c = `grp:paged-${runId()}`;
    // Every character user ids may hold, so the order is DynamoDB's (bytes), and 128-character ids.
    const ids = Array.from({ length: 250 }, (_, i) => {
      const id = `${'_.@|+=-AZaz09'[i % 13]}${String(i).padStart(3, '0')}`;
      return i % 50 === 0 ? id.padEnd(128, 'x') : id;
    });
    await seedConversation(c, {
      kind: 'group',
      events: [message(c, 1)], // also writes the meta row and an idempotency row after the member rows
      members: ids.map((userId) => ({ userId, readSeq: 1 })),
    });
    const r = reader();
    const sorted = [...ids].sort();
    const seen: string[] = [];
    const sizes: number[] = [];
    let after: string | undefined;
    const mark = sent.length;
    do {
      const page = await r.readMembers(c, { ...(after === undefined ? {} : { after }), limit: 100 });
      seen.push(...page.items.map((m) => m.userId));
      sizes.push(page.items.length);
      expect(page.items.every((m) => m.role === 'member' && m.joinedAt === T0 && m.readSeq === 1)).toBe(true);
      after = page.next;
    } while (after !== undefined);
    expect(seen).toEqual(sorted);
    expect(sizes).toEqual([100, 100, 50]);
    expect(sentSince(mark, 'QueryCommand')).toBe(3);

    // A full last page says so: no next, so no empty page follows it.
    const last = await r.readMembers(c, { after: sorted[149], limit: 100 });
    expect(last.items.map((m) => m.userId)).toEqual(sorted.slice(150));
    expect(last.next).toBeUndefined();
    // A position between two stored ids (a member who left) still reads on from there.
    const between = await r.readMembers(c, { after: `${sorted[9]}!`, limit: 2 });
    expect(between).toEqual({
      items: [
        expect.objectContaining({ userId: sorted[10] }),
        expect.objectContaining({ userId: sorted[11] }),
      ],
      next: sorted[11],
    });
    // Past the last member, and in a conversation with no member rows: nothing.
    expect(await r.readMembers(c, { after: sorted.at(-1), limit: 5 })).toEqual({ items: [] });
    expect(await r.readMembers(`dm:alice:nobody-${runId()}`, { limit: 5 })).toEqual({ items: [] });
  });

  it('pages through a user’s conversations on the byMember index', async () => {
    const user = `user-${runId()}`;
    const ids = Array.from({ length: 23 }, (_, i) => `grp:${String(i).padStart(2, '0')}-${runId()}`).sort();
    for (const c of ids) {
      await seedConversation(c, {
        kind: 'group',
        events: [message(c, 1)],
        members: [{ userId: user }, { userId: 'bob' }],
      });
    }
    const r = reader();
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const page = await r.listMemberships(user, { ...(after === undefined ? {} : { after }), limit: 10 });
      seen.push(...page.items.map((m) => m.conversationId));
      expect(page.items.every((m) => m.userId === user && m.role === 'member')).toBe(true);
      after = page.next;
      pages++;
    } while (after !== undefined);
    expect(seen).toEqual(ids);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(await r.listMemberships(`nobody-${runId()}`, { limit: 10 })).toEqual({ items: [] });
  });
});

describe('the query use cases over DynamoDB Local', () => {
  it('syncs 300 missed events over several rounds, every event once, in order', async () => {
    // A direct conversation's members are the users its id names.
    const bob = `bob-${runId()}`;
    const c = `dm:alice:${bob}`;
    await seedConversation(c, {
      events: range(1, 300).map((s) => message(c, s, `${s} ${'é'.repeat(500)}`)),
      members: [{ userId: 'alice' }, { userId: bob, readSeq: 300 }],
    });
    const deps = { reader: reader() };
    const received: number[] = [];
    let afterSeq = 0;
    let rounds = 0;
    for (let more = true; more && rounds < 20; rounds++) {
      const page = SyncPageFrame.parse(
        await sync(deps, 'alice', {
          action: 'sync',
          v: 1,
          requestId: 's',
          positions: [{ conversationId: c, afterSeq }],
        }),
      );
      const [result] = page.results;
      if (!result || 'gap' in result) throw new Error('expected a replay');
      received.push(...seqs(result.events));
      afterSeq = result.events.at(-1)?.seq ?? afterSeq;
      more = result.hasMore;
    }
    expect(rounds).toBeGreaterThan(1);
    expect(received).toEqual(range(1, 300));

    const gap = await sync(deps, bob, {
      action: 'sync',
      v: 1,
      requestId: 's',
      positions: [{ conversationId: c, afterSeq: 300 }],
    });
    expect(gap.results).toEqual([{ conversationId: c, events: [], hasMore: false, lastSeq: 300 }]);

    const history = await readHistory(deps, bob, {
      action: 'history',
      v: 1,
      requestId: 'h',
      conversationId: c,
      limit: 10,
    });
    expect(seqs(history.events)).toEqual(range(291, 300));
    expect(history).toMatchObject({ hasMore: true, lastSeq: 300 });
  });

  it('lists a 250-member group’s members in two pages, each once, and a direct one before its first message', async () => {
    const c = `grp:members-${runId()}`;
    const ids = Array.from({ length: 250 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    await seedConversation(c, {
      kind: 'group',
      events: [message(c, 1)],
      members: ids.map((userId, i) => ({ userId, role: i === 0 ? 'owner' : 'member' })),
    });
    const deps = { reader: reader() };
    const pages: MembersFrame[] = [];
    let cursor: string | undefined;
    do {
      const page = MembersFrame.parse(
        await listMembers(deps, 'm007', {
          action: 'listMembers',
          v: 1,
          requestId: 'm',
          conversationId: c,
          cursor,
        }),
      );
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 5);
    expect(pages.map((p) => p.members.length)).toEqual([200, 50]);
    expect(pages.flatMap((p) => p.members.map((m) => m.userId))).toEqual(ids);
    await expect(
      listMembers(deps, 'outsider', { action: 'listMembers', v: 1, requestId: 'm', conversationId: c }),
    ).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });

    const direct = `dm:alice:zoe-${runId()}`;
    const before = await listMembers(deps, 'alice', {
      action: 'listMembers',
      v: 1,
      requestId: 'm',
      conversationId: direct,
    });
    expect(before.members).toEqual([
      { userId: 'alice', role: 'member', joinedAt: 0, readSeq: 0 },
      { userId: direct.slice('dm:alice:'.length), role: 'member', joinedAt: 0, readSeq: 0 },
    ]);
  });

  it('lists a user’s conversations by activity, page by page', async () => {
    const user = `lister-${runId()}`;
    const ids = Array.from({ length: 7 }, (_, i) => `grp:l${i}-${runId()}`);
    for (const [i, c] of ids.entries()) {
      // Activity order is the reverse of creation: the last one is the newest.
      await seedConversation(c, {
        kind: 'group',
        name: `G${i}`,
        events: range(1, i + 1).map((s) => ({ ...message(c, s), at: T0 + i * 10_000 + s })),
        members: [{ userId: user, readSeq: 1 }],
      });
    }
    const deps = { reader: reader() };
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = ConversationsPageFrame.parse(
        await listConversations(deps, user, {
          action: 'listConversations',
          v: 1,
          requestId: 'l',
          cursor,
          limit: 3,
        }),
      );
      listed.push(...page.items.map((item) => item.conversationId));
      if (page.items[0]?.conversationId === ids[6]) {
        expect(page.items[0]).toMatchObject({ kind: 'group', name: 'G6', lastSeq: 7, readSeq: 1, unread: 6 });
      }
      cursor = page.nextCursor;
    } while (cursor);
    expect(listed).toEqual([...ids].reverse());
  });
});

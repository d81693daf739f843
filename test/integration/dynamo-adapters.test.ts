import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-connection-store';
import { DynamoEventStore } from '../../lambdas/adapters/dynamo-event-store';
import { DynamoMembershipDirectory } from '../../lambdas/adapters/dynamo-membership-directory';
import { registerConnection } from '../../lambdas/core/connections';
import {
  GroupTooLargeError,
  NotAllowedError,
  NotAMemberError,
  RecallWindowClosedError,
} from '../../lambdas/core/errors';
import type { UnsequencedEvent } from '../../lambdas/core/ports';
import { LIMITS } from '../../protocol';
import { FixedClock } from '../helpers/fakes';
import { createHeraldTables, documentClient, type HeraldTableNames, runId } from '../helpers/provision';

let tables: HeraldTableNames;
const db = documentClient();
// Times are now-relative: the Connections table has TTL on, and DynamoDB Local deletes expired rows at once.
const clock = new FixedClock(Date.now());

beforeAll(async () => {
  tables = await createHeraldTables();
});
afterAll(async () => {
  await tables?.drop();
});

describe('DynamoConnectionStore (DynamoDB Local)', () => {
  const store = () => new DynamoConnectionStore(db, tables.connections);
  const idsOf = async (s: DynamoConnectionStore, users: string[]) =>
    (await s.listByUsers(users)).map((c) => `${c.userId}/${c.connectionId}`).sort();
  const userItem = async (userId: string) =>
    (
      await db.send(
        new GetCommand({ TableName: tables.connections, Key: { connectionId: `user#${userId}` } }),
      )
    ).Item;

  it('stores a row with a TTL in seconds and names it in the user item; lists and removes by connection id', async () => {
    const s = store();
    const [alice, bob] = [`alice-${runId()}`, `bob-${runId()}`];
    const connectedAt = Date.now();
    await registerConnection(s, { connectionId: 'A1=', userId: alice, connectedAt });
    await registerConnection(s, { connectionId: 'A2=', userId: alice, connectedAt: connectedAt + 1 });
    await registerConnection(s, { connectionId: 'B1=', userId: bob, connectedAt });

    expect(await idsOf(s, [alice, bob, alice, `nobody-${runId()}`])).toEqual(
      [`${alice}/A1=`, `${alice}/A2=`, `${bob}/B1=`].sort(),
    );
    const { Item } = await db.send(
      new GetCommand({ TableName: tables.connections, Key: { connectionId: 'A1=' } }),
    );
    expect(Item).toEqual({
      connectionId: 'A1=',
      userId: alice,
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + 7800, // seconds: two hours and ten minutes on
    });
    // The user item: no userId (it must not look like a connection row), the newest connection's expiry.
    expect(await userItem(alice)).toEqual({
      connectionId: `user#${alice}`,
      conns: new Set([`${connectedAt} A1=`, `${connectedAt + 1} A2=`]),
      expiresAt: Math.floor((connectedAt + 1) / 1000) + 7800,
    });

    await s.remove('A1=');
    expect(await idsOf(s, [alice])).toEqual([`${alice}/A2=`]);
    expect((await userItem(alice))?.conns).toEqual(new Set([`${connectedAt + 1} A2=`]));
    await s.remove('never-existed'); // deleting an unknown connection is not an error
  });

  it('after a 410, removes a connection only when it is older than the connect grace period', async () => {
    const s = store();
    const user = `gone-${runId()}`;
    const now = Date.now();
    const expiresAt = Math.floor(now / 1000) + 600;
    await s.put({ connectionId: 'young=', userId: user, connectedAt: now - 1000, expiresAt });
    await s.put({ connectionId: 'old=', userId: user, connectedAt: now - 60_000, expiresAt });
    await s.removeGone('young='); // may still be in its $connect: kept
    await s.removeGone('old=');
    await s.removeGone('never-existed=');
    expect(await idsOf(s, [user])).toEqual([`${user}/young=`]);
    const { Item } = await db.send(
      new GetCommand({ TableName: tables.connections, Key: { connectionId: 'old=' } }),
    );
    expect(Item).toBeUndefined();
  });

  it('skips entries older than API Gateway allows a connection to live, and drops them at the next connect', async () => {
    const s = store();
    const user = `stale-${runId()}`;
    const now = Date.now();
    const threeHoursAgo = now - 3 * 3600 * 1000;
    await s.put({
      connectionId: 'dead=',
      userId: user,
      connectedAt: threeHoursAgo,
      expiresAt: 4_000_000_000,
    });
    expect(await idsOf(s, [user])).toEqual([]);
    await s.put({ connectionId: 'new=', userId: user, connectedAt: now, expiresAt: 4_000_000_000 });
    expect(await idsOf(s, [user])).toEqual([`${user}/new=`]);
    expect((await userItem(user))?.conns).toEqual(new Set([`${now} new=`]));
  });

  it('finds the connections of 250 users in three batch reads, and a user with 120 connections', async () => {
    const s = store();
    const run = runId();
    const users = Array.from({ length: 250 }, (_, i) => `member-${i}-${run}`);
    const now = Date.now();
    await Promise.all(
      users.map((userId, i) =>
        s.put({ connectionId: `m${i}=`, userId, connectedAt: now, expiresAt: Math.floor(now / 1000) + 600 }),
      ),
    );
    const busy = `busy-${run}`;
    const ids = Array.from(
      { length: 120 },
      (_, i) => `conn-${String(i).padStart(3, '0')}-${'x'.repeat(100)}`,
    );
    await Promise.all(
      ids.map((connectionId) =>
        s.put({ connectionId, userId: busy, connectedAt: now, expiresAt: Math.floor(now / 1000) + 600 }),
      ),
    );
    const calls: string[] = [];
    db.middlewareStack.add(
      (next, context) => async (args) => {
        calls.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'countBatchReads' },
    );
    try {
      const found = await s.listByUsers([...users, busy]);
      expect(found).toHaveLength(250 + 120);
      expect(new Set(found.map((c) => c.userId)).size).toBe(251);
      expect(
        found
          .filter((c) => c.userId === busy)
          .map((c) => c.connectionId)
          .sort(),
      ).toEqual(ids);
    } finally {
      db.middlewareStack.remove('countBatchReads');
    }
    // 251 users: three requests of at most 100 keys, and nothing else.
    expect(calls).toEqual(['BatchGetItemCommand', 'BatchGetItemCommand', 'BatchGetItemCommand']);
  });
});

describe('DynamoEventStore (DynamoDB Local)', () => {
  const store = () => new DynamoEventStore(db, tables.conversations, tables.messages, clock);
  const message = (conversationId: string, clientMessageId: string, over: Partial<UnsequencedEvent> = {}) =>
    ({
      kind: 'message',
      conversationId,
      actorId: 'alice',
      clientMessageId,
      at: clock.time,
      text: 'hello',
      ...over,
    }) as UnsequencedEvent;
  // Member rows come with a conversation's first event in the pipeline (apply-command); here they are seeded,
  // because appending checks that the actor still is a member.
  const seedMembers = (conversationId: string, ...userIds: string[]) =>
    store().putMembers(
      conversationId,
      userIds.map((userId) => ({ userId, role: 'member' as const, joinedAt: 1, readSeq: 0 })),
    );

  it('gives a conversation’s events gap-free sequence numbers starting at 1, and keeps the meta row', async () => {
    const conversationId = `dm:a${runId()}:b`;
    await seedMembers(conversationId, 'alice', 'b');
    const seqs = [];
    for (const id of ['m1', 'm2', 'm3'])
      seqs.push((await store().append(message(conversationId, id))).event.seq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(await store().getEvent(conversationId, 2)).toMatchObject({
      kind: 'message',
      seq: 2,
      clientMessageId: 'm2',
    });
    expect(await store().getConversation(conversationId)).toMatchObject({ lastSeq: 3, kind: 'direct' });
  });

  it('stores a repeated (actor, clientMessageId) once and returns the original', async () => {
    const conversationId = `dm:a${runId()}:b`;
    await seedMembers(conversationId, 'alice', 'b');
    const first = await store().append(message(conversationId, 'once', { text: 'original' }));
    const again = await store().append(message(conversationId, 'once', { text: 'retry' }));
    expect(again).toEqual({ event: first.event, duplicate: true });
    expect(await store().findEvent(conversationId, 'alice/once')).toEqual(first.event);
    expect((await store().append(message(conversationId, 'other'))).event.seq).toBe(2);
  });

  it('keeps sequences gap-free when two writers race on one conversation', async () => {
    const conversationId = `grp:race-${runId()}`;
    await seedMembers(conversationId, 'alice');
    const results = await Promise.allSettled(
      ['r1', 'r2'].map((id) => store().append(message(conversationId, id))),
    );
    const stored = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.event.seq] : []));
    expect(stored.sort()).toEqual([1, 2]);
  });

  it('edits and recalls a message in place, atomically with the edit/recall event', async () => {
    const conversationId = `dm:a${runId()}:b`;
    await seedMembers(conversationId, 'alice', 'b');
    await store().append(message(conversationId, 'm1', { text: 'typo' }));
    await store().append(
      {
        kind: 'edit',
        conversationId,
        actorId: 'alice',
        clientMessageId: 'e1',
        at: clock.time + 1,
        targetSeq: 1,
        text: 'fixed',
      },
      { updateMessage: { seq: 1, change: { edit: { text: 'fixed', editedAt: clock.time + 1 } } } },
    );
    expect(await store().getEvent(conversationId, 1)).toMatchObject({
      text: 'fixed',
      editedAt: clock.time + 1,
    });
    await store().append(
      {
        kind: 'recall',
        conversationId,
        actorId: 'alice',
        clientMessageId: 'r1',
        at: clock.time + 2,
        targetSeq: 1,
      },
      { updateMessage: { seq: 1, change: { recall: true } } },
    );
    expect(await store().getEvent(conversationId, 1)).toMatchObject({ text: '', recalled: true });
    // A second recall (or an edit) of a recalled message stores nothing.
    await expect(
      store().append(
        {
          kind: 'recall',
          conversationId,
          actorId: 'alice',
          clientMessageId: 'r2',
          at: clock.time + 3,
          targetSeq: 1,
        },
        { updateMessage: { seq: 1, change: { recall: true } } },
      ),
    ).rejects.toBeInstanceOf(RecallWindowClosedError);
    expect((await store().getConversation(conversationId))?.lastSeq).toBe(3);
  });

  it('takes the caller’s lastSeq to skip a read, and recovers from a stale one without a gap', async () => {
    const conversationId = `dm:a${runId()}:b`;
    await seedMembers(conversationId, 'alice', 'b');
    expect((await store().append(message(conversationId, 'h1'), {}, 0)).event.seq).toBe(1);
    expect((await store().append(message(conversationId, 'h2'), {}, 1)).event.seq).toBe(2);
    // Stale: the counter's condition fails, the store reads the real value and stores 3, not 1 again.
    expect((await store().append(message(conversationId, 'h3'), {}, 0)).event.seq).toBe(3);
    expect((await store().getConversation(conversationId))?.lastSeq).toBe(3);
    expect(await store().getEvent(conversationId, 1)).toMatchObject({ clientMessageId: 'h1' });
  });

  /** Alice edits message `targetSeq` of the conversation (the in-place change goes with the edit event). */
  const editMessage = (conversationId: string, clientMessageId: string, text: string, targetSeq = 1) =>
    store().append(
      { kind: 'edit', conversationId, actorId: 'alice', clientMessageId, at: clock.time, targetSeq, text },
      { updateMessage: { seq: targetSeq, change: { edit: { text, editedAt: clock.time } } } },
    );
  const recallMessage = (conversationId: string, clientMessageId: string, targetSeq = 1) =>
    store().append(
      { kind: 'recall', conversationId, actorId: 'alice', clientMessageId, at: clock.time, targetSeq },
      { updateMessage: { seq: targetSeq, change: { recall: true } } },
    );

  it('scrubs every edit of a recalled message: no edited text survives in the events table', async () => {
    const conversationId = `dm:a${runId()}:b`;
    await seedMembers(conversationId, 'alice', 'b');
    await store().append(message(conversationId, 'm1', { text: 'secret v1' }));
    await editMessage(conversationId, 'e1', 'secret v2');
    await store().append(message(conversationId, 'm2', { text: 'unrelated' }));
    await editMessage(conversationId, 'e2', 'secret v3');
    expect(await store().getEvent(conversationId, 2)).toMatchObject({ kind: 'edit', text: 'secret v2' });
    // The stored message lists its edits, but a reader never sees the bookkeeping.
    const raw = await db.send(
      new GetCommand({ TableName: tables.messages, Key: { conversationId, seq: 1 } }),
    );
    expect(raw.Item?.editSeqs).toEqual([2, 4]);
    expect(await store().getEvent(conversationId, 1)).not.toHaveProperty('editSeqs');

    await recallMessage(conversationId, 'r1');
    expect(await store().getEvent(conversationId, 1)).toMatchObject({ text: '', recalled: true });
    for (const seq of [2, 4]) {
      expect(await store().getEvent(conversationId, seq)).toMatchObject({
        kind: 'edit',
        text: '',
        recalled: true,
      });
    }
    expect(await store().getEvent(conversationId, 3)).toMatchObject({ kind: 'message', text: 'unrelated' });
    expect(await store().getEvent(conversationId, 3)).not.toHaveProperty('recalled');
  });

  it(`refuses the edit after LIMITS.maxEditsPerMessage (${LIMITS.maxEditsPerMessage}) with NOT_ALLOWED, storing nothing`, async () => {
    const conversationId = `dm:a${runId()}:b`;
    await seedMembers(conversationId, 'alice', 'b');
    await store().append(message(conversationId, 'm1', { text: 'v0' }));
    for (let n = 1; n <= LIMITS.maxEditsPerMessage; n++) await editMessage(conversationId, `e${n}`, `v${n}`);
    await expect(editMessage(conversationId, 'e-over', 'one too many')).rejects.toBeInstanceOf(
      NotAllowedError,
    );
    expect((await store().getConversation(conversationId))?.lastSeq).toBe(LIMITS.maxEditsPerMessage + 1);
    // A recall still scrubs them all in one transaction (5 + 50 items, within DynamoDB's 100).
    await recallMessage(conversationId, 'r1');
    for (let seq = 2; seq <= LIMITS.maxEditsPerMessage + 1; seq++) {
      expect(await store().getEvent(conversationId, seq)).toMatchObject({ text: '', recalled: true });
    }
  });

  it('keeps member rows, read positions and the member count limit', async () => {
    const conversationId = `grp:${runId()}`;
    await store().append(
      {
        kind: 'group.created',
        conversationId,
        actorId: 'ann',
        clientMessageId: 'c',
        at: 1,
        name: 'Team',
        members: ['ann', 'ben'],
      },
      { conversation: { kind: 'group', name: 'Team', createdBy: 'ann' }, memberCountDelta: 2 },
    );
    await store().putMembers(conversationId, [
      { userId: 'ann', role: 'owner', joinedAt: 1, readSeq: 1 },
      { userId: 'ben', role: 'member', joinedAt: 1, readSeq: 1 },
    ]);
    expect(await store().getConversation(conversationId)).toMatchObject({
      kind: 'group',
      name: 'Team',
      memberCount: 2,
      lastSeq: 1,
    });
    expect(await store().advanceRead(conversationId, 'ben', 1)).toBeUndefined(); // not forward
    await store().append(message(conversationId, 'hi', { actorId: 'ann' }));
    // A removed member's event is refused by the store itself (the check races no removal).
    await expect(store().append(message(conversationId, 'late', { actorId: 'zed' }))).rejects.toBeInstanceOf(
      NotAMemberError,
    );
    expect(await store().advanceRead(conversationId, 'ben', 2)).toBe(2);
    expect((await store().getMember(conversationId, 'ann'))?.readSeq).toBe(2); // the actor read their own event
    // A repeat of putMembers never moves a read position back.
    await store().putMembers(conversationId, [{ userId: 'ben', role: 'admin', joinedAt: 9, readSeq: 0 }]);
    expect(await store().getMember(conversationId, 'ben')).toEqual({
      userId: 'ben',
      role: 'admin',
      joinedAt: 1,
      readSeq: 2,
    });
    await expect(
      store().append(
        {
          kind: 'members.added',
          conversationId,
          actorId: 'ann',
          clientMessageId: 'big',
          at: 2,
          userIds: ['x'],
          role: 'member',
        },
        { memberCountDelta: 999 },
      ),
    ).rejects.toBeInstanceOf(GroupTooLargeError);
    await store().deleteMembers(conversationId, ['ben']);
    expect((await store().listMemberRecords(conversationId)).map((m) => m.userId)).toEqual(['ann']);
    const directory = new DynamoMembershipDirectory(db, tables.conversations);
    expect(await directory.isMember(conversationId, 'ben')).toBe(false);
  });
});

describe('DynamoMembershipDirectory (DynamoDB Local)', () => {
  it('answers membership of group conversations from member rows only', async () => {
    const conversationId = `grp:${runId()}`;
    for (const userId of ['ann', 'ben']) {
      await db.send(
        new PutCommand({
          TableName: tables.conversations,
          Item: { conversationId, sk: `member#${userId}`, memberId: userId, role: 'member', joinedAt: 1 },
        }),
      );
    }
    await db.send(
      new PutCommand({ TableName: tables.conversations, Item: { conversationId, sk: 'meta', lastSeq: 4 } }),
    );
    const directory = new DynamoMembershipDirectory(db, tables.conversations);
    expect((await directory.listMembers(conversationId)).sort()).toEqual(['ann', 'ben']);
    expect(await directory.isMember(conversationId, 'ann')).toBe(true);
    expect(await directory.isMember(`grp:${runId()}`, 'ann')).toBe(false);
  });
});

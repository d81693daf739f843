import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-connection-store';
import { DynamoMembershipDirectory } from '../../lambdas/adapters/dynamo-membership-directory';
import { DynamoMessageStore } from '../../lambdas/adapters/dynamo-message-store';
import { INDEX } from '../../lambdas/config';
import { registerConnection } from '../../lambdas/core/connections';
import { FixedClock, queuedMessage } from '../helpers/fakes';
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
  it('stores connections with a TTL in seconds and lists a user’s connections through the index', async () => {
    const store = new DynamoConnectionStore(db, tables.connections, INDEX.connectionsByUser);
    const user = `alice-${runId()}`;
    const connectedAt = Date.now();
    await registerConnection(store, { connectionId: 'A1=', userId: user, connectedAt });
    await registerConnection(store, { connectionId: 'A2=', userId: user, connectedAt });
    await registerConnection(store, { connectionId: 'B1=', userId: `bob-${runId()}`, connectedAt });

    expect((await store.listByUser(user)).sort()).toEqual(['A1=', 'A2=']);
    const { Item } = await db.send(
      new GetCommand({ TableName: tables.connections, Key: { connectionId: 'A1=' } }),
    );
    expect(Item).toEqual({
      connectionId: 'A1=',
      userId: user,
      connectedAt,
      expiresAt: Math.floor(connectedAt / 1000) + 7800, // seconds: two hours and ten minutes on
    });

    await store.remove('A1=');
    expect(await store.listByUser(user)).toEqual(['A2=']);
    await store.remove('never-existed'); // deleting an unknown connection is not an error
  });

  it('pages through a user with many connections', async () => {
    const store = new DynamoConnectionStore(db, tables.connections, INDEX.connectionsByUser);
    const user = `busy-${runId()}`;
    const ids = Array.from(
      { length: 120 },
      (_, i) => `conn-${String(i).padStart(3, '0')}-${'x'.repeat(100)}`,
    );
    await Promise.all(
      ids.map((connectionId) =>
        store.put({
          connectionId,
          userId: user,
          connectedAt: Date.now(),
          expiresAt: Math.floor(Date.now() / 1000) + 600,
        }),
      ),
    );
    expect((await store.listByUser(user)).sort()).toEqual(ids);
  });
});

describe('DynamoMessageStore (DynamoDB Local)', () => {
  const store = () => new DynamoMessageStore(db, tables.conversations, tables.messages, clock);

  it('gives a conversation’s messages gap-free sequence numbers starting at 1', async () => {
    const conversationId = `dm:a${runId()}:b`;
    const seqs = [];
    for (const id of ['m1', 'm2', 'm3']) {
      seqs.push(
        (await store().append(queuedMessage({ conversationId, clientMessageId: id }), [])).message.seq,
      );
    }
    expect(seqs).toEqual([1, 2, 3]);
    const { Item } = await db.send(
      new GetCommand({ TableName: tables.messages, Key: { conversationId, seq: 2 } }),
    );
    expect(Item).toMatchObject({
      conversationId,
      seq: 2,
      clientMessageId: 'm2',
      text: 'hello',
      storedAt: clock.time,
    });
  });

  it('stores a redelivered (sender, clientMessageId) once and returns the original', async () => {
    const conversationId = `dm:a${runId()}:b`;
    const first = await store().append(queuedMessage({ conversationId, text: 'original' }), []);
    const again = await store().append(queuedMessage({ conversationId, text: 'retry', sentAt: 5 }), []);
    expect(again).toEqual({ message: first.message, duplicate: true });
    expect(again.message.text).toBe('original');
    const next = await store().append(queuedMessage({ conversationId, clientMessageId: 'other' }), []);
    expect(next.message.seq).toBe(2); // the duplicate consumed no sequence number
  });

  it('keeps sequences gap-free when two writers race on one conversation', async () => {
    const conversationId = `grp:race-${runId()}`;
    const results = await Promise.allSettled(
      ['r1', 'r2'].map((id) => store().append(queuedMessage({ conversationId, clientMessageId: id }), [])),
    );
    const stored = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.message.seq] : []));
    expect(stored.sort()).toEqual([1, 2]);
  });

  it('records the members of a conversation with its first message, readable through the byMember index', async () => {
    const a = `a${runId()}`;
    const conversationId = `dm:${a}:zed`;
    await store().append(queuedMessage({ conversationId, senderId: a }), [a, 'zed']);
    await store().append(queuedMessage({ conversationId, senderId: a, clientMessageId: 'm2' }), [a, 'zed']);
    const directory = new DynamoMembershipDirectory(db, tables.conversations);
    expect((await directory.listMembers(conversationId)).sort()).toEqual([a, 'zed']);
    expect(await directory.isMember(conversationId, 'zed')).toBe(true);
    expect(await directory.isMember(conversationId, 'mallory')).toBe(false);
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

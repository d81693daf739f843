/**
 * Herald end to end, through real WebSocket clients: against the local cloud by default, or any deployment
 * (HERALD_WS_URL). Tests that look behind the API (tables, queues) run locally only.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { connectionIdsOfUser, DynamoConnectionStore } from '../../lambdas/adapters/dynamo-connection-store';
import { LIMITS } from '../../protocol';
import { directId, HandshakeRefused, TestClient, tokenFor, unique } from './client';

const target = inject('heraldTarget');
const local = target.local;
const clients: TestClient[] = [];
const open = async (userId: string) => {
  const client = await TestClient.connect(userId);
  clients.push(client);
  return client;
};
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
});

const db = local
  ? DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: local.dynamodbEndpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
    )
  : undefined;

async function refusal(userId: string, token: string | null): Promise<number> {
  try {
    const client = await TestClient.connect(userId, token);
    await client.close();
  } catch (error) {
    if (error instanceof HandshakeRefused) return error.status;
    throw error;
  }
  return 101;
}

describe('connecting', () => {
  it('refuses a handshake without a token (401) before any connection exists', async () => {
    expect(await refusal('alice', null)).toBe(401);
  });

  it('refuses a bad, foreign-audience or expired token with 401, and an unusable subject with 403', async () => {
    expect(await refusal('alice', 'not-a-jwt')).toBe(401);
    expect(await refusal('alice', await tokenFor('alice', { audience: 'some-other-app' }))).toBe(401);
    expect(
      await refusal('alice', await tokenFor('alice', { expiresIn: Math.floor(Date.now() / 1000) - 120 })),
    ).toBe(401);
    expect(await refusal('x', await tokenFor('alice:admin'))).toBe(403);
  });

  it('accepts a valid token', async () => {
    const client = await open(unique('alice'));
    expect(client.ws.readyState).toBe(client.ws.OPEN);
  });
});

describe('direct messages', () => {
  it('two users exchange messages: acks carry the sequence, the other side gets the message', async () => {
    const [a, b] = [unique('ann'), unique('bob')];
    const conversationId = directId(a, b);
    const ann = await open(a);
    const bob = await open(b);

    ann.sendMessage(conversationId, 'hello-1', 'Hi Bob');
    await bob.until(() => expect(bob.messages()).toHaveLength(1));
    bob.sendMessage(conversationId, 'reply-1', 'Hi Ann');
    await ann.until(() => expect(ann.messages()).toHaveLength(1));
    await ann.until(() => expect(ann.acks()).toHaveLength(1));
    await bob.until(() => expect(bob.acks()).toHaveLength(1));

    expect(bob.messages()[0]).toMatchObject({ conversationId, seq: 1, actorId: a, text: 'Hi Bob' });
    expect(ann.acks()[0]).toMatchObject({ conversationId, clientMessageId: 'hello-1', seq: 1 });
    expect(ann.messages()[0]).toMatchObject({ seq: 2, actorId: b, text: 'Hi Ann' });
    expect(bob.acks()[0]).toMatchObject({ clientMessageId: 'reply-1', seq: 2 });
  });

  it('a user with two connections gets every message on both, and acks on the sending one only', async () => {
    const [a, b] = [unique('amy'), unique('ben')];
    const conversationId = directId(a, b);
    const phone = await open(a);
    const laptop = await open(a);
    const ben = await open(b);

    ben.sendMessage(conversationId, 'b1');
    phone.sendMessage(conversationId, 'p1');
    laptop.sendMessage(conversationId, 'l1');
    await ben.until(() => expect(ben.messages()).toHaveLength(2));
    await phone.until(() => expect(phone.messages()).toHaveLength(2));
    await laptop.until(() => expect(laptop.messages()).toHaveLength(2));
    await phone.until(() => expect(phone.acks()).toHaveLength(1));
    await laptop.until(() => expect(laptop.acks()).toHaveLength(1));

    expect(
      phone
        .messages()
        .map((m) => m.clientMessageId)
        .sort(),
    ).toEqual(['b1', 'l1']);
    expect(
      laptop
        .messages()
        .map((m) => m.clientMessageId)
        .sort(),
    ).toEqual(['b1', 'p1']);
    expect(phone.acks().map((x) => x.clientMessageId)).toEqual(['p1']);
    // One sequence, gap-free, seen consistently by every device.
    const seqs = new Map<string, number>();
    for (const m of [...phone.messages(), ...laptop.messages(), ...ben.messages()])
      seqs.set(m.clientMessageId, m.seq);
    for (const x of [...phone.acks(), ...laptop.acks(), ...ben.acks()]) seqs.set(x.clientMessageId, x.seq);
    expect([...seqs.values()].sort()).toEqual([1, 2, 3]);
  });

  it('keeps a burst in order with gap-free sequence numbers', async () => {
    const [a, b] = [unique('cat'), unique('dan')];
    const conversationId = directId(a, b);
    const cat = await open(a);
    const dan = await open(b);
    const ids = Array.from({ length: 30 }, (_, i) => `burst-${i}`);
    // Paced under the per-connection flood limit (LIMITS.framesPerSecond), as a well-behaved client sends.
    for (const id of ids) {
      cat.sendMessage(conversationId, id);
      await new Promise((r) => setTimeout(r, 1000 / (LIMITS.framesPerSecond - 1)));
    }
    await dan.until(() => expect(dan.messages()).toHaveLength(30), 20_000);
    expect(dan.messages().map((m) => m.clientMessageId)).toEqual(ids);
    expect(dan.messages().map((m) => m.seq)).toEqual(ids.map((_, i) => i + 1));
  });

  it('stores a retried send once and acks it with the original sequence number', async () => {
    const [a, b] = [unique('eva'), unique('fox')];
    const conversationId = directId(a, b);
    const eva = await open(a);
    const fox = await open(b);
    eva.sendMessage(conversationId, 'same-id', 'once');
    eva.sendMessage(conversationId, 'same-id', 'once');
    eva.sendMessage(conversationId, 'next', 'twice');
    await fox.until(() => expect(fox.messages().map((m) => m.clientMessageId)).toContain('next'));
    expect(fox.messages().map((m) => [m.clientMessageId, m.seq])).toEqual([
      ['same-id', 1],
      ['next', 2],
    ]);
  });
});

describe('bad input', () => {
  it('answers each bad frame with its error code and enqueues nothing', async () => {
    const u = unique('gus');
    const gus = await open(u);
    gus.send('this is not json');
    gus.send({ action: 'teleport', v: 1 });
    gus.send({ action: 'send', v: 1, conversationId: directId(u, 'hal'), clientMessageId: 'bad-1' });
    gus.send({
      action: 'send',
      v: 1,
      conversationId: 'dm:hal:ivy',
      clientMessageId: 'bad-2',
      text: 'let me in',
    });
    gus.send({ action: 'send', v: 1, conversationId: 'dm:\u0001:x', clientMessageId: 'bad-3', text: 'x' });
    gus.send({
      action: 'send',
      v: 7,
      conversationId: directId(u, 'hal'),
      clientMessageId: 'bad-4',
      text: 'x',
    });
    await gus.until(() => expect(gus.errors()).toHaveLength(6));
    const byCode = gus.errors().map((e) => [e.code, e.clientMessageId]);
    expect(byCode).toEqual(
      expect.arrayContaining([
        ['MALFORMED_JSON', undefined],
        ['UNKNOWN_ACTION', undefined],
        ['INVALID_FRAME', 'bad-1'],
        ['NOT_A_MEMBER', 'bad-2'],
        ['INVALID_FRAME', 'bad-3'],
        ['UNSUPPORTED_VERSION', 'bad-4'],
      ]),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(gus.acks()).toEqual([]); // nothing was accepted
    expect(gus.closed).toBeUndefined(); // and the connection is still open
  });

  it('closes the connection with 1009 when a frame is over 32 KB', async () => {
    const jay = await open(unique('jay'));
    jay.send({
      action: 'send',
      v: 1,
      conversationId: 'dm:a:b',
      clientMessageId: 'big',
      text: 'x'.repeat(40 * 1024),
    });
    await jay.until(() => expect(jay.closed?.code).toBe(1009));
  });

  it('answers text over the documented length, in a frame under 32 KB, with INVALID_FRAME', async () => {
    const u = unique('kim');
    const kim = await open(u);
    const text = '€'.repeat(Math.floor(LIMITS.maxFrameBytes / 3) - 200); // ~32 KB of UTF-8, over 4,000 characters
    kim.send({ action: 'send', v: 1, conversationId: directId(u, 'lee'), clientMessageId: 'euro', text });
    await kim.until(() => expect(kim.errors().map((e) => e.code)).toEqual(['INVALID_FRAME']));
  });
});

describe.runIf(local)('behind the API (local cloud only)', () => {
  it('a message sent while the recipient is offline is stored for catch-up', async () => {
    const [a, b] = [unique('max'), unique('ned')];
    const conversationId = directId(a, b);
    const max = await open(a);
    max.sendMessage(conversationId, 'while-away', 'Are you there?');
    await max.until(() => expect(max.acks()).toHaveLength(1));
    const ned = await open(b); // reconnects later: the message waits in history
    const { Items } = (await db?.send(
      new QueryCommand({
        TableName: local?.tables.messages,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': conversationId },
      }),
    )) ?? { Items: [] };
    expect(Items).toEqual([expect.objectContaining({ seq: 1, actorId: a, text: 'Are you there?' })]);
    expect(ned.messages()).toEqual([]);
  });

  it('deletes a connection row whose connection is gone (410) and still delivers to the live ones', async () => {
    const [a, b] = [unique('oli'), unique('pat')];
    const conversationId = directId(a, b);
    const oli = await open(a);
    const pat = await open(b);
    // A connection whose $disconnect never arrived (AWS delivers $disconnect on a best-effort basis): its row
    // and its entry in the user's item, as $connect wrote them.
    const stale = 'Zm9yZ290dGVuAA=';
    const table = local?.tables.connections;
    if (!db || !table) throw new Error('this test needs the local cloud');
    await new DynamoConnectionStore(db, table).put({
      connectionId: stale,
      userId: b,
      // A minute old: a 410 from a connection younger than 30 s may be one still connecting, and stays.
      connectedAt: Date.now() - 60_000,
      expiresAt: Math.floor(Date.now() / 1000) + 3600,
    });
    expect(await connectionIdsOfUser(db, table, b)).toContain(stale);
    oli.sendMessage(conversationId, 'ping');
    await pat.until(() => expect(pat.messages()).toHaveLength(1));
    await pat.until(() => undefined);
    const deadline = Date.now() + 5000;
    let row: unknown = {};
    while (row && Date.now() < deadline) {
      row = (
        await db?.send(new GetCommand({ TableName: local?.tables.connections, Key: { connectionId: stale } }))
      )?.Item;
      if (row) await new Promise((r) => setTimeout(r, 100));
    }
    expect(row).toBeUndefined();
    // Pushes to the user no longer go to it; the live connection stays named.
    expect(await connectionIdsOfUser(db, table, b)).not.toContain(stale);
    expect(await connectionIdsOfUser(db, table, b)).toHaveLength(1);
  });
});

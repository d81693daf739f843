import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-connection-store';
import { CONVERSATION_SK } from '../../lambdas/adapters/dynamo-keys';
import { DynamoMembershipDirectory } from '../../lambdas/adapters/dynamo-membership-directory';
import {
  CONNECTION_ROW,
  DynamoConnectionActivity,
  DynamoContactDirectory,
} from '../../lambdas/adapters/dynamo-presence';
import { DynamoRateLimits, typingKey } from '../../lambdas/adapters/dynamo-rate-limits';
import { ManagementApiNotifier } from '../../lambdas/adapters/management-api-notifier';
import { INDEX } from '../../lambdas/config';
import { registerConnection } from '../../lambdas/core/connections';
import {
  ACTIVITY_REFRESH_MS,
  announceOffline,
  announceOnline,
  CONNECT_GRACE_MS,
  isOnline,
  LIVE_WINDOW_MS,
  type PresenceDeps,
} from '../../lambdas/core/presence';
import { FRAME_POLICY } from '../../lambdas/core/rate-limit';
import { relayTyping, TYPING_POLICY } from '../../lambdas/core/typing';
import { LIMITS, type UserId } from '../../protocol';
import { type ConnectionsEndpoint, startConnectionsEndpoint } from '../helpers/connections-endpoint';
import { createHeraldTables, documentClient, type HeraldTableNames, runId } from '../helpers/provision';

let tables: HeraldTableNames;
let endpoint: ConnectionsEndpoint;
const db = documentClient();

beforeAll(async () => {
  [tables, endpoint] = await Promise.all([createHeraldTables(), startConnectionsEndpoint()]);
});
afterAll(async () => {
  await Promise.all([tables?.drop(), endpoint?.close()]);
});

// Times are now-relative: the Connections table has TTL on, and DynamoDB Local deletes expired rows at once.
const limits = () =>
  new DynamoRateLimits(db, tables.connections, {
    frameBurst: FRAME_POLICY.burst,
    frameWindowMs: FRAME_POLICY.windowMs,
    typingIntervalMs: TYPING_POLICY.intervalMs,
    typingMaxConversations: TYPING_POLICY.maxConversations,
  });
const store = () => new DynamoConnectionStore(db, tables.connections);
const activity = () => new DynamoConnectionActivity(db, tables.connections);

async function connection(userId: UserId, connectedAt = Date.now()): Promise<string> {
  const connectionId = `${userId}-${runId()}=`;
  await registerConnection(store(), { connectionId, userId, connectedAt });
  return connectionId;
}

async function row(connectionId: string): Promise<Record<string, unknown> | undefined> {
  const { Item } = await db.send(
    new GetCommand({ TableName: tables.connections, Key: { connectionId }, ConsistentRead: true }),
  );
  return Item;
}

async function member(conversationId: string, userId: UserId): Promise<void> {
  await db.send(
    new PutCommand({
      TableName: tables.conversations,
      Item: {
        conversationId,
        sk: CONVERSATION_SK.member(userId),
        memberId: userId,
        role: 'member',
        joinedAt: Date.now(),
        readSeq: 0,
      },
    }),
  );
}

describe('flood limit on the connection row (DynamoDB Local)', () => {
  it(`lets exactly frameBurst (${LIMITS.frameBurst}) of 30 concurrent frames through`, async () => {
    const id = await connection(`flood-${runId()}`);
    const now = Date.now();
    const results = await Promise.all(Array.from({ length: 30 }, () => limits().takeFrame(id, now)));
    expect(results.filter(Boolean)).toHaveLength(LIMITS.frameBurst);
    // A frame passes again once the oldest has left the window, not before.
    expect(await limits().takeFrame(id, now + FRAME_POLICY.windowMs - 1)).toBe(false);
    expect(await limits().takeFrame(id, now + FRAME_POLICY.windowMs)).toBe(true);
    const item = await row(id);
    expect(item?.[CONNECTION_ROW.frameLog]).toHaveLength(LIMITS.frameBurst);
    expect(item?.[CONNECTION_ROW.lastSeenAt]).toBe(now + FRAME_POLICY.windowMs);
  });

  it('lets framesPerSecond through, sustained, and refuses the frame above it', async () => {
    const id = await connection(`steady-${runId()}`);
    const start = Date.now();
    const period = 1000 / LIMITS.framesPerSecond;
    for (let i = 0; i < 40; i++) expect(await limits().takeFrame(id, start + i * period)).toBe(true);
    expect(await limits().takeFrame(id, start + 39 * period)).toBe(false);
  });

  it('throttles only the flooding connection', async () => {
    const user = `pair-${runId()}`;
    const [flooder, sibling] = [await connection(user), await connection(user)];
    const now = Date.now();
    await Promise.all(Array.from({ length: 25 }, () => limits().takeFrame(flooder, now)));
    expect(await limits().takeFrame(flooder, now)).toBe(false);
    expect(await limits().takeFrame(sibling, now)).toBe(true);
  });

  it('does not limit, nor create a row for, a connection that has no row', async () => {
    expect(await limits().takeFrame('no-such-connection=', Date.now())).toBe(true);
    expect(await row('no-such-connection=')).toBeUndefined();
  });

  it('repairs a frame log of the wrong length', async () => {
    const id = await connection(`repair-${runId()}`);
    await db.send(
      new UpdateCommand({
        TableName: tables.connections,
        Key: { connectionId: id },
        UpdateExpression: 'SET frameLog = :l',
        ExpressionAttributeValues: { ':l': [1, 2, 3] },
      }),
    );
    expect(await limits().takeFrame(id, Date.now())).toBe(true);
    expect((await row(id))?.[CONNECTION_ROW.frameLog]).toHaveLength(LIMITS.frameBurst);
  });
});

describe('typing interval on the connection row (DynamoDB Local)', () => {
  const interval = LIMITS.typingIntervalMs;

  it('passes one start per interval, and one stop per passed start', async () => {
    const id = await connection(`typist-${runId()}`);
    const gate = limits();
    const t = Date.now();
    expect(await gate.pass(id, 'grp:a', 'stop', t)).toBe(false); // nothing started
    expect(await gate.pass(id, 'grp:a', 'start', t)).toBe(true);
    expect(await gate.pass(id, 'grp:a', 'start', t + interval - 1)).toBe(false);
    expect(await gate.pass(id, 'grp:b', 'start', t + 1)).toBe(true); // another conversation
    expect(await gate.pass(id, 'grp:a', 'stop', t + 10)).toBe(true); // clears at once
    expect(await gate.pass(id, 'grp:a', 'stop', t + 20)).toBe(false); // once
    expect(await gate.pass(id, 'grp:a', 'start', t + 30)).toBe(false); // a stop does not reset the interval
    expect(await gate.pass(id, 'grp:a', 'start', t + interval)).toBe(true);
    expect(await gate.pass(id, 'grp:a', 'start', t + interval + 1)).toBe(false);
    const typing = (await row(id))?.[CONNECTION_ROW.typing];
    expect(typing).toEqual({ [typingKey('grp:a')]: t + interval, [typingKey('grp:b')]: t + 1 });
  });

  it('lets exactly one of 10 concurrent starts through', async () => {
    const id = await connection(`racer-${runId()}`);
    const t = Date.now();
    const results = await Promise.all(
      Array.from({ length: 10 }, () => limits().pass(id, 'grp:r', 'start', t)),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    // And, once the map exists, exactly one again after the interval.
    const again = await Promise.all(
      Array.from({ length: 10 }, () => limits().pass(id, 'grp:r', 'start', t + interval)),
    );
    expect(again.filter(Boolean)).toHaveLength(1);
  });

  it(`keeps at most ${TYPING_POLICY.maxConversations} conversations, then starts afresh`, async () => {
    const id = await connection(`busy-${runId()}`);
    const gate = limits();
    const t = Date.now();
    for (let i = 0; i < TYPING_POLICY.maxConversations; i++) {
      expect(await gate.pass(id, `grp:${i}`, 'start', t)).toBe(true);
    }
    expect(await gate.pass(id, 'grp:0', 'start', t + 1)).toBe(false); // known conversation, within interval
    expect(await gate.pass(id, 'grp:new', 'start', t + 1)).toBe(true); // full: the map starts afresh
    expect(Object.keys((await row(id))?.[CONNECTION_ROW.typing] ?? {})).toEqual([typingKey('grp:new')]);
  });

  it('drops typing from a connection that has no row, and creates none', async () => {
    expect(await limits().pass('ghost=', 'grp:a', 'start', Date.now())).toBe(false);
    expect(await row('ghost=')).toBeUndefined();
  });
});

describe('connection activity (DynamoDB Local)', () => {
  it('refreshes lastSeenAt at most once per ACTIVITY_REFRESH_MS, and never creates a row', async () => {
    const connectedAt = Date.now();
    const id = await connection(`toucher-${runId()}`, connectedAt);
    const touch = (now: number) => activity().touch(id, now, now - ACTIVITY_REFRESH_MS);
    expect(await touch(connectedAt + 5_000)).toBe(false); // just connected: connectedAt is fresh enough
    expect(await touch(connectedAt + ACTIVITY_REFRESH_MS + 1)).toBe(true);
    expect(await touch(connectedAt + ACTIVITY_REFRESH_MS + 30_000)).toBe(false);
    expect(await touch(connectedAt + 2 * ACTIVITY_REFRESH_MS + 2)).toBe(true);
    expect((await row(id))?.[CONNECTION_ROW.lastSeenAt]).toBe(connectedAt + 2 * ACTIVITY_REFRESH_MS + 2);
    expect(await activity().touch('nobody=', Date.now(), Date.now())).toBe(false);
    expect(await row('nobody=')).toBeUndefined();
  });

  it('counts a user whose only row is stale as offline, and a deleted row as no connection', async () => {
    const user = `sleeper-${runId()}`;
    const now = Date.now();
    const stale = await connection(user, now - LIVE_WINDOW_MS - 60_000);
    const clock = { now: () => now };
    expect(await isOnline({ activity: activity(), clock }, user)).toBe(false);

    // Traffic (a frame taken) makes it live again.
    await limits().takeFrame(stale, now - 1000);
    expect(await isOnline({ activity: activity(), clock }, user)).toBe(true);
    expect(await activity().connectionsOf(user)).toEqual([
      { connectionId: stale, connectedAt: now - LIVE_WINDOW_MS - 60_000, lastSeenAt: now - 1000 },
    ]);

    await store().remove(stale);
    expect(await activity().connectionsOf(user)).toEqual([]); // even while the index may still list it
    expect(await isOnline({ activity: activity(), clock }, user)).toBe(false);
  });

  it('deletes a gone connection’s row only when it is older than the $connect grace', async () => {
    const now = Date.now();
    const young = await connection(`young-${runId()}`, now - CONNECT_GRACE_MS + 1000);
    const old = await connection(`old-${runId()}`, now - CONNECT_GRACE_MS - 1000);
    expect(await activity().removeIfConnectedBefore(young, now - CONNECT_GRACE_MS)).toBe(false);
    expect(await activity().removeIfConnectedBefore(old, now - CONNECT_GRACE_MS)).toBe(true);
    expect(await activity().removeIfConnectedBefore(old, now - CONNECT_GRACE_MS)).toBe(false);
    expect(await row(young)).toBeDefined();
    expect(await row(old)).toBeUndefined();
  });

  it('finds the conversations of a user through the byMember index, up to the limit', async () => {
    const user = `social-${runId()}`;
    await Promise.all(Array.from({ length: 7 }, (_, i) => member(`grp:${user}-${i}`, user)));
    await member(`grp:${user}-other`, `someone-else-${runId()}`);
    const contacts = new DynamoContactDirectory(db, tables.conversations, INDEX.conversationsByMember);
    expect(await contacts.conversationsOf(user, 100)).toHaveLength(7);
    expect(await contacts.conversationsOf(user, 3)).toHaveLength(3);
  });
});

describe('presence and typing end to end (DynamoDB Local, @connections stand-in)', () => {
  const deps = (): PresenceDeps => ({
    activity: activity(),
    contacts: new DynamoContactDirectory(db, tables.conversations, INDEX.conversationsByMember),
    directory: new DynamoMembershipDirectory(db, tables.conversations),
    connections: store(),
    notifier: new ManagementApiNotifier(
      new ApiGatewayManagementApiClient({
        endpoint: endpoint.url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
      }),
    ),
    clock: { now: () => Date.now() },
    concurrency: 8,
  });

  it('announces online and offline to contacts, relays typing, and cleans up a gone connection', async () => {
    const [alice, bob, carol] = ['alice', 'bob', 'carol'].map((u) => `${u}-${runId()}`) as [
      UserId,
      UserId,
      UserId,
    ];
    const group = `grp:${runId()}`;
    await Promise.all([member(group, alice), member(group, bob), member(group, carol)]);
    const b1 = await connection(bob);
    // Carol's client went away a while ago without a $disconnect: her row is still there.
    const c1 = await connection(carol, Date.now() - 5 * 60_000);
    endpoint.live.add(b1);

    const connectedAt = Date.now();
    const a1 = await connection(alice, connectedAt);
    endpoint.live.add(a1);
    const online = await announceOnline(deps(), { userId: alice, connectionId: a1, connectedAt });
    expect(online).toMatchObject({ announced: true, contacts: 2, delivered: 1, gone: 1, failed: 0 });
    expect(await row(c1)).toBeUndefined(); // 410 Gone deleted exactly that row
    // ...and carol, now without a live connection, was announced offline to her contacts.
    const carolOffline = { type: 'presence', v: 1, userId: carol, online: false, at: expect.any(Number) };
    expect(endpoint.received(b1)).toEqual([
      { type: 'presence', v: 1, userId: alice, online: true, at: expect.any(Number) },
      carolOffline,
    ]);
    expect(endpoint.received(a1)).toEqual([carolOffline]);

    const gate = limits();
    const typing = await relayTyping(
      { ...deps(), gate },
      { userId: alice, connectionId: a1 },
      { action: 'typing', v: 1, conversationId: group, state: 'start' },
    );
    expect(typing).toMatchObject({ relayed: true, recipients: 2, delivered: 1 });
    expect(endpoint.received(b1).at(-1)).toEqual({
      type: 'typing',
      v: 1,
      conversationId: group,
      userId: alice,
      state: 'start',
    });
    expect(endpoint.received(a1)).toHaveLength(1); // never to the sender's own connection

    await store().remove(a1);
    const offline = await announceOffline(deps(), alice);
    expect(offline).toMatchObject({ announced: true, online: false });
    expect(endpoint.received(b1).at(-1)).toMatchObject({ type: 'presence', userId: alice, online: false });
  });
});

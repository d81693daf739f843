import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { UserId } from '../../protocol';
import { CONNECTION_TTL_GRACE_SECONDS, connectionExpiry, MAX_CONNECTION_SECONDS } from '../core/connections';
import type { ConnectionRecord, ConnectionStore, LiveConnection } from '../core/ports';
import { CONNECT_GRACE_MS } from '../core/presence';
import { batchGetAll } from './dynamo-batch-get';
import { isConditionFailure } from './dynamo-errors';
import { CONNECTIONS_KEY } from './dynamo-keys';

/**
 * The Connections table holds two kinds of item, both keyed by `connectionId`:
 *
 * - a **connection row** per live WebSocket connection (`connectionId` as API Gateway names it, `userId`,
 *   `connectedAt`, `expiresAt`, and the activity and rate-limit attributes of CONNECTION_ROW);
 * - a **user item** per user, `connectionId = "user#<userId>"`, whose string set `conns` names the user's live
 *   connections as `"<connectedAt> <connectionId>"` (API Gateway's connection ids never contain `#` or a
 *   space, so neither kind can be mistaken for the other).
 *
 * Delivery finds the connections of a whole audience with one BatchGetItem of their user items (100 users a
 * request) instead of one Query per user, and nothing here can Scan (IAM does not allow it either).
 *
 * Invariant: a set entry exists only while its row does. A connection's row is written before its entry is
 * added, and its entry removed before its row is deleted, so a crash in between leaves at worst a row without
 * an entry (nobody is pushed to it, TTL deletes it), never an entry that posts to nothing. Entries of
 * connections older than API Gateway's 2-hour limit are dead whatever happened: reads skip them and the next
 * connect of the user drops them.
 */
export const USER_ITEM = {
  connections: 'conns',
  expiresAt: 'expiresAt',
} as const;

/** An entry whose connection is older than this is dead: API Gateway closed it (2 h), TTL grace included. */
const ENTRY_MAX_AGE_MS = (MAX_CONNECTION_SECONDS + CONNECTION_TTL_GRACE_SECONDS) * 1000;

const userKey = (userId: UserId) => ({ connectionId: CONNECTIONS_KEY.user(userId) });
const entryOf = (c: { connectionId: string; connectedAt: number }) => `${c.connectedAt} ${c.connectionId}`;

function parseEntry(entry: string): { connectionId: string; connectedAt: number } | undefined {
  const space = entry.indexOf(' ');
  const connectedAt = Number(entry.slice(0, space));
  const connectionId = entry.slice(space + 1);
  if (space < 1 || !Number.isSafeInteger(connectedAt) || connectionId === '') return undefined;
  return { connectionId, connectedAt };
}

/** The live connections a user item names (dead and malformed entries skipped). */
function entriesOf(item: Record<string, unknown> | undefined, now: number) {
  const set = item?.[USER_ITEM.connections];
  const live: { connectionId: string; connectedAt: number }[] = [];
  const dead: string[] = [];
  if (!(set instanceof Set)) return { live, dead };
  for (const entry of set) {
    const parsed = typeof entry === 'string' ? parseEntry(entry) : undefined;
    if (parsed && parsed.connectedAt > now - ENTRY_MAX_AGE_MS) live.push(parsed);
    else dead.push(String(entry));
  }
  return { live, dead };
}

export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async put(connection: ConnectionRecord): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...connection } }));
    const { Attributes } = await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: userKey(connection.userId),
        UpdateExpression: 'ADD #conns :entry SET #exp = :exp',
        ExpressionAttributeNames: { '#conns': USER_ITEM.connections, '#exp': USER_ITEM.expiresAt },
        // The newest connection expires last: the user item outlives every connection it names.
        ExpressionAttributeValues: {
          ':entry': new Set([entryOf(connection)]),
          ':exp': connectionExpiry(connection.connectedAt),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const { dead } = entriesOf(Attributes, connection.connectedAt);
    if (dead.length > 0) await this.dropEntries(connection.userId, dead);
  }

  async remove(connectionId: string): Promise<void> {
    // Deleting by the exact connection id that went away: never by user, never another device's row.
    await removeConnectionRow(this.db, this.tableName, connectionId);
  }

  async removeGone(connectionId: string): Promise<void> {
    await removeConnectionRow(this.db, this.tableName, connectionId, Date.now() - CONNECT_GRACE_MS);
  }

  async listByUsers(userIds: readonly UserId[]): Promise<LiveConnection[]> {
    const now = Date.now();
    const items = await batchGetUserItems(this.db, this.tableName, [...new Set(userIds)]);
    return items.flatMap(({ userId, item }) =>
      entriesOf(item, now).live.map((entry) => ({ ...entry, userId })),
    );
  }

  private async dropEntries(userId: UserId, entries: readonly string[]): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: userKey(userId),
        UpdateExpression: 'DELETE #conns :dead',
        ExpressionAttributeNames: { '#conns': USER_ITEM.connections },
        ExpressionAttributeValues: { ':dead': new Set(entries) },
      }),
    );
  }
}

/**
 * Removes one connection: its entry in its user's item, then its row. With `connectedBefore`, only a
 * connection that connected before then (API Gateway answers 410 while a `$connect` is still running, and that
 * connection must stay). Returns whether this call removed the row. Shared by delivery's 410 cleanup,
 * `$disconnect` and presence.
 */
export async function removeConnectionRow(
  db: DynamoDBDocumentClient,
  tableName: string,
  connectionId: string,
  connectedBefore?: number,
): Promise<boolean> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: tableName,
      Key: { connectionId },
      ProjectionExpression: 'userId, connectedAt',
      ConsistentRead: true,
    }),
  );
  const { userId, connectedAt } = Item ?? {};
  if (typeof connectedAt !== 'number') return false;
  if (connectedBefore !== undefined && connectedAt >= connectedBefore) return false;
  if (typeof userId === 'string') {
    await db.send(
      new UpdateCommand({
        TableName: tableName,
        Key: userKey(userId),
        UpdateExpression: 'DELETE #conns :entry',
        ExpressionAttributeNames: { '#conns': USER_ITEM.connections },
        ExpressionAttributeValues: { ':entry': new Set([entryOf({ connectionId, connectedAt })]) },
      }),
    );
  }
  try {
    await db.send(
      new DeleteCommand({
        TableName: tableName,
        Key: { connectionId },
        ConditionExpression: 'connectedAt = :at',
        ExpressionAttributeValues: { ':at': connectedAt },
      }),
    );
    return true;
  } catch (error) {
    // Deleted meanwhile (a $disconnect and a 410 racing): nothing left to do.
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** A user's live connection ids, from their user item (strongly consistent). */
export async function connectionIdsOfUser(
  db: DynamoDBDocumentClient,
  tableName: string,
  userId: UserId,
): Promise<string[]> {
  const { Item } = await db.send(
    new GetCommand({
      TableName: tableName,
      Key: userKey(userId),
      ProjectionExpression: '#conns',
      ExpressionAttributeNames: { '#conns': USER_ITEM.connections },
      ConsistentRead: true,
    }),
  );
  return entriesOf(Item, Date.now()).live.map((entry) => entry.connectionId);
}

/**
 * The user items of `userIds` (a user without one has no connection). Eventually consistent, as the index it
 * replaced was: a connection registered a moment before may be missed, and the client's catch-up on connect
 * covers it.
 */
async function batchGetUserItems(
  db: DynamoDBDocumentClient,
  tableName: string,
  userIds: readonly UserId[],
): Promise<{ userId: UserId; item: Record<string, unknown> }[]> {
  const items = await batchGetAll(db, tableName, userIds.map(userKey), {
    ProjectionExpression: '#id, #conns',
    ExpressionAttributeNames: { '#id': 'connectionId', '#conns': USER_ITEM.connections },
  });
  return items.flatMap((item) => {
    const key = item.connectionId;
    return typeof key === 'string' && key.startsWith(CONNECTIONS_KEY.userPrefix)
      ? [{ userId: key.slice(CONNECTIONS_KEY.userPrefix.length), item }]
      : [];
  });
}

import { type DynamoDBDocumentClient, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ConversationId, UserId } from '../../protocol';
import type { ConnectionActivity, ConnectionActivityRecord, ContactDirectory } from '../core/presence-ports';
import { batchGetAll } from './dynamo-batch-get';
import { connectionIdsOfUser, removeConnectionRow } from './dynamo-connection-store';
import { isConditionFailure } from './dynamo-errors';
import { CONVERSATION_SK } from './dynamo-keys';

/**
 * Attributes of a Connections row beyond the ones ConnectionStore writes (`connectionId`, `userId`,
 * `connectedAt`, `expiresAt`): the connection's activity and its rate-limit state, all on the same row so that
 * they disappear with it ($disconnect, 410 cleanup, TTL).
 *
 *   lastSeenAt: number (ms)      last recorded traffic (presence)
 *   frameLog:   number[] (ms)    times of the last FRAME_POLICY.burst frames taken, oldest first (flood limit)
 *   typing:     { <hash>: ms }   per conversation, the last typing `start` (negated once stopped)
 */
export const CONNECTION_ROW = {
  key: 'connectionId',
  connectedAt: 'connectedAt',
  lastSeenAt: 'lastSeenAt',
  frameLog: 'frameLog',
  typing: 'typing',
} as const;

/**
 * Connection activity on the Connections table. A user's connections are named by their user item (see
 * DynamoConnectionStore) and their rows then read with ConsistentRead, so a connection removed a moment ago is
 * never counted.
 */
export class DynamoConnectionActivity implements ConnectionActivity {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async touch(connectionId: string, now: number, ifLastSeenBefore: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [CONNECTION_ROW.key]: connectionId },
          UpdateExpression: 'SET #seen = :now',
          // Never creates a row (an UpdateItem would), and skips rows refreshed recently: at most one write a
          // minute per connection changes the row.
          ConditionExpression:
            'attribute_exists(#id) AND (#seen < :before OR (attribute_not_exists(#seen) AND #at < :before))',
          ExpressionAttributeNames: {
            '#id': CONNECTION_ROW.key,
            '#seen': CONNECTION_ROW.lastSeenAt,
            '#at': CONNECTION_ROW.connectedAt,
          },
          ExpressionAttributeValues: { ':now': now, ':before': ifLastSeenBefore },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  removeIfConnectedBefore(connectionId: string, connectedBefore: number): Promise<boolean> {
    // Already gone, or still within its $connect: either way, nothing to delete.
    return removeConnectionRow(this.db, this.tableName, connectionId, connectedBefore);
  }

  async connectionsOf(userId: UserId): Promise<ConnectionActivityRecord[]> {
    const ids = await connectionIdsOfUser(this.db, this.tableName, userId);
    return (await this.batchGet(ids)).flatMap((item) => activityRecord(item) ?? []);
  }

  private batchGet(connectionIds: readonly string[]): Promise<Record<string, unknown>[]> {
    return batchGetAll(
      this.db,
      this.tableName,
      connectionIds.map((id) => ({ [CONNECTION_ROW.key]: id })),
      {
        ConsistentRead: true,
        ProjectionExpression: '#id, #at, #seen',
        ExpressionAttributeNames: {
          '#id': CONNECTION_ROW.key,
          '#at': CONNECTION_ROW.connectedAt,
          '#seen': CONNECTION_ROW.lastSeenAt,
        },
      },
    );
  }
}

function activityRecord(item: Record<string, unknown>): ConnectionActivityRecord | undefined {
  const { connectionId, connectedAt, lastSeenAt } = item;
  if (typeof connectionId !== 'string' || typeof connectedAt !== 'number') return undefined;
  return typeof lastSeenAt === 'number'
    ? { connectionId, connectedAt, lastSeenAt }
    : { connectionId, connectedAt };
}

/** "Conversations of a user" is a Query on the Conversations table's sparse byMember index. */
export class DynamoContactDirectory implements ContactDirectory {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly byMemberIndex: string,
  ) {}

  async membersIfAtMost(conversationId: ConversationId, max: number): Promise<UserId[] | undefined> {
    const members: UserId[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :p)',
          ExpressionAttributeValues: { ':c': conversationId, ':p': CONVERSATION_SK.memberPrefix },
          ProjectionExpression: 'memberId',
          Limit: max + 1 - members.length,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) if (typeof item.memberId === 'string') members.push(item.memberId);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && members.length <= max);
    return members.length > max ? undefined : members;
  }

  async conversationsOf(userId: UserId, limit: number): Promise<ConversationId[]> {
    const ids: ConversationId[] = [];
    if (limit < 1) return ids;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: this.byMemberIndex,
          KeyConditionExpression: 'memberId = :u',
          ExpressionAttributeValues: { ':u': userId },
          ProjectionExpression: 'conversationId',
          Limit: limit - ids.length,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        if (typeof item.conversationId === 'string') ids.push(item.conversationId);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && ids.length < limit);
    return ids.slice(0, limit);
  }
}

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { UserId } from '../../protocol';
import type { ConnectionRecord, ConnectionStore } from '../core/ports';
import { CONNECT_GRACE_MS } from '../core/presence';

/**
 * Connections table: one row per live WebSocket connection, keyed by connectionId, with a KEYS_ONLY index by
 * userId. Reads go through that index; nothing here can Scan (and IAM does not allow it either).
 */
export class DynamoConnectionStore implements ConnectionStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly byUserIndex: string,
  ) {}

  async put(connection: ConnectionRecord): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { ...connection } }));
  }

  async remove(connectionId: string): Promise<void> {
    // Deleting by the exact connection id that went away: never by user, never another device's row.
    await this.db.send(new DeleteCommand({ TableName: this.tableName, Key: { connectionId } }));
  }

  async removeGone(connectionId: string): Promise<void> {
    try {
      await this.db.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { connectionId },
          ConditionExpression: 'connectedAt < :cutoff',
          ExpressionAttributeValues: { ':cutoff': Date.now() - CONNECT_GRACE_MS },
        }),
      );
    } catch (error) {
      // Young (still connecting) or already gone: nothing to clean.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  listByUser(userId: UserId): Promise<string[]> {
    return connectionIdsOfUser(this.db, this.tableName, this.byUserIndex, userId);
  }
}

/** A user's connection ids, through the byUser index (never a Scan), every page. */
export async function connectionIdsOfUser(
  db: DynamoDBDocumentClient,
  tableName: string,
  byUserIndex: string,
  userId: UserId,
): Promise<string[]> {
  const ids: string[] = [];
  const pages = paginateQuery(
    { client: db },
    {
      TableName: tableName,
      IndexName: byUserIndex,
      KeyConditionExpression: 'userId = :u',
      ExpressionAttributeValues: { ':u': userId },
    },
  );
  for await (const page of pages) {
    for (const item of page.Items ?? []) {
      if (typeof item.connectionId === 'string') ids.push(item.connectionId);
    }
  }
  return ids;
}

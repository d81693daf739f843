import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** BatchGetItem's limit of keys per call. */
export const BATCH_GET_KEYS = 100;
/** Attempts at a batch's unprocessed keys (throttling) before giving up, with exponential backoff. */
const BATCH_GET_ATTEMPTS = 8;
const BATCH_GET_BACKOFF_MS = 25;

/** What a read asks of each item, as BatchGetItem takes it per table. */
export interface BatchGetRead {
  readonly ConsistentRead?: boolean;
  readonly ProjectionExpression?: string;
  readonly ExpressionAttributeNames?: Record<string, string>;
}

/**
 * Every item of `table` with these keys (missing ones are simply absent), in calls of 100 keys made in
 * parallel, each retrying the keys DynamoDB leaves unprocessed with exponential backoff and jitter.
 */
export async function batchGetAll(
  db: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
  read: BatchGetRead = {},
): Promise<Record<string, unknown>[]> {
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < keys.length; i += BATCH_GET_KEYS) chunks.push(keys.slice(i, i + BATCH_GET_KEYS));
  const results = await Promise.all(chunks.map((chunk) => batchGetChunk(db, table, chunk, read)));
  return results.flat();
}

async function batchGetChunk(
  db: DynamoDBDocumentClient,
  table: string,
  keys: readonly Record<string, unknown>[],
  read: BatchGetRead,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let pending = keys;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > 1) {
      if (attempt > BATCH_GET_ATTEMPTS) {
        throw new Error(
          `BatchGetItem left ${pending.length} key(s) of ${table} unprocessed after ${BATCH_GET_ATTEMPTS} attempts`,
        );
      }
      // Unprocessed keys mean throttling: back off, with jitter, before asking again.
      await sleep(BATCH_GET_BACKOFF_MS * 2 ** (attempt - 2) * (0.5 + Math.random()));
    }
    const { Responses, UnprocessedKeys } = await db.send(
      new BatchGetCommand({ RequestItems: { [table]: { ...read, Keys: [...pending] } } }),
    );
    items.push(...(Responses?.[table] ?? []));
    pending = UnprocessedKeys?.[table]?.Keys ?? [];
  }
  return items;
}

import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoRateLimits } from '../adapters/dynamo-rate-limits';
import { FRAME_POLICY } from '../core/rate-limit';
import { TYPING_POLICY } from '../core/typing';

/**
 * The flood limit and typing gate: one adapter on the Connections table. The command and query functions need
 * it too (for `takeFrame`), with only CONNECTIONS_TABLE.
 */
export function buildRateLimits(db: DynamoDBDocumentClient, connectionsTable: string): DynamoRateLimits {
  return new DynamoRateLimits(db, connectionsTable, {
    frameBurst: FRAME_POLICY.burst,
    frameWindowMs: FRAME_POLICY.windowMs,
    typingIntervalMs: TYPING_POLICY.intervalMs,
    typingMaxConversations: TYPING_POLICY.maxConversations,
  });
}

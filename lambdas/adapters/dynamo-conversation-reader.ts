import { type DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import {
  type ConversationEvent,
  type ConversationId,
  ConversationId as ConversationIdSchema,
  isGroupConversationId,
  type UserId,
  UserId as UserIdSchema,
} from '../../protocol';
import type { MemberRecord } from '../core/ports';
import type {
  ConversationMeta,
  ConversationReader,
  EventRange,
  MemberPage,
  Membership,
  MembershipPage,
} from '../core/query-ports';
import { batchGetAll } from './dynamo-batch-get';
import { eventFromItem } from './dynamo-event-items';
import { CONVERSATION_SK } from './dynamo-keys';

/** Raised when a stored item breaks the storage layout (dynamo-event-items.ts): a writer bug, never input. */
export class StoredItemError extends Error {
  override readonly name = 'StoredItemError';
}

/** A `member#<userId>` row of the Conversations table (also what the byMember index projects). */
const MemberRow = z.object({
  conversationId: ConversationIdSchema,
  memberId: UserIdSchema,
  role: z.enum(['owner', 'admin', 'member']),
  joinedAt: z.number().check(z.int()),
  // A member who never marked anything read may have no position yet.
  readSeq: z._default(z.number().check(z.int(), z.gte(0)), 0),
});

/** The `meta` row of the Conversations table. */
const MetaRow = z.object({
  conversationId: ConversationIdSchema,
  // Rows written before conversations had kinds are direct ones; the id tells the kind either way.
  kind: z.optional(z.enum(['direct', 'group'])),
  name: z.optional(z.string()),
  lastSeq: z._default(z.number().check(z.int(), z.gte(0)), 0),
  createdAt: z.optional(z.number().check(z.int())),
  lastEventAt: z.optional(z.number().check(z.int())),
  lastEvent: z.optional(z.record(z.string(), z.unknown())),
});

function parseRow<T>(schema: z.ZodMiniType<T>, item: Record<string, unknown>, what: string): T {
  const parsed = schema.safeParse(item);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`);
    throw new StoredItemError(`${what} breaks the storage layout: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function memberFromItem(item: Record<string, unknown>): Membership {
  const row = parseRow(MemberRow, item, `member row of ${String(item.conversationId)}`);
  return {
    conversationId: row.conversationId,
    userId: row.memberId,
    role: row.role,
    joinedAt: row.joinedAt,
    readSeq: row.readSeq,
  };
}

function metaFromItem(item: Record<string, unknown>): ConversationMeta {
  const row = parseRow(MetaRow, item, `meta row of ${String(item.conversationId)}`);
  let lastEvent: ConversationEvent | undefined;
  if (row.lastEvent !== undefined) {
    lastEvent = eventFromItem(row.lastEvent);
    if (!lastEvent) throw new StoredItemError(`meta row of ${row.conversationId}: lastEvent is not an event`);
  }
  const kind = row.kind ?? (isGroupConversationId(row.conversationId) ? 'group' : 'direct');
  return {
    conversationId: row.conversationId,
    kind,
    ...(row.name === undefined ? {} : { name: row.name }),
    lastSeq: row.lastSeq,
    lastEventAt: row.lastEventAt ?? row.createdAt ?? 0,
    ...(lastEvent === undefined ? {} : { lastEvent }),
  };
}

function toMember(membership: Membership): MemberRecord {
  const { userId, role, joinedAt, readSeq } = membership;
  return { userId, role, joinedAt, readSeq };
}

/**
 * The read side over the Conversations table (meta and member rows, and its byMember index) and the
 * Messages (events) table, in the layout of dynamo-event-items.ts. Key lookups, key-range Queries and
 * BatchGets only: nothing here can Scan. Reads are eventually consistent; the use cases tolerate a replica
 * that lags behind (sync stops before any hole in the sequence).
 */
export class DynamoConversationReader implements ConversationReader {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tables: {
      readonly conversations: string;
      readonly messages: string;
      /** The byMember GSI of the Conversations table (INDEX.conversationsByMember). */
      readonly byMemberIndex: string;
    },
  ) {}

  async readEvents(conversationId: ConversationId, range: EventRange): Promise<ConversationEvent[]> {
    const low = range.afterSeq === undefined ? undefined : range.afterSeq + 1;
    const high = range.beforeSeq === undefined ? undefined : range.beforeSeq - 1;
    if (range.limit <= 0 || (low !== undefined && high !== undefined && low > high)) return [];
    const condition =
      low !== undefined && high !== undefined
        ? ' AND #seq BETWEEN :low AND :high'
        : low !== undefined
          ? ' AND #seq >= :low'
          : high !== undefined
            ? ' AND #seq <= :high'
            : '';
    const events: ConversationEvent[] = [];
    let startKey: Record<string, unknown> | undefined;
    // Limit bounds the items read; a 1 MB page can still stop short of it, so read on until it is reached.
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tables.messages,
          KeyConditionExpression: `#c = :c${condition}`,
          ExpressionAttributeNames: { '#c': 'conversationId', ...(condition ? { '#seq': 'seq' } : {}) },
          ExpressionAttributeValues: {
            ':c': conversationId,
            ...(low === undefined ? {} : { ':low': low }),
            ...(high === undefined ? {} : { ':high': high }),
          },
          ScanIndexForward: range.order === 'ascending',
          Limit: range.limit - events.length,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const event = eventFromItem(item);
        // Skipping an unreadable event would open a silent hole in the client's sequence: fail loudly.
        if (!event) {
          throw new StoredItemError(
            `event ${String(item.seq)} of ${conversationId} breaks the storage layout`,
          );
        }
        events.push(event);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey && events.length < range.limit);
    return events;
  }

  async getMetas(
    conversationIds: readonly ConversationId[],
  ): Promise<ReadonlyMap<ConversationId, ConversationMeta>> {
    const items = await this.batchGet(
      [...new Set(conversationIds)].map((conversationId) => ({ conversationId, sk: CONVERSATION_SK.meta })),
    );
    return new Map(items.map((item) => [String(item.conversationId), metaFromItem(item)]));
  }

  async getMember(conversationId: ConversationId, userId: UserId): Promise<MemberRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tables.conversations,
        Key: { conversationId, sk: CONVERSATION_SK.member(userId) },
      }),
    );
    return Item ? toMember(memberFromItem(Item)) : undefined;
  }

  async getMemberships(
    userId: UserId,
    conversationIds: readonly ConversationId[],
  ): Promise<ReadonlyMap<ConversationId, MemberRecord>> {
    const items = await this.batchGet(
      [...new Set(conversationIds)].map((conversationId) => ({
        conversationId,
        sk: CONVERSATION_SK.member(userId),
      })),
    );
    return new Map(
      items.map((item) => {
        const membership = memberFromItem(item);
        return [membership.conversationId, toMember(membership)];
      }),
    );
  }

  async listMemberships(
    userId: UserId,
    page: { after?: ConversationId; limit: number },
  ): Promise<MembershipPage> {
    // The index's sort key is the conversation id, so "after" is a key condition: no opaque start key needed.
    const { Items, LastEvaluatedKey } = await this.db.send(
      new QueryCommand({
        TableName: this.tables.conversations,
        IndexName: this.tables.byMemberIndex,
        KeyConditionExpression: `#m = :m${page.after === undefined ? '' : ' AND #c > :after'}`,
        ExpressionAttributeNames: {
          '#m': 'memberId',
          ...(page.after === undefined ? {} : { '#c': 'conversationId' }),
        },
        ExpressionAttributeValues: {
          ':m': userId,
          ...(page.after === undefined ? {} : { ':after': page.after }),
        },
        Limit: page.limit,
      }),
    );
    const items = (Items ?? []).map(memberFromItem);
    const last = items.at(-1);
    return { items, ...(LastEvaluatedKey && last ? { next: last.conversationId } : {}) };
  }

  async readMembers(
    conversationId: ConversationId,
    page: { after?: UserId; limit: number },
  ): Promise<MemberPage> {
    // One row more than asked tells whether a next page exists, so a last page never points to an empty one.
    const wanted = page.limit + 1;
    const records: MemberRecord[] = [];
    // The sort key orders member rows by user id; a start key that names no stored row is still a position.
    let startKey: Record<string, unknown> | undefined =
      page.after === undefined ? undefined : { conversationId, sk: CONVERSATION_SK.member(page.after) };
    // Limit bounds the rows read; a 1 MB page can still stop short of it, so read on until it is reached.
    do {
      const { Items, LastEvaluatedKey } = await this.db.send(
        new QueryCommand({
          TableName: this.tables.conversations,
          KeyConditionExpression: '#c = :c AND begins_with(#sk, :p)',
          ExpressionAttributeNames: { '#c': 'conversationId', '#sk': 'sk' },
          ExpressionAttributeValues: { ':c': conversationId, ':p': CONVERSATION_SK.memberPrefix },
          Limit: wanted - records.length,
          ...(startKey ? { ExclusiveStartKey: startKey } : {}),
        }),
      );
      for (const item of Items ?? []) records.push(toMember(memberFromItem(item)));
      startKey = LastEvaluatedKey;
    } while (startKey && records.length < wanted);
    const items = records.slice(0, page.limit);
    const last = items.at(-1);
    return { items, ...(records.length > page.limit && last ? { next: last.userId } : {}) };
  }

  /** Every item of the Conversations table with these keys. */
  private batchGet(keys: readonly Record<string, string>[]): Promise<Record<string, unknown>[]> {
    return batchGetAll(this.db, this.tables.conversations, keys);
  }
}

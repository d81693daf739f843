import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  paginateQuery,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import * as z from 'zod/mini';
import {
  type ConversationEvent,
  type ConversationId,
  isGroupConversationId,
  LIMITS,
  type UserId,
} from '../../protocol';
import { idempotencyKey } from '../core/commands';
import {
  GroupTooLargeError,
  NotAllowedError,
  NotAMemberError,
  RecallWindowClosedError,
} from '../core/errors';
import type {
  AppendEffects,
  AppendResult,
  Clock,
  ConversationRecord,
  EventStore,
  MemberRecord,
  UnsequencedEvent,
} from '../core/ports';
import { eventFromItem, eventToItem, lastEventSummary } from './dynamo-event-items';
import { CONVERSATION_SK } from './dynamo-keys';

const MAX_SEQUENCE_RACES = 3;
const WRITE_CONCURRENCY = 16;

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

const MetaRow = z.object({
  kind: z.optional(z.enum(['direct', 'group'])),
  name: z.optional(z.string()),
  createdBy: z.optional(z.string()),
  lastSeq: z.optional(z.number().check(z.int())),
  memberCount: z.optional(z.number().check(z.int())),
  fanout: z.optional(z.boolean()),
});
const MemberRow = z.object({
  memberId: z.string(),
  role: z.enum(['owner', 'admin', 'member']),
  joinedAt: z.number(),
  readSeq: z.optional(z.number().check(z.int())),
});
/** A message item's `editSeqs`: anything but a list of integers reads as no edits. */
const EditSeqs = z.catch(z.array(z.number().check(z.int())), []);

/** Raised when the stored data contradicts itself: retried, and alarmed on through the DLQ. */
export class StoreInconsistencyError extends Error {
  override readonly name = 'StoreInconsistencyError';
}

/**
 * Conversations and their events in DynamoDB (layout: dynamo-event-items.ts). Appending is one transaction:
 * the counter moves (conditioned on its previous value, and on the member count staying within the limit),
 * the event takes its slot, the (actor, clientMessageId) idempotency record is created, the actor's read
 * position follows, and an edited or recalled message changes (conditioned on not being recalled): all or
 * nothing, so no crash or redelivery can leave a gap or store an event twice.
 *
 * A message keeps the sequence numbers of its edits (`editSeqs`, at most LIMITS.maxEditsPerMessage). A recall
 * empties the message and every one of those edit events in the same transaction, conditioned on the list being
 * what was read: a recalled text is gone from history and catch-up, not only from the message.
 */
export class DynamoEventStore implements EventStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly conversationsTable: string,
    private readonly eventsTable: string,
    private readonly clock: Clock,
  ) {}

  async getConversation(conversationId: ConversationId): Promise<ConversationRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.conversationsTable,
        Key: { conversationId, sk: CONVERSATION_SK.meta },
        ConsistentRead: true,
      }),
    );
    if (!Item) return undefined;
    const meta = MetaRow.parse(Item);
    return {
      conversationId,
      kind: meta.kind ?? (isGroupConversationId(conversationId) ? 'group' : 'direct'),
      ...(meta.name === undefined ? {} : { name: meta.name }),
      ...(meta.createdBy === undefined ? {} : { createdBy: meta.createdBy }),
      lastSeq: meta.lastSeq ?? 0,
      memberCount: meta.memberCount ?? 0,
      ...(meta.fanout === true ? { fanout: true } : {}),
    };
  }

  async getMember(conversationId: ConversationId, userId: UserId): Promise<MemberRecord | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.conversationsTable,
        Key: { conversationId, sk: CONVERSATION_SK.member(userId) },
        ConsistentRead: true,
      }),
    );
    return Item ? memberFromRow(Item) : undefined;
  }

  async listMemberRecords(conversationId: ConversationId): Promise<MemberRecord[]> {
    const members: MemberRecord[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.conversationsTable,
        KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': CONVERSATION_SK.memberPrefix },
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) members.push(memberFromRow(item));
    }
    return members;
  }

  async findEvent(conversationId: ConversationId, key: string): Promise<ConversationEvent | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.conversationsTable,
        Key: { conversationId, sk: CONVERSATION_SK.send(key) },
        ConsistentRead: true,
      }),
    );
    if (typeof Item?.seq !== 'number') return undefined;
    const event = await this.getEvent(conversationId, Item.seq);
    if (!event) throw new StoreInconsistencyError(`event ${Item.seq} of ${conversationId} is missing`);
    return event;
  }

  async getEvent(conversationId: ConversationId, seq: number): Promise<ConversationEvent | undefined> {
    const { Item } = await this.db.send(
      new GetCommand({ TableName: this.eventsTable, Key: { conversationId, seq }, ConsistentRead: true }),
    );
    return eventFromItem(Item);
  }

  async putMembers(conversationId: ConversationId, members: readonly MemberRecord[]): Promise<void> {
    // An update, not a put: a repeat must not move a member's read position back or reset when they joined.
    await forEachLimited(members, WRITE_CONCURRENCY, (m) =>
      this.db.send(
        new UpdateCommand({
          TableName: this.conversationsTable,
          Key: { conversationId, sk: CONVERSATION_SK.member(m.userId) },
          UpdateExpression:
            'SET memberId = :u, #role = :r, joinedAt = if_not_exists(joinedAt, :j), readSeq = if_not_exists(readSeq, :s)',
          ExpressionAttributeNames: { '#role': 'role' },
          ExpressionAttributeValues: { ':u': m.userId, ':r': m.role, ':j': m.joinedAt, ':s': m.readSeq },
        }),
      ),
    );
  }

  async deleteMembers(conversationId: ConversationId, userIds: readonly UserId[]): Promise<void> {
    for (let i = 0; i < userIds.length; i += 25) {
      let requests: NonNullable<ConstructorParameters<typeof BatchWriteCommand>[0]['RequestItems']> = {
        [this.conversationsTable]: userIds.slice(i, i + 25).map((u) => ({
          DeleteRequest: { Key: { conversationId, sk: CONVERSATION_SK.member(u) } },
        })),
      };
      for (let attempt = 0; Object.keys(requests).length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 25 * 2 ** attempt)));
        if (attempt > 8) throw new Error(`could not delete members of ${conversationId}`);
        const { UnprocessedItems } = await this.db.send(new BatchWriteCommand({ RequestItems: requests }));
        requests = UnprocessedItems ?? {};
      }
    }
  }

  async append(
    event: UnsequencedEvent,
    effects: AppendEffects = {},
    lastSeq?: number,
  ): Promise<AppendResult> {
    const key = idempotencyKey(event);
    for (let attempt = 1; ; attempt++) {
      const current =
        attempt === 1 && lastSeq !== undefined
          ? lastSeq
          : ((await this.getConversation(event.conversationId))?.lastSeq ?? 0);
      const stored = { ...event, seq: current + 1 } as ConversationEvent;
      const target = effects.updateMessage;
      const editSeqs =
        target && 'recall' in target.change ? await this.editSeqsOf(event.conversationId, target.seq) : [];
      const { items, index } = this.appendItems(stored, current, effects, key, editSeqs);
      try {
        await this.db.send(new TransactWriteCommand({ TransactItems: items }));
        return { event: stored, duplicate: false };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const failed = (i: number | undefined) =>
          i !== undefined && error.CancellationReasons?.[i]?.Code === 'ConditionalCheckFailed';
        if (failed(index.idempotency)) {
          const original = await this.findEvent(event.conversationId, key);
          if (!original) throw new StoreInconsistencyError(`idempotency record without event: ${key}`);
          return { event: original, duplicate: true };
        }
        if (failed(index.actor)) {
          throw new NotAMemberError(`You are not a member of conversation ${event.conversationId}.`, {
            clientMessageId: event.clientMessageId,
          });
        }
        if (failed(index.message) && target) {
          const ref = { clientMessageId: event.clientMessageId };
          const message = await this.messageState(event.conversationId, target.seq);
          if (message.recalled) throw new RecallWindowClosedError('That message was recalled.', ref);
          if ('edit' in target.change && message.edits >= LIMITS.maxEditsPerMessage) {
            throw new NotAllowedError(
              `A message can be edited at most ${LIMITS.maxEditsPerMessage} times.`,
              ref,
            );
          }
          // Edited meanwhile (the list a recall read changed): read it again and retry.
          if (attempt < MAX_SEQUENCE_RACES) continue;
        }
        if (failed(index.counter)) {
          const now = (await this.getConversation(event.conversationId))?.lastSeq ?? 0;
          if (now === current && (effects.memberCountDelta ?? 0) > 0) {
            throw new GroupTooLargeError(`A group has at most ${LIMITS.maxGroupMembers} members.`, {
              clientMessageId: event.clientMessageId,
            });
          }
          // Another writer moved the counter. FIFO delivery makes this rare; re-read and try again.
          if (attempt < MAX_SEQUENCE_RACES) continue;
        }
        throw error;
      }
    }
  }

  /** The sequence numbers of a message's edits (none for a message never edited). */
  private async editSeqsOf(conversationId: ConversationId, seq: number): Promise<number[]> {
    return (await this.messageState(conversationId, seq)).editSeqs;
  }

  private async messageState(conversationId: ConversationId, seq: number) {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.eventsTable,
        Key: { conversationId, seq },
        ProjectionExpression: 'editSeqs, recalled',
        ConsistentRead: true,
      }),
    );
    const editSeqs = EditSeqs.parse(Item?.editSeqs ?? []);
    return { editSeqs, edits: editSeqs.length, recalled: Item?.recalled === true };
  }

  private appendItems(
    event: ConversationEvent,
    current: number,
    effects: AppendEffects,
    key: string,
    editSeqs: readonly number[],
  ) {
    const now = this.clock.now();
    const items: TransactItems = [];
    const index: { counter?: number; idempotency?: number; actor?: number; message?: number } = {};
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {
      ':next': event.seq,
      ':at': event.at,
      ':now': now,
      ':last': lastEventSummary(event),
    };
    const sets = [
      'lastSeq = :next',
      'lastEventAt = :at',
      'lastEvent = :last',
      'createdAt = if_not_exists(createdAt, :now)',
    ];
    const conditions = [current === 0 ? 'attribute_not_exists(lastSeq)' : 'lastSeq = :current'];
    if (current !== 0) values[':current'] = current;
    const conversation = effects.conversation ?? {};
    if (conversation.kind) {
      sets.push('kind = if_not_exists(kind, :kind)');
      values[':kind'] = conversation.kind;
    }
    if (conversation.name !== undefined) {
      sets.push('#name = :name');
      names['#name'] = 'name';
      values[':name'] = conversation.name;
    }
    if (conversation.createdBy !== undefined) {
      sets.push('createdBy = if_not_exists(createdBy, :createdBy)');
      values[':createdBy'] = conversation.createdBy;
    }
    let update = `SET ${sets.join(', ')}`;
    const delta = effects.memberCountDelta ?? 0;
    if (delta !== 0) {
      update += ' ADD memberCount :delta';
      values[':delta'] = delta;
      if (delta > 0) {
        conditions.push('(attribute_not_exists(memberCount) OR memberCount <= :room)');
        values[':room'] = LIMITS.maxGroupMembers - delta;
      }
    }
    index.counter = items.length;
    items.push({
      Update: {
        TableName: this.conversationsTable,
        Key: { conversationId: event.conversationId, sk: CONVERSATION_SK.meta },
        UpdateExpression: update,
        ConditionExpression: conditions.join(' AND '),
        ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
        ExpressionAttributeValues: values,
      },
    });
    items.push({
      Put: {
        TableName: this.eventsTable,
        Item: eventToItem(event, now),
        ConditionExpression: 'attribute_not_exists(seq)',
      },
    });
    index.idempotency = items.length;
    items.push({
      Put: {
        TableName: this.conversationsTable,
        Item: { conversationId: event.conversationId, sk: CONVERSATION_SK.send(key), seq: event.seq },
        ConditionExpression: 'attribute_not_exists(sk)',
      },
    });
    // The actor has read what they did. Only once their member row exists (it comes with a conversation's
    // first event), and only while they are still a member.
    if (current > 0) {
      index.actor = items.length;
      const key = { conversationId: event.conversationId, sk: CONVERSATION_SK.member(event.actorId) };
      items.push(
        event.kind === 'member.left'
          ? // Leaving: only a member can, checked in the same transaction as the event.
            {
              ConditionCheck: {
                TableName: this.conversationsTable,
                Key: key,
                ConditionExpression: 'attribute_exists(memberId)',
              },
            }
          : {
              Update: {
                TableName: this.conversationsTable,
                Key: key,
                UpdateExpression: 'SET readSeq = :next',
                ConditionExpression: 'attribute_exists(memberId)',
                ExpressionAttributeValues: { ':next': event.seq },
              },
            },
      );
    }
    if (effects.updateMessage) {
      const { seq, change } = effects.updateMessage;
      index.message = items.length;
      const live = 'attribute_exists(seq) AND #kind = :message AND attribute_not_exists(recalled)';
      items.push({
        Update: {
          TableName: this.eventsTable,
          Key: { conversationId: event.conversationId, seq },
          ...('edit' in change
            ? {
                UpdateExpression:
                  'SET #text = :text, editedAt = :editedAt, editSeqs = list_append(if_not_exists(editSeqs, :none), :this)',
                ExpressionAttributeValues: {
                  ':text': change.edit.text,
                  ':editedAt': change.edit.editedAt,
                  ':message': 'message',
                  ':none': [],
                  ':this': [event.seq],
                  ':maxEdits': LIMITS.maxEditsPerMessage,
                },
                ConditionExpression: `${live} AND (attribute_not_exists(editSeqs) OR size(editSeqs) < :maxEdits)`,
              }
            : {
                UpdateExpression: 'SET recalled = :true, #text = :empty',
                ExpressionAttributeValues: {
                  ':true': true,
                  ':empty': '',
                  ':message': 'message',
                  ...(editSeqs.length > 0 ? { ':edits': editSeqs.length } : {}),
                },
                // The edits scrubbed below are all of them: none was added since they were read.
                ConditionExpression: `${live} AND ${
                  editSeqs.length > 0 ? 'size(editSeqs) = :edits' : 'attribute_not_exists(editSeqs)'
                }`,
              }),
          ExpressionAttributeNames: { '#text': 'text', '#kind': 'kind' },
        },
      });
      for (const editSeq of 'recall' in change ? editSeqs : []) {
        items.push({
          Update: {
            TableName: this.eventsTable,
            Key: { conversationId: event.conversationId, seq: editSeq },
            UpdateExpression: 'SET recalled = :true, #text = :empty',
            ConditionExpression: 'attribute_exists(seq) AND #kind = :edit',
            ExpressionAttributeNames: { '#text': 'text', '#kind': 'kind' },
            ExpressionAttributeValues: { ':true': true, ':empty': '', ':edit': 'edit' },
          },
        });
      }
    }
    return { items, index };
  }

  async markFanout(conversationId: ConversationId): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.conversationsTable,
        Key: { conversationId, sk: CONVERSATION_SK.meta },
        UpdateExpression: 'SET fanout = :true',
        ExpressionAttributeValues: { ':true': true },
      }),
    );
  }

  async advanceRead(
    conversationId: ConversationId,
    userId: UserId,
    seq: number,
  ): Promise<number | undefined> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.conversationsTable,
          Key: { conversationId, sk: CONVERSATION_SK.member(userId) },
          UpdateExpression: 'SET readSeq = :s',
          ConditionExpression:
            'attribute_exists(memberId) AND (attribute_not_exists(readSeq) OR readSeq < :s)',
          ExpressionAttributeValues: { ':s': seq },
        }),
      );
      return seq;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}

function memberFromRow(item: Record<string, unknown>): MemberRecord {
  const row = MemberRow.parse(item);
  return { userId: row.memberId, role: row.role, joinedAt: row.joinedAt, readSeq: row.readSeq ?? 0 };
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { type ChatMessage, ChatMessage as ChatMessageSchema, type UserId } from '../../protocol';
import type { AppendResult, Clock, MessageStore } from '../core/ports';
import { idempotencyKey, type QueuedMessage } from '../core/queued-message';
import { CONVERSATION_SK } from './dynamo-keys';

/** Item indexes in the append transaction, to read CancellationReasons. */
const TX = { counter: 0, message: 1, idempotency: 2 } as const;
const MAX_SEQUENCE_RACES = 3;

/** Raised when the stored data contradicts itself: retried, and alarmed on through the DLQ. */
export class StoreInconsistencyError extends Error {
  override readonly name = 'StoreInconsistencyError';
}

/**
 * Appends messages with gap-free, per-conversation sequence numbers. One transaction moves the counter
 * (conditioned on its previous value), writes the message (conditioned on its slot being free) and writes the
 * (sender, clientMessageId) idempotency record (conditioned on being new): all or nothing, so a crash can
 * neither leave a gap nor store a message twice, however often the queue redelivers it.
 */
export class DynamoMessageStore implements MessageStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly conversationsTable: string,
    private readonly messagesTable: string,
    private readonly clock: Clock,
  ) {}

  async append(queued: QueuedMessage, members: readonly UserId[]): Promise<AppendResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.lastSeq(queued.conversationId);
      const message: ChatMessage = {
        conversationId: queued.conversationId,
        seq: current + 1,
        senderId: queued.senderId,
        clientMessageId: queued.clientMessageId,
        text: queued.text,
        sentAt: queued.sentAt,
      };
      try {
        await this.db.send(
          new TransactWriteCommand({ TransactItems: this.appendItems(message, current, members) }),
        );
        return { message, duplicate: false };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons = error.CancellationReasons ?? [];
        if (reasons[TX.idempotency]?.Code === 'ConditionalCheckFailed') {
          return { message: await this.original(queued), duplicate: true };
        }
        // Another writer moved the counter. FIFO delivery makes this rare; re-read and try again.
        if (reasons[TX.counter]?.Code === 'ConditionalCheckFailed' && attempt < MAX_SEQUENCE_RACES) continue;
        throw error;
      }
    }
  }

  private appendItems(message: ChatMessage, current: number, members: readonly UserId[]) {
    const now = this.clock.now();
    const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
      {
        Update: {
          TableName: this.conversationsTable,
          Key: { conversationId: message.conversationId, sk: CONVERSATION_SK.meta },
          UpdateExpression:
            'SET lastSeq = :next, lastMessageAt = :now, createdAt = if_not_exists(createdAt, :now)',
          ConditionExpression: current === 0 ? 'attribute_not_exists(lastSeq)' : 'lastSeq = :current',
          ExpressionAttributeValues: {
            ':next': message.seq,
            ':now': now,
            ...(current === 0 ? {} : { ':current': current }),
          },
        },
      },
      {
        Put: {
          TableName: this.messagesTable,
          Item: { ...message, storedAt: now },
          ConditionExpression: 'attribute_not_exists(seq)',
        },
      },
      {
        Put: {
          TableName: this.conversationsTable,
          Item: {
            conversationId: message.conversationId,
            sk: CONVERSATION_SK.send(idempotencyKey(message)),
            seq: message.seq,
          },
          ConditionExpression: 'attribute_not_exists(sk)',
        },
      },
    ];
    // A conversation comes into being with its first message: record its members for the byMember index.
    if (message.seq === 1) {
      for (const memberId of members) {
        items.push({
          Put: {
            TableName: this.conversationsTable,
            Item: {
              conversationId: message.conversationId,
              sk: CONVERSATION_SK.member(memberId),
              memberId,
              role: 'member',
              joinedAt: now,
            },
          },
        });
      }
    }
    return items;
  }

  private async lastSeq(conversationId: string): Promise<number> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.conversationsTable,
        Key: { conversationId, sk: CONVERSATION_SK.meta },
        ProjectionExpression: 'lastSeq',
        ConsistentRead: true,
      }),
    );
    const lastSeq = Item?.lastSeq;
    return typeof lastSeq === 'number' ? lastSeq : 0;
  }

  /** The message first stored for this (sender, clientMessageId). */
  private async original(queued: QueuedMessage): Promise<ChatMessage> {
    const { Item: record } = await this.db.send(
      new GetCommand({
        TableName: this.conversationsTable,
        Key: { conversationId: queued.conversationId, sk: CONVERSATION_SK.send(idempotencyKey(queued)) },
        ConsistentRead: true,
      }),
    );
    if (typeof record?.seq !== 'number') {
      throw new StoreInconsistencyError(`idempotency record vanished for ${queued.conversationId}`);
    }
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.messagesTable,
        Key: { conversationId: queued.conversationId, seq: record.seq },
        ConsistentRead: true,
      }),
    );
    const stored = ChatMessageSchema.safeParse(
      Item && {
        conversationId: Item.conversationId,
        seq: Item.seq,
        senderId: Item.senderId,
        clientMessageId: Item.clientMessageId,
        text: Item.text,
        sentAt: Item.sentAt,
      },
    );
    if (!stored.success) {
      throw new StoreInconsistencyError(
        `message ${record.seq} of ${queued.conversationId} is missing or malformed`,
      );
    }
    return stored.data;
  }
}

/**
 * The body of a message on the SQS FIFO queue: the internal contract between the send route and the
 * delivery function. Versioned like the protocol, and validated again on the way out of the queue.
 */
import { z } from 'zod';
import { ClientMessageId, ConversationId, LIMITS, UserId } from '../../protocol';

export const QueuedMessage = z.strictObject({
  kind: z.literal('chat.message'),
  v: z.literal(1),
  conversationId: ConversationId,
  senderId: UserId,
  /** The connection the message was sent from: it gets the ack, the sender's other connections the message. */
  senderConnectionId: z.string().min(1).max(128),
  clientMessageId: ClientMessageId,
  text: z.string().min(1).max(LIMITS.maxTextLength),
  sentAt: z.number().int().positive(),
});
export type QueuedMessage = z.infer<typeof QueuedMessage>;

/** The idempotency key of a send: the same sender and clientMessageId are one message, whenever retried. */
export function idempotencyKey(message: Pick<QueuedMessage, 'senderId' | 'clientMessageId'>): string {
  return `${message.senderId}/${message.clientMessageId}`;
}

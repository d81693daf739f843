/**
 * The commands on the SQS FIFO queue: the internal contract between the command route (which validates
 * frames, authorizes membership and chooses the message group) and the delivery function (which applies them in
 * order). Versioned like the protocol, validated again on the way out of the queue.
 */
import * as z from 'zod/mini';
import { ClientMessageId, ConversationId, LIMITS, RequestId, Seq, UserId } from '../../protocol';

const base = {
  v: z.literal(1),
  conversationId: ConversationId,
  actorId: UserId,
  /** The connection the command came from: it gets the ack (or a late error), the others get the event. */
  connectionId: z.string().check(z.minLength(1), z.maxLength(128)),
  /** When the command route accepted it, ms since the epoch. */
  at: z.number().check(z.int(), z.positive()),
};
const sequenced = { ...base, clientMessageId: ClientMessageId };
const text = z.string().check(z.minLength(1), z.maxLength(LIMITS.maxTextLength));
const name = z.string().check(z.minLength(1), z.maxLength(LIMITS.maxGroupNameLength));
const userIds = z.array(UserId).check(z.minLength(1));

export const QueuedCommand = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('send'), ...sequenced, text }),
  z.strictObject({ kind: z.literal('edit'), ...sequenced, targetSeq: Seq, text }),
  z.strictObject({ kind: z.literal('recall'), ...sequenced, targetSeq: Seq }),
  z.strictObject({
    kind: z.literal('createGroup'),
    ...sequenced,
    name,
    members: z.array(UserId).check(z.maxLength(LIMITS.maxGroupMembers - 1)),
  }),
  z.strictObject({
    kind: z.literal('addMembers'),
    ...sequenced,
    userIds,
    role: z.enum(['admin', 'member']),
  }),
  z.strictObject({ kind: z.literal('removeMembers'), ...sequenced, userIds }),
  z.strictObject({ kind: z.literal('leave'), ...sequenced }),
  z.strictObject({ kind: z.literal('rename'), ...sequenced, name }),
  z.strictObject({ kind: z.literal('markRead'), ...base, seq: Seq, requestId: z.optional(RequestId) }),
]);
export type QueuedCommand = z.infer<typeof QueuedCommand>;
export type SequencedCommand = Exclude<QueuedCommand, { kind: 'markRead' }>;
export type CommandKind = QueuedCommand['kind'];

/** The idempotency key of a command: the same actor and clientMessageId are one event, whenever retried. */
export function idempotencyKey(command: { actorId: string; clientMessageId: string }): string {
  return `${command.actorId}/${command.clientMessageId}`;
}

/**
 * The queue's deduplication key material. It includes the connection: a retry from the same connection within
 * SQS's 5-minute window is dropped by the queue, while a retry from another connection (the client reconnected)
 * reaches delivery, which finds the original event by its idempotency key and acks it to the new connection.
 */
export function deduplicationKey(command: QueuedCommand): string {
  return command.kind === 'markRead'
    ? `read/${command.actorId}/${command.conversationId}/${command.seq}/${command.connectionId}`
    : `${idempotencyKey(command)}/${command.connectionId}`;
}

import type { SendFrame, UserId } from '../../protocol';
import { isMember } from './conversations';
import { NotAMemberError } from './errors';
import type { Clock, MembershipDirectory, MessageQueue } from './ports';
import type { QueuedMessage } from './queued-message';

export interface SendMessageDeps {
  readonly directory: MembershipDirectory;
  readonly queue: MessageQueue;
  readonly clock: Clock;
}

export interface Sender {
  readonly userId: UserId;
  readonly connectionId: string;
}

/**
 * Accepts a send frame: checks that the sender belongs to the conversation and enqueues the message on the
 * conversation's FIFO group. Nothing is acknowledged here: the ack comes from delivery, with the sequence.
 */
export async function sendMessage(
  deps: SendMessageDeps,
  sender: Sender,
  frame: SendFrame,
): Promise<QueuedMessage> {
  if (!(await isMember(deps.directory, frame.conversationId, sender.userId))) {
    throw new NotAMemberError(
      `You are not a member of conversation ${frame.conversationId}.`,
      frame.clientMessageId,
    );
  }
  const message: QueuedMessage = {
    kind: 'chat.message',
    v: 1,
    conversationId: frame.conversationId,
    senderId: sender.userId,
    senderConnectionId: sender.connectionId,
    clientMessageId: frame.clientMessageId,
    text: frame.text,
    sentAt: deps.clock.now(),
  };
  await deps.queue.enqueue(message);
  return message;
}

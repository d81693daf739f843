import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { MessageQueue } from '../core/ports';
import { idempotencyKey, type QueuedMessage } from '../core/queued-message';

/**
 * Enqueues on the FIFO queue. The group is the conversation (chosen here, from the validated frame, never
 * by the client directly), so messages of one conversation are delivered in order and different
 * conversations proceed in parallel. The deduplication id hashes (sender, clientMessageId): SQS allows 128
 * characters and the raw pair can be longer.
 */
export class SqsMessageQueue implements MessageQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(message: QueuedMessage): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(message),
        MessageGroupId: message.conversationId,
        MessageDeduplicationId: deduplicationId(message),
      }),
    );
  }
}

export function deduplicationId(message: Pick<QueuedMessage, 'senderId' | 'clientMessageId'>): string {
  return createHash('sha256').update(idempotencyKey(message)).digest('hex');
}

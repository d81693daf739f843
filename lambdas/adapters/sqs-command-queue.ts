import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { deduplicationKey, type QueuedCommand } from '../core/commands';
import type { CommandQueue } from '../core/ports';

/**
 * Enqueues on the FIFO queue. The group is the conversation (chosen by the server from the validated frame),
 * so one conversation's commands apply in order while different conversations proceed in parallel. The
 * deduplication id hashes the command's idempotency key: SQS allows 128 characters and the raw key can be longer.
 */
export class SqsCommandQueue implements CommandQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async enqueue(command: QueuedCommand): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(command),
        MessageGroupId: messageGroupId(command.conversationId),
        MessageDeduplicationId: deduplicationId(command),
      }),
    );
  }
}

export function deduplicationId(command: QueuedCommand): string {
  return createHash('sha256').update(deduplicationKey(command)).digest('hex');
}

/** SQS allows 128 characters in a group id; a direct conversation's id may be longer (two 128-character users). */
export function messageGroupId(conversationId: string): string {
  return conversationId.length <= 128
    ? conversationId
    : createHash('sha256').update(conversationId).digest('hex');
}

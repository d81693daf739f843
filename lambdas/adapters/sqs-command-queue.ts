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
        MessageGroupId: command.conversationId,
        MessageDeduplicationId: deduplicationId(command),
      }),
    );
  }
}

export function deduplicationId(command: QueuedCommand): string {
  return createHash('sha256').update(deduplicationKey(command)).digest('hex');
}

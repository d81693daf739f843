import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface DeadLetterRecord {
  readonly messageId: string;
  readonly body: string;
  readonly messageGroupId: string | undefined;
  readonly reason: string;
}

/**
 * Moves a record that can never succeed (a body that fails the queue contract) straight to the DLQ, so it
 * does not hold its FIFO group for maxReceiveCount x visibility timeout. The original SQS message id is the
 * deduplication id, so a forward retried after a crash lands once.
 */
export class SqsDeadLetter {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async forward(record: DeadLetterRecord): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: record.body,
        MessageGroupId: record.messageGroupId ?? 'poison',
        MessageDeduplicationId: record.messageId,
        MessageAttributes: {
          'herald-dlq-reason': { DataType: 'String', StringValue: record.reason.slice(0, 1000) },
          'herald-source-message-id': { DataType: 'String', StringValue: record.messageId },
        },
      }),
    );
  }
}

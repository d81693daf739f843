import { DeleteMessageCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deduplicationId, SqsCommandQueue } from '../../lambdas/adapters/sqs-command-queue';
import { SqsDeadLetter } from '../../lambdas/adapters/sqs-dead-letter';
import { QueuedCommand } from '../../lambdas/core/commands';
import { sendCommand } from '../helpers/fakes';
import { createFifoQueuePair, type FifoQueuePair, testSqsClient } from '../helpers/provision';

let sqs: SQSClient;
let queues: FifoQueuePair;

beforeAll(async () => {
  sqs = testSqsClient();
  queues = await createFifoQueuePair(sqs);
});
afterAll(async () => {
  await queues?.drop();
});

/** Receives (and deletes, as a consumer would) until a one-second long poll comes back empty. */
async function receiveUntilQuiet(queueUrl: string) {
  const received = [];
  for (let polls = 0; polls < 20; polls++) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) break;
    for (const m of Messages) {
      received.push(m);
      // FIFO holds a group while one of its messages is in flight.
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return received;
}

function clientMessageIdOf(body: string | undefined): string | undefined {
  const command = QueuedCommand.parse(JSON.parse(body ?? ''));
  return command.kind === 'markRead' ? undefined : command.clientMessageId;
}

describe('SqsCommandQueue (fauxqs)', () => {
  it('enqueues on the conversation’s group, in order, and drops a retried send', async () => {
    const queue = new SqsCommandQueue(sqs, queues.queueUrl);
    const first = sendCommand({ conversationId: 'dm:alice:bob', clientMessageId: 'one' });
    const second = sendCommand({ conversationId: 'dm:alice:bob', clientMessageId: 'two' });
    await queue.enqueue(first);
    await queue.enqueue(second);
    await queue.enqueue({ ...first, at: first.at + 5 }); // the client retried: same sender and id

    const received = await receiveUntilQuiet(queues.queueUrl);
    expect(received).toHaveLength(2);
    expect(received.map((m) => clientMessageIdOf(m.Body))).toEqual(['one', 'two']);
    expect(received[0]?.Attributes?.MessageGroupId).toBe('dm:alice:bob');
    expect(received[0]?.Attributes?.MessageDeduplicationId).toBe(deduplicationId(first));
  });

  it('keeps deduplication ids within SQS’s 128 characters for the longest ids', () => {
    const id = deduplicationId(sendCommand({ actorId: 'u'.repeat(128), clientMessageId: 'c'.repeat(64) }));
    expect(id).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('SqsDeadLetter (fauxqs)', () => {
  it('forwards a poison record to the DLQ with its reason, once even if forwarded twice', async () => {
    const dlq = new SqsDeadLetter(sqs, queues.dlqUrl);
    const record = {
      messageId: 'sqs-msg-1',
      body: '{"oops":true}',
      messageGroupId: 'dm:a:b',
      reason: 'text: Required',
    };
    await dlq.forward(record);
    await dlq.forward(record);
    const received = await receiveUntilQuiet(queues.dlqUrl);
    expect(received).toHaveLength(1);
    expect(received[0]?.Body).toBe('{"oops":true}');
    expect(received[0]?.MessageAttributes?.['herald-dlq-reason']?.StringValue).toBe('text: Required');
    expect(received[0]?.Attributes?.MessageGroupId).toBe('dm:a:b');
  });
});

import { CreateQueueCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SqsEventSource, startSqsEventSource } from '../../local/runtime/sqs-event-source';
import { sqsClient } from '../../local/services/aws-clients';
import { type LocalSqs, startSqs } from '../../local/services/sqs';

// The event source against its own fauxqs (in this process): how many ReceiveMessage calls its pollers make.

let sqs: LocalSqs;
let client: SQSClient;
const sources: SqsEventSource[] = [];

beforeAll(async () => {
  sqs = await startSqs();
  client = sqsClient(sqs.endpoint);
});

afterAll(async () => {
  await Promise.all(sources.map((s) => s.stop()));
  await sqs.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function fifoQueue(name: string): Promise<string> {
  const { QueueUrl } = await client.send(
    new CreateQueueCommand({
      QueueName: `${name}-${Date.now().toString(36)}.fifo`,
      Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'true' },
    }),
  );
  if (!QueueUrl) throw new Error('no queue url');
  return QueueUrl;
}

/** An SQS client that counts the ReceiveMessage calls and those that came back empty. */
function counting(): { client: SQSClient; receives: number; empty: number } {
  const counts = { receives: 0, empty: 0 };
  const wrapped = {
    send: async (command: { constructor: { name: string } }, options?: unknown) => {
      const response = await client.send(command as never, options as never);
      if (command.constructor.name === 'ReceiveMessageCommand') {
        counts.receives += 1;
        if (!(response as { Messages?: unknown[] }).Messages?.length) counts.empty += 1;
      }
      return response;
    },
  } as unknown as SQSClient;
  return Object.assign(counts, { client: wrapped });
}

describe('the SQS event source', () => {
  it('takes turns at ReceiveMessage: a busy FIFO group does not make every poller come back empty', async () => {
    const queueUrl = await fifoQueue('turns');
    const calls = counting();
    const bodies: string[] = [];
    sources.push(
      startSqsEventSource({
        sqs: calls.client,
        queueUrl,
        queueArn: 'arn:aws:sqs:us-east-1:000000000000:turns.fifo',
        region: 'us-east-1',
        pollers: 5,
        reportBatchItemFailures: true,
        invoke: async (event: SQSEvent) => {
          bodies.push(...event.Records.map((r) => r.body));
          await sleep(60);
          return {};
        },
      }),
    );
    const sent = Array.from({ length: 20 }, (_, i) => `m${i}`);
    for (const body of sent) {
      await client.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: 'g' }),
      );
      await sleep(10);
    }
    for (let i = 0; i < 200 && bodies.length < sent.length; i++) await sleep(50);
    expect(bodies).toEqual(sent);
    // Every poller long-polling at once, fauxqs woke all five for each send: about 6.6 empty receives a message.
    expect(calls.empty).toBeLessThanOrEqual(2 * sent.length);
  });

  it('still runs the batches of different groups side by side', async () => {
    const queueUrl = await fifoQueue('parallel');
    let running = 0;
    let most = 0;
    let done = 0;
    sources.push(
      startSqsEventSource({
        sqs: client,
        queueUrl,
        queueArn: 'arn:aws:sqs:us-east-1:000000000000:parallel.fifo',
        region: 'us-east-1',
        batchSize: 1,
        pollers: 4,
        reportBatchItemFailures: false,
        invoke: async () => {
          running += 1;
          most = Math.max(most, running);
          await sleep(300);
          running -= 1;
          done += 1;
          return null;
        },
      }),
    );
    for (const group of ['a', 'b', 'c', 'd']) {
      await client.send(
        new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: group, MessageGroupId: group }),
      );
    }
    for (let i = 0; i < 100 && done < 4; i++) await sleep(50);
    expect(done).toBe(4);
    expect(most).toBeGreaterThanOrEqual(3);
  });
});

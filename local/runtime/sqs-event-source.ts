/**
 * An SQS event source mapping, as Lambda runs it: long-polls a queue, hands batches to a function as an
 * `SQSEvent` shaped like AWS's, deletes what succeeded and leaves the rest to reappear after the visibility
 * timeout (so the queue's redrive policy moves a record that keeps failing to its DLQ). With
 * `reportBatchItemFailures`, only the records the function names return to the queue; a response naming an
 * unknown record, or a thrown error, fails the whole batch, as on AWS.
 *
 * The pollers of a mapping take turns at ReceiveMessage: one long poll is outstanding at a time, and a poller
 * that gets messages hands the turn on before it invokes, so batches still run side by side (up to `pollers`).
 * With every poller long-polling at once, fauxqs wakes all of them for each message sent, one gets it and the
 * others come back empty and poll again: measured, 6.6 empty receives per message of a busy FIFO group (each a
 * signed SDK call and a fauxqs request on the bench's main thread). Lambda's batches are the same either way.
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod';

const BatchResponse = z.object({
  batchItemFailures: z.array(z.object({ itemIdentifier: z.unknown() })).optional(),
});

export interface SqsEventSourceOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  /** @default 10 */
  readonly batchSize?: number;
  /** Long-poll wait; Lambda uses 20 s. @default 20 */
  readonly waitTimeSeconds?: number;
  /** Pollers running in parallel (Lambda scales these with the backlog). @default 1 */
  readonly pollers?: number;
  readonly reportBatchItemFailures: boolean;
  /** Resolves to the function's response (parsed as a partial batch response when that is enabled). */
  readonly invoke: (event: SQSEvent) => Promise<unknown>;
  /** Told of failed invocations and polling errors; the mapping keeps running. */
  readonly onError?: (error: unknown) => void;
}

export interface SqsEventSource {
  stop(): Promise<void>;
}

export function startSqsEventSource(options: SqsEventSourceOptions): SqsEventSource {
  const abort = new AbortController();
  const turn = new ReceiveTurn();
  const loops = Array.from({ length: options.pollers ?? 1 }, () => pollLoop(options, abort.signal, turn));
  return {
    async stop() {
      abort.abort();
      await Promise.allSettled(loops);
    },
  };
}

/** The pollers' turns at ReceiveMessage: first come, first served, one at a time. */
class ReceiveTurn {
  private tail: Promise<void> = Promise.resolve();

  /** Resolves when it is the caller's turn, with the function that ends it. */
  async take(): Promise<() => void> {
    let end = (): void => {};
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const previous = this.tail;
    this.tail = previous.then(() => ended);
    await previous;
    return end;
  }
}

async function pollLoop(
  options: SqsEventSourceOptions,
  signal: AbortSignal,
  turn: ReceiveTurn,
): Promise<void> {
  while (!signal.aborted) {
    let messages: Message[];
    const endTurn = await turn.take();
    if (signal.aborted) {
      endTurn();
      return;
    }
    try {
      const response = await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: options.batchSize ?? 10,
          WaitTimeSeconds: options.waitTimeSeconds ?? 20,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: signal },
      );
      messages = response.Messages ?? [];
    } catch (error) {
      if (signal.aborted) {
        endTurn();
        return;
      }
      options.onError?.(error);
      // Still this poller's turn: the others do not hammer a failing endpoint meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 500));
      endTurn();
      continue;
    }
    endTurn();
    if (messages.length === 0) continue;
    const records = messages.map((m) => toRecord(m, options));
    const succeeded = await invokeBatch(options, records);
    const toDelete = messages.filter((m) => m.MessageId !== undefined && succeeded.has(m.MessageId));
    if (toDelete.length > 0) {
      await options.sqs
        .send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: toDelete.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        )
        .catch((error: unknown) => options.onError?.(error));
    }
  }
}

/** The ids of the records that succeeded. */
async function invokeBatch(options: SqsEventSourceOptions, records: SQSRecord[]): Promise<Set<string>> {
  const all = new Set(records.map((r) => r.messageId));
  let response: unknown;
  try {
    response = await options.invoke({ Records: records });
  } catch (error) {
    options.onError?.(error);
    return new Set();
  }
  if (!options.reportBatchItemFailures || response === null || response === undefined) return all;
  const parsed = BatchResponse.safeParse(response);
  // Lambda treats a response it cannot read as a partial batch response as a failure of the whole batch.
  if (!parsed.success) return new Set();
  const failures = parsed.data.batchItemFailures ?? [];
  const failed = new Set<string>();
  for (const failure of failures) {
    // An empty or unknown identifier fails the whole batch, as on AWS.
    const id = failure.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) return new Set();
    failed.add(id);
  }
  return new Set([...all].filter((id) => !failed.has(id)));
}

function toRecord(message: Message, options: SqsEventSourceOptions): SQSRecord {
  const attributes = message.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(attributes.SequenceNumber ? { SequenceNumber: attributes.SequenceNumber } : {}),
      ...(attributes.MessageGroupId ? { MessageGroupId: attributes.MessageGroupId } : {}),
      ...(attributes.MessageDeduplicationId
        ? { MessageDeduplicationId: attributes.MessageDeduplicationId }
        : {}),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: options.queueArn,
    awsRegion: options.region,
  };
}

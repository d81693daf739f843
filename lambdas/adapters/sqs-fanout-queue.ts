import {
  type BatchResultErrorEntry,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { FanoutEntry, FanoutQueue } from '../core/fanout';

/** SendMessageBatch takes at most 10 entries. */
const MAX_BATCH_ENTRIES = 10;
/**
 * Bodies per SendMessageBatch, summed. SQS's limit was 256 KiB for years (1 MiB since 2025): the old one is
 * kept, so a batch never depends on the region or the emulator having the new limit. A job is at most one
 * frame (itself under API Gateway's 128 KB message limit) and 100 user ids (at most 13 KB).
 */
const MAX_BATCH_BYTES = 256 * 1024;

export interface SqsFanoutQueueOptions {
  /** Sends of one batch, the first included, before its still-failing entries make `enqueue` throw. @default 3 */
  readonly maxAttempts?: number;
  /** Wait before the second send of failed entries; doubled before each further one. @default 50 */
  readonly retryDelayMs?: number;
}

/** Some fan-out jobs could not be enqueued: the delivery record must be retried. */
export class FanoutEnqueueError extends Error {
  override readonly name = 'FanoutEnqueueError';
  constructor(
    readonly failed: number,
    readonly total: number,
    readonly codes: readonly string[],
  ) {
    super(`${failed} of ${total} fan-out job(s) not enqueued (${codes.join(', ') || 'no code'})`);
  }
}

/**
 * Enqueues fan-out jobs on the fan-out FIFO queue with SendMessageBatch: up to 10 jobs and 256 KiB a call, each
 * with its entry's message group and deduplication id, packed in the caller's order (SQS enqueues a FIFO
 * batch's entries in the order they are sent).
 *
 * Entries SQS reports as failed for a reason on its side (`SenderFault: false`) are sent again with a backoff;
 * entries it refuses as the sender's fault, and entries still failing after `maxAttempts`, make `enqueue` throw
 * once every batch was tried. The call itself is retried by the SDK's retry strategy (throttling, 5xx, network).
 * A resend is safe: the deduplication id makes SQS drop an entry it already has.
 *
 * The batches of one call are sent in parallel, and an entry sent again lands after the entries of its batch
 * that succeeded: the order among one call's entries is not kept, and need not be (see `FanoutQueue`). What
 * orders a user's frames is that `enqueue` resolves only once every entry is on the queue.
 */
export class SqsFanoutQueue implements FanoutQueue {
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;

  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    options: SqsFanoutQueueOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 50;
  }

  async enqueue(entries: readonly FanoutEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const batches = packBatches(entries);
    const results = await Promise.allSettled(batches.map((batch) => this.sendBatch(batch)));
    const codes = new Set<string>();
    let failed = 0;
    for (const result of results) {
      if (result.status === 'rejected') throw result.reason;
      failed += result.value.length;
      for (const entry of result.value) codes.add(entry.Code ?? 'unknown');
    }
    if (failed > 0) throw new FanoutEnqueueError(failed, entries.length, [...codes]);
  }

  /** Sends one batch; resolves to the entries that still failed. */
  private async sendBatch(
    entries: readonly SendMessageBatchRequestEntry[],
  ): Promise<BatchResultErrorEntry[]> {
    let pending = [...entries];
    for (let attempt = 1; ; attempt++) {
      const { Failed = [] } = await this.sqs.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }),
      );
      if (Failed.length === 0) return [];
      // A sender fault (a body SQS refuses) fails the same way every time: not worth another send.
      if (attempt >= this.maxAttempts || Failed.some((f) => f.SenderFault === true)) return Failed;
      const retry = new Set(Failed.map((f) => f.Id));
      pending = pending.filter((entry) => retry.has(entry.Id));
      await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** (attempt - 1)));
    }
  }
}

/** Groups entries into SendMessageBatch entry lists within the count and size limits, in order. */
function packBatches(entries: readonly FanoutEntry[]): SendMessageBatchRequestEntry[][] {
  const batches: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  entries.forEach((entry, index) => {
    const body = JSON.stringify(entry.job);
    const size = Buffer.byteLength(body, 'utf8');
    if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + size > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({
      // Ids only need to be unique within one request.
      Id: `job-${index}`,
      MessageBody: body,
      MessageGroupId: entry.group,
      MessageDeduplicationId: entry.deduplicationId,
    });
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}

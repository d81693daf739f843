import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** AWS guidance: the queue's visibility timeout is at least six times the consuming function's timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Lambda's default timeout, when a function does not set one. */
const LAMBDA_DEFAULT_TIMEOUT = Duration.seconds(3);
/** The largest batch Lambda takes from a FIFO queue. */
export const MAX_FIFO_BATCH_SIZE = 10;

export interface FifoConsumerQueueOptions {
  /** The construct's name, for error messages. */
  readonly owner: string;
  /** What a message on the queue is, for error messages ("batch", "job"). */
  readonly unit: string;
  readonly consumer: LambdaFunction;
  /** @default - six times the consumer's timeout (a lower value is an error) */
  readonly visibilityTimeout?: Duration;
  /** @default 5 */
  readonly maxReceiveCount?: number;
  readonly batchSize: number;
  /** The event source mapping's maximum concurrency, and the lowest value allowed. */
  readonly maxConcurrency?: {
    readonly value: number | undefined;
    readonly min: number;
    readonly why?: string;
  };
  /** @default Duration.days(4) */
  readonly retentionPeriod?: Duration;
  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

export interface FifoConsumerQueue {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly eventSource: SqsEventSource;
  readonly visibilityTimeout: Duration;
  readonly maxReceiveCount: number;
}

/**
 * What both of Herald's pipelines are made of, in `scope` (ids `Queue` and `DeadLetterQueue`): an SQS FIFO queue
 * with producer-set deduplication ids and high-throughput mode, a FIFO dead-letter queue that keeps failures for
 * 14 days, both encrypted (SSE-SQS) and refusing non-TLS requests, and the event source mapping that feeds the
 * consumer with partial batch responses. Every number is checked first, and a bad one is reported by name.
 */
export function fifoConsumerQueue(scope: Construct, options: FifoConsumerQueueOptions): FifoConsumerQueue {
  const { owner, unit } = options;
  const consumerTimeout = options.consumer.timeout ?? LAMBDA_DEFAULT_TIMEOUT;
  const minimumVisibility = Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);
  const visibilityTimeout = options.visibilityTimeout ?? minimumVisibility;
  if (
    !Token.isUnresolved(visibilityTimeout.toSeconds()) &&
    visibilityTimeout.toSeconds() < minimumVisibility.toSeconds()
  ) {
    throw new Error(
      `${owner}: visibilityTimeout (${visibilityTimeout.toSeconds()} s) must be at least ` +
        `${VISIBILITY_TIMEOUT_FACTOR} x the consumer's timeout (${consumerTimeout.toSeconds()} s), i.e. ` +
        `${minimumVisibility.toSeconds()} s: otherwise a ${unit} still in flight is delivered twice.`,
    );
  }
  const maxReceiveCount = options.maxReceiveCount ?? 5;
  if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
    throw new Error(`${owner}: maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`);
  }
  const { batchSize } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_FIFO_BATCH_SIZE) {
    throw new Error(
      `${owner}: batchSize must be an integer from 1 to ${MAX_FIFO_BATCH_SIZE} for a FIFO queue, got ${batchSize}`,
    );
  }
  const concurrency = options.maxConcurrency;
  const maxConcurrency = concurrency?.value;
  if (
    concurrency &&
    maxConcurrency !== undefined &&
    (!Number.isInteger(maxConcurrency) || maxConcurrency < concurrency.min || maxConcurrency > 1000)
  ) {
    throw new Error(
      `${owner}: maxConcurrency must be an integer from ${concurrency.min} to 1000` +
        `${concurrency.why ? ` (${concurrency.why})` : ''}, got ${maxConcurrency}`,
    );
  }

  const removalPolicy = options.removalPolicy ?? RemovalPolicy.DESTROY;
  const deadLetterQueue = new Queue(scope, 'DeadLetterQueue', {
    fifo: true,
    retentionPeriod: Duration.days(14),
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    removalPolicy,
  });
  const queue = new Queue(scope, 'Queue', {
    fifo: true,
    // Producers set each message's deduplication id (a command's sender and clientMessageId; a job's frame,
    // bucket and chunk): content-based ids would drop two messages with the same text, and tell apart two plans
    // of one frame that differ only in JSON key order.
    contentBasedDeduplication: false,
    deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
    fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
    visibilityTimeout,
    retentionPeriod: options.retentionPeriod ?? Duration.days(4),
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount },
    removalPolicy,
  });
  const eventSource = new SqsEventSource(queue, {
    batchSize,
    reportBatchItemFailures: true,
    ...(maxConcurrency === undefined ? {} : { maxConcurrency }),
  });
  options.consumer.addEventSource(eventSource);
  return { queue, deadLetterQueue, eventSource, visibilityTimeout, maxReceiveCount };
}

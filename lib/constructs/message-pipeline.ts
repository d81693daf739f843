import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** AWS guidance: the queue's visibility timeout is at least six times the consuming function's timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;
/** Lambda's default timeout, when a function does not set one. */
const LAMBDA_DEFAULT_TIMEOUT = Duration.seconds(3);
/** The largest batch Lambda takes from a FIFO queue. */
const MAX_FIFO_BATCH_SIZE = 10;

export interface MessagePipelineProps {
  /**
   * The delivery function: it consumes the queue through an event source mapping, and its timeout sets the
   * queue's visibility timeout.
   */
  readonly consumer: LambdaFunction;

  /**
   * Visibility timeout of the queue. Must be at least six times the consumer's timeout, so that a batch still
   * being processed (including Lambda's own retries while it scales) is not handed out a second time.
   * @default - six times the consumer's timeout
   */
  readonly visibilityTimeout?: Duration;

  /**
   * Receives before a message moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;

  /**
   * Records per batch (at most 10 for FIFO queues).
   * @default 10
   */
  readonly batchSize?: number;

  /**
   * Upper bound on concurrent batches the event source mapping may run (2 to 1000).
   * @default - no limit beyond the account's concurrency
   */
  readonly maxConcurrency?: number;

  /**
   * How long the main queue keeps an undelivered message.
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;

  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The path from the send route to delivery: an SQS FIFO queue (one message group per conversation, so a
 * conversation is delivered in order while different conversations proceed in parallel; high-throughput
 * mode), a FIFO dead-letter queue that keeps failures for 14 days, both encrypted (SSE-SQS) and refusing
 * non-TLS requests, and the event source mapping that feeds the delivery function with partial batch
 * responses.
 */
export class MessagePipeline extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly eventSource: SqsEventSource;
  public readonly visibilityTimeout: Duration;
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: MessagePipelineProps) {
    super(scope, id);

    const consumerTimeout = props.consumer.timeout ?? LAMBDA_DEFAULT_TIMEOUT;
    const minimumVisibility = Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);
    const visibilityTimeout = props.visibilityTimeout ?? minimumVisibility;
    if (
      !Token.isUnresolved(visibilityTimeout.toSeconds()) &&
      visibilityTimeout.toSeconds() < minimumVisibility.toSeconds()
    ) {
      throw new Error(
        `MessagePipeline: visibilityTimeout (${visibilityTimeout.toSeconds()} s) must be at least ` +
          `${VISIBILITY_TIMEOUT_FACTOR} x the consumer's timeout (${consumerTimeout.toSeconds()} s), i.e. ` +
          `${minimumVisibility.toSeconds()} s: otherwise a batch still in flight is delivered twice.`,
      );
    }

    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(
        `MessagePipeline: maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`,
      );
    }
    const batchSize = props.batchSize ?? MAX_FIFO_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_FIFO_BATCH_SIZE) {
      throw new Error(
        `MessagePipeline: batchSize must be an integer from 1 to 10 for a FIFO queue, got ${batchSize}`,
      );
    }
    const { maxConcurrency } = props;
    if (
      maxConcurrency !== undefined &&
      (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000)
    ) {
      throw new Error(
        `MessagePipeline: maxConcurrency must be an integer from 2 to 1000, got ${maxConcurrency}`,
      );
    }

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      fifo: true,
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy,
    });
    this.queue = new Queue(this, 'Queue', {
      fifo: true,
      // Producers set an explicit deduplication id (a hash of sender and clientMessageId): two different
      // messages with the same text must both be delivered.
      contentBasedDeduplication: false,
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      visibilityTimeout,
      retentionPeriod: props.retentionPeriod ?? Duration.days(4),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
      removalPolicy,
    });

    this.eventSource = new SqsEventSource(this.queue, {
      batchSize,
      reportBatchItemFailures: true,
      maxConcurrency,
    });
    props.consumer.addEventSource(this.eventSource);

    this.visibilityTimeout = visibilityTimeout;
    this.maxReceiveCount = maxReceiveCount;
  }
}

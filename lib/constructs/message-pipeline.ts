import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { fifoConsumerQueue, MAX_FIFO_BATCH_SIZE } from './fifo-consumer-queue';

export { VISIBILITY_TIMEOUT_FACTOR } from './fifo-consumer-queue';

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

    const pipeline = fifoConsumerQueue(this, {
      owner: 'MessagePipeline',
      unit: 'batch',
      consumer: props.consumer,
      visibilityTimeout: props.visibilityTimeout,
      maxReceiveCount: props.maxReceiveCount,
      batchSize: props.batchSize ?? MAX_FIFO_BATCH_SIZE,
      maxConcurrency: { value: props.maxConcurrency, min: 2 },
      retentionPeriod: props.retentionPeriod,
      removalPolicy: props.removalPolicy,
    });
    this.queue = pipeline.queue;
    this.deadLetterQueue = pipeline.deadLetterQueue;
    this.eventSource = pipeline.eventSource;
    this.visibilityTimeout = pipeline.visibilityTimeout;
    this.maxReceiveCount = pipeline.maxReceiveCount;
  }
}

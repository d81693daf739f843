import type { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { FANOUT_BUCKETS } from '../../lambdas/core/push';
import { fifoConsumerQueue } from './fifo-consumer-queue';

export interface FanoutPipelineProps {
  /**
   * The fan-out function: it consumes the queue through an event source mapping, and its timeout sets the
   * queue's visibility timeout. A `HeraldFunction` in the stack; any `lambda.Function` will do.
   */
  readonly consumer: LambdaFunction;

  /**
   * Upper bound on concurrent fan-out invocations (the event source mapping's maximum concurrency, from
   * 2 x FANOUT_BUCKETS to 1000: one conversation then never holds more than half of them).
   * With the function's DELIVERY_CONCURRENCY it bounds the `@connections` posts fan-out has in flight; see the
   * class documentation for the arithmetic.
   * @default 10
   */
  readonly maxConcurrency?: number;

  /**
   * Jobs per invocation (1 to 10, FIFO's maximum). The handler takes a batch's jobs one after the other, so a
   * larger batch saves invocations but lets one invocation serialise chunks (of other buckets, even other
   * conversations) that separate invocations would push at once.
   * @default 1
   */
  readonly batchSize?: number;

  /**
   * Visibility timeout of the queue. Must be at least six times the consumer's timeout, so that a job still
   * being processed is not handed out a second time.
   * @default - six times the consumer's timeout
   */
  readonly visibilityTimeout?: Duration;

  /**
   * Receives before a job moves to the dead-letter queue.
   * @default 5
   */
  readonly maxReceiveCount?: number;

  /**
   * How long the queue keeps a job not yet delivered.
   * @default Duration.days(4)
   */
  readonly retentionPeriod?: Duration;

  /** @default RemovalPolicy.DESTROY */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Fan-out of large audiences: an SQS FIFO queue of jobs (one chunk of an audience each, enqueued by the
 * delivery function), its FIFO dead-letter queue (kept 14 days), both encrypted (SSE-SQS) and refusing non-TLS
 * requests, and the event source mapping that feeds the fan-out function with partial batch responses.
 *
 * **Order.** The product promises that nothing accepted is lost, duplicated or reordered, and a standard queue
 * would reorder two events of one large group on their way to a connection. Each job's message group is
 * `${conversationId}#${bucket}`, with a user's bucket a stable hash of their id modulo FANOUT_BUCKETS: the
 * delivery function enqueues all jobs of an event before it takes the conversation's next one, and SQS hands
 * a group's jobs to the function one at a time, in order, so every connection gets the conversation's frames in
 * order, while the conversation's buckets are pushed in parallel. A failed chunk holds back only its own group
 * (the handler's `skipGroupOnError`) until it succeeds or, after maxReceiveCount, moves to the DLQ; a body that
 * is no job is forwarded to the DLQ at once by the handler when it has the DLQ's URL and send permission (the
 * stack grants them), so it blocks nothing. Each job's deduplication id (frame, bucket, chunk) makes a retried
 * delivery's enqueue a no-op for 5 minutes. High-throughput FIFO (deduplication and throughput limit per
 * message group), as on the message pipeline.
 *
 * **Parallelism.** Lambda processes one batch per message group at a time: for a FIFO queue, concurrent
 * invocations are capped by the number of message groups with jobs waiting or by the maximum concurrency,
 * whichever is lower (AWS Lambda developer guide, "Configuring scaling behavior for SQS event source mappings"):
 *
 *     invocations at once <= min(maxConcurrency, active groups)
 *     active groups       <= FANOUT_BUCKETS x large conversations with jobs waiting     (4 each)
 *
 * So one conversation's fan-out never uses more than 4 invocations, however many events it has queued: with
 * the default cap of 10, one hot group leaves at least 6 for the others, and the construct refuses a cap below
 * 2 x FANOUT_BUCKETS. That is the fairness guarantee, and its price: a 1,000-member group (about 250 users a
 * bucket, 3 jobs of at most 100 each) takes three rounds of one chunk's time per event.
 *
 * **The API Gateway request quota.** `@connections` posts share the account's 10,000 requests/s (5,000 burst)
 * with every incoming WebSocket message. Fan-out bounds its share by bounding the posts it has in flight:
 * at most `maxConcurrency` invocations run at once, and each has at most DELIVERY_CONCURRENCY posts in flight
 * (it takes a batch's jobs one after the other), so
 *
 *     posts in flight <= maxConcurrency x DELIVERY_CONCURRENCY          (defaults: 10 x 16 = 160)
 *     posts per second <= posts in flight / post latency                (Little's law)
 *
 * which is 3,200/s at 50 ms a post and 8,000/s at 20 ms: under the quota, with room for incoming frames and
 * the delivery function's own posts (audiences up to FANOUT_THRESHOLD users). A 16 x 16 = 256 cap would reach
 * 12,800/s at 20 ms. Raise the quota before raising either factor. The cap is the guarantee: a throttled post
 * is retried by the SDK with backoff, then fails its chunk, which comes back after the visibility timeout;
 * AWS documents no scaling-down of a mapping with ReportBatchItemFailures when invocations fail.
 *
 * **Batch size 1 by default.** A batch from a FIFO queue may hold jobs of several groups, which the handler
 * would push one after the other: with one job per invocation, the jobs of an event are pushed by up to
 * FANOUT_BUCKETS invocations at once. The price is one Lambda request per job ($0.20 per million), next to
 * the WebSocket messages of its users ($1.00 per million each).
 *
 * **Visibility timeout.** At least six times the consumer's timeout, and it is also how long a failed chunk
 * holds back its bucket before the retry: keep the fan-out function's timeout short (a chunk of 100 users is
 * about 7 rounds of 16 posts).
 */
export class FanoutPipeline extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly eventSource: SqsEventSource;
  public readonly visibilityTimeout: Duration;
  public readonly maxReceiveCount: number;
  public readonly maxConcurrency: number;
  public readonly batchSize: number;
  /** Message groups per conversation (FANOUT_BUCKETS): the most invocations one conversation's fan-out uses. */
  public readonly bucketsPerConversation = FANOUT_BUCKETS;

  constructor(scope: Construct, id: string, props: FanoutPipelineProps) {
    super(scope, id);

    const maxConcurrency = props.maxConcurrency ?? 10;
    const batchSize = props.batchSize ?? 1;
    const pipeline = fifoConsumerQueue(this, {
      owner: 'FanoutPipeline',
      unit: 'job',
      consumer: props.consumer,
      visibilityTimeout: props.visibilityTimeout,
      maxReceiveCount: props.maxReceiveCount,
      batchSize,
      maxConcurrency: {
        value: maxConcurrency,
        min: 2 * FANOUT_BUCKETS,
        why: '2 x FANOUT_BUCKETS, so one conversation holds at most half of it',
      },
      retentionPeriod: props.retentionPeriod,
      removalPolicy: props.removalPolicy,
    });
    this.queue = pipeline.queue;
    this.deadLetterQueue = pipeline.deadLetterQueue;
    this.eventSource = pipeline.eventSource;
    this.visibilityTimeout = pipeline.visibilityTimeout;
    this.maxReceiveCount = pipeline.maxReceiveCount;
    this.maxConcurrency = maxConcurrency;
    this.batchSize = batchSize;
  }
}

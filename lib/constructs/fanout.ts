import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { VISIBILITY_TIMEOUT_FACTOR } from './message-pipeline';

/** Lambda's default timeout, when a function does not set one. */
const LAMBDA_DEFAULT_TIMEOUT = Duration.seconds(3);
/** Above 10, an SQS event source needs a batching window, which would only delay fan-out. */
const MAX_BATCH_SIZE = 10;

export interface FanoutPipelineProps {
  /**
   * The fan-out function: it consumes the queue through an event source mapping, and its timeout sets the
   * queue's visibility timeout. A `HeraldFunction` in the stack; any `lambda.Function` will do.
   */
  readonly consumer: LambdaFunction;

  /**
   * Upper bound on concurrent fan-out invocations (the event source mapping's maximum concurrency, 2 to 1000).
   * With the function's DELIVERY_CONCURRENCY it bounds the `@connections` posts fan-out has in flight; see the
   * class documentation for the arithmetic.
   * @default 10
   */
  readonly maxConcurrency?: number;

  /**
   * Jobs per invocation (1 to 10). The handler takes a batch's jobs one after the other, so a larger batch
   * saves invocations but lets one invocation serialise chunks that separate invocations would push at once.
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
 * Fan-out of large audiences: a standard SQS queue of jobs (one chunk of an audience each, enqueued by the
 * delivery function), its dead-letter queue (kept 14 days), both encrypted (SSE-SQS) and refusing non-TLS
 * requests, and the event source mapping that feeds the fan-out function with partial batch responses.
 *
 * A standard queue, not FIFO: chunks of one event have no order among themselves (each reaches other
 * connections), and one FIFO group per conversation would serialise them again. The price: for an audience
 * fanned out, the FIFO order of the message pipeline ends when the jobs are enqueued, so two events of one
 * large group may reach a connection out of order (and a retried chunk repeats). Clients order and deduplicate
 * by `seq`, and a gap they cannot wait out is what `sync` is for.
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
 * the delivery function's own posts (audiences up to FANOUT_THRESHOLD users). A 20 x 16 = 320 cap would reach
 * 16,000/s at 20 ms. Raise the quota before raising either factor. The cap is the guarantee: a throttled post
 * is retried by the SDK with backoff, then fails its chunk, which comes back after the visibility timeout;
 * AWS documents no scaling-down of a mapping with ReportBatchItemFailures when invocations fail.
 *
 * **Batch size 1 by default.** A 1,000-member audience is 10 jobs: with one job per invocation they are pushed
 * by up to 10 invocations at once, so the last member is reached in about the time of one chunk rather than
 * ten, and a failed chunk retries alone. The price is one Lambda request per 100 users ($0.20 per million),
 * next to the 100 WebSocket messages of those users ($1.00 per million).
 */
export class FanoutPipeline extends Construct {
  public readonly queue: Queue;
  public readonly deadLetterQueue: Queue;
  public readonly eventSource: SqsEventSource;
  public readonly visibilityTimeout: Duration;
  public readonly maxReceiveCount: number;
  public readonly maxConcurrency: number;
  public readonly batchSize: number;

  constructor(scope: Construct, id: string, props: FanoutPipelineProps) {
    super(scope, id);

    const consumerTimeout = props.consumer.timeout ?? LAMBDA_DEFAULT_TIMEOUT;
    const minimumVisibility = Duration.seconds(consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR);
    const visibilityTimeout = props.visibilityTimeout ?? minimumVisibility;
    if (
      !Token.isUnresolved(visibilityTimeout.toSeconds()) &&
      visibilityTimeout.toSeconds() < minimumVisibility.toSeconds()
    ) {
      throw new Error(
        `FanoutPipeline: visibilityTimeout (${visibilityTimeout.toSeconds()} s) must be at least ` +
          `${VISIBILITY_TIMEOUT_FACTOR} x the consumer's timeout (${consumerTimeout.toSeconds()} s), i.e. ` +
          `${minimumVisibility.toSeconds()} s: otherwise a job still in flight is delivered twice.`,
      );
    }
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(
        `FanoutPipeline: maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}`,
      );
    }
    const batchSize = props.batchSize ?? 1;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new Error(`FanoutPipeline: batchSize must be an integer from 1 to 10, got ${batchSize}`);
    }
    const maxConcurrency = props.maxConcurrency ?? 10;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
      throw new Error(
        `FanoutPipeline: maxConcurrency must be an integer from 2 to 1000, got ${maxConcurrency}`,
      );
    }

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy,
    });
    this.queue = new Queue(this, 'Queue', {
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
    this.maxConcurrency = maxConcurrency;
    this.batchSize = batchSize;
  }
}

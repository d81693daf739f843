/**
 * Turns an `AWS::SQS::Queue` resource of a synthesized template into CreateQueue attributes: FIFO, content
 * deduplication, high-throughput settings, visibility timeout, retention, delay and the redrive policy (with
 * the DLQ's `Fn::GetAtt` resolved by the caller).
 */
import * as z from 'zod';

const QueueProperties = z
  .object({
    QueueName: z.string().optional(),
    FifoQueue: z.boolean().optional(),
    ContentBasedDeduplication: z.boolean().optional(),
    DeduplicationScope: z.string().optional(),
    FifoThroughputLimit: z.string().optional(),
    VisibilityTimeout: z.number().optional(),
    MessageRetentionPeriod: z.number().optional(),
    DelaySeconds: z.number().optional(),
    ReceiveMessageWaitTimeSeconds: z.number().optional(),
    MaximumMessageSize: z.number().optional(),
    RedrivePolicy: z
      .object({ deadLetterTargetArn: z.unknown(), maxReceiveCount: z.number().int().positive() })
      .optional(),
  })
  .passthrough();

export interface QueueCreation {
  readonly fifo: boolean;
  readonly attributes: Record<string, string>;
  /** The template value naming the DLQ (usually `{ 'Fn::GetAtt': [logicalId, 'Arn'] }`), to resolve. */
  readonly deadLetterTarget?: unknown;
  readonly maxReceiveCount?: number;
}

export function queueCreation(properties: unknown): QueueCreation {
  const p = QueueProperties.parse(properties ?? {});
  const attributes: Record<string, string> = {};
  const set = (name: string, value: string | number | boolean | undefined) => {
    if (value !== undefined) attributes[name] = String(value);
  };
  set('FifoQueue', p.FifoQueue);
  set('ContentBasedDeduplication', p.ContentBasedDeduplication);
  set('DeduplicationScope', p.DeduplicationScope);
  set('FifoThroughputLimit', p.FifoThroughputLimit);
  set('VisibilityTimeout', p.VisibilityTimeout);
  set('MessageRetentionPeriod', p.MessageRetentionPeriod);
  set('DelaySeconds', p.DelaySeconds);
  set('ReceiveMessageWaitTimeSeconds', p.ReceiveMessageWaitTimeSeconds);
  set('MaximumMessageSize', p.MaximumMessageSize);
  return {
    fifo: p.FifoQueue === true,
    attributes,
    ...(p.RedrivePolicy
      ? {
          deadLetterTarget: p.RedrivePolicy.deadLetterTargetArn,
          maxReceiveCount: p.RedrivePolicy.maxReceiveCount,
        }
      : {}),
  };
}

/** `RedrivePolicy` attribute value for CreateQueue/SetQueueAttributes. */
export function redrivePolicy(deadLetterTargetArn: string, maxReceiveCount: number): string {
  return JSON.stringify({ deadLetterTargetArn, maxReceiveCount });
}

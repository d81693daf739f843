import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import type { DeadLetterRecord } from '../adapters/sqs-dead-letter';
import { DeliveryIncompleteError, PoisonMessageError } from '../core/errors';
import { deliverFanoutJob, type FanoutDeps, parseFanoutJob } from '../core/fanout';
import { fanoutDeps } from '../wiring/fanout';
import { logger } from '../wiring/logger';
import { metrics } from '../wiring/metrics';
import { fifoBatchHandler } from './fifo-batch';

export type FanoutHandlerDeps = FanoutDeps & {
  /**
   * Where a body that is not a fan-out job goes at once (the fan-out DLQ, FIFO).
   * @default - the record fails like any other, and the redrive policy moves it after maxReceiveCount,
   * holding back the later jobs of its group until then
   */
  readonly deadLetter?: { forward(record: DeadLetterRecord): Promise<void> };
};

/**
 * Consumes the fan-out FIFO queue: each record is one chunk of a large audience, in the message group of its
 * conversation and bucket of users. Records are processed one after the other, in order. A chunk whose pushes
 * (other than 410 Gone) or connection lookups fail is reported as a batch item failure together with the
 * records of its group after it in the batch (`skipGroupOnError`; other groups go on), so the queue hands them
 * back in order after the visibility timeout, and moves a chunk that keeps failing to the fan-out DLQ after
 * maxReceiveCount. Until then the later frames of that bucket wait: its users get no frame out of order.
 *
 * A body that is not a fan-out job can never succeed: with `deadLetter` it is forwarded to the DLQ at once, so
 * it does not hold its group for maxReceiveCount x the visibility timeout; without, it fails and waits for the
 * redrive. Nothing is ever dropped silently.
 *
 * Since records are processed one at a time, an invocation never has more than DELIVERY_CONCURRENCY posts in
 * flight whatever the batch size: the event source mapping's maxConcurrency times DELIVERY_CONCURRENCY bounds the
 * posts in flight, and so the share of API Gateway's request quota fan-out uses.
 */
async function handleRecord(deps: FanoutHandlerDeps, record: SQSRecord): Promise<void> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const group = record.attributes.MessageGroupId;
  const parsed = parseFanoutJob(record.body);
  if (!parsed.success) {
    metrics.addMetric('PoisonFanoutJobs', MetricUnit.Count, 1);
    if (deps.deadLetter === undefined) {
      logger.error('poison fan-out record: left to the redrive policy', {
        sqsMessageId: record.messageId,
        group,
        receiveCount,
        reason: parsed.reason,
      });
      throw new PoisonMessageError(parsed.reason);
    }
    logger.error('poison fan-out record forwarded to the DLQ', {
      sqsMessageId: record.messageId,
      group,
      receiveCount,
      reason: parsed.reason,
    });
    await deps.deadLetter.forward({
      messageId: record.messageId,
      body: record.body,
      messageGroupId: group,
      reason: parsed.reason,
    });
    return;
  }
  const { job } = parsed;
  const { kind, conversationId, seq, chunk, chunks } = job.label;
  const keys = {
    conversationId,
    seq,
    kind,
    chunk,
    chunks,
    group,
    sqsMessageId: record.messageId,
    receiveCount,
  };
  try {
    const report = await deliverFanoutJob(deps, job);
    logger.info('fan-out chunk delivered', { ...keys, ...report });
    metrics.addMetric('FanoutChunks', MetricUnit.Count, 1);
    metrics.addMetric('FanoutPushes', MetricUnit.Count, report.delivered);
    metrics.addMetric('GoneConnections', MetricUnit.Count, report.gone);
  } catch (error) {
    logger.warn('fan-out chunk incomplete: it will be retried', {
      ...keys,
      users: job.users.length,
      failedConnections:
        error instanceof DeliveryIncompleteError ? error.failedConnections.length : undefined,
      error,
    });
    metrics.addMetric('FanoutChunkFailures', MetricUnit.Count, 1);
    throw error;
  }
}

export const createFanoutHandler = (deps: () => FanoutHandlerDeps) => fifoBatchHandler(deps, handleRecord);

export const handler = createFanoutHandler(fanoutDeps);

import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DeliveryIncompleteError, PoisonMessageError } from '../core/errors';
import { deliverFanoutJob, type FanoutDeps, parseFanoutJob } from '../core/fanout';
import { fanoutDeps, logger, metrics } from '../wiring';

/**
 * Consumes the standard fan-out queue: each record is one chunk of a large audience. A chunk whose pushes
 * (other than 410 Gone) or connection lookups fail is reported as a batch item failure and comes back after the
 * visibility timeout, then goes to the fan-out DLQ after maxReceiveCount. A body that is not a fan-out job fails
 * the same way: a standard queue has no group for it to hold up, so the redrive policy is enough to move it to
 * the DLQ, and nothing is ever dropped silently.
 *
 * Records of a batch are processed one after the other, so an invocation never has more than
 * DELIVERY_CONCURRENCY posts in flight whatever the batch size: the event source mapping's maxConcurrency times
 * DELIVERY_CONCURRENCY bounds the posts in flight, and so the share of API Gateway's request quota fan-out uses.
 */
async function handleRecord(deps: FanoutDeps, record: SQSRecord): Promise<void> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount);
  const parsed = parseFanoutJob(record.body);
  if (!parsed.success) {
    logger.error('poison fan-out record: left to the redrive policy', {
      sqsMessageId: record.messageId,
      receiveCount,
      reason: parsed.reason,
    });
    metrics.addMetric('PoisonFanoutJobs', MetricUnit.Count, 1);
    throw new PoisonMessageError(parsed.reason);
  }
  const { job } = parsed;
  const { kind, conversationId, seq, chunk, chunks } = job.label;
  const keys = { conversationId, seq, kind, chunk, chunks, sqsMessageId: record.messageId, receiveCount };
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

export const createFanoutHandler = (deps: () => FanoutDeps) => {
  // It holds the batch's state during one invocation; invocations of one environment never overlap.
  const processor = new BatchProcessor(EventType.SQS);
  const recordHandler = (record: SQSRecord) => handleRecord(deps(), record);
  return async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    try {
      // A batch whose every record failed throws (Powertools' default), as in the delivery handler: the
      // records come back all the same, and the invocation counts as an error for the alarms.
      return await processPartialResponse(event, recordHandler, processor, {
        context,
        processInParallel: false,
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  };
};

export const handler = createFanoutHandler(fanoutDeps);

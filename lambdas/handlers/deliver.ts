import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import type { DeadLetterRecord } from '../adapters/sqs-dead-letter';
import { type ApplyDeps, applyCommand } from '../core/apply-command';
import { QueuedCommand } from '../core/commands';
import { deliverDeps } from '../wiring/deliver';
import { logger } from '../wiring/logger';
import { metrics } from '../wiring/metrics';
import { fifoBatchHandler } from './fifo-batch';

export type DeliverHandlerDeps = ApplyDeps & {
  readonly deadLetter: { forward(record: DeadLetterRecord): Promise<void> };
};

/**
 * Consumes the FIFO queue. Records are processed in order; a failed record reports itself and the rest of its
 * message group in the batch as failures (other conversations go on), so the queue retries them in order and
 * sends a record that keeps failing to the DLQ after maxReceiveCount. A record whose body breaks the queue
 * contract can never succeed: it is forwarded to the DLQ at once.
 */
async function handleRecord(deps: DeliverHandlerDeps, record: SQSRecord): Promise<void> {
  const queued = parseBody(record.body);
  if (!queued.success) {
    logger.error('poison record forwarded to the DLQ', {
      sqsMessageId: record.messageId,
      reason: queued.reason,
    });
    await deps.deadLetter.forward({
      messageId: record.messageId,
      body: record.body,
      messageGroupId: record.attributes.MessageGroupId,
      reason: queued.reason,
    });
    metrics.addMetric('PoisonMessages', MetricUnit.Count, 1);
    return;
  }
  const { conversationId, kind } = queued.data;
  const report = await applyCommand(deps, queued.data);
  logger.info('command applied', { conversationId, kind, sqsMessageId: record.messageId, ...report });
  metrics.addMetric('EventsStored', MetricUnit.Count, report.outcome === 'stored' ? 1 : 0);
  if (report.outcome === 'refused') {
    metrics.addMetric('CommandsRefused', MetricUnit.Count, 1);
  } else {
    metrics.addMetric('Pushes', MetricUnit.Count, report.delivered);
    metrics.addMetric('GoneConnections', MetricUnit.Count, report.gone);
  }
}

function parseBody(
  body: string,
): { success: true; data: QueuedCommand } | { success: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { success: false, reason: 'body is not JSON' };
  }
  const parsed = QueuedCommand.safeParse(json);
  if (parsed.success) return parsed;
  return {
    success: false,
    reason: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
  };
}

export const createDeliverHandler = (deps: () => DeliverHandlerDeps) => fifoBatchHandler(deps, handleRecord);

export const handler = createDeliverHandler(deliverDeps);

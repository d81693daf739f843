import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { metrics } from '../wiring/metrics';

/**
 * A FIFO queue consumer with partial batch responses (Powertools): records are handled in order, and a failed
 * record reports itself and the rest of its message group in the batch as failures (`skipGroupOnError`), so the
 * queue retries them in order while other groups go on. A batch whose every record failed throws (Powertools'
 * default): the records come back all the same, and the invocation counts as an error for the alarms.
 */
export function fifoBatchHandler<D>(
  deps: () => D,
  handleRecord: (deps: D, record: SQSRecord) => Promise<void>,
): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const recordHandler = (record: SQSRecord) => handleRecord(deps(), record);
  return async (event, context) => {
    // A processor holds one batch's state (records, failed groups): one per invocation costs nothing, and keeps
    // overlapping invocations of one handler (a local event source with several pollers) from mixing results.
    const processor = new SqsFifoPartialProcessorAsync();
    try {
      return await processPartialResponse(event, recordHandler, processor, {
        context,
        skipGroupOnError: true,
      });
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

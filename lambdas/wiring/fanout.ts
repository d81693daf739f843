import { DynamoConnectionStore } from '../adapters/dynamo-connection-store';
import { ManagementApiNotifier } from '../adapters/management-api-notifier';
import { SqsDeadLetter } from '../adapters/sqs-dead-letter';
import { fanoutConfig, loadConfig } from '../config';
import type { FanoutDeps } from '../core/fanout';
import { documentClient } from './dynamodb';
import { managementApiClient } from './management-api';
import { once } from './once';
import { sqsClient } from './sqs';

/** The fan-out function: connection lookups, pushes, and the fan-out DLQ for bodies that are not jobs. */
export const fanoutDeps = /* @__PURE__ */ once((): FanoutDeps & { deadLetter: SqsDeadLetter } => {
  const config = loadConfig(fanoutConfig, process.env);
  return {
    connections: new DynamoConnectionStore(documentClient(), config.CONNECTIONS_TABLE),
    notifier: new ManagementApiNotifier(managementApiClient(config.CALLBACK_URL)),
    concurrency: config.DELIVERY_CONCURRENCY,
    deadLetter: new SqsDeadLetter(sqsClient(), config.DEAD_LETTER_QUEUE_URL),
  };
});

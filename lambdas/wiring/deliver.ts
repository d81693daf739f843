import { DynamoConnectionStore } from '../adapters/dynamo-connection-store';
import { DynamoEventStore } from '../adapters/dynamo-event-store';
import { DynamoMembershipDirectory } from '../adapters/dynamo-membership-directory';
import { ManagementApiNotifier } from '../adapters/management-api-notifier';
import { SqsDeadLetter } from '../adapters/sqs-dead-letter';
import { SqsFanoutQueue } from '../adapters/sqs-fanout-queue';
import { deliverConfig, loadConfig } from '../config';
import type { ApplyDeps } from '../core/apply-command';
import { systemClock } from './clock';
import { documentClient } from './dynamodb';
import { managementApiClient } from './management-api';
import { once } from './once';
import { sqsClient } from './sqs';

/** The deliver function: the event store, direct pushes, the fan-out queue and the DLQ for poison bodies. */
export const deliverDeps = /* @__PURE__ */ once((): ApplyDeps & { deadLetter: SqsDeadLetter } => {
  const config = loadConfig(deliverConfig, process.env);
  const db = documentClient();
  return {
    store: new DynamoEventStore(db, config.CONVERSATIONS_TABLE, config.MESSAGES_TABLE, systemClock),
    directory: new DynamoMembershipDirectory(db, config.CONVERSATIONS_TABLE),
    push: {
      connections: new DynamoConnectionStore(db, config.CONNECTIONS_TABLE),
      notifier: new ManagementApiNotifier(managementApiClient(config.CALLBACK_URL)),
      concurrency: config.DELIVERY_CONCURRENCY,
      fanout: new SqsFanoutQueue(sqsClient(), config.FANOUT_QUEUE_URL),
    },
    clock: systemClock,
    recallWindowMs: config.RECALL_WINDOW_SECONDS * 1000,
    deadLetter: new SqsDeadLetter(sqsClient(), config.DEAD_LETTER_QUEUE_URL),
  };
});

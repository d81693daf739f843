import { DynamoMembershipDirectory } from '../adapters/dynamo-membership-directory';
import { SqsCommandQueue } from '../adapters/sqs-command-queue';
import { commandConfig, loadConfig } from '../config';
import type { AcceptCommandDeps } from '../core/accept-command';
import type { FrameRateLimiter } from '../core/rate-limit';
import { systemClock } from './clock';
import { documentClient } from './dynamodb';
import { once } from './once';
import { buildRateLimits } from './rate-limits';
import { sqsClient } from './sqs';

/** The command function: the flood limit, the membership check and the FIFO queue. */
export const commandDeps = /* @__PURE__ */ once(
  (): AcceptCommandDeps & { takeFrame: FrameRateLimiter['takeFrame'] } => {
    const config = loadConfig(commandConfig, process.env);
    const limits = buildRateLimits(documentClient(), config.CONNECTIONS_TABLE);
    return {
      takeFrame: (connectionId, now) => limits.takeFrame(connectionId, now),
      directory: new DynamoMembershipDirectory(documentClient(), config.CONVERSATIONS_TABLE),
      queue: new SqsCommandQueue(sqsClient(), config.MESSAGE_QUEUE_URL),
      clock: systemClock,
    };
  },
);

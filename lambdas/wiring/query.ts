import { DynamoConversationReader } from '../adapters/dynamo-conversation-reader';
import { INDEX, loadConfig, queryConfig } from '../config';
import type { QueryDeps } from '../core/queries';
import type { FrameRateLimiter } from '../core/rate-limit';
import { documentClient } from './dynamodb';
import { once } from './once';
import { buildRateLimits } from './rate-limits';

/** The query function: the flood limit and the conversation reader. */
export const queryDeps = /* @__PURE__ */ once(
  (): QueryDeps & { takeFrame: FrameRateLimiter['takeFrame'] } => {
    const config = loadConfig(queryConfig, process.env);
    const limits = buildRateLimits(documentClient(), config.CONNECTIONS_TABLE);
    return {
      takeFrame: (connectionId, now) => limits.takeFrame(connectionId, now),
      reader: new DynamoConversationReader(documentClient(), {
        conversations: config.CONVERSATIONS_TABLE,
        messages: config.MESSAGES_TABLE,
        byMemberIndex: INDEX.conversationsByMember,
      }),
    };
  },
);

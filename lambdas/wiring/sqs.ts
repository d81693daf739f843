import { SQSClient } from '@aws-sdk/client-sqs';
import { once } from './once';
import { counted } from './sdk-call-log';

/**
 * The function's one SQS client. `cacheMiddleware` as for the Management API client (management-api.ts). The
 * DynamoDB client does not set it: lib-dynamodb's document client refuses it (its commands add middleware).
 */
// Queue URLs from emulators point at hosts that do not resolve; on AWS the regional endpoint is the same.
export const sqsClient = /* @__PURE__ */ once(() =>
  counted(new SQSClient({ useQueueUrlAsEndpoint: false, cacheMiddleware: true })),
);

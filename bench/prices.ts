/**
 * The price table of the cost model: the only place prices live. us-east-1, on-demand, as written in the
 * project's field notes (../shared/FIELD-NOTES.md, "Prices"), which took them from the AWS pricing pages of
 * API Gateway, Lambda, SQS and DynamoDB. Check them before quoting: AWS changes prices.
 */
export const PRICES = {
  asOf: '2026-11-27',
  region: 'us-east-1',
  source:
    'shared/FIELD-NOTES.md "Prices" (from aws.amazon.com/api-gateway/pricing, /lambda/pricing, /sqs/pricing, /dynamodb/pricing); DynamoDB storage from aws.amazon.com/dynamodb/pricing/on-demand',
  /** API Gateway WebSocket: per message (each 32 KB unit), received or sent, including @connections posts. */
  webSocketMessage: 1.0 / 1e6,
  /** API Gateway WebSocket: per connection minute (not per message; shown for context). */
  webSocketConnectionMinute: 0.25 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  /** Herald's functions run on arm64 (lib/constructs/handler-function.ts). */
  lambdaGbSecondArm64: 0.0000133334,
  lambdaGbSecondX86: 0.0000166667,
  /** Per request, per 64 KB chunk of payload. */
  sqsStandardRequest: 0.4 / 1e6,
  sqsFifoRequest: 0.5 / 1e6,
  /** On demand: one write unit per 1 KB written (two in a transaction). */
  dynamoWriteUnit: 0.625 / 1e6,
  /** On demand: one read unit per 4 KB strongly consistent read (half eventually consistent, two in a transaction). */
  dynamoReadUnit: 0.125 / 1e6,
  /** Standard table class, per GB-month, after the free 25 GB. */
  dynamoStorageGbMonth: 0.25,
} as const;

export type Prices = typeof PRICES;

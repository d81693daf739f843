import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { once } from './once';
import { counted } from './sdk-call-log';

/** The function's one DynamoDB document client, shared by all its adapters. */
export const documentClient = /* @__PURE__ */ once(() =>
  DynamoDBDocumentClient.from(counted(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  }),
);

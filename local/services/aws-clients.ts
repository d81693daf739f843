import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';

// Client settings for local services (DynamoDB Local, fauxqs, LocalStack). Without an explicit endpoint the SDK
// takes it from AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL, which the local runtime and tests set.

export interface LocalClientConfig {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Region from AWS_REGION (else us-east-1); fake `local` credentials only when the env names none. */
export function localClientConfig(endpoint?: string): LocalClientConfig {
  const hasEnvCredentials = Boolean(process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE);
  return {
    region: process.env.AWS_REGION || 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    ...(hasEnvCredentials ? {} : { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }),
  };
}

/**
 * An SQS client that sends every call to its configured endpoint, never to the host of a queue URL: fauxqs hands
 * out URLs on `sqs.<region>.localhost`, which does not resolve. Harmless on AWS.
 */
export function sqsClient(endpoint?: string): SQSClient {
  return new SQSClient({ ...localClientConfig(endpoint), useQueueUrlAsEndpoint: false });
}

export function dynamoDbClient(endpoint?: string): DynamoDBClient {
  return new DynamoDBClient(localClientConfig(endpoint));
}

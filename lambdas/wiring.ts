/**
 * The composition root: the only place that reads configuration and builds SDK clients and adapters. Each
 * function's dependencies are built once per cold start, on first use, from that function's config slice.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from './adapters/dynamo-connection-store';
import { DynamoMembershipDirectory } from './adapters/dynamo-membership-directory';
import { DynamoMessageStore } from './adapters/dynamo-message-store';
import { JoseTokenVerifier } from './adapters/jose-token-verifier';
import { ManagementApiNotifier } from './adapters/management-api-notifier';
import { readSecretString } from './adapters/secrets-manager-secret';
import { SqsDeadLetter } from './adapters/sqs-dead-letter';
import { SqsMessageQueue } from './adapters/sqs-message-queue';
import { authorizerConfig, connectConfig, deliverConfig, loadConfig, sendConfig } from './config';
import type { DeliverMessageDeps } from './core/deliver-message';
import type { Clock, ConnectionStore, TokenVerifier } from './core/ports';
import type { SendMessageDeps } from './core/send-message';

export const logger = new Logger({ serviceName: 'herald' });
export const metrics = new Metrics({ namespace: 'Herald', serviceName: 'herald' });

const systemClock: Clock = { now: () => Date.now() };

function once<T>(build: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: build() };
    return value.v;
  };
}

const documentClient = /* @__PURE__ */ once(() =>
  DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } }),
);
// Queue URLs from emulators point at hosts that do not resolve; on AWS the regional endpoint is the same.
const sqsClient = /* @__PURE__ */ once(() => new SQSClient({ useQueueUrlAsEndpoint: false }));

export const authorizerDeps = /* @__PURE__ */ once((): { verifier: TokenVerifier } => {
  const config = loadConfig(authorizerConfig, process.env);
  if (config.AUTH_MODE === 'jwks') {
    return {
      verifier: new JoseTokenVerifier(
        { kind: 'jwks', url: config.AUTH_JWKS_URL },
        config.AUTH_ISSUER,
        config.AUTH_AUDIENCE,
      ),
    };
  }
  const { AUTH_DEV_SECRET: inline, AUTH_DEV_SECRET_ARN: arn } = config;
  const secret =
    inline !== undefined
      ? () => Promise.resolve(inline)
      : () => readSecretString(new SecretsManagerClient({}), arn ?? '');
  return {
    verifier: new JoseTokenVerifier({ kind: 'secret', secret }, config.AUTH_ISSUER, config.AUTH_AUDIENCE),
  };
});

export const connectionDeps = /* @__PURE__ */ once((): { connections: ConnectionStore } => {
  const config = loadConfig(connectConfig, process.env);
  return {
    connections: new DynamoConnectionStore(
      documentClient(),
      config.CONNECTIONS_TABLE,
      config.CONNECTIONS_BY_USER_INDEX,
    ),
  };
});

export const sendDeps = /* @__PURE__ */ once((): SendMessageDeps => {
  const config = loadConfig(sendConfig, process.env);
  return {
    directory: new DynamoMembershipDirectory(documentClient(), config.CONVERSATIONS_TABLE),
    queue: new SqsMessageQueue(sqsClient(), config.MESSAGE_QUEUE_URL),
    clock: systemClock,
  };
});

export const deliverDeps = /* @__PURE__ */ once((): DeliverMessageDeps & { deadLetter: SqsDeadLetter } => {
  const config = loadConfig(deliverConfig, process.env);
  const db = documentClient();
  return {
    directory: new DynamoMembershipDirectory(db, config.CONVERSATIONS_TABLE),
    messages: new DynamoMessageStore(db, config.CONVERSATIONS_TABLE, config.MESSAGES_TABLE, systemClock),
    connections: new DynamoConnectionStore(db, config.CONNECTIONS_TABLE, config.CONNECTIONS_BY_USER_INDEX),
    notifier: new ManagementApiNotifier(new ApiGatewayManagementApiClient({ endpoint: config.CALLBACK_URL })),
    concurrency: config.DELIVERY_CONCURRENCY,
    deadLetter: new SqsDeadLetter(sqsClient(), config.DEAD_LETTER_QUEUE_URL),
  };
});

import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from '../adapters/dynamo-connection-store';
import { DynamoMembershipDirectory } from '../adapters/dynamo-membership-directory';
import { DynamoConnectionActivity, DynamoContactDirectory } from '../adapters/dynamo-presence';
import { ManagementApiNotifier } from '../adapters/management-api-notifier';
import { type EphemeralConfig, ephemeralConfig, INDEX, loadConfig } from '../config';
import type { PresenceDeps } from '../core/presence';
import { systemClock } from './clock';
import { documentClient } from './dynamodb';
import { managementApiClient } from './management-api';
import { once } from './once';

/** Presence's dependencies from a config and the clients. */
export function buildPresenceDeps(
  db: DynamoDBDocumentClient,
  api: ApiGatewayManagementApiClient,
  config: EphemeralConfig,
): PresenceDeps {
  return {
    activity: new DynamoConnectionActivity(db, config.CONNECTIONS_TABLE),
    contacts: new DynamoContactDirectory(db, config.CONVERSATIONS_TABLE, INDEX.conversationsByMember),
    directory: new DynamoMembershipDirectory(db, config.CONVERSATIONS_TABLE),
    connections: new DynamoConnectionStore(db, config.CONNECTIONS_TABLE),
    notifier: new ManagementApiNotifier(api),
    clock: systemClock,
    concurrency: config.DELIVERY_CONCURRENCY,
  };
}

/** The ephemeral config and the clients that $connect, $disconnect and the ephemeral function build on. */
export const ephemeralClients = /* @__PURE__ */ once(() => {
  const config = loadConfig(ephemeralConfig, process.env);
  return { config, db: documentClient(), api: managementApiClient(config.CALLBACK_URL) };
});

/** For $connect and $disconnect, which announce presence. */
export const presenceDeps = /* @__PURE__ */ once((): PresenceDeps => {
  const { db, api, config } = ephemeralClients();
  return buildPresenceDeps(db, api, config);
});

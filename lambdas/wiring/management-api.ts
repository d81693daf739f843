import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { counted } from './sdk-call-log';

/** A Management API client for the WebSocket API's callback URL (`POST @connections/{id}`). */
export function managementApiClient(callbackUrl: string): ApiGatewayManagementApiClient {
  return counted(new ApiGatewayManagementApiClient({ endpoint: callbackUrl }));
}

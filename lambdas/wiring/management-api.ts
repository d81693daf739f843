import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { counted } from './sdk-call-log';

/**
 * A Management API client for the WebSocket API's callback URL (`POST @connections/{id}`).
 *
 * `cacheMiddleware`: the SDK builds the middleware chain once per command class instead of on every send. A
 * group message is one post per recipient connection, and rebuilding the chain was a measured share of the
 * delivery function's CPU (docs/benchmarks.md, Profiling). Safe here: nothing adds middleware to a single
 * command, and no send passes per-call options (either would turn the cache off or be ignored).
 */
export function managementApiClient(callbackUrl: string): ApiGatewayManagementApiClient {
  return counted(new ApiGatewayManagementApiClient({ endpoint: callbackUrl, cacheMiddleware: true }));
}

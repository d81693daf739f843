import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { registerConnection } from '../core/connections';
import type { ConnectionStore } from '../core/ports';
import { connectionDeps, logger } from '../wiring';
import { type RouteResponse, websocketContext } from './websocket-context';

/** $connect: runs after the authorizer allowed the handshake; records the connection for delivery. */
export const createConnectHandler =
  (deps: () => { connections: ConnectionStore }) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, connectedAt, authorizer } = websocketContext(event);
    logger.appendKeys({ connectionId, userId: authorizer.userId });
    await registerConnection(deps().connections, {
      connectionId,
      userId: authorizer.userId,
      connectedAt,
    });
    logger.info('connected');
    return { statusCode: 200 };
  };

export const handler = createConnectHandler(connectionDeps);

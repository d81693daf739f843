import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { z } from 'zod';
import { removeConnection } from '../core/connections';
import type { ConnectionStore } from '../core/ports';
import { connectionDeps, logger } from '../wiring';
import type { RouteResponse } from './websocket-context';

const DisconnectContext = z.object({ connectionId: z.string().min(1) });

/**
 * $disconnect: best effort on AWS (it may never arrive), which is why connection rows also carry a TTL and
 * delivery deletes rows that answer 410 Gone.
 */
export const createDisconnectHandler =
  (deps: () => { connections: ConnectionStore }) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId } = DisconnectContext.parse(event.requestContext);
    await removeConnection(deps().connections, connectionId);
    logger.info('disconnected', { connectionId });
    return { statusCode: 200 };
  };

export const handler = createDisconnectHandler(connectionDeps);

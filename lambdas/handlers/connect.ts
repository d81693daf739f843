import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { registerConnection } from '../core/connections';
import type { ConnectionStore } from '../core/ports';
import { announceOnline, type PresenceDeps } from '../core/presence';
import { connectionDeps } from '../wiring/connection';
import { logger } from '../wiring/logger';
import { presenceDeps } from '../wiring/presence';
import { type RouteResponse, websocketContext } from './websocket-context';

/**
 * $connect: runs after the authorizer allowed the handshake; records the connection for delivery, then tells
 * the user's contacts they are online when this is their first live connection (best effort: a presence
 * failure never refuses the connection).
 */
export const createConnectHandler =
  (deps: () => { connections: ConnectionStore; presence?: PresenceDeps }) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, connectedAt, authorizer } = websocketContext(event);
    logger.appendKeys({ connectionId, userId: authorizer.userId });
    try {
      const d = deps();
      await registerConnection(d.connections, { connectionId, userId: authorizer.userId, connectedAt });
      logger.info('connected');
      if (d.presence) {
        try {
          const report = await announceOnline(d.presence, {
            userId: authorizer.userId,
            connectionId,
            connectedAt,
          });
          if (report.announced && report.failed > 0) logger.warn('presence partly announced', { ...report });
        } catch (error) {
          logger.error('presence not announced', { error });
        }
      }
      return { statusCode: 200 };
    } finally {
      logger.resetKeys();
    }
  };

export const handler = createConnectHandler(() => ({ ...connectionDeps(), presence: presenceDeps() }));

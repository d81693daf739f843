import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import { UserId } from '../../protocol';
import { removeConnection } from '../core/connections';
import type { ConnectionStore } from '../core/ports';
import { announceOffline, type PresenceDeps } from '../core/presence';
import { connectionDeps } from '../wiring/connection';
import { logger } from '../wiring/logger';
import { presenceDeps } from '../wiring/presence';
import type { RouteResponse } from './websocket-context';

const DisconnectContext = z.object({
  connectionId: z.string().check(z.minLength(1)),
  authorizer: z.catch(z.optional(z.object({ userId: UserId })), undefined),
});

/**
 * $disconnect: best effort on AWS (it may never arrive), which is why connection rows also carry a TTL and
 * activity, and delivery deletes rows that answer 410 Gone. Tells contacts the user went offline when no
 * live connection remains.
 */
export const createDisconnectHandler =
  (deps: () => { connections: ConnectionStore; presence?: PresenceDeps }) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, authorizer } = DisconnectContext.parse(event.requestContext);
    const d = deps();
    await removeConnection(d.connections, connectionId);
    logger.info('disconnected', { connectionId });
    if (d.presence && authorizer) {
      try {
        const report = await announceOffline(d.presence, authorizer.userId, {
          exceptConnectionId: connectionId,
        });
        if (report.announced && report.failed > 0) logger.warn('presence partly announced', { ...report });
      } catch (error) {
        logger.error('presence not announced', { connectionId, error });
      }
    }
    return { statusCode: 200 };
  };

export const handler = createDisconnectHandler(() => ({ ...connectionDeps(), presence: presenceDeps() }));

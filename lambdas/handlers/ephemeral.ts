import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { type ClientFrame, type PongFrame, PROTOCOL_VERSION, ROUTES } from '../../protocol';
import { errorFrame, internalErrorFrame } from '../core/error-frame';
import { HeraldError, InvalidFrameError } from '../core/errors';
import { parseClientFrame } from '../core/parse-frame';
import { admitFrame } from '../core/rate-limit';
import { relayTyping } from '../core/typing';
import { type EphemeralDeps, ephemeralDeps } from '../wiring/ephemeral';
import { logger } from '../wiring/logger';
import { metrics } from '../wiring/metrics';
import { type RouteResponse, websocketContext } from './websocket-context';

type EphemeralFrame = Extract<ClientFrame, { action: EphemeralAction }>;
type EphemeralAction = {
  [A in ClientFrame['action']]: (typeof ROUTES)[A] extends 'ephemeral' ? A : never;
}[ClientFrame['action']];

function isEphemeral(frame: ClientFrame): frame is EphemeralFrame {
  return ROUTES[frame.action] === 'ephemeral';
}

/**
 * The ephemeral routes (typing, ping), two-way: a ping is answered with pong, a refusal with an error frame;
 * typing answers nothing on success, nor when it is dropped by its interval (best effort). Every frame, valid or not, first takes one unit
 * of the connection's flood allowance, so a connection flooding garbage is limited too.
 */
export const createEphemeralHandler =
  (deps: () => EphemeralDeps) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, authorizer } = websocketContext(event);
    logger.appendKeys({ connectionId, userId: authorizer.userId });
    try {
      const d = deps();
      await admitFrame(d, connectionId);
      const frame = parseClientFrame(event.body);
      if (!isEphemeral(frame)) {
        throw new InvalidFrameError('UNKNOWN_ACTION', `${frame.action} is not served on this route.`);
      }
      switch (frame.action) {
        case 'typing': {
          const report = await relayTyping(d, { userId: authorizer.userId, connectionId }, frame);
          const conversationId = frame.conversationId;
          if (!report.relayed) {
            logger.debug('typing dropped', { conversationId, state: frame.state });
          } else if (report.failed > 0) {
            // Best effort: nothing is retried, but a push that keeps failing is an outage worth seeing.
            logger.warn('typing partly relayed', { conversationId, ...report });
          } else {
            logger.debug('typing relayed', { conversationId, ...report });
          }
          return { statusCode: 200 };
        }
        case 'ping': {
          // The frame allowance taken above recorded the connection's activity: that is what ping is for.
          const pong: PongFrame = {
            type: 'pong',
            v: PROTOCOL_VERSION,
            ...(frame.requestId === undefined ? {} : { requestId: frame.requestId }),
            at: Date.now(),
          };
          return { statusCode: 200, body: JSON.stringify(pong) };
        }
        default: {
          // Exhaustive: a new ephemeral action in ROUTES fails to compile here until it is handled.
          const unhandled: never = frame;
          throw new Error(`no handler for ephemeral frame ${JSON.stringify(unhandled)}`);
        }
      }
    } catch (error) {
      if (error instanceof HeraldError) {
        logger.info('frame refused', { code: error.code });
        return { statusCode: 400, body: JSON.stringify(errorFrame(error)) };
      }
      logger.error('ephemeral frame failed', { error });
      metrics.addMetric('InternalErrors', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      return { statusCode: 500, body: JSON.stringify(internalErrorFrame()) };
    } finally {
      logger.resetKeys();
    }
  };

export const handler = createEphemeralHandler(ephemeralDeps);

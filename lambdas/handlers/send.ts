import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { errorFrame, internalErrorFrame } from '../core/error-frame';
import { HeraldError } from '../core/errors';
import { parseClientFrame } from '../core/parse-frame';
import { type SendMessageDeps, sendMessage } from '../core/send-message';
import { logger, metrics, sendDeps } from '../wiring';
import { type RouteResponse, websocketContext } from './websocket-context';

/**
 * The client-action routes (two-way). Success answers nothing: the client's ack comes from delivery, carrying
 * the sequence number, so an accepted message costs the sender one frame, not two. A refused frame is answered
 * at once with its error frame and nothing is enqueued.
 */
export const createSendHandler =
  (deps: () => SendMessageDeps) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, authorizer } = websocketContext(event);
    logger.appendKeys({ connectionId, userId: authorizer.userId });
    let clientMessageId: string | undefined;
    try {
      const frame = parseClientFrame(event.body);
      clientMessageId = frame.clientMessageId;
      switch (frame.action) {
        case 'send': {
          await sendMessage(deps(), { userId: authorizer.userId, connectionId }, frame);
          logger.info('message accepted', { conversationId: frame.conversationId, clientMessageId });
          return { statusCode: 200 };
        }
        default:
          return frame.action satisfies never;
      }
    } catch (error) {
      if (error instanceof HeraldError) {
        logger.info('frame refused', { code: error.code, clientMessageId: error.clientMessageId });
        return { statusCode: 400, body: JSON.stringify(errorFrame(error)) };
      }
      // Not the client's fault and nothing was enqueued: say so with a stable code, and make it visible to
      // operators (error log + InternalErrors metric, alarmed) instead of letting API Gateway send its own text.
      logger.error('send failed', { error, clientMessageId });
      metrics.addMetric('InternalErrors', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      return { statusCode: 500, body: JSON.stringify(internalErrorFrame(clientMessageId)) };
    } finally {
      logger.resetKeys();
    }
  };

export const handler = createSendHandler(sendDeps);

import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import type { ServerFrame } from '../../protocol';
import { errorFrame, internalErrorFrame } from '../core/error-frame';
import { HeraldError, InvalidFrameError, RateLimitedError } from '../core/errors';
import { parseClientFrame } from '../core/parse-frame';
import { listConversations, listMembers, type QueryDeps, readHistory, sync } from '../core/queries';
import { logger } from '../wiring/logger';
import { metrics } from '../wiring/metrics';
import { queryDeps } from '../wiring/query';
import { type RouteResponse, websocketContext } from './websocket-context';

const answer = (frame: ServerFrame): RouteResponse => ({ statusCode: 200, body: JSON.stringify(frame) });

/**
 * The query route (two-way): history, sync, listConversations and listMembers. Each frame is answered with
 * exactly one frame: its response, or an error frame carrying its requestId. Queries change nothing, so an
 * INTERNAL answer can always be retried as it is.
 */
export const createQueryHandler =
  (deps: () => QueryDeps & { takeFrame?: (connectionId: string, now: number) => Promise<boolean> }) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, authorizer } = websocketContext(event);
    const { userId } = authorizer;
    logger.appendKeys({ connectionId, userId });
    let requestId: string | undefined;
    try {
      const frame = parseClientFrame(event.body);
      const takeFrame = deps().takeFrame;
      if (takeFrame && !(await takeFrame(connectionId, Date.now()))) {
        throw new RateLimitedError('This connection is sending too fast: slow down and retry.', {
          requestId: 'requestId' in frame ? frame.requestId : undefined,
        });
      }
      switch (frame.action) {
        case 'history':
          requestId = frame.requestId;
          logger.appendKeys({ requestId, conversationId: frame.conversationId });
          return answer(await readHistory(deps(), userId, frame));
        case 'sync':
          requestId = frame.requestId;
          logger.appendKeys({ requestId });
          return answer(await sync(deps(), userId, frame));
        case 'listConversations':
          requestId = frame.requestId;
          logger.appendKeys({ requestId });
          return answer(await listConversations(deps(), userId, frame));
        case 'listMembers':
          requestId = frame.requestId;
          logger.appendKeys({ requestId, conversationId: frame.conversationId });
          return answer(await listMembers(deps(), userId, frame));
        // Served by other routes: reaching this one means the route table and the contract disagree.
        case 'send':
        case 'edit':
        case 'recall':
        case 'createGroup':
        case 'addMembers':
        case 'removeMembers':
        case 'leave':
        case 'rename':
          throw new InvalidFrameError('UNKNOWN_ACTION', `The ${frame.action} action is not a query.`, {
            clientMessageId: frame.clientMessageId,
          });
        case 'markRead':
        case 'typing':
        case 'ping':
          throw new InvalidFrameError('UNKNOWN_ACTION', `The ${frame.action} action is not a query.`);
        default:
          return frame satisfies never;
      }
    } catch (error) {
      if (error instanceof HeraldError) {
        logger.info('query refused', { code: error.code, requestId: error.ref.requestId });
        return { statusCode: 400, body: JSON.stringify(errorFrame(error)) };
      }
      logger.error('query failed', { error, requestId });
      metrics.addMetric('InternalErrors', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      return { statusCode: 500, body: JSON.stringify(internalErrorFrame({ requestId })) };
    } finally {
      logger.resetKeys();
    }
  };

export const handler = createQueryHandler(queryDeps);

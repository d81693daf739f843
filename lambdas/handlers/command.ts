import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { ROUTES } from '../../protocol';
import { type AcceptCommandDeps, acceptCommand, type CommandFrame } from '../core/accept-command';
import { errorFrame, internalErrorFrame } from '../core/error-frame';
import { type FrameRef, HeraldError, InvalidFrameError, RateLimitedError } from '../core/errors';
import { parseClientFrame } from '../core/parse-frame';
import { commandDeps } from '../wiring/command';
import { logger } from '../wiring/logger';
import { metrics } from '../wiring/metrics';
import { type RouteResponse, websocketContext } from './websocket-context';

export interface CommandHandlerDeps extends AcceptCommandDeps {
  /** Takes one frame from the connection's allowance; false when it is flooding. */
  readonly takeFrame?: (connectionId: string, now: number) => Promise<boolean>;
}

/**
 * The command routes (send, edit, recall, group changes, markRead), two-way. Success answers nothing: the
 * ack comes from delivery, with the sequence number, so an accepted command costs the sender one frame, not two.
 * A refused frame is answered at once with its error frame and nothing is enqueued.
 */
export const createCommandHandler =
  (deps: () => CommandHandlerDeps) =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    const { connectionId, authorizer } = websocketContext(event);
    logger.appendKeys({ connectionId, userId: authorizer.userId });
    // What error frames quote to tie themselves to the frame: its clientMessageId, or a markRead's requestId.
    let ref: FrameRef = {};
    try {
      const frame = parseClientFrame(event.body);
      ref = {
        clientMessageId: 'clientMessageId' in frame ? frame.clientMessageId : undefined,
        requestId: 'requestId' in frame ? frame.requestId : undefined,
      };
      const { clientMessageId } = ref;
      if (ROUTES[frame.action] !== 'command') {
        throw new InvalidFrameError('UNKNOWN_ACTION', `${frame.action} is not served on this route.`, ref);
      }
      const d = deps();
      const { takeFrame } = d;
      // The flood limit and the membership check are independent reads: they run at once, and nothing is
      // enqueued unless both pass (a flooding connection is refused first).
      const admit = takeFrame
        ? async () => {
            if (!(await takeFrame(connectionId, d.clock.now()))) {
              throw new RateLimitedError('This connection is sending too fast: slow down and retry.', ref);
            }
          }
        : undefined;
      const command = await acceptCommand(
        d,
        { userId: authorizer.userId, connectionId },
        frame as CommandFrame,
        admit,
      );
      logger.info('command accepted', {
        kind: command.kind,
        conversationId: command.conversationId,
        clientMessageId,
      });
      return { statusCode: 200 };
    } catch (error) {
      if (error instanceof HeraldError) {
        logger.info('frame refused', { code: error.code, clientMessageId: error.clientMessageId });
        return { statusCode: 400, body: JSON.stringify(errorFrame(error)) };
      }
      // Not the client's fault and nothing was enqueued: say so with a stable code, and make it visible to
      // operators (error log + InternalErrors metric, alarmed) instead of letting API Gateway send its own text.
      logger.error('command failed', { error, ...ref });
      metrics.addMetric('InternalErrors', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      return { statusCode: 500, body: JSON.stringify(internalErrorFrame(ref)) };
    } finally {
      logger.resetKeys();
    }
  };

export const handler = createCommandHandler(commandDeps);

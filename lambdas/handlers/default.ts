import type { APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { errorFrame } from '../core/error-frame';
import { InvalidFrameError } from '../core/errors';
import { parseClientFrame } from '../core/parse-frame';
import { logger } from '../wiring/logger';
import type { RouteResponse } from './websocket-context';

/**
 * $default (two-way): frames API Gateway could not route: not JSON, no `action`, or an unknown one. The
 * answer is the precise error frame the protocol defines for what is wrong.
 */
export const createDefaultHandler =
  () =>
  async (event: APIGatewayProxyWebsocketEventV2): Promise<RouteResponse> => {
    let error: InvalidFrameError;
    try {
      const frame = parseClientFrame(event.body);
      // A known action reaching $default means its route is not deployed.
      error = new InvalidFrameError('UNKNOWN_ACTION', `The ${frame.action} route is not available.`);
    } catch (caught) {
      if (!(caught instanceof InvalidFrameError)) throw caught;
      error = caught;
    }
    logger.info('frame refused', { code: error.code, connectionId: event.requestContext.connectionId });
    return { statusCode: 400, body: JSON.stringify(errorFrame(error)) };
  };

export const handler = createDefaultHandler();

import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { authorizeConnection } from '../core/authorize-connection';
import { ForbiddenSubjectError, InvalidTokenError } from '../core/errors';
import type { TokenVerifier } from '../core/ports';
import { authorizerDeps } from '../wiring/authorizer';
import { logger } from '../wiring/logger';

/**
 * REQUEST authorizer on $connect (identity source: the `token` query parameter). Allow passes the user id to
 * every later event as `requestContext.authorizer.userId`. A bad token is a 401, a valid token naming an
 * unusable subject a 403. The token itself is never logged.
 */
export const createAuthorizerHandler =
  (deps: () => { verifier: TokenVerifier }) =>
  async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const token = event.queryStringParameters?.token;
    try {
      const userId = await authorizeConnection(deps().verifier, token);
      logger.info('connection authorized', { userId });
      return policy(userId, 'Allow', event.methodArn, { userId });
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        logger.warn('connection refused: invalid token', { reason: error.message });
        // API Gateway answers the handshake with 401 for exactly this error message.
        throw new Error('Unauthorized');
      }
      if (error instanceof ForbiddenSubjectError) {
        logger.warn('connection refused: unusable subject');
        return policy('forbidden', 'Deny', event.methodArn);
      }
      throw error;
    }
  };

export const handler = createAuthorizerHandler(authorizerDeps);

function policy(
  principalId: string,
  effect: 'Allow' | 'Deny',
  resource: string,
  context?: Record<string, string>,
): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    ...(context ? { context } : {}),
  };
}

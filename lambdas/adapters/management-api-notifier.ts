import {
  type ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ServerFrame } from '../../protocol';
import type { Notifier, PostOutcome } from '../core/ports';

const encoder = new TextEncoder();

/** Pushes frames through the API Gateway Management API (`POST @connections/{id}`). */
export class ManagementApiNotifier implements Notifier {
  constructor(private readonly api: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, frame: ServerFrame): Promise<PostOutcome> {
    try {
      await this.api.send(
        new PostToConnectionCommand({
          ConnectionId: connectionId,
          Data: encoder.encode(JSON.stringify(frame)),
        }),
      );
      return 'delivered';
    } catch (error) {
      if (isGone(error)) return 'gone';
      throw error;
    }
  }
}

/** SDK v3 reports the status in `$metadata.httpStatusCode`, not `statusCode`: check both name and status. */
export function isGone(error: unknown): boolean {
  if (error instanceof GoneException) return true;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: unknown } };
  return e.name === 'GoneException' || e.$metadata?.httpStatusCode === 410;
}

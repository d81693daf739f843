import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagementApiNotifier } from '../../lambdas/adapters/management-api-notifier';
import type { ServerFrame } from '../../protocol';
import { type ConnectionsEndpoint, startConnectionsEndpoint } from '../helpers/connections-endpoint';

let endpoint: ConnectionsEndpoint;
let notifier: ManagementApiNotifier;
const frame: ServerFrame = {
  type: 'ack',
  v: 1,
  conversationId: 'dm:a:b',
  clientMessageId: 'c',
  seq: 3,
  at: 1,
};

beforeAll(async () => {
  endpoint = await startConnectionsEndpoint();
  notifier = new ManagementApiNotifier(
    new ApiGatewayManagementApiClient({
      endpoint: endpoint.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    }),
  );
});
afterAll(async () => {
  await endpoint?.close();
});

describe('ManagementApiNotifier with the real SDK client', () => {
  it('posts the frame as JSON to the connection, whose id API Gateway writes with = signs', async () => {
    endpoint.live.add('L0SM9cOFvHcCIhw=');
    expect(await notifier.post('L0SM9cOFvHcCIhw=', frame)).toBe('delivered');
    expect(endpoint.received('L0SM9cOFvHcCIhw=')).toEqual([frame]);
  });

  it('reports 410 GoneException as gone, not as an error', async () => {
    expect(await notifier.post('closed-connection=', frame)).toBe('gone');
  });

  it('throws any other failure so the record is retried', async () => {
    endpoint.live.add('flaky=');
    endpoint.failing.set('flaky=', 500);
    await expect(notifier.post('flaky=', frame)).rejects.toMatchObject({
      $metadata: { httpStatusCode: 500 },
    });
  });
});

import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagementApiNotifier } from '../../lambdas/adapters/management-api-notifier';
import { managementApiClient } from '../../lambdas/wiring/management-api';
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

  it("with the functions' own client (one middleware chain for every post), each of many concurrent posts reaches its own connection, gone ones included", async () => {
    const own = new ManagementApiNotifier(managementApiClient(endpoint.url));
    const ids = Array.from({ length: 200 }, (_, i) => `conc${i}=`);
    for (const [i, id] of ids.entries()) if (i % 10 !== 3) endpoint.live.add(id);
    const frameOf = (i: number): ServerFrame => ({ ...frame, clientMessageId: `m${i}`, seq: i + 1 });
    const outcomes = await Promise.all(ids.map((id, i) => own.post(id, frameOf(i))));
    for (const [i, id] of ids.entries()) {
      expect(outcomes[i], id).toBe(i % 10 === 3 ? 'gone' : 'delivered');
      expect(endpoint.received(id), id).toEqual(i % 10 === 3 ? [] : [frameOf(i)]);
    }
  });
});

import { describe, expect, it } from 'vitest';
import { createConnectHandler } from '../../../lambdas/handlers/connect';
import { createDisconnectHandler } from '../../../lambdas/handlers/disconnect';
import { websocketEvent } from '../../helpers/events';
import { InMemoryConnectionStore } from '../../helpers/fakes';

describe('$connect and $disconnect handlers', () => {
  it('register the authorized user’s connection with a TTL in seconds, then remove it', async () => {
    const connections = new InMemoryConnectionStore();
    const connect = createConnectHandler(() => ({ connections }));
    const disconnect = createDisconnectHandler(() => ({ connections }));
    const connectedAt = 1_760_000_000_000;

    expect(
      await connect(websocketEvent('$connect', { connectionId: 'c1', userId: 'alice', connectedAt })),
    ).toEqual({
      statusCode: 200,
    });
    expect(connections.rows.get('c1')).toEqual({
      connectionId: 'c1',
      userId: 'alice',
      connectedAt,
      expiresAt: 1_760_000_000 + 7800,
    });

    expect(await disconnect(websocketEvent('$disconnect', { connectionId: 'c1', userId: 'alice' }))).toEqual({
      statusCode: 200,
    });
    expect(connections.rows.size).toBe(0);
  });

  it('refuses to register a connection that has no authorized user (a deployment error)', async () => {
    const connections = new InMemoryConnectionStore();
    const connect = createConnectHandler(() => ({ connections }));
    await expect(connect(websocketEvent('$connect', { connectionId: 'c1' }))).rejects.toThrow(
      /WebSocket event/,
    );
    expect(connections.rows.size).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { connectionExpiry, registerConnection, removeConnection } from '../../../lambdas/core/connections';
import { InMemoryConnectionStore } from '../../helpers/fakes';

describe('connections', () => {
  it('expire in epoch seconds, a little after API Gateway’s 2-hour maximum', () => {
    const connectedAt = 1_760_000_000_123; // ms
    const expiry = connectionExpiry(connectedAt);
    expect(expiry).toBe(1_760_000_000 + 2 * 3600 + 600);
    expect(expiry).toBeLessThan(10_000_000_000); // seconds, not milliseconds
  });

  it('are registered with their TTL and removed by connection id only', async () => {
    const store = new InMemoryConnectionStore();
    await registerConnection(store, { connectionId: 'c1', userId: 'alice', connectedAt: 1_000_000 });
    await registerConnection(store, { connectionId: 'c2', userId: 'alice', connectedAt: 1_000_000 });
    expect(store.rows.get('c1')).toEqual({
      connectionId: 'c1',
      userId: 'alice',
      connectedAt: 1_000_000,
      expiresAt: 1000 + 7800,
    });
    await removeConnection(store, 'c1');
    expect(await store.listByUsers(['alice'])).toEqual([
      { connectionId: 'c2', userId: 'alice', connectedAt: 1_000_000 },
    ]);
  });
});

import type { UserId } from '../../protocol';
import type { ConnectionStore } from './ports';

/** API Gateway closes every WebSocket connection after 2 hours. */
export const MAX_CONNECTION_SECONDS = 2 * 60 * 60;
/** Keep a row a little longer than the connection can live, so TTL never deletes a live connection. */
export const CONNECTION_TTL_GRACE_SECONDS = 10 * 60;

/** The TTL of a connection row, in epoch **seconds** (DynamoDB ignores millisecond values as far-future). */
export function connectionExpiry(connectedAtMs: number): number {
  return Math.floor(connectedAtMs / 1000) + MAX_CONNECTION_SECONDS + CONNECTION_TTL_GRACE_SECONDS;
}

export async function registerConnection(
  store: ConnectionStore,
  input: { connectionId: string; userId: UserId; connectedAt: number },
): Promise<void> {
  await store.put({ ...input, expiresAt: connectionExpiry(input.connectedAt) });
}

export async function removeConnection(store: ConnectionStore, connectionId: string): Promise<void> {
  await store.remove(connectionId);
}

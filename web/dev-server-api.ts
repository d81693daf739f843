/** The two endpoints of the local web server (local/web-server.ts): where Herald is, and a dev token per user. */

export interface PageConfig {
  readonly wsUrl: string;
}

export async function fetchConfig(): Promise<PageConfig> {
  const response = await fetch('/api/config', { cache: 'no-store' });
  if (!response.ok) throw new Error(`GET /api/config answered ${response.status}`);
  const body = (await response.json()) as Partial<PageConfig>;
  if (typeof body.wsUrl !== 'string') throw new Error('GET /api/config gave no wsUrl');
  return { wsUrl: body.wsUrl };
}

/** A fresh development token for `userId`, minted by the local server with the local dev secret. */
export async function fetchToken(userId: string): Promise<string> {
  const response = await fetch(`/api/token?user=${encodeURIComponent(userId)}`, { cache: 'no-store' });
  const body = (await response.json().catch(() => ({}))) as { token?: unknown; error?: unknown };
  if (!response.ok || typeof body.token !== 'string') {
    throw new Error(
      typeof body.error === 'string' ? body.error : `GET /api/token answered ${response.status}`,
    );
  }
  return body.token;
}

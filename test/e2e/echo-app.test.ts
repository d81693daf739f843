/**
 * The local cloud runs a CDK app that is not Herald, unchanged: test/fixtures/echo-app has its own routes,
 * a header-keyed authorizer, handlers that build the @connections endpoint from the event (domainName/stage)
 * and from apiId + region, bundles that leave the AWS SDK out, and an SQS queue consumed by a function.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { type LocalCloud, startLocalCloud } from '../../local/cloud/local-cloud';
import { REPO_ROOT } from '../../local/herald-local';

const isLocal = inject('heraldTarget').kind === 'local';
let cloud: LocalCloud;
let url: string;

beforeAll(async () => {
  if (!isLocal) return;
  cloud = await startLocalCloud({
    appDir: join(REPO_ROOT, 'test/fixtures/echo-app'),
    port: 0,
    log: () => undefined,
  });
  url = cloud.webSocketApis[0]?.url ?? '';
}, 180_000);
afterAll(async () => {
  await cloud?.stop();
});

async function connect(key?: string): Promise<{ ws: WebSocket; next: () => Promise<unknown> } | number> {
  const ws = new WebSocket(url, key === undefined ? {} : { headers: { 'X-Echo-Key': key } });
  const inbox: unknown[] = [];
  const waiting: ((v: unknown) => void)[] = [];
  ws.on('message', (data) => {
    const value = JSON.parse(data.toString());
    const waiter = waiting.shift();
    if (waiter) waiter(value);
    else inbox.push(value);
  });
  const outcome = await new Promise<number | 'open'>((resolve, reject) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', reject);
  });
  if (outcome !== 'open') return outcome;
  const next = () =>
    inbox.length > 0
      ? Promise.resolve(inbox.shift())
      : new Promise((resolve, reject) => {
          waiting.push(resolve);
          setTimeout(() => reject(new Error('no frame within 10 s')), 10_000);
        });
  return { ws, next };
}

describe.runIf(isLocal)('a second CDK app on the local cloud', () => {
  it('reads the app’s own API from its template', () => {
    expect(cloud.webSocketApis.map((a) => [a.stageName, a.apiId.length])).toEqual([['dev', 10]]);
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/dev$/);
  });

  it('applies its authorizer: missing header 401 (not invoked), Unauthorized 401, Deny 403', async () => {
    expect(await connect()).toBe(401);
    expect(await connect('wrong')).toBe(401);
    expect(await connect('denied')).toBe(403);
  });

  it('runs a one-way route that answers through @connections, with the authorizer context', async () => {
    const client = await connect('open-sesame');
    if (typeof client === 'number') throw new Error(`refused: ${client}`);
    client.ws.send(JSON.stringify({ action: 'echo', text: 'hello' }));
    expect(await client.next()).toEqual({ echo: 'hello', caller: 'caller-open-sesame' });
    client.ws.close();
  });

  it('returns a two-way route’s response body to the client', async () => {
    const client = await connect('open-sesame');
    if (typeof client === 'number') throw new Error(`refused: ${client}`);
    client.ws.send(JSON.stringify({ action: 'shout', text: 'quiet' }));
    expect(await client.next()).toEqual({ shout: 'QUIET' });
    client.ws.close();
  });

  it('runs its SQS event source: a queued job is answered by the worker via apiId + region', async () => {
    const client = await connect('open-sesame');
    if (typeof client === 'number') throw new Error(`refused: ${client}`);
    client.ws.send(JSON.stringify({ action: 'enqueue', text: 'job-1' }));
    expect(await client.next()).toEqual({ processed: 'job-1', receiveCount: '1' });
    client.ws.close();
  });

  it('answers an unknown action like API Gateway does when the API has no $default route', async () => {
    const client = await connect('open-sesame');
    if (typeof client === 'number') throw new Error(`refused: ${client}`);
    client.ws.send(JSON.stringify({ action: 'nope' }));
    expect(await client.next()).toMatchObject({ message: 'Forbidden' });
    client.ws.close();
  });
});

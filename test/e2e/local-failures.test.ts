/**
 * Failure paths that need their own local Herald: connection time limits shortened by configuration, and a
 * delivery that keeps failing until the queue's redrive moves it to the DLQ. This instance is synthesized with
 * `herald:deliveryTimeoutSeconds=2` and `herald:maxReceiveCount=2` (visibility timeout 12 s), so the redrive
 * happens in seconds instead of 15 minutes. Local cloud only.
 */
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { connectionIdsOfUser } from '../../lambdas/adapters/dynamo-connection-store';
import { type LocalHerald, startLocalHerald } from '../../local/herald-local';
import { sqsClient } from '../../local/services/aws-clients';
import { mintToken, readSigningSecret } from '../../local/tokens';
import { type RunAssemblyDir, runAssemblyDir } from '../helpers/assembly-dir';
import { queueDepth } from '../helpers/provision';
import { directId, unique } from './client';

const isLocal = inject('heraldTarget').kind === 'local';
let herald: LocalHerald;
let assembly: RunAssemblyDir | undefined;
let db: DynamoDBDocumentClient;
let outputs: Record<string, string>;

beforeAll(async () => {
  if (!isLocal) return;
  assembly = runAssemblyDir('e2e-failures');
  herald = await startLocalHerald({
    port: 0,
    writeStateFile: false,
    assemblyDir: assembly.path,
    context: { 'herald:deliveryTimeoutSeconds': '2', 'herald:maxReceiveCount': '2' },
    limits: { idleTimeoutMs: 1500, maxConnectionMs: 3000 },
    log: () => undefined,
  });
  outputs = Object.assign({}, ...herald.cloud.stacks.map((s) => s.outputs));
  db = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: herald.cloud.endpoints.dynamodb,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
}, 180_000);
afterAll(async () => {
  await herald?.stop();
  assembly?.remove();
});

async function connect(userId: string) {
  const { state } = herald;
  const secret = await readSigningSecret(state.auth.secretArn, state.region, state.secretsManagerEndpoint);
  const token = await mintToken(userId, { secret, issuer: state.auth.issuer, audience: state.auth.audience });
  const ws = new WebSocket(`${state.wsUrl}?token=${token}`);
  const frames: unknown[] = [];
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.on('close', (code) => resolve({ code, at: Date.now() })),
  );
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, frames, closed, openedAt: Date.now() };
}

/** The connections the user's user item names (ADR 16), i.e. those delivery would push to. */
async function connectionRows(userId: string): Promise<number> {
  const table = outputs.ConnectionsTableName;
  if (!table) throw new Error('the stack has no ConnectionsTableName output');
  return (await connectionIdsOfUser(db, table, userId)).length;
}

async function eventually(check: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe.runIf(isLocal)('connection limits and redrive (own local Herald)', () => {
  it('closes an idle connection with 1001 and fires $disconnect (its row is removed)', async () => {
    const user = unique('idle');
    const client = await connect(user);
    expect(await connectionRows(user)).toBe(1); // $connect registered it
    const closed = await client.closed;
    expect(closed.code).toBe(1001);
    expect(closed.at - client.openedAt).toBeGreaterThanOrEqual(1400);
    expect(closed.at - client.openedAt).toBeLessThan(2900);
    await eventually(async () => expect(await connectionRows(user)).toBe(0), 3000);
  });

  it('closes a busy connection at the maximum duration with 1001', async () => {
    const client = await connect(unique('busy'));
    // Keep it active, so only the maximum duration can end it.
    const keepAlive = setInterval(() => client.ws.send('{"action":"noop"}'), 500);
    const closed = await client.closed;
    clearInterval(keepAlive);
    expect(closed.code).toBe(1001);
    expect(closed.at - client.openedAt).toBeGreaterThanOrEqual(2900);
  });

  it('moves a message whose delivery keeps failing to the DLQ after the configured receives', async () => {
    const [a, b] = [unique('ria'), unique('sam')];
    const ria = await connect(a);
    // Break delivery for good: the messages table disappears, so every append fails.
    await db.send(new DeleteTableCommand({ TableName: outputs.MessagesTableName }));
    ria.ws.send(
      JSON.stringify({
        action: 'send',
        v: 1,
        conversationId: directId(a, b),
        clientMessageId: 'doomed',
        text: 'x',
      }),
    );
    const sqs = sqsClient(herald.cloud.endpoints.sqs);
    await eventually(async () => {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: outputs.DeadLetterQueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      expect(Number(Attributes?.ApproximateNumberOfMessages)).toBe(1);
    }, 45_000);
    expect(await queueDepth(sqs, String(outputs.MessageQueueUrl))).toBe(0);
    ria.ws.close();
  }, 60_000);
});

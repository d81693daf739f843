/**
 * The whole Herald flow on real local services: authorizer -> $connect -> send route -> SQS FIFO (fauxqs) ->
 * an SQS event source -> delivery -> DynamoDB Local -> @connections, through the production handlers and the
 * composition root, configured by environment variables exactly as the stack configures them.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/config';
import { type SqsEventSource, startSqsEventSource } from '../../local/runtime/sqs-event-source';
import { type AckFrame, type EventFrame, LIMITS, ServerFrame } from '../../protocol';
import { type ConnectionsEndpoint, startConnectionsEndpoint } from '../helpers/connections-endpoint';
import { authorizerEvent, lambdaContext, websocketEvent } from '../helpers/events';
import {
  createFifoQueuePair,
  createHeraldTables,
  documentClient,
  type FifoQueuePair,
  type HeraldTableNames,
  queueDepth,
  runId,
  testSqsClient,
} from '../helpers/provision';
import { DEV_AUTH, mintDevToken } from '../helpers/tokens';

const MAX_RECEIVE_COUNT = 3;
let tables: HeraldTableNames;
let queues: FifoQueuePair;
let endpoint: ConnectionsEndpoint;
let sqs: SQSClient;
let eventSource: SqsEventSource;
let handlers: {
  authorizer: typeof import('../../lambdas/handlers/authorizer').handler;
  connect: typeof import('../../lambdas/handlers/connect').handler;
  disconnect: typeof import('../../lambdas/handlers/disconnect').handler;
  send: typeof import('../../lambdas/handlers/command').handler;
  deliver: typeof import('../../lambdas/handlers/deliver').handler;
};
const db = documentClient();
const invocationErrors: unknown[] = [];
const extraQueues: FifoQueuePair[] = [];

beforeAll(async () => {
  sqs = testSqsClient();
  let fanoutQueues: FifoQueuePair;
  [tables, queues, endpoint, fanoutQueues] = await Promise.all([
    createHeraldTables(),
    createFifoQueuePair(sqs, { maxReceiveCount: MAX_RECEIVE_COUNT, visibilityTimeout: 1 }),
    startConnectionsEndpoint(),
    // Only groups over the fan-out threshold use it; these tests stay under it.
    createFifoQueuePair(sqs),
  ]);
  extraQueues.push(fanoutQueues);
  Object.assign(process.env, {
    [ENV.CONNECTIONS_TABLE]: tables.connections,
    [ENV.CONVERSATIONS_TABLE]: tables.conversations,
    [ENV.MESSAGES_TABLE]: tables.messages,
    [ENV.MESSAGE_QUEUE_URL]: queues.queueUrl,
    [ENV.DEAD_LETTER_QUEUE_URL]: queues.dlqUrl,
    [ENV.FANOUT_QUEUE_URL]: fanoutQueues.queueUrl,
    [ENV.CALLBACK_URL]: endpoint.url,
    [ENV.AUTH_MODE]: 'dev',
    [ENV.AUTH_DEV_SECRET]: DEV_AUTH.secret,
    [ENV.AUTH_ISSUER]: DEV_AUTH.issuer,
    [ENV.AUTH_AUDIENCE]: DEV_AUTH.audience,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  handlers = {
    authorizer: (await import('../../lambdas/handlers/authorizer')).handler,
    connect: (await import('../../lambdas/handlers/connect')).handler,
    disconnect: (await import('../../lambdas/handlers/disconnect')).handler,
    send: (await import('../../lambdas/handlers/command')).handler,
    deliver: (await import('../../lambdas/handlers/deliver')).handler,
  };
  eventSource = startSqsEventSource({
    sqs,
    queueUrl: queues.queueUrl,
    queueArn: queues.queueArn,
    region: process.env.AWS_REGION ?? 'us-east-1',
    batchSize: 10,
    waitTimeSeconds: 1,
    pollers: 2,
    reportBatchItemFailures: true,
    invoke: (event) => handlers.deliver(event, lambdaContext()),
    onError: (error) => invocationErrors.push(error),
  });
});

afterAll(async () => {
  await eventSource?.stop();
  await Promise.allSettled([
    tables?.drop(),
    queues?.drop(),
    endpoint?.close(),
    ...extraQueues.map((q) => q.drop()),
  ]);
});

let connectionCounter = 0;

/** Opens a connection the way API Gateway does: authorizer first, then $connect with its context. */
async function connect(userId: string, connectedAt = Date.now() - 1000): Promise<string> {
  const connectionId = `${userId}-${++connectionCounter}-${runId()}=`;
  const auth = await handlers.authorizer(authorizerEvent({ token: await mintDevToken(userId) }));
  expect(auth.policyDocument.Statement[0]).toMatchObject({ Effect: 'Allow' });
  expect(
    await handlers.connect(
      websocketEvent('$connect', { connectionId, userId: String(auth.context?.userId), connectedAt }),
    ),
  ).toEqual({
    statusCode: 200,
  });
  endpoint.live.add(connectionId);
  return connectionId;
}

async function send(
  userId: string,
  connectionId: string,
  conversationId: string,
  clientMessageId: string,
  text = clientMessageId,
) {
  const body = JSON.stringify({ action: 'send', v: 1, conversationId, clientMessageId, text });
  return handlers.send(websocketEvent('send', { connectionId, userId, body }));
}

function frames(connectionId: string): ServerFrame[] {
  return endpoint.received(connectionId).map((f) => ServerFrame.parse(f));
}
const messagesTo = (c: string) =>
  frames(c)
    .filter((f): f is EventFrame => f.type === 'event')
    .map((f) => f.event)
    .flatMap((e) => (e.kind === 'message' ? [e] : []));
const acksTo = (c: string) => frames(c).filter((f): f is AckFrame => f.type === 'ack');

async function eventually(check: () => void | Promise<void>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('the Herald pipeline on DynamoDB Local and fauxqs', () => {
  it('delivers direct messages both ways: acks to the sending device, messages to every other device', async () => {
    const alice = `alice${runId()}`;
    const bob = `bob${runId()}`;
    const conversationId = alice < bob ? `dm:${alice}:${bob}` : `dm:${bob}:${alice}`;
    const alicePhone = await connect(alice);
    const aliceLaptop = await connect(alice);
    const bobPhone = await connect(bob);

    expect(await send(alice, alicePhone, conversationId, 'hello-1', 'Hi Bob')).toEqual({ statusCode: 200 });
    await eventually(() => expect(messagesTo(bobPhone)).toHaveLength(1));
    expect(await send(bob, bobPhone, conversationId, 'reply-1', 'Hi Alice')).toEqual({ statusCode: 200 });
    await eventually(() => expect(messagesTo(aliceLaptop)).toHaveLength(2));

    expect(messagesTo(bobPhone)).toEqual([
      expect.objectContaining({
        conversationId,
        seq: 1,
        actorId: alice,
        text: 'Hi Bob',
        clientMessageId: 'hello-1',
      }),
    ]);
    expect(acksTo(alicePhone)).toEqual([expect.objectContaining({ clientMessageId: 'hello-1', seq: 1 })]);
    expect(messagesTo(alicePhone)).toEqual([expect.objectContaining({ seq: 2, text: 'Hi Alice' })]);
    expect(messagesTo(aliceLaptop).map((m) => [m.seq, m.text])).toEqual([
      [1, 'Hi Bob'],
      [2, 'Hi Alice'],
    ]);
    expect(acksTo(bobPhone)).toEqual([expect.objectContaining({ clientMessageId: 'reply-1', seq: 2 })]);
  });

  it('keeps a burst in one conversation in send order with gap-free sequence numbers', async () => {
    const a = `ann${runId()}`;
    const conversationId = `dm:${a}:zoe${runId()}`.replace(/zoe(\w+)$/, (m) => m);
    const [first, second] = conversationId.split(':').slice(1) as [string, string];
    const sender = first === a ? a : second;
    const recipient = first === a ? second : first;
    const senderConn = await connect(sender);
    const recipientConn = await connect(recipient);
    // A full burst: LIMITS.frameBurst frames at once are allowed; the next one is throttled, for this connection only.
    const ids = Array.from({ length: LIMITS.frameBurst }, (_, i) => `burst-${i}`);
    for (const id of ids)
      expect(await send(sender, senderConn, conversationId, id)).toEqual({ statusCode: 200 });
    const flood = await send(sender, senderConn, conversationId, 'one-too-many');
    expect(JSON.parse(flood.body ?? '{}')).toMatchObject({
      code: 'RATE_LIMITED',
      clientMessageId: 'one-too-many',
    });
    expect(await send(recipient, recipientConn, conversationId, 'other-connection')).toEqual({
      statusCode: 200,
    });
    await eventually(() => expect(messagesTo(senderConn)).toHaveLength(1), 30_000);
    await eventually(() => expect(messagesTo(recipientConn)).toHaveLength(LIMITS.frameBurst), 30_000);
    expect(messagesTo(recipientConn).map((m) => m.clientMessageId)).toEqual(ids);
    expect(messagesTo(recipientConn).map((m) => m.seq)).toEqual(ids.map((_, i) => i + 1));
  });

  it('stores a message for a recipient who is offline, ready for catch-up', async () => {
    const a = `amy${runId()}`;
    const conversationId = `dm:${a}:zack`;
    const amyConn = await connect(a);
    await send(a, amyConn, conversationId, 'while-away', 'Are you there?');
    await eventually(() => expect(acksTo(amyConn)).toHaveLength(1));
    const { Items } = await db.send(
      new QueryCommand({
        TableName: tables.messages,
        KeyConditionExpression: 'conversationId = :c',
        ExpressionAttributeValues: { ':c': conversationId },
      }),
    );
    expect(Items).toEqual([
      expect.objectContaining({ seq: 1, actorId: a, kind: 'message', text: 'Are you there?' }),
    ]);
  });

  it('deletes a connection that answers 410 Gone and still delivers to the live ones', async () => {
    const a = `abe${runId()}`;
    const conversationId = `dm:${a}:zed`;
    const abeConn = await connect(a);
    const zedLive = await connect('zed');
    // Connected a minute ago: a 410 from a connection younger than 30 s may be one still connecting.
    const zedStale = await connect('zed', Date.now() - 60_000);
    endpoint.live.delete(zedStale); // the client vanished without a $disconnect
    await send(a, abeConn, conversationId, 'ping');
    await eventually(() => expect(messagesTo(zedLive)).toHaveLength(1));
    await eventually(async () => {
      const { Item } = await db.send(
        new GetCommand({ TableName: tables.connections, Key: { connectionId: zedStale } }),
      );
      expect(Item).toBeUndefined();
    });
    const { Item: live } = await db.send(
      new GetCommand({ TableName: tables.connections, Key: { connectionId: zedLive } }),
    );
    expect(live).toMatchObject({ userId: 'zed' });
  });

  it('stores a retried send once and acks it again with the original sequence number', async () => {
    const a = `ada${runId()}`;
    const conversationId = `dm:${a}:zia`;
    const adaConn = await connect(a);
    await send(a, adaConn, conversationId, 'once', 'first try');
    await eventually(() => expect(acksTo(adaConn)).toHaveLength(1));
    await send(a, adaConn, conversationId, 'once', 'first try'); // within the SQS dedup window: dropped by SQS
    await send(a, adaConn, conversationId, 'twice', 'second');
    await eventually(() => expect(acksTo(adaConn)).toHaveLength(2));
    expect(acksTo(adaConn).map((f) => [f.clientMessageId, f.seq])).toEqual([
      ['once', 1],
      ['twice', 2],
    ]);
  });

  it('refuses a send to a conversation the user is not in, and nothing reaches the queue', async () => {
    const eve = await connect('eve');
    const response = await send('eve', eve, 'dm:alice:bob', 'sneaky');
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body ?? '')).toMatchObject({
      type: 'error',
      code: 'NOT_A_MEMBER',
      clientMessageId: 'sneaky',
    });
  });

  it('moves a poison body to the DLQ at once and a message that keeps failing after maxReceiveCount', async () => {
    const a = `art${runId()}`;
    const conversationId = `dm:${a}:zora`;
    const artConn = await connect(a);
    const zoraConn = await connect('zora');

    // A body that breaks the queue contract, put on the conversation's group by hand.
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queues.queueUrl,
        MessageBody: '{"kind":"chat.message","v":1}',
        MessageGroupId: conversationId,
        MessageDeduplicationId: `poison-${runId()}`,
      }),
    );
    // Then a message whose push keeps failing with a 500 from @connections.
    endpoint.failing.set(zoraConn, 500);
    await send(a, artConn, conversationId, 'doomed');

    await eventually(async () => expect(await queueDepth(sqs, queues.dlqUrl)).toBe(2), 30_000);
    expect(await queueDepth(sqs, queues.queueUrl)).toBe(0);

    // The conversation is not wedged: the doomed message was stored (seq 1) and the next one is seq 2.
    endpoint.failing.delete(zoraConn);
    await send(a, artConn, conversationId, 'after');
    await eventually(() =>
      expect(messagesTo(zoraConn).map((m) => [m.clientMessageId, m.seq])).toContainEqual(['after', 2]),
    );
  });
});

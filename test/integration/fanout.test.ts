/**
 * Fan-out of a large audience on real local services: pushToAudience enqueues jobs on a standard queue (fauxqs)
 * through the SQS adapter, an SQS event source feeds them one at a time to the fan-out handler (the production
 * module, configured by environment variables as the stack configures it), which finds the connections in the
 * Connections table (DynamoDB Local) and posts through the real Management API client to an @connections
 * stand-in.
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-connection-store';
import { FanoutEnqueueError, SqsFanoutQueue } from '../../lambdas/adapters/sqs-fanout-queue';
import { ENV, INDEX } from '../../lambdas/config';
import { settleWithLimit } from '../../lambdas/core/concurrency';
import { FanoutJob } from '../../lambdas/core/fanout';
import { type Audience, FANOUT_CHUNK, fanoutJobs, pushToAudience } from '../../lambdas/core/push';
import { redrivePolicy } from '../../local/cloudformation/sqs';
import { type SqsEventSource, startSqsEventSource } from '../../local/runtime/sqs-event-source';
import { sqsClient as localSqsClient } from '../../local/services/aws-clients';
import { type AckFrame, type EventFrame, ServerFrame, type UserId } from '../../protocol';
import { type ConnectionsEndpoint, startConnectionsEndpoint } from '../helpers/connections-endpoint';
import { lambdaContext } from '../helpers/events';
import {
  createHeraldTables,
  documentClient,
  type HeraldTableNames,
  runId,
  testSqsClient,
} from '../helpers/provision';

/** The construct's defaults: one job per invocation, at most 10 invocations at once. */
const MAX_CONCURRENCY = 10;
const DELIVERY_CONCURRENCY = 16;

interface QueuePair {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  drop(): Promise<void>;
}

/** A standard queue and its standard DLQ, as FanoutPipeline makes them. */
async function createStandardQueuePair(
  sqs: SQSClient,
  options: { visibilityTimeout: number; maxReceiveCount: number },
): Promise<QueuePair> {
  const base = `herald-fanout-${runId()}`;
  const arnOf = async (url: string) => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    return Attributes?.QueueArn ?? '';
  };
  const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${base}-dlq` }))).QueueUrl ?? '';
  const queueUrl =
    (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: base,
          Attributes: {
            VisibilityTimeout: String(options.visibilityTimeout),
            RedrivePolicy: redrivePolicy(await arnOf(dlqUrl), options.maxReceiveCount),
          },
        }),
      )
    ).QueueUrl ?? '';
  return {
    queueUrl,
    queueArn: await arnOf(queueUrl),
    dlqUrl,
    async drop() {
      await Promise.allSettled(
        [queueUrl, dlqUrl].map((u) => sqs.send(new DeleteQueueCommand({ QueueUrl: u }))),
      );
    },
  };
}

let sqs: SQSClient;
let tables: HeraldTableNames;
let endpoint: ConnectionsEndpoint;
let main: QueuePair;
let retrying: QueuePair;
let plain: QueuePair;
const sources: SqsEventSource[] = [];
const invocationErrors: unknown[] = [];
const db = documentClient();
let connections: DynamoConnectionStore;
let wiring: typeof import('../../lambdas/wiring');
let fanoutModule: typeof import('../../lambdas/handlers/fanout');
let wiringFanout: typeof import('../../lambdas/wiring');
let info: MockInstance;
let warn: MockInstance;
let error: MockInstance;
let addMetric: MockInstance;

beforeAll(async () => {
  sqs = testSqsClient();
  [tables, endpoint, main, retrying, plain] = await Promise.all([
    createHeraldTables(),
    startConnectionsEndpoint(),
    // Generous: locally the 10 "invocations" share one Node thread, so a chunk can take seconds.
    createStandardQueuePair(sqs, { visibilityTimeout: 60, maxReceiveCount: 5 }),
    createStandardQueuePair(sqs, { visibilityTimeout: 2, maxReceiveCount: 3 }),
    createStandardQueuePair(sqs, { visibilityTimeout: 30, maxReceiveCount: 5 }),
  ]);
  Object.assign(process.env, {
    [ENV.CONNECTIONS_TABLE]: tables.connections,
    [ENV.CONNECTIONS_BY_USER_INDEX]: INDEX.connectionsByUser,
    [ENV.CALLBACK_URL]: endpoint.url,
    [ENV.DELIVERY_CONCURRENCY]: String(DELIVERY_CONCURRENCY),
    [ENV.FANOUT_QUEUE_URL]: main.queueUrl,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  wiring = await import('../../lambdas/wiring');
  wiringFanout = await import('../../lambdas/wiring');
  fanoutModule = await import('../../lambdas/handlers/fanout');
  info = vi.spyOn(wiring.logger, 'info');
  warn = vi.spyOn(wiring.logger, 'warn');
  error = vi.spyOn(wiring.logger, 'error');
  addMetric = vi.spyOn(wiring.metrics, 'addMetric');
  connections = new DynamoConnectionStore(db, tables.connections, INDEX.connectionsByUser);

  const start = (queue: QueuePair, invoke: (event: SQSEvent) => Promise<unknown>) =>
    sources.push(
      startSqsEventSource({
        sqs,
        queueUrl: queue.queueUrl,
        queueArn: queue.queueArn,
        region: process.env.AWS_REGION ?? 'us-east-1',
        batchSize: 1,
        waitTimeSeconds: 1,
        pollers: MAX_CONCURRENCY,
        reportBatchItemFailures: true,
        invoke,
        onError: (e) => invocationErrors.push(e),
      }),
    );
  // The production handler, its dependencies built by the composition root from the environment.
  start(main, (event) => fanoutModule.handler(event, lambdaContext()));
  // The same handler code, built with createFanoutHandler, on a queue that retries after 2 s.
  start(retrying, (event) =>
    fanoutModule.createFanoutHandler(wiringFanout.fanoutDeps)(event, lambdaContext()),
  );
});

afterAll(async () => {
  await Promise.allSettled(sources.map((s) => s.stop()));
  await Promise.allSettled([
    tables?.drop(),
    main?.drop(),
    retrying?.drop(),
    plain?.drop(),
    endpoint?.close(),
  ]);
});

async function eventually(check: () => void | Promise<void>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

async function depth(queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** Registers one connection row per id (as $connect does) and marks the ids live at the endpoint. */
async function register(
  rows: readonly { userId: UserId; connectionId: string; live: boolean }[],
): Promise<void> {
  const now = Date.now();
  const results = await settleWithLimit(rows, 32, (r) =>
    connections.put({
      connectionId: r.connectionId,
      userId: r.userId,
      connectedAt: now,
      expiresAt: Math.floor(now / 1000) + 3 * 3600,
    }),
  );
  const failed = results.filter((r) => r.status === 'rejected');
  expect(failed).toEqual([]);
  for (const r of rows) if (r.live) endpoint.live.add(r.connectionId);
}

const frames = (connectionId: string) => endpoint.received(connectionId).map((f) => ServerFrame.parse(f));

function eventFrame(conversationId: string, seq: number, actorId: UserId): EventFrame {
  return {
    type: 'event',
    v: 1,
    event: {
      kind: 'message',
      conversationId,
      seq,
      at: Date.now(),
      actorId,
      clientMessageId: `m-${seq}`,
      text: 'hi all',
    },
  };
}

type ChunkLog = { conversationId?: string; delivered: number; gone: number; users: number; chunk: number };
const chunkLogs = (spy: MockInstance, message: string, conversationId: string): ChunkLog[] =>
  spy.mock.calls
    .filter(
      ([m, extra]) => m === message && (extra as ChunkLog | undefined)?.conversationId === conversationId,
    )
    .map(([, extra]) => extra as ChunkLog);

describe('fan-out of a 1,000-member audience', () => {
  it('reaches every connection exactly once, in 10 chunks, with the ack posted directly', async () => {
    const id = runId();
    const conversationId = `grp:big-${id}`;
    const members = Array.from({ length: 1000 }, (_, i) => `m${id}-${String(i).padStart(4, '0')}`);
    const [sender = ''] = members;
    // One device each; every 20th member has a second one; 5 rows are stale (the client vanished).
    const rows = members.flatMap((userId, i) => [
      { userId, connectionId: `${userId}-phone=`, live: !(i % 200 === 7) },
      ...(i % 20 === 0 ? [{ userId, connectionId: `${userId}-laptop=`, live: true }] : []),
    ]);
    const origin = `${sender}-phone=`;
    const t0 = performance.now();
    await register(rows);
    const registerMs = performance.now() - t0;

    const frame = eventFrame(conversationId, 42, sender);
    const ack: AckFrame = {
      type: 'ack',
      v: 1,
      conversationId,
      clientMessageId: 'm-42',
      seq: 42,
      at: frame.event.at,
    };
    const audience: Audience = { users: members, frame, origin: { connectionId: origin, own: ack } };
    const deps = {
      ...wiringFanout.fanoutDeps(),
      fanout: new SqsFanoutQueue(localSqsClient(process.env.AWS_ENDPOINT_URL_SQS), main.queueUrl),
    };

    const t1 = performance.now();
    const report = await pushToAudience(deps, audience);
    const enqueuedMs = performance.now() - t1;
    expect(report).toEqual({ delivered: 1, gone: 0, fanoutJobs: 10 });
    expect(frames(origin)).toEqual([ack]);

    const recipients = rows.filter((r) => r.live && r.connectionId !== origin).map((r) => r.connectionId);
    expect(recipients).toHaveLength(1050 - 5 - 1);
    await eventually(() => {
      const waiting = recipients.filter((c) => endpoint.received(c).length === 0);
      expect(waiting).toHaveLength(0);
    });
    const deliveredMs = performance.now() - t1;
    await eventually(async () =>
      expect(chunkLogs(info, 'fan-out chunk delivered', conversationId)).toHaveLength(10),
    );
    await eventually(async () => expect(await depth(main.queueUrl)).toBe(0));

    for (const c of recipients) expect(frames(c), c).toEqual([frame]);
    expect(frames(origin)).toEqual([ack]);
    const chunks = chunkLogs(info, 'fan-out chunk delivered', conversationId);
    expect(chunks.map((c) => c.chunk).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(chunks.map((c) => c.users)).toEqual(Array(10).fill(FANOUT_CHUNK));
    expect(chunks.reduce((n, c) => n + c.delivered, 0)).toBe(1044);
    expect(chunks.reduce((n, c) => n + c.gone, 0)).toBe(5);
    expect(chunks.every((c) => c.conversationId === conversationId)).toBe(true);
    expect(chunkLogs(warn, 'fan-out chunk incomplete: it will be retried', conversationId)).toEqual([]);
    const chunkMetrics = addMetric.mock.calls.filter(([name]) => name === 'FanoutChunks');
    expect(chunkMetrics.length).toBeGreaterThanOrEqual(10);

    // The stale rows are gone; live rows stay.
    for (const stale of rows.filter((r) => !r.live)) {
      const { Item } = await db.send(
        new GetCommand({ TableName: tables.connections, Key: { connectionId: stale.connectionId } }),
      );
      expect(Item).toBeUndefined();
    }
    expect(await depth(main.dlqUrl)).toBe(0);
    expect(invocationErrors).toEqual([]);

    console.info(
      `[fanout] 1,000 members / ${rows.length} connections: registered in ${Math.round(registerMs)} ms; ` +
        `ack + 10 jobs enqueued in ${Math.round(enqueuedMs)} ms; every live connection reached ` +
        `${Math.round(deliveredMs)} ms after pushToAudience began (${MAX_CONCURRENCY} pollers, ` +
        `DELIVERY_CONCURRENCY ${DELIVERY_CONCURRENCY})`,
    );
  }, 90_000);
});

describe('fan-out failures', () => {
  it('retries a chunk whose push failed, until the connection takes it', async () => {
    const id = runId();
    const conversationId = `grp:flaky-${id}`;
    // Chunks of 10 users: well inside the 2 s visibility timeout of this queue even on a slow machine.
    const members = Array.from({ length: 15 }, (_, i) => `f${id}-${i}`);
    const rows = members.map((userId) => ({ userId, connectionId: `${userId}-c=`, live: true }));
    await register(rows);
    const flaky = `${members[12]}-c=`;
    endpoint.failing.set(flaky, 500);

    const queue = new SqsFanoutQueue(sqs, retrying.queueUrl);
    const frame = eventFrame(conversationId, 3, members[0] ?? '');
    await queue.enqueue(fanoutJobs(members, frame, undefined, 10));

    await eventually(() =>
      expect(
        chunkLogs(warn, 'fan-out chunk incomplete: it will be retried', conversationId).length,
      ).toBeGreaterThan(0),
    );
    expect(endpoint.received(flaky)).toEqual([]);
    endpoint.failing.delete(flaky);
    await eventually(() => expect(frames(flaky)).toEqual([frame]));
    // The other chunk went through once; the retried chunk may repeat to its others (clients drop repeats).
    for (const row of rows.slice(0, 10)) expect(frames(row.connectionId)).toEqual([frame]);
    for (const row of rows.slice(10)) expect(frames(row.connectionId).length).toBeGreaterThanOrEqual(1);
    await eventually(async () => expect(await depth(retrying.queueUrl)).toBe(0));
  });

  it('leaves a body that is not a fan-out job to the redrive policy: DLQ after maxReceiveCount', async () => {
    const before = await depth(retrying.dlqUrl);
    const { MessageId } = await sqs.send(
      new SendMessageCommand({ QueueUrl: retrying.queueUrl, MessageBody: '{"v":2,"users":[]}' }),
    );
    await eventually(async () => expect(await depth(retrying.dlqUrl)).toBe(before + 1), 25_000);
    const poison = error.mock.calls.filter(
      ([m, extra]) =>
        m === 'poison fan-out record: left to the redrive policy' &&
        (extra as { sqsMessageId?: string }).sqsMessageId === MessageId,
    );
    expect(poison).toHaveLength(3);
  });
});

describe('SqsFanoutQueue on fauxqs', () => {
  /** Wraps the real client: SendMessageBatch reports the first `fail` entries as failed without sending them. */
  function flaky(options: { fail: number; calls: number; senderFault?: boolean }) {
    const log: number[] = [];
    const client = {
      async send(command: SendMessageBatchCommand) {
        const entries = command.input.Entries ?? [];
        log.push(entries.length);
        const failing = log.length <= options.calls ? entries.slice(0, options.fail) : [];
        const rest = entries.slice(failing.length);
        const sent = rest.length
          ? await sqs.send(new SendMessageBatchCommand({ ...command.input, Entries: rest }))
          : { Successful: [], Failed: [] };
        return {
          ...sent,
          Failed: [
            ...(sent.Failed ?? []),
            ...failing.map((e) => ({
              Id: e.Id,
              SenderFault: options.senderFault ?? false,
              Code: 'InternalError',
            })),
          ],
        };
      },
    };
    return { client: client as unknown as SQSClient, log };
  }

  async function drain(queueUrl: string, expected: number): Promise<FanoutJob[]> {
    const jobs: FanoutJob[] = [];
    const deadline = Date.now() + 10_000;
    while (jobs.length < expected && Date.now() < deadline) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of Messages) jobs.push(FanoutJob.parse(JSON.parse(m.Body ?? '')));
      if (Messages.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
      }
    }
    return jobs;
  }

  const users = (n: number) => Array.from({ length: n }, (_, i) => `q-${i}`);
  const frame = eventFrame('grp:q', 1, 'q-0');

  it('sends 25 jobs in batches of at most 10, each once', async () => {
    const { client, log } = flaky({ fail: 0, calls: 0 });
    await new SqsFanoutQueue(client, plain.queueUrl).enqueue(fanoutJobs(users(25), frame, undefined, 1));
    expect(log.sort()).toEqual([10, 10, 5]);
    const jobs = await drain(plain.queueUrl, 25);
    expect(jobs.flatMap((j) => j.users).sort()).toEqual(users(25).sort());
  });

  it('sends again the entries SendMessageBatch reports as failed', async () => {
    const { client, log } = flaky({ fail: 3, calls: 1 });
    await new SqsFanoutQueue(client, plain.queueUrl, { retryDelayMs: 1 }).enqueue(
      fanoutJobs(users(10), frame, undefined, 1),
    );
    expect(log).toEqual([10, 3]);
    const jobs = await drain(plain.queueUrl, 10);
    expect(jobs.flatMap((j) => j.users).sort()).toEqual(users(10).sort());
  });

  it('throws FanoutEnqueueError when entries keep failing, after maxAttempts sends', async () => {
    const { client, log } = flaky({ fail: 2, calls: 99 });
    const failure = await new SqsFanoutQueue(client, plain.queueUrl, { retryDelayMs: 1 })
      .enqueue(fanoutJobs(users(10), frame, undefined, 1))
      .catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(FanoutEnqueueError);
    expect(failure).toMatchObject({ failed: 2, total: 10, codes: ['InternalError'] });
    expect(log).toEqual([10, 2, 2]);
    await drain(plain.queueUrl, 8);
  });

  it('does not send again entries refused as the sender’s fault', async () => {
    const { client, log } = flaky({ fail: 1, calls: 99, senderFault: true });
    await expect(
      new SqsFanoutQueue(client, plain.queueUrl, { retryDelayMs: 1 }).enqueue(
        fanoutJobs(users(4), frame, undefined, 1),
      ),
    ).rejects.toBeInstanceOf(FanoutEnqueueError);
    expect(log).toEqual([4]);
    await drain(plain.queueUrl, 3);
  });
});

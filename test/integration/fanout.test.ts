/**
 * Fan-out of a large audience on real local services: pushToAudience enqueues jobs on the fan-out FIFO queue
 * (fauxqs, created from FanoutPipeline's synthesized template) through the SQS adapter, an SQS event source with
 * several pollers feeds them to the fan-out handler (the production module, configured by environment variables
 * as the stack configures it), which finds the connections in the Connections table (DynamoDB Local) and posts
 * through the real Management API client to an @connections stand-in.
 *
 * fauxqs hands out at most one message per FIFO group per receive and locks a group while a message of it is in
 * flight (AWS may return several of a group, in order): the order guarantees tested here are AWS's.
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
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Architecture, Code, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, type MockInstance, vi } from 'vitest';
import { DynamoConnectionStore } from '../../lambdas/adapters/dynamo-connection-store';
import { SqsDeadLetter } from '../../lambdas/adapters/sqs-dead-letter';
import { FanoutEnqueueError, SqsFanoutQueue } from '../../lambdas/adapters/sqs-fanout-queue';
import { ENV } from '../../lambdas/config';
import { settleWithLimit } from '../../lambdas/core/concurrency';
import {
  deliverFanoutJob,
  type FanoutEntry,
  FanoutJob,
  type FanoutQueue,
  parseFanoutJob,
} from '../../lambdas/core/fanout';
import type { Notifier } from '../../lambdas/core/ports';
import {
  type Audience,
  FANOUT_BUCKETS,
  FANOUT_CHUNK,
  fanoutBucket,
  planFanout,
  pushToAudience,
} from '../../lambdas/core/push';
import type { FanoutHandlerDeps } from '../../lambdas/handlers/fanout';
import { FanoutPipeline } from '../../lib/constructs/fanout';
import { HERALD_RUNTIME } from '../../lib/constructs/handler-function';
import { queueCreation, redrivePolicy } from '../../local/cloudformation/sqs';
import { type SqsEventSource, startSqsEventSource } from '../../local/runtime/sqs-event-source';
import { type AckFrame, type EventFrame, ServerFrame, type UserId } from '../../protocol';
import { type ConnectionsEndpoint, startConnectionsEndpoint } from '../helpers/connections-endpoint';
import { lambdaContext } from '../helpers/events';
import {
  createHeraldTables,
  documentClient,
  type HeraldTableNames,
  queueDepth,
  runId,
  testSqsClient,
} from '../helpers/provision';

/** The construct's default: at most 10 invocations at once. */
const MAX_CONCURRENCY = 10;
const DELIVERY_CONCURRENCY = 16;
/** The order tests delay each post by up to this, at random, so that concurrent posts arrive shuffled. */
const JITTER_MS = 50;

interface QueuePair {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  drop(): Promise<void>;
}

/** The CreateQueue attributes of FanoutPipeline's queue and DLQ, from its synthesized template. */
const templateQueues = (() => {
  let cached: { queue: Record<string, string>; dlq: Record<string, string> } | undefined;
  return () => {
    if (cached) return cached;
    const stack = new Stack(new App(), 'FanoutQueuesOnly');
    const consumer = new LambdaFunction(stack, 'Consumer', {
      runtime: HERALD_RUNTIME,
      architecture: Architecture.ARM_64,
      handler: 'index.handler',
      code: Code.fromInline('export const handler = async () => ({ batchItemFailures: [] });'),
      timeout: Duration.seconds(10),
    });
    const fanout = new FanoutPipeline(stack, 'Fanout', { consumer });
    const resources = Template.fromStack(stack).findResources('AWS::SQS::Queue');
    const propertiesOf = (queue: typeof fanout.queue) =>
      resources[stack.getLogicalId(queue.node.defaultChild as CfnQueue)]?.Properties;
    const queue = queueCreation(propertiesOf(fanout.queue));
    const dlq = queueCreation(propertiesOf(fanout.deadLetterQueue));
    expect([queue.fifo, dlq.fifo]).toEqual([true, true]);
    cached = { queue: queue.attributes, dlq: dlq.attributes };
    return cached;
  };
})();

/** FanoutPipeline's FIFO queue and FIFO DLQ, with this test's visibility timeout and redrive count. */
async function createFanoutQueuePair(
  sqs: SQSClient,
  options: { visibilityTimeout: number; maxReceiveCount: number },
): Promise<QueuePair> {
  const { queue, dlq } = templateQueues();
  const base = `herald-fanout-${runId()}`;
  const arnOf = async (url: string) => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    return Attributes?.QueueArn ?? '';
  };
  const create = async (name: string, attributes: Record<string, string>) =>
    (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl ?? '';
  const dlqUrl = await create(`${base}-dlq.fifo`, dlq);
  const queueUrl = await create(`${base}.fifo`, {
    ...queue,
    VisibilityTimeout: String(options.visibilityTimeout),
    RedrivePolicy: redrivePolicy(await arnOf(dlqUrl), options.maxReceiveCount),
  });
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
/** Fed to the production handler, as the stack wires it. */
let main: QueuePair;
/** Fed to the handler with a jittery notifier and batches of 10: the order test. */
let ordered: QueuePair;
/** Retries after 6 s; the handler forwards poison bodies to the DLQ. */
let retrying: QueuePair;
/** Retries after 3 s, once; the handler has no DLQ to forward to, so poison bodies wait for the redrive. */
let redriven: QueuePair;
/** No consumer: the adapter's own tests. */
let plain: QueuePair;
const sources: SqsEventSource[] = [];
const invocationErrors: unknown[] = [];
const db = documentClient();
let connections: DynamoConnectionStore;
/** The composition root's fan-out factory, logger and metrics: the very instances the handler uses. */
let wiring: typeof import('../../lambdas/wiring/fanout') &
  typeof import('../../lambdas/wiring/logger') &
  typeof import('../../lambdas/wiring/metrics');
let fanoutModule: typeof import('../../lambdas/handlers/fanout');
let info: MockInstance;
let warn: MockInstance;
let error: MockInstance;
let addMetric: MockInstance;

/** Posts after a random wait of up to `maxMs`, so that concurrent posts reach the endpoint in shuffled order. */
function jittery(inner: Notifier, maxMs: number): Notifier {
  return {
    async post(connectionId, frame) {
      await new Promise((resolve) => setTimeout(resolve, Math.random() * maxMs));
      return inner.post(connectionId, frame);
    },
  };
}

/** The fan-out function's dependencies as the composition root builds them, with no DLQ to forward to. */
function withoutDeadLetter(): FanoutHandlerDeps {
  const { connections, notifier, concurrency } = wiring.fanoutDeps();
  return { connections, notifier, concurrency };
}

function start(
  queue: QueuePair,
  invoke: (event: SQSEvent) => Promise<unknown>,
  options: { batchSize?: number; pollers?: number } = {},
): void {
  sources.push(
    startSqsEventSource({
      sqs,
      queueUrl: queue.queueUrl,
      queueArn: queue.queueArn,
      region: process.env.AWS_REGION ?? 'us-east-1',
      batchSize: options.batchSize ?? 1,
      waitTimeSeconds: 1,
      pollers: options.pollers ?? MAX_CONCURRENCY,
      reportBatchItemFailures: true,
      invoke,
      onError: (e) => invocationErrors.push(e),
    }),
  );
}

beforeAll(async () => {
  sqs = testSqsClient();
  [tables, endpoint, main, ordered, retrying, redriven, plain] = await Promise.all([
    createHeraldTables(),
    startConnectionsEndpoint(),
    // Generous: locally the "invocations" share one Node thread, so a chunk can take seconds.
    createFanoutQueuePair(sqs, { visibilityTimeout: 60, maxReceiveCount: 5 }),
    createFanoutQueuePair(sqs, { visibilityTimeout: 60, maxReceiveCount: 5 }),
    createFanoutQueuePair(sqs, { visibilityTimeout: 6, maxReceiveCount: 5 }),
    createFanoutQueuePair(sqs, { visibilityTimeout: 3, maxReceiveCount: 2 }),
    createFanoutQueuePair(sqs, { visibilityTimeout: 30, maxReceiveCount: 5 }),
  ]);
  Object.assign(process.env, {
    [ENV.CONNECTIONS_TABLE]: tables.connections,
    [ENV.CALLBACK_URL]: endpoint.url,
    [ENV.DELIVERY_CONCURRENCY]: String(DELIVERY_CONCURRENCY),
    [ENV.FANOUT_QUEUE_URL]: main.queueUrl,
    // For the poison forward, once the composition root gives the fan-out function its DLQ.
    [ENV.DEAD_LETTER_QUEUE_URL]: main.dlqUrl,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  wiring = {
    ...(await import('../../lambdas/wiring/fanout')),
    ...(await import('../../lambdas/wiring/logger')),
    ...(await import('../../lambdas/wiring/metrics')),
  };
  fanoutModule = await import('../../lambdas/handlers/fanout');
  info = vi.spyOn(wiring.logger, 'info');
  warn = vi.spyOn(wiring.logger, 'warn');
  error = vi.spyOn(wiring.logger, 'error');
  addMetric = vi.spyOn(wiring.metrics, 'addMetric');
  connections = new DynamoConnectionStore(db, tables.connections);

  // The production handler, its dependencies built by the composition root from the environment.
  start(main, (event) => fanoutModule.handler(event, lambdaContext()));
  // The same handler code with a jittery notifier, several pollers and batches of up to 10 jobs.
  const orderedHandler = fanoutModule.createFanoutHandler(() => {
    const deps = withoutDeadLetter();
    return { ...deps, notifier: jittery(deps.notifier, JITTER_MS) };
  });
  start(ordered, (event) => orderedHandler(event, lambdaContext()), { batchSize: 10, pollers: 8 });
  const retryingHandler = fanoutModule.createFanoutHandler(() => ({
    ...withoutDeadLetter(),
    deadLetter: new SqsDeadLetter(sqs, retrying.dlqUrl),
  }));
  // One job a batch on these short visibility timeouts. A job whose visibility runs out while it is being pushed
  // is handed out again, and its group's next job may then overtake it: on AWS the function's timeout (at most
  // a sixth of the visibility timeout) ends the invocation first. Locally, DynamoDB Local under 10 pollers makes
  // a first chunk of a few users take up to 2.5 s: the visibility timeouts here leave room for that.
  start(retrying, (event) => retryingHandler(event, lambdaContext()));
  const redrivenHandler = fanoutModule.createFanoutHandler(withoutDeadLetter);
  start(redriven, (event) => redrivenHandler(event, lambdaContext()));
});

afterAll(async () => {
  await Promise.allSettled(sources.map((s) => s.stop()));
  await Promise.allSettled([
    tables?.drop(),
    ...[main, ordered, retrying, redriven, plain].map((q) => q?.drop()),
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

function depth(queueUrl: string): Promise<number> {
  return queueDepth(sqs, queueUrl);
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
      // Connected a while ago: a 410 from a connection still in its $connect grace period keeps its row.
      connectedAt: now - 10 * 60_000,
      expiresAt: Math.floor(now / 1000) + 3 * 3600,
    }),
  );
  const failed = results.filter((r) => r.status === 'rejected');
  expect(failed).toEqual([]);
  for (const r of rows) if (r.live) endpoint.live.add(r.connectionId);
}

const frames = (connectionId: string) => endpoint.received(connectionId).map((f) => ServerFrame.parse(f));
/** The seqs of the events a connection received, in arrival order. */
const seqs = (connectionId: string) =>
  frames(connectionId).flatMap((f) => (f.type === 'event' ? [f.event.seq] : []));

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

function ackOf(frame: EventFrame): AckFrame {
  const { conversationId, seq, clientMessageId, at } = frame.event;
  return { type: 'ack', v: 1, conversationId, clientMessageId, seq, at };
}

type ChunkLog = {
  conversationId?: string;
  seq?: number;
  group?: string;
  delivered: number;
  gone: number;
  users: number;
  chunk: number;
};
const chunkLogs = (spy: MockInstance, message: string, conversationId: string): ChunkLog[] =>
  spy.mock.calls
    .filter(
      ([m, extra]) => m === message && (extra as ChunkLog | undefined)?.conversationId === conversationId,
    )
    .map(([, extra]) => extra as ChunkLog);

/** Members `<prefix>-0000`...; one phone each, and every 20th member a laptop too. */
function group(prefix: string, size: number) {
  const members = Array.from({ length: size }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
  const rows = members.flatMap((userId, i) => [
    { userId, connectionId: `${userId}-phone=`, live: true },
    ...(i % 20 === 0 ? [{ userId, connectionId: `${userId}-laptop=`, live: true }] : []),
  ]);
  return { members, rows };
}

describe('fan-out of a 1,000-member audience', () => {
  it('reaches every connection exactly once, in jobs of at most 100 users per bucket, the ack riding in its user’s job', async () => {
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
    const ack = ackOf(frame);
    const audience: Audience = {
      users: members,
      frame,
      origin: { connectionId: origin, userId: sender, own: ack },
    };
    const deps = { ...wiring.fanoutDeps(), fanout: new SqsFanoutQueue(sqs, main.queueUrl) };
    // Users per bucket, and the jobs that takes: ceil(size / FANOUT_CHUNK) in each bucket.
    const bucketSizes = new Map<string, number>();
    for (const u of members) {
      const g = `${conversationId}#${fanoutBucket(u)}`;
      bucketSizes.set(g, (bucketSizes.get(g) ?? 0) + 1);
    }
    const jobs = [...bucketSizes.values()].reduce((n, size) => n + Math.ceil(size / FANOUT_CHUNK), 0);
    expect(bucketSizes.size).toBe(FANOUT_BUCKETS);

    const t1 = performance.now();
    const report = await pushToAudience(deps, audience);
    const enqueuedMs = performance.now() - t1;
    expect(report).toEqual({ delivered: 0, gone: 0, fanoutJobs: jobs });

    const recipients = rows.filter((r) => r.live && r.connectionId !== origin).map((r) => r.connectionId);
    expect(recipients).toHaveLength(1050 - 5 - 1);
    await eventually(() => {
      const waiting = recipients.filter((c) => endpoint.received(c).length === 0);
      expect(waiting).toHaveLength(0);
    });
    const deliveredMs = performance.now() - t1;
    await eventually(async () =>
      expect(chunkLogs(info, 'fan-out chunk delivered', conversationId)).toHaveLength(jobs),
    );
    await eventually(async () => expect(await depth(main.queueUrl)).toBe(0));

    for (const c of recipients) expect(frames(c), c).toEqual([frame]);
    expect(frames(origin)).toEqual([ack]);
    const chunks = chunkLogs(info, 'fan-out chunk delivered', conversationId);
    expect(chunks.map((c) => c.chunk).sort((a, b) => a - b)).toEqual(
      Array.from({ length: jobs }, (_, i) => i + 1),
    );
    // Each bucket's jobs, in the bucket's message group, hold that bucket's users.
    const usersByGroup = new Map<string, number>();
    for (const c of chunks) {
      const group = c.group ?? '(none)';
      usersByGroup.set(group, (usersByGroup.get(group) ?? 0) + c.users);
    }
    expect(Object.fromEntries(usersByGroup)).toEqual(Object.fromEntries(bucketSizes));
    expect(Math.max(...chunks.map((c) => c.users))).toBeLessThanOrEqual(FANOUT_CHUNK);
    // 1,044 recipients and the sender's ack.
    expect(chunks.reduce((n, c) => n + c.delivered, 0)).toBe(1045);
    expect(chunks.reduce((n, c) => n + c.gone, 0)).toBe(5);
    expect(chunkLogs(warn, 'fan-out chunk incomplete: it will be retried', conversationId)).toEqual([]);
    const chunkMetrics = addMetric.mock.calls.filter(([name]) => name === 'FanoutChunks');
    expect(chunkMetrics.length).toBeGreaterThanOrEqual(jobs);

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
        `${jobs} jobs enqueued in ${Math.round(enqueuedMs)} ms; every live connection reached ` +
        `${Math.round(deliveredMs)} ms after pushToAudience began (${MAX_CONCURRENCY} pollers, ` +
        `DELIVERY_CONCURRENCY ${DELIVERY_CONCURRENCY})`,
    );
  }, 90_000);
});

describe('order', () => {
  it('delivers 5 events of a 300-member group, pushed in quick succession, to every connection in order, once', async () => {
    const id = runId();
    const conversationId = `grp:ord-${id}`;
    const { members, rows } = group(`o${id}`, 300);
    const [sender = ''] = members;
    const origin = `${sender}-phone=`;
    await register(rows);
    const deps = { ...wiring.fanoutDeps(), fanout: new SqsFanoutQueue(sqs, ordered.queueUrl) };
    const events = [1, 2, 3, 4, 5].map((seq) => eventFrame(conversationId, seq, sender));

    // As the delivery function does: one event after the other, each call awaited, no waiting for fan-out.
    // Event 3's delivery is retried (its record came back): the queue drops the repeated jobs.
    const t0 = performance.now();
    for (const frame of [events[0], events[1], events[2], events[2], events[3], events[4]]) {
      if (!frame) throw new Error('no event');
      const report = await pushToAudience(deps, {
        users: members,
        frame,
        origin: { connectionId: origin, own: ackOf(frame) },
      });
      expect(report).toEqual({ delivered: 1, gone: 0, fanoutJobs: FANOUT_BUCKETS });
    }
    const enqueuedMs = performance.now() - t0;

    const recipients = rows.map((r) => r.connectionId).filter((c) => c !== origin);
    await eventually(() => {
      const waiting = recipients.filter((c) => endpoint.received(c).length < 5);
      expect(waiting).toHaveLength(0);
    }, 60_000);
    const deliveredMs = performance.now() - t0;
    await eventually(async () => expect(await depth(ordered.queueUrl)).toBe(0));

    for (const c of recipients) expect(seqs(c), c).toEqual([1, 2, 3, 4, 5]);
    for (const c of recipients) expect(frames(c), c).toEqual(events);
    // The origin got its acks (event 3's twice: the retried delivery posts its ack again), and no event.
    expect(frames(origin).map((f) => (f.type === 'ack' ? f.seq : -1))).toEqual([1, 2, 3, 3, 4, 5]);
    expect(frames(`${sender}-laptop=`)).toEqual(events);
    const delivered = chunkLogs(info, 'fan-out chunk delivered', conversationId);
    expect(delivered).toHaveLength(5 * FANOUT_BUCKETS);
    expect(await depth(ordered.dlqUrl)).toBe(0);

    console.info(
      `[fanout] order: 5 events x 300 members (${rows.length} connections, ${5 * FANOUT_BUCKETS} jobs, one ` +
        `retried delivery): enqueued in ${Math.round(enqueuedMs)} ms; every connection had seqs 1..5 in order ` +
        `${Math.round(deliveredMs)} ms after the first push (8 pollers, batches of up to 10, posts jittered ` +
        `by up to ${JITTER_MS} ms)`,
    );
  }, 120_000);

  it('(control) the same burst through a standard queue reaches connections out of order', async () => {
    // What the FIFO queue prevents: jobs of consecutive events pushed at once by different pollers.
    const queueUrl =
      (await sqs.send(new CreateQueueCommand({ QueueName: `herald-fanout-std-${runId()}` }))).QueueUrl ?? '';
    const standard: FanoutQueue = {
      async enqueue(entries: readonly FanoutEntry[]) {
        for (let i = 0; i < entries.length; i += 10) {
          const { Failed = [] } = await sqs.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: entries
                .slice(i, i + 10)
                .map((e, j) => ({ Id: String(j), MessageBody: JSON.stringify(e.job) })),
            }),
          );
          expect(Failed).toEqual([]);
        }
      },
    };
    const consumerDeps = { ...withoutDeadLetter() };
    const notifier = jittery(consumerDeps.notifier, JITTER_MS);
    const source = startSqsEventSource({
      sqs,
      queueUrl,
      queueArn: `arn:aws:sqs:us-east-1:000000000000:${queueUrl.split('/').pop()}`,
      region: 'us-east-1',
      batchSize: 1,
      waitTimeSeconds: 1,
      pollers: 20,
      reportBatchItemFailures: true,
      invoke: async (event) => {
        for (const record of event.Records) {
          const parsed = parseFanoutJob(record.body);
          if (parsed.success) await deliverFanoutJob({ ...consumerDeps, notifier }, parsed.job);
        }
        return { batchItemFailures: [] };
      },
    });
    try {
      const id = runId();
      const conversationId = `grp:std-${id}`;
      const { members, rows } = group(`s${id}`, 300);
      await register(rows);
      const deps = { ...consumerDeps, fanout: standard };
      for (const seq of [1, 2, 3, 4, 5]) {
        await pushToAudience(deps, { users: members, frame: eventFrame(conversationId, seq, 'x') });
      }
      await eventually(() => {
        const waiting = rows.filter((r) => endpoint.received(r.connectionId).length < 5);
        expect(waiting).toHaveLength(0);
      }, 60_000);
      const outOfOrder = rows.filter((r) => seqs(r.connectionId).join() !== '1,2,3,4,5');
      console.info(
        `[fanout] control, standard queue, 20 pollers, posts jittered by up to ${JITTER_MS} ms: ` +
          `${outOfOrder.length} of ${rows.length} connections got the 5 events out of order`,
      );
      expect(outOfOrder.length).toBeGreaterThan(0);
    } finally {
      await source.stop();
      await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => undefined);
    }
  }, 120_000);
});

describe('fan-out failures', () => {
  it('holds back only the failed chunk’s bucket, then delivers it in order', async () => {
    const id = runId();
    const conversationId = `grp:flaky-${id}`;
    const { members, rows } = group(`f${id}`, 120);
    await register(rows);
    const flakyUser = members[17] ?? '';
    const flaky = `${flakyUser}-phone=`;
    const flakyGroup = `${conversationId}#${fanoutBucket(flakyUser)}`;
    const inFlakyBucket = (r: { userId: UserId }) => fanoutBucket(r.userId) === fanoutBucket(flakyUser);
    endpoint.failing.set(flaky, 500);

    const deps = { ...withoutDeadLetter(), fanout: new SqsFanoutQueue(sqs, retrying.queueUrl) };
    const events = [1, 2, 3, 4, 5].map((seq) => eventFrame(conversationId, seq, 'nobody'));
    for (const frame of events) await pushToAudience(deps, { users: members, frame });

    // Every other bucket gets all 5 events while the flaky one is stuck at its first.
    const others = rows.filter((r) => !inFlakyBucket(r));
    await eventually(() => {
      for (const r of others) expect(seqs(r.connectionId), r.connectionId).toEqual([1, 2, 3, 4, 5]);
    });
    await eventually(() =>
      expect(
        chunkLogs(warn, 'fan-out chunk incomplete: it will be retried', conversationId).length,
      ).toBeGreaterThan(0),
    );
    const stuck = rows.filter((r) => inFlakyBucket(r) && r.connectionId !== flaky);
    expect(stuck.length).toBeGreaterThan(0);
    for (const r of stuck)
      expect(Math.max(0, ...seqs(r.connectionId)), r.connectionId).toBeLessThanOrEqual(1);
    expect(seqs(flaky)).toEqual([]);
    const failures = chunkLogs(warn, 'fan-out chunk incomplete: it will be retried', conversationId);
    expect(new Set(failures.map((f) => [f.group, f.seq].join(' ')))).toEqual(new Set([`${flakyGroup} 1`]));

    endpoint.failing.delete(flaky);
    await eventually(() => expect(seqs(flaky)).toEqual([1, 2, 3, 4, 5]));
    // The retried chunk repeats event 1 to the bucket's other connections (clients drop repeats by seq), and
    // nobody gets anything out of order.
    await eventually(() => {
      for (const r of stuck) {
        const got = seqs(r.connectionId);
        expect([...new Set(got)], r.connectionId).toEqual([1, 2, 3, 4, 5]);
        expect(got, r.connectionId).toEqual([...got].sort((a, b) => a - b));
      }
    });
    for (const r of others) expect(seqs(r.connectionId), r.connectionId).toEqual([1, 2, 3, 4, 5]);
    await eventually(async () => expect(await depth(retrying.queueUrl)).toBe(0));
    expect(await depth(retrying.dlqUrl)).toBe(0);
  }, 60_000);

  it('forwards a body that is not a fan-out job to the DLQ at once: its group goes on', async () => {
    const id = runId();
    const conversationId = `grp:poison-${id}`;
    const { members, rows } = group(`p${id}`, 3);
    await register(rows);
    const [entry] = planFanout(members, eventFrame(conversationId, 1, 'nobody'), undefined, { buckets: 1 });
    if (!entry) throw new Error('no entry');
    const before = await depth(retrying.dlqUrl);
    const t0 = performance.now();
    const { MessageId } = await sqs.send(
      new SendMessageCommand({
        QueueUrl: retrying.queueUrl,
        MessageBody: '{"v":2,"users":[]}',
        MessageGroupId: entry.group,
        MessageDeduplicationId: `poison-${id}`,
      }),
    );
    await new SqsFanoutQueue(sqs, retrying.queueUrl).enqueue([entry]);
    await eventually(() => {
      for (const r of rows) expect(seqs(r.connectionId)).toEqual([1]);
    });
    const ms = performance.now() - t0;
    // Well inside one visibility timeout (6 s): the poison body did not hold the group.
    expect(ms).toBeLessThan(3000);
    await eventually(async () => expect(await depth(retrying.dlqUrl)).toBe(before + 1));
    const forwarded = error.mock.calls.filter(
      ([m, extra]) =>
        m === 'poison fan-out record forwarded to the DLQ' &&
        (extra as { sqsMessageId?: string }).sqsMessageId === MessageId,
    );
    expect(forwarded).toHaveLength(1);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: retrying.dlqUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId'],
      }),
    );
    const dead = Messages.find(
      (m) => m.MessageAttributes?.['herald-source-message-id']?.StringValue === MessageId,
    );
    expect(dead?.Body).toBe('{"v":2,"users":[]}');
    expect(dead?.Attributes?.MessageGroupId).toBe(entry.group);
    expect(dead?.MessageAttributes?.['herald-dlq-reason']?.StringValue).toContain('v:');
    console.info(`[fanout] poison forwarded: the next job of its group delivered ${Math.round(ms)} ms after`);
  });

  it('without a DLQ to forward to, leaves a poison body to the redrive, holding its group until then', async () => {
    const id = runId();
    const conversationId = `grp:redrive-${id}`;
    const { members, rows } = group(`r${id}`, 3);
    await register(rows);
    const [entry] = planFanout(members, eventFrame(conversationId, 1, 'nobody'), undefined, { buckets: 1 });
    if (!entry) throw new Error('no entry');
    const before = await depth(redriven.dlqUrl);
    const t0 = performance.now();
    const { MessageId } = await sqs.send(
      new SendMessageCommand({
        QueueUrl: redriven.queueUrl,
        MessageBody: 'not json',
        MessageGroupId: entry.group,
        MessageDeduplicationId: `poison-${id}`,
      }),
    );
    await new SqsFanoutQueue(sqs, redriven.queueUrl).enqueue([entry]);
    await eventually(() => {
      for (const r of rows) expect(seqs(r.connectionId)).toEqual([1]);
    }, 25_000);
    const ms = performance.now() - t0;
    // maxReceiveCount (2) receives, each followed by a visibility timeout (3 s), before the job behind it ran.
    expect(ms).toBeGreaterThan(5500);
    expect(await depth(redriven.dlqUrl)).toBe(before + 1);
    const poison = error.mock.calls.filter(
      ([m, extra]) =>
        m === 'poison fan-out record: left to the redrive policy' &&
        (extra as { sqsMessageId?: string }).sqsMessageId === MessageId,
    );
    expect(poison).toHaveLength(2);
    console.info(
      `[fanout] poison left to the redrive (2 receives, 3 s visibility): the next job of its group ` +
        `delivered ${Math.round(ms)} ms after`,
    );
  }, 40_000);
});

describe('SqsFanoutQueue on fauxqs (FIFO)', () => {
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

  /** Receives until `expected` jobs came (or 10 s), deleting each batch: FIFO hands out a group's next job then. */
  async function drain(queueUrl: string, expected: number): Promise<{ group: string; job: FanoutJob }[]> {
    const jobs: { group: string; job: FanoutJob }[] = [];
    const deadline = Date.now() + 10_000;
    while (jobs.length < expected && Date.now() < deadline) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['MessageGroupId'],
        }),
      );
      for (const m of Messages) {
        jobs.push({
          group: m.Attributes?.MessageGroupId ?? '',
          job: FanoutJob.parse(JSON.parse(m.Body ?? '')),
        });
      }
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
  const frame = (seq = 1) => eventFrame(`grp:q-${runId()}`, seq, 'q-0');

  it('sends 25 jobs in batches of at most 10, each once, in its message group', async () => {
    const { client, log } = flaky({ fail: 0, calls: 0 });
    const entries = planFanout(users(25), frame(), undefined, { chunkSize: 1 });
    await new SqsFanoutQueue(client, plain.queueUrl).enqueue(entries);
    expect(log.sort()).toEqual([10, 10, 5]);
    const jobs = await drain(plain.queueUrl, 25);
    expect(jobs.flatMap((j) => j.job.users).sort()).toEqual(users(25).sort());
    for (const { group, job } of jobs) {
      expect(group).toBe(entries.find((e) => e.job.users[0] === job.users[0])?.group);
    }
  });

  it('keeps the order of a batch’s entries within their group', async () => {
    // One bucket, one user per job: 10 jobs of one group in one batch.
    const entries = planFanout(users(10), frame(), undefined, { chunkSize: 1, buckets: 1 });
    await new SqsFanoutQueue(sqs, plain.queueUrl).enqueue(entries);
    const jobs = await drain(plain.queueUrl, 10);
    expect(jobs.map((j) => j.job.users[0])).toEqual(entries.map((e) => e.job.users[0]));
  });

  it('drops the jobs of a retried enqueue (same deduplication ids)', async () => {
    const f = frame(7);
    const members = users(40);
    const entries = planFanout(members, f);
    await new SqsFanoutQueue(sqs, plain.queueUrl).enqueue(entries);
    // The retried delivery plans the same event again: same entries, dropped by SQS.
    await new SqsFanoutQueue(sqs, plain.queueUrl).enqueue(planFanout(members, f));
    const jobs = await drain(plain.queueUrl, entries.length);
    expect(jobs.flatMap((j) => j.job.users).sort()).toEqual(members.slice().sort());
    expect(await depth(plain.queueUrl)).toBe(0);
  });

  it('sends again the entries SendMessageBatch reports as failed', async () => {
    const { client, log } = flaky({ fail: 3, calls: 1 });
    await new SqsFanoutQueue(client, plain.queueUrl, { retryDelayMs: 1 }).enqueue(
      planFanout(users(10), frame(), undefined, { chunkSize: 1 }),
    );
    expect(log).toEqual([10, 3]);
    const jobs = await drain(plain.queueUrl, 10);
    expect(jobs.flatMap((j) => j.job.users).sort()).toEqual(users(10).sort());
  });

  it('throws FanoutEnqueueError when entries keep failing, after maxAttempts sends', async () => {
    const { client, log } = flaky({ fail: 2, calls: 99 });
    const failure = await new SqsFanoutQueue(client, plain.queueUrl, { retryDelayMs: 1 })
      .enqueue(planFanout(users(10), frame(), undefined, { chunkSize: 1 }))
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
        planFanout(users(4), frame(), undefined, { chunkSize: 1 }),
      ),
    ).rejects.toBeInstanceOf(FanoutEnqueueError);
    expect(log).toEqual([4]);
    await drain(plain.queueUrl, 3);
  });
});

/**
 * The emulator ceiling, measured: how many calls per second DynamoDB Local and fauxqs serve on this machine, for
 * the operations Herald makes, through the real AWS SDK clients (the DynamoDB document client and the SQS client,
 * built as Herald's are). Closed loops of `concurrency` callers each, after a warm-up, in tables and a queue of
 * its own on the services the local cloud runs. The client runs in this process, on the same 2 cores as the
 * services: the figures are what the services deliver to one Node process here, which is Herald's situation
 * too. ceiling-model.ts turns them into the messages/s each scenario could reach if Herald's code cost nothing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import { HeraldTables } from '../lib/constructs/tables';
import { tableCreation } from '../local/cloudformation/dynamodb';
import { dynamoDbClient, sqsClient } from '../local/services/aws-clients';
import { CEILING_OPS, type CeilingOp } from './ceiling-model';
import { type LatencySummary, summarize } from './stats';

export interface CeilingSettings {
  readonly dynamodbEndpoint: string;
  readonly sqsEndpoint: string;
  /** Seconds each operation is measured for (after its own warm-up). */
  readonly seconds: number;
  /** Seconds of warm-up before each operation's measurement (the first one also warms the JVM up). */
  readonly warmupSeconds: number;
  /** Callers in parallel; absent: the best of a sweep over CONCURRENCY_SWEEP on GetItem. */
  readonly concurrency?: number;
  /** The operations to measure. @default all of CEILING_OPS */
  readonly ops?: readonly CeilingOp[];
  readonly log?: (line: string) => void;
}

/** One operation's closed-loop measurement. */
export interface OpMeasurement {
  readonly op: CeilingOp;
  readonly service: 'dynamodb' | 'sqs';
  /** What one call is. */
  readonly call: string;
  readonly concurrency: number;
  readonly calls: number;
  readonly errors: number;
  readonly seconds: number;
  readonly callsPerSecond: number;
  /** Latency of one call at this concurrency (ms). */
  readonly latencyMs: LatencySummary;
  /** ReceiveDelete: messages per receive (the batch size it saw). */
  readonly itemsPerCall?: number;
  /** ReceiveDelete: receives that found the queue empty (each waited up to 1 s: the queue ran dry). */
  readonly emptyCalls?: number;
  /** CPU while it ran, in cores (of `cores`). */
  readonly cpu: CpuShare;
}

export interface CeilingMeasurement {
  readonly startedAt: string;
  readonly cores: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly concurrency: number;
  /** GetItem calls/s at each concurrency tried, when the concurrency was not given. */
  readonly sweep: readonly { readonly concurrency: number; readonly callsPerSecond: number }[];
  /** One caller: the latency of each operation alone (p50, ms). */
  readonly sequentialP50Ms: Readonly<Partial<Record<CeilingOp, number>>>;
  readonly ops: readonly OpMeasurement[];
  /** The DynamoDB Local JVM's JIT, read from its command line (`c1`: -XX:TieredStopAtLevel=1). */
  readonly dynamodbLocalJit: 'c1' | 'tiered' | 'unknown';
  /** The machine's 1-minute load average before the phase (other work on the machine skews every figure). */
  readonly loadAverageBefore: number;
  readonly loadAverageAfter: number;
}

export const CONCURRENCY_SWEEP = [4, 16, 64] as const;
const SEQUENTIAL_SECONDS = 1;
/** Member rows in the ceiling's table: 20 conversations of 100 members (a BatchGetItem reads one). */
const CONVERSATIONS = 20;
const MEMBERS = 100;
const GROUPS = 1_000;
const TEXT = 'x'.repeat(120);

const CALLS: Record<CeilingOp, { service: 'dynamodb' | 'sqs'; call: string }> = {
  GetItem: { service: 'dynamodb', call: 'GetItem of a member row, strongly consistent' },
  PutItem: { service: 'dynamodb', call: 'PutItem of a new event item (~200 B)' },
  UpdateItem: { service: 'dynamodb', call: 'UpdateItem of a counter (SET if_not_exists + 1)' },
  Query: { service: 'dynamodb', call: 'Query on an index key, one item' },
  TransactWriteItems: {
    service: 'dynamodb',
    call: 'TransactWriteItems of 4 items in 2 tables (counter, event, idempotency row, member row), conditioned',
  },
  BatchGetItem2: { service: 'dynamodb', call: 'BatchGetItem of 2 member rows' },
  BatchGetItem100: { service: 'dynamodb', call: 'BatchGetItem of 100 member rows' },
  SendMessage: { service: 'sqs', call: 'SendMessage to a FIFO queue (1,000 groups, ~200 B)' },
  ReceiveDelete: {
    service: 'sqs',
    call: 'ReceiveMessage (up to 10, all attributes) + DeleteMessageBatch of what it got',
  },
};

export async function measureCeiling(settings: CeilingSettings): Promise<CeilingMeasurement> {
  const log = settings.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const loadAverageBefore = loadavg()[0] ?? 0;
  const raw = dynamoDbClient(settings.dynamodbEndpoint);
  const ddb = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  const sqs = sqsClient(settings.sqsEndpoint);
  const tag = `ceiling${Date.now().toString(36)}`;
  const tables = { conversations: `${tag}-conversations`, messages: `${tag}-messages` };
  let queueUrl: string | undefined;
  try {
    await createTables(raw, tables);
    await seedMembers(ddb, tables.conversations);
    queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `${tag}.fifo`,
          Attributes: { FifoQueue: 'true', VisibilityTimeout: '60' },
        }),
      )
    ).QueueUrl;
    if (!queueUrl) throw new Error('fauxqs returned no queue URL');
    const calls = callsOf(ddb, sqs, tables, queueUrl);
    const jvmPid = findDynamoDbLocalPid(settings.dynamodbEndpoint);

    // The JVM's JIT and both services' caches: a mixed warm-up before anything is measured.
    log(`ceiling: warm-up (${(settings.warmupSeconds * 2).toFixed(0)} s of mixed DynamoDB calls)...`);
    const mixed: CeilingOp[] = ['GetItem', 'PutItem', 'UpdateItem', 'Query', 'TransactWriteItems'];
    await closedLoop(16, settings.warmupSeconds * 2, (w, i) =>
      calls[mixed[i % mixed.length] ?? 'GetItem'](w, i),
    );

    const sweep: { concurrency: number; callsPerSecond: number }[] = [];
    let concurrency = settings.concurrency;
    if (concurrency === undefined) {
      for (const c of CONCURRENCY_SWEEP) {
        const run = await closedLoop(c, Math.max(1, settings.seconds / 2), (w, i) => calls.GetItem(w, i));
        sweep.push({ concurrency: c, callsPerSecond: run.calls / run.seconds });
        log(`ceiling: GetItem at concurrency ${c}: ${(run.calls / run.seconds).toFixed(0)}/s`);
      }
      // The smallest concurrency within 5% of the best: more callers only add queueing.
      const best = Math.max(...sweep.map((s) => s.callsPerSecond));
      concurrency = sweep.find((s) => s.callsPerSecond >= best * 0.95)?.concurrency ?? 16;
    }

    const sequentialP50Ms: Partial<Record<CeilingOp, number>> = {};
    const selected = CEILING_OPS.filter((o) => !settings.ops || settings.ops.includes(o));
    for (const op of selected.filter((o) => o !== 'ReceiveDelete')) {
      const run = await closedLoop(1, SEQUENTIAL_SECONDS, (w, i) => calls[op](w, i));
      sequentialP50Ms[op] = run.latency.p50;
    }

    const ops: OpMeasurement[] = [];
    for (const op of selected) {
      if (op === 'ReceiveDelete') await fill(sqs, queueUrl, Math.ceil(2_000 * settings.warmupSeconds));
      const warm = await closedLoop(concurrency, settings.warmupSeconds, (w, i) => calls[op](w, i));
      if (op === 'ReceiveDelete') {
        // Enough messages that the receivers never find the queue empty while they are measured.
        const rate = warm.items / warm.seconds;
        await fill(sqs, queueUrl, Math.ceil(Math.max(rate, 2_000) * settings.seconds * 3));
      }
      const cpuBefore = cpuNow(jvmPid);
      const run = await closedLoop(concurrency, settings.seconds, (w, i) => calls[op](w, i));
      const cpu = cpuSince(cpuBefore, jvmPid);
      const m: OpMeasurement = {
        op,
        ...CALLS[op],
        concurrency,
        calls: run.calls,
        errors: run.errors,
        seconds: run.seconds,
        callsPerSecond: run.calls / run.seconds,
        latencyMs: run.latency,
        ...(op === 'ReceiveDelete'
          ? { itemsPerCall: run.items / Math.max(1, run.calls), emptyCalls: run.empty }
          : {}),
        cpu,
      };
      ops.push(m);
      log(
        `ceiling: ${op} at concurrency ${concurrency}: ${m.callsPerSecond.toFixed(0)}/s, p50 ${m.latencyMs.p50.toFixed(1)} ms${run.errors ? `, ${run.errors} errors` : ''}${m.itemsPerCall === undefined ? '' : `, ${m.itemsPerCall.toFixed(1)} messages per receive, ${m.emptyCalls} empty`}; CPU in cores: this process ${cpu.process.toFixed(2)}, JVM ${cpu.jvm?.toFixed(2) ?? 'n/a'}, machine ${cpu.machine?.toFixed(2) ?? 'n/a'} of ${cpus().length}`,
      );
    }
    return {
      startedAt,
      cores: cpus().length,
      seconds: settings.seconds,
      warmupSeconds: settings.warmupSeconds,
      concurrency,
      sweep,
      sequentialP50Ms,
      ops,
      dynamodbLocalJit: jitOf(jvmPid),
      loadAverageBefore,
      loadAverageAfter: loadavg()[0] ?? 0,
    };
  } finally {
    await Promise.allSettled([
      raw.send(new DeleteTableCommand({ TableName: tables.conversations })),
      raw.send(new DeleteTableCommand({ TableName: tables.messages })),
      ...(queueUrl ? [sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl }))] : []),
    ]);
    raw.destroy();
    sqs.destroy();
  }
}

/** One call by caller `worker`, its `i`th; resolves to the items it returned (ReceiveDelete: messages). */
type Call = (worker: number, i: number) => Promise<number | undefined>;

/** One function per operation: the call a caller makes, given its worker number and its call number. */
function callsOf(
  ddb: DynamoDBDocumentClient,
  sqs: SQSClient,
  tables: { conversations: string; messages: string },
  queueUrl: string,
): Record<CeilingOp, Call> {
  const member = (i: number) => {
    const c = i % CONVERSATIONS;
    const u = Math.floor(i / CONVERSATIONS) % MEMBERS;
    return { conversationId: `c${c}`, sk: `member#u${u}` };
  };
  let sent = 0;
  const seqs = new Map<string, number>();
  const nextSeq = (key: string) => {
    const n = (seqs.get(key) ?? 0) + 1;
    seqs.set(key, n);
    return n;
  };
  const event = (conversationId: string, seq: number) => ({
    conversationId,
    seq,
    kind: 'message',
    senderId: 'u1',
    clientMessageId: `m-${conversationId}-${seq}`,
    sentAt: Date.now(),
    text: TEXT,
  });
  const batchGet = async (w: number, i: number, size: number) => {
    const conversationId = `c${(w + i) % CONVERSATIONS}`;
    const first = (w * 7 + i) % (MEMBERS - size + 1);
    let keys: Record<string, unknown>[] = Array.from({ length: size }, (_, u) => ({
      conversationId,
      sk: `member#u${first + u}`,
    }));
    // DynamoDB Local does not throttle, so this loop runs once; it is here so a short answer is not missed.
    for (let attempt = 0; keys.length > 0 && attempt < 5; attempt++) {
      const out = await ddb.send(
        new BatchGetCommand({ RequestItems: { [tables.conversations]: { Keys: keys } } }),
      );
      keys =
        (out.UnprocessedKeys?.[tables.conversations]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
    return undefined;
  };
  return {
    GetItem: async (w, i) => {
      await ddb.send(
        new GetCommand({ TableName: tables.conversations, Key: member(w * 7919 + i), ConsistentRead: true }),
      );
      return undefined;
    },
    PutItem: async (w) => {
      const conversationId = `p${w}`;
      await ddb.send(
        new PutCommand({ TableName: tables.messages, Item: event(conversationId, nextSeq(conversationId)) }),
      );
      return undefined;
    },
    UpdateItem: async (w, i) => {
      await ddb.send(
        new UpdateCommand({
          TableName: tables.conversations,
          Key: { conversationId: `u${(w * 31 + i) % 500}`, sk: 'meta' },
          UpdateExpression: 'SET frames = if_not_exists(frames, :zero) + :one, windowStart = :now',
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':now': Date.now() },
        }),
      );
      return undefined;
    },
    Query: async (w, i) => {
      const { conversationId, sk } = member(w * 7919 + i);
      await ddb.send(
        new QueryCommand({
          TableName: tables.conversations,
          IndexName: 'byMember',
          KeyConditionExpression: 'memberId = :m',
          ExpressionAttributeValues: { ':m': `${conversationId}/${sk}` },
        }),
      );
      return undefined;
    },
    TransactWriteItems: async (w) => {
      // Each caller its own conversation: transactions on one item conflict, as they would on AWS.
      const conversationId = `t${w}`;
      const seq = nextSeq(conversationId);
      await ddb.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: {
                TableName: tables.conversations,
                Key: { conversationId, sk: 'meta' },
                UpdateExpression: 'SET lastSeq = :seq',
                ConditionExpression: 'attribute_not_exists(lastSeq) OR lastSeq = :prev',
                ExpressionAttributeValues: { ':seq': seq, ':prev': seq - 1 },
              },
            },
            {
              Put: {
                TableName: tables.messages,
                Item: event(conversationId, seq),
                ConditionExpression: 'attribute_not_exists(seq)',
              },
            },
            {
              Put: {
                TableName: tables.conversations,
                Item: {
                  conversationId,
                  sk: `idem#u1#m-${seq}`,
                  seq,
                  expiresAt: Math.floor(Date.now() / 1000) + 86400,
                },
                ConditionExpression: 'attribute_not_exists(sk)',
              },
            },
            {
              Update: {
                TableName: tables.conversations,
                Key: { conversationId, sk: 'member#u1' },
                UpdateExpression: 'SET memberId = :m, readSeq = :seq',
                ExpressionAttributeValues: { ':m': `${conversationId}/member#u1`, ':seq': seq },
              },
            },
          ],
        }),
      );
      return undefined;
    },
    BatchGetItem2: (w, i) => batchGet(w, i, 2),
    BatchGetItem100: (w, i) => batchGet(w, i, MEMBERS),
    SendMessage: async () => {
      const n = sent++;
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: body(n),
          MessageGroupId: `g${n % GROUPS}`,
          MessageDeduplicationId: `s${n}`,
        }),
      );
      return undefined;
    },
    ReceiveDelete: async () => {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      const messages = out.Messages ?? [];
      if (messages.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: messages.map((m, k) => ({ Id: String(k), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
      }
      return messages.length;
    },
  };
}

const body = (n: number) =>
  JSON.stringify({ kind: 'send', v: 1, conversationId: `dm:a${n % GROUPS}:b`, senderId: 'a', text: TEXT, n });

/** Messages put on the queue by fill(), for unique deduplication ids across calls. */
let filled = 0;

async function fill(sqs: SQSClient, queueUrl: string, messages: number): Promise<void> {
  const end = filled + messages;
  const worker = async () => {
    while (filled < end) {
      const first = filled;
      filled += 10;
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Array.from({ length: 10 }, (_, k) => ({
            Id: String(k),
            MessageBody: body(first + k),
            MessageGroupId: `g${(first + k) % GROUPS}`,
            MessageDeduplicationId: `f${first + k}`,
          })),
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function createTables(
  raw: DynamoDBClient,
  tables: { conversations: string; messages: string },
): Promise<void> {
  // Herald's own Conversations (with its byMember index) and Messages tables, as the construct defines them
  // (lib/constructs/tables.ts), created the way the local cloud creates them from a template.
  const stack = new Stack(new App(), 'CeilingTables');
  const herald = new HeraldTables(stack, 'Tables');
  const resources = Template.fromStack(stack).findResources('AWS::DynamoDB::Table');
  const propertiesOf = (table: { node: { defaultChild: unknown } }) =>
    resources[stack.getLogicalId(table.node.defaultChild as CfnTable)]?.Properties;
  for (const [name, table] of [
    [tables.conversations, herald.conversations],
    [tables.messages, herald.messages],
  ] as const) {
    await raw.send(new CreateTableCommand(tableCreation(name, propertiesOf(table)).createTable));
  }
  // DynamoDB Local creates tables ACTIVE at once (the SDK's waiter would first sleep 20 s).
  for (const TableName of Object.values(tables)) {
    const { Table } = await raw.send(new DescribeTableCommand({ TableName }));
    if (Table?.TableStatus !== 'ACTIVE') throw new Error(`${TableName} is ${Table?.TableStatus}, not ACTIVE`);
  }
}

async function seedMembers(ddb: DynamoDBDocumentClient, table: string): Promise<void> {
  const rows = Array.from({ length: CONVERSATIONS * MEMBERS }, (_, i) => {
    const conversationId = `c${Math.floor(i / MEMBERS)}`;
    const sk = `member#u${i % MEMBERS}`;
    return {
      conversationId,
      sk,
      memberId: `${conversationId}/${sk}`,
      role: 'member',
      joinedAt: Date.now(),
      readSeq: 0,
    };
  });
  for (let i = 0; i < rows.length; i += 25) {
    await ddb.send(
      new BatchWriteCommand({
        RequestItems: { [table]: rows.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
      }),
    );
  }
}

interface LoopResult {
  readonly calls: number;
  readonly errors: number;
  /** Items the calls returned (ReceiveDelete: messages), and the calls that returned none. */
  readonly items: number;
  readonly empty: number;
  readonly seconds: number;
  readonly latency: LatencySummary;
}

/** `concurrency` callers, each calling again as soon as its last call returned, until `seconds` have passed. */
async function closedLoop(concurrency: number, seconds: number, call: Call): Promise<LoopResult> {
  const latencies: number[] = [];
  let errors = 0;
  let items = 0;
  let empty = 0;
  let firstError: unknown;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const worker = async (w: number) => {
    for (let i = 0; performance.now() < deadline; i++) {
      const start = performance.now();
      try {
        // Not `items += await ...`: that would read `items` before the await and lose the other callers' counts.
        const got = await call(w, i);
        latencies.push(performance.now() - start);
        items += got ?? 0;
        if (got === 0) empty += 1;
      } catch (error) {
        errors += 1;
        firstError ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  if (errors > 0 && latencies.length === 0) throw firstError;
  return { calls: latencies.length, errors, items, empty, seconds: elapsed, latency: summarize(latencies) };
}

interface CpuMark {
  readonly at: number;
  readonly process: NodeJS.CpuUsage;
  readonly machine?: { busy: number; total: number };
  /** Clock ticks the DynamoDB Local JVM has used. */
  readonly jvm?: number;
}

/** CPU while an operation ran, in cores: this process, the DynamoDB Local JVM, and the whole machine. */
export interface CpuShare {
  /** This process: the SDK clients, and fauxqs when it is the service measured. */
  readonly process: number;
  readonly jvm?: number;
  /** Every process on the machine, others' work included (Linux only, like `jvm`). */
  readonly machine?: number;
}

/**
 * Waits until this process (the local cloud's gateway, functions and fauxqs, and the bench) and the DynamoDB
 * Local JVM have used less than `cores` of CPU for `quietSeconds` in a row, at most `timeoutSeconds`; resolves
 * to the seconds waited, or undefined when it gave up (the caller says so). Where /proc cannot be read, it only
 * watches this process.
 */
export async function untilQuiet(
  dynamodbEndpoint: string,
  { cores = 0.15, quietSeconds = 2, timeoutSeconds = 60 } = {},
): Promise<number | undefined> {
  const jvmPid = findDynamoDbLocalPid(dynamodbEndpoint);
  const t0 = performance.now();
  let quiet = 0;
  while (performance.now() - t0 < timeoutSeconds * 1000) {
    const before = cpuNow(jvmPid);
    await new Promise((r) => setTimeout(r, 1_000));
    const used = cpuSince(before, jvmPid);
    const busy = Math.max(used.process, used.jvm ?? 0);
    quiet = busy < cores ? quiet + 1 : 0;
    if (quiet >= quietSeconds) return (performance.now() - t0) / 1000;
  }
  return undefined;
}

/** Linux's USER_HZ, the unit of /proc's CPU times (100 on every mainstream architecture). */
const TICKS_PER_SECOND = 100;

function cpuNow(jvmPid: number | undefined): CpuMark {
  const machine = machineTicks();
  const jvm = jvmPid === undefined ? undefined : processTicks(jvmPid);
  return {
    at: performance.now(),
    process: process.cpuUsage(),
    ...(machine ? { machine } : {}),
    ...(jvm === undefined ? {} : { jvm }),
  };
}

function cpuSince(before: CpuMark, jvmPid: number | undefined): CpuShare {
  const after = cpuNow(jvmPid);
  const wallSeconds = (after.at - before.at) / 1000;
  const used = process.cpuUsage(before.process);
  const ticks = before.machine && after.machine ? after.machine.total - before.machine.total : 0;
  return {
    process: (used.user + used.system) / 1e6 / wallSeconds,
    ...(before.jvm !== undefined && after.jvm !== undefined
      ? { jvm: (after.jvm - before.jvm) / TICKS_PER_SECOND / wallSeconds }
      : {}),
    ...(before.machine && after.machine && ticks > 0
      ? { machine: ((after.machine.busy - before.machine.busy) / ticks) * cpus().length }
      : {}),
  };
}

/** Busy and total jiffies of all cores, from /proc/stat (Linux); undefined elsewhere. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...fields] = line.trim().split(/\s+/);
    const n = fields.map(Number);
    const total = n.reduce((a, b) => a + b, 0);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function jitOf(pid: number | undefined): 'c1' | 'tiered' | 'unknown' {
  if (pid === undefined) return 'unknown';
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes('-XX:TieredStopAtLevel=1') ? 'c1' : 'tiered';
  } catch {
    return 'unknown';
  }
}

/** User + system clock ticks of a process, from /proc/<pid>/stat; undefined if it cannot be read. */
function processTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, inside parentheses): utime and stime are 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/**
 * The pid of the DynamoDB Local JVM serving `endpoint`: the java process running DynamoDbLocalLauncher with
 * `-port <its port>` (local/services/dynamodb-local.ts starts it so). Read-only, from /proc; undefined elsewhere.
 */
export function findDynamoDbLocalPid(endpoint: string): number | undefined {
  const port = new URL(endpoint).port;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let args: string[];
      try {
        args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      } catch {
        continue;
      }
      const at = args.indexOf('-port');
      if (at >= 0 && args[at + 1] === port && args.some((a) => a.endsWith('DynamoDbLocalLauncher.java')))
        return Number(entry);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

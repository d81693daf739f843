/**
 * The emulator ceiling of a scenario: the messages/s it could reach on this machine if Herald's own code cost
 * nothing, from the local services' measured capacities (ceiling.ts) and the calls Herald makes per message
 * (counted by the bench). Pure arithmetic over its inputs.
 *
 * A service that serves `capacity[op]` calls/s of each operation alone is busy `1 / capacity[op]` seconds per
 * call, so a message that needs `n[op]` calls of each keeps it busy `sum(n[op] / capacity[op])` seconds, and the
 * service passes at most `1 / sum(...)` messages/s. (With one operation, that is capacity / calls per message.)
 * The ceiling is the lowest of the services' bounds. It assumes the services work in parallel; on this machine
 * they share 2 cores, so the bound if they took turns, `1 / (sum over the services)`, is given beside it.
 */

/** The operations ceiling.ts measures. */
export const CEILING_OPS = [
  'GetItem',
  'PutItem',
  'UpdateItem',
  'Query',
  'TransactWriteItems',
  'BatchGetItem2',
  'BatchGetItem100',
  'SendMessage',
  'ReceiveDelete',
] as const;
export type CeilingOp = (typeof CEILING_OPS)[number];
export type CeilingService = 'dynamodb' | 'sqs';

/** Calls per second each operation was measured at. */
export type Capacities = Readonly<Partial<Record<CeilingOp, number>>>;

/**
 * The measured operation that stands for each call the functions make, by `Client/Command` as the bench counts
 * them. Only the same operation stands for a call; a DynamoDB or SQS call missing here is reported as unmeasured
 * and left out, which can only raise the ceiling (it stays an upper bound). A BatchGetItem is measured at 2 and
 * at 100 keys and priced by its keys in between (batchGetSeconds).
 */
export const MEASURED_AS: Readonly<Record<string, { op: CeilingOp; service: CeilingService }>> = {
  'DynamoDBClient/GetItemCommand': { op: 'GetItem', service: 'dynamodb' },
  'DynamoDBClient/PutItemCommand': { op: 'PutItem', service: 'dynamodb' },
  'DynamoDBClient/UpdateItemCommand': { op: 'UpdateItem', service: 'dynamodb' },
  'DynamoDBClient/QueryCommand': { op: 'Query', service: 'dynamodb' },
  'DynamoDBClient/TransactWriteItemsCommand': { op: 'TransactWriteItems', service: 'dynamodb' },
  'DynamoDBClient/BatchGetItemCommand': { op: 'BatchGetItem100', service: 'dynamodb' },
  'SQSClient/SendMessageCommand': { op: 'SendMessage', service: 'sqs' },
};

export interface CeilingInput {
  /** Calls per message, by `Client/Command` (other services' calls, e.g. `@connections` posts, are ignored). */
  readonly callsPerMessage: Readonly<Record<string, number>>;
  /** SQS event source batches per message: each is one ReceiveMessage and one DeleteMessageBatch. */
  readonly batchesPerMessage: number;
  /** Keys per BatchGetItem call, when known (the bench derives it from the read units). @default 1 */
  readonly keysPerBatchGet?: number;
  readonly recipientsPerMessage: number;
}

export interface ServiceBound {
  readonly service: CeilingService;
  /** Seconds the service is busy per message: sum of calls per message / calls per second. */
  readonly secondsPerMessage: number;
  /** 1 / secondsPerMessage (Infinity for a service the message does not use). */
  readonly messagesPerSecond: number;
  readonly calls: readonly {
    readonly call: string;
    readonly op: CeilingOp;
    readonly perMessage: number;
    /** Calls per second the service serves of this call alone (a BatchGetItem: at its keys). */
    readonly capacity: number;
    /** BatchGetItem: the keys per call it was priced at. */
    readonly keys?: number;
  }[];
}

export interface Ceiling {
  /** The lowest service bound: what the scenario could reach if Herald's code cost nothing. */
  readonly messagesPerSecond: number;
  readonly deliveriesPerSecond: number;
  readonly limitedBy: CeilingService;
  readonly services: readonly ServiceBound[];
  /** If the services took turns on the shared cores instead of working in parallel: 1 / total seconds. */
  readonly inTurnMessagesPerSecond: number;
  /** DynamoDB and SQS calls without a measured counterpart, left out of the bounds. */
  readonly unmeasured: readonly string[];
}

/**
 * Seconds of the service per BatchGetItem of `keys` keys: on the line through the two measured sizes (2 and 100
 * keys), at least zero; undefined without both measurements.
 */
export function batchGetSeconds(keys: number, capacities: Capacities): number | undefined {
  const small = capacities.BatchGetItem2 ?? 0;
  const large = capacities.BatchGetItem100 ?? 0;
  if (!(small > 0 && large > 0)) return undefined;
  const perKey = (1 / large - 1 / small) / 98;
  return Math.max(0, 1 / small + (keys - 2) * perKey);
}

export function ceilingOf(input: CeilingInput, capacities: Capacities): Ceiling {
  const entries: {
    call: string;
    op: CeilingOp;
    service: CeilingService;
    perMessage: number;
    capacity: number;
    keys?: number;
  }[] = [];
  const unmeasured: string[] = [];
  for (const [call, perMessage] of Object.entries(input.callsPerMessage)) {
    if (!(perMessage > 0)) continue;
    const as = MEASURED_AS[call];
    const keys = as?.op === 'BatchGetItem100' ? (input.keysPerBatchGet ?? 1) : undefined;
    const seconds =
      keys !== undefined
        ? batchGetSeconds(keys, capacities)
        : as && (capacities[as.op] ?? 0) > 0
          ? 1 / (capacities[as.op] ?? 0)
          : undefined;
    if (as && seconds !== undefined && seconds > 0)
      entries.push({
        call,
        ...as,
        perMessage,
        capacity: 1 / seconds,
        ...(keys === undefined ? {} : { keys }),
      });
    else if (/^(DynamoDBClient|SQSClient)\//.test(call)) unmeasured.push(call);
  }
  if (input.batchesPerMessage > 0) {
    const capacity = capacities.ReceiveDelete ?? 0;
    if (capacity > 0)
      entries.push({
        call: 'event source ReceiveMessage + DeleteMessageBatch',
        op: 'ReceiveDelete',
        service: 'sqs',
        perMessage: input.batchesPerMessage,
        capacity,
      });
    else unmeasured.push('event source ReceiveMessage + DeleteMessageBatch');
  }
  const services = (['dynamodb', 'sqs'] as const).map((service): ServiceBound => {
    const calls = entries.filter((e) => e.service === service).map(({ service: _, ...call }) => call);
    const secondsPerMessage = calls.reduce((a, c) => a + c.perMessage / c.capacity, 0);
    return {
      service,
      secondsPerMessage,
      messagesPerSecond: secondsPerMessage > 0 ? 1 / secondsPerMessage : Number.POSITIVE_INFINITY,
      calls,
    };
  });
  const limiting = services.reduce((a, b) => (b.messagesPerSecond < a.messagesPerSecond ? b : a));
  const total = services.reduce((a, s) => a + s.secondsPerMessage, 0);
  return {
    messagesPerSecond: limiting.messagesPerSecond,
    deliveriesPerSecond: limiting.messagesPerSecond * input.recipientsPerMessage,
    limitedBy: limiting.service,
    services,
    inTurnMessagesPerSecond: total > 0 ? 1 / total : Number.POSITIVE_INFINITY,
    unmeasured,
  };
}

/**
 * The cost model: AWS cost per million messages from what one benchmark phase measured (AWS calls counted by
 * the SDK middleware, Lambda invocations and billed durations from the runtime's REPORT lines), next to the
 * floor (the WebSocket messages the protocol itself requires) and a naive design that scans the connection
 * table for every message. Pure arithmetic over its inputs; the prices come from prices.ts.
 */
import type { Prices } from './prices';

/** Calls of one `Client/Command`, with the DynamoDB capacity units the service reported for them. */
export interface CallCount {
  readonly calls: number;
  readonly read: number;
  readonly write: number;
  /** Milliseconds the functions spent waiting on these calls. */
  readonly ms?: number;
}

export interface LambdaUsage {
  readonly invocations: number;
  /** Sum of billed durations (ms, rounded up per invocation as Lambda bills). */
  readonly billedMs: number;
  readonly memoryMb: number;
  /** Invoked by an SQS event source mapping: each batch also costs a ReceiveMessage and a DeleteMessageBatch. */
  readonly sqsTriggered: boolean;
}

export interface PhaseUsage {
  /** Messages sent and delivered in the phase (each one incoming WebSocket frame). */
  readonly messages: number;
  /** `Client/Command` -> counts, for the whole phase. */
  readonly calls: Readonly<Record<string, CallCount>>;
  /** Function id -> usage, for the whole phase. */
  readonly lambdas: Readonly<Record<string, LambdaUsage>>;
  /** Bytes each message adds to the stored history (items and their index entries). */
  readonly storedBytesPerMessage: number;
}

export interface CostPerMillion {
  readonly webSocket: number;
  readonly lambdaRequests: number;
  readonly lambdaCompute: number;
  readonly sqs: number;
  readonly dynamoWrites: number;
  readonly dynamoReads: number;
  /** The history a million messages add, kept for one month (it accrues every month it is kept). */
  readonly storageMonth: number;
  readonly total: number;
}

/** What one message uses, on average: the model's inputs per message, for the report. */
export interface PerMessage {
  readonly webSocketMessages: number;
  readonly lambdaRequests: number;
  readonly lambdaGbSeconds: number;
  readonly sqsRequests: number;
  readonly writeUnits: number;
  readonly readUnits: number;
}

const POST = 'ApiGatewayManagementApiClient/PostToConnectionCommand';

export function perMessage(usage: PhaseUsage): PerMessage {
  if (usage.messages <= 0) throw new RangeError('a phase without messages has no cost per message');
  const n = usage.messages;
  const calls = Object.entries(usage.calls);
  const sum = (pick: (key: string, c: CallCount) => number) => calls.reduce((a, [k, c]) => a + pick(k, c), 0);
  const lambdas = Object.values(usage.lambdas);
  const batches = lambdas.reduce((a, l) => a + (l.sqsTriggered ? l.invocations : 0), 0);
  return {
    // The incoming frame, then every frame posted back (acks, events, late errors).
    webSocketMessages: 1 + (usage.calls[POST]?.calls ?? 0) / n,
    lambdaRequests: lambdas.reduce((a, l) => a + l.invocations, 0) / n,
    lambdaGbSeconds: lambdas.reduce((a, l) => a + (l.billedMs / 1000) * (l.memoryMb / 1024), 0) / n,
    // The functions' own SQS calls, and the event source mapping's receive and delete for each batch.
    sqsRequests: (sum((k, c) => (k.startsWith('SQSClient/') ? c.calls : 0)) + 2 * batches) / n,
    writeUnits: sum((_, c) => c.write) / n,
    readUnits: sum((_, c) => c.read) / n,
  };
}

export function heraldCost(usage: PhaseUsage, prices: Prices): CostPerMillion {
  const m = perMessage(usage);
  const parts = {
    webSocket: m.webSocketMessages * prices.webSocketMessage,
    lambdaRequests: m.lambdaRequests * prices.lambdaRequest,
    lambdaCompute: m.lambdaGbSeconds * prices.lambdaGbSecondArm64,
    sqs: m.sqsRequests * prices.sqsFifoRequest,
    dynamoWrites: m.writeUnits * prices.dynamoWriteUnit,
    dynamoReads: m.readUnits * prices.dynamoReadUnit,
    storageMonth: (usage.storedBytesPerMessage / 1e9) * prices.dynamoStorageGbMonth,
  };
  return perMillion(parts);
}

/**
 * The floor: the WebSocket messages the protocol requires, nothing else. The incoming frame, one delivery per
 * recipient connection, and the sender's acknowledgement.
 */
export function floorCost(recipientConnections: number, prices: Prices): number {
  return (1 + recipientConnections + 1) * prices.webSocketMessage * 1e6;
}

/** DynamoDB's storage overhead per item, billed on top of its attributes. */
export const DYNAMO_ITEM_OVERHEAD_BYTES = 100;

export interface ArchitectureFloor extends CostPerMillion {
  /** Messages per event-source batch (one ReceiveMessage, one DeleteMessageBatch, one delivery invocation). */
  readonly batchSize: number;
}

/**
 * The architecture floor: what any design of Herald's mandated shape (a route function behind the WebSocket
 * API, an SQS FIFO queue, a delivery function fed by the queue's event source, a stored history) pays per
 * message, however its code is written. The protocol floor's WebSocket messages; the route function's request;
 * one FIFO SendMessage; the event source's ReceiveMessage and DeleteMessageBatch and the delivery function's
 * request, shared by the `batchSize` messages of a batch; one write of the event to the history
 * (ceil(size / 1 KB) write units, at least one) and its storage for a month (its size plus DynamoDB's 100 bytes
 * of overhead). Nothing else: no reads (membership, connections), no compute, no idempotency record, so it
 * is a lower bound for the shape, not a design.
 */
export function architectureFloor(
  recipientConnections: number,
  batchSize: number,
  eventItemBytes: number,
  prices: Prices,
): ArchitectureFloor {
  if (!(batchSize >= 1)) throw new RangeError(`a batch holds at least one message, not ${batchSize}`);
  return {
    batchSize,
    ...perMillion({
      webSocket: (1 + recipientConnections + 1) * prices.webSocketMessage,
      lambdaRequests: prices.lambdaRequest + prices.lambdaRequest / batchSize,
      lambdaCompute: 0,
      sqs: prices.sqsFifoRequest + (2 * prices.sqsFifoRequest) / batchSize,
      dynamoWrites: Math.max(1, Math.ceil(eventItemBytes / 1024)) * prices.dynamoWriteUnit,
      dynamoReads: 0,
      storageMonth: ((eventItemBytes + DYNAMO_ITEM_OVERHEAD_BYTES) / 1e9) * prices.dynamoStorageGbMonth,
    }),
  };
}

/**
 * The smallest batch size at which the architecture floor costs at most `limit` (dollars per million
 * messages), or Infinity when no batch size does: the per-batch requests shrink with the batch, the rest not.
 */
export function batchSizeWithin(
  limit: number,
  recipientConnections: number,
  eventItemBytes: number,
  prices: Prices,
): number {
  const perMessage = architectureFloor(
    recipientConnections,
    Number.POSITIVE_INFINITY,
    eventItemBytes,
    prices,
  );
  const perBatch = (prices.lambdaRequest + 2 * prices.sqsFifoRequest) * 1e6;
  const room = limit - perMessage.total;
  return room > 0 ? Math.max(1, Math.ceil(perBatch / room - 1e-9)) : Number.POSITIVE_INFINITY;
}

export interface NaiveDesign {
  readonly recipientConnections: number;
  /** Connected users (one connection each): the rows every message scans. */
  readonly connectedUsers: number;
  /** Bytes of one connection row as DynamoDB sizes it (names + values). */
  readonly connectionItemBytes: number;
  /** GB-seconds of its single function per message (taken from Herald's command function). */
  readonly lambdaGbSeconds: number;
}

/**
 * The design of AWS's WebSocket chat samples: one function per incoming frame that Scans the connection table
 * (eventually consistent: half a read unit per 4 KB scanned) and posts to every connection it finds. No queue,
 * no stored history, no ack: its WebSocket messages are the floor's minus the ack.
 */
export function naiveCost(design: NaiveDesign, prices: Prices): CostPerMillion {
  const scannedBytes = design.connectedUsers * design.connectionItemBytes;
  const readUnits = Math.ceil(scannedBytes / 4096) * 0.5;
  return perMillion({
    webSocket: (1 + design.recipientConnections) * prices.webSocketMessage,
    lambdaRequests: prices.lambdaRequest,
    lambdaCompute: design.lambdaGbSeconds * prices.lambdaGbSecondArm64,
    sqs: 0,
    dynamoWrites: 0,
    dynamoReads: readUnits * prices.dynamoReadUnit,
    storageMonth: 0,
  });
}

/**
 * Herald at `connectedUsers`: the same as measured. None of its calls reads more as the tables grow (every
 * read is a GetItem or a Query by key or index key, never a Scan: the run checks that no Scan was called), so
 * its units per message depend on item sizes and the audience, not on how many users are connected.
 */
export function heraldCostAt(_connectedUsers: number, measured: CostPerMillion): CostPerMillion {
  return measured;
}

function perMillion(parts: Omit<CostPerMillion, 'total'>): CostPerMillion {
  const scaled = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, v * 1e6])) as Omit<
    CostPerMillion,
    'total'
  >;
  return { ...scaled, total: Object.values(scaled).reduce((a, b) => a + b, 0) };
}

/**
 * DynamoDB's item size: the UTF-8 length of every attribute name and value (numbers: about one byte per two
 * digits plus one). Close enough for the model; AWS's exact rules add a few bytes for lists and maps.
 */
export function dynamoItemBytes(item: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return Math.ceil(String(Math.abs(value)).replace('.', '').length / 2) + 1;
  if (typeof value === 'boolean' || value === null || value === undefined) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((a: number, v) => a + 1 + valueBytes(v), 0);
  if (value instanceof Set) return [...value].reduce((a: number, v) => a + valueBytes(v), 0);
  if (typeof value === 'object')
    return 3 + dynamoItemBytes(value as Record<string, unknown>) + Object.keys(value).length;
  return 0;
}

import { describe, expect, it } from 'vitest';
import {
  architectureFloor,
  batchSizeWithin,
  dynamoItemBytes,
  floorCost,
  heraldCost,
  heraldCostAt,
  naiveCost,
  type PhaseUsage,
  perMessage,
} from '../../../bench/cost-model';
import { PRICES } from '../../../bench/prices';

// Ten 1:1 messages: 20 posts (ack + event each), one transaction of 8 write units each, a strongly consistent
// GetItem each, an SQS send each; ten command invocations of 50 ms at 256 MB, five delivery batches of 200 ms
// at 512 MB; 500 bytes of history each.
const usage: PhaseUsage = {
  messages: 10,
  calls: {
    'ApiGatewayManagementApiClient/PostToConnectionCommand': { calls: 20, read: 0, write: 0 },
    'DynamoDBClient/TransactWriteItemsCommand': { calls: 10, read: 0, write: 80 },
    'DynamoDBClient/GetItemCommand': { calls: 10, read: 10, write: 0 },
    'SQSClient/SendMessageCommand': { calls: 10, read: 0, write: 0 },
  },
  lambdas: {
    Command: { invocations: 10, billedMs: 500, memoryMb: 256, sqsTriggered: false },
    Deliver: { invocations: 5, billedMs: 1000, memoryMb: 512, sqsTriggered: true },
  },
  storedBytesPerMessage: 500,
};

describe('the cost model', () => {
  it('derives the inputs per message', () => {
    const m = perMessage(usage);
    expect(m.webSocketMessages).toBe(3); // the incoming frame, the ack, the event
    expect(m.lambdaRequests).toBe(1.5);
    expect(m.lambdaGbSeconds).toBeCloseTo((0.5 * 0.25 + 1 * 0.5) / 10, 12); // 0.0625
    expect(m.sqsRequests).toBe(2); // the send, and the event source's receive + delete per batch of two
    expect(m.writeUnits).toBe(8);
    expect(m.readUnits).toBe(1);
  });

  it("prices Herald's usage per million messages (hand-computed)", () => {
    const c = heraldCost(usage, PRICES);
    expect(c.webSocket).toBeCloseTo(3.0, 9);
    expect(c.lambdaRequests).toBeCloseTo(0.3, 9);
    expect(c.lambdaCompute).toBeCloseTo(0.0625 * 13.3334, 9); // 0.8333375
    expect(c.sqs).toBeCloseTo(1.0, 9);
    expect(c.dynamoWrites).toBeCloseTo(5.0, 9);
    expect(c.dynamoReads).toBeCloseTo(0.125, 9);
    expect(c.storageMonth).toBeCloseTo(0.125, 9); // 500 GB (a million x 500 B) x $0.25
    expect(c.total).toBeCloseTo(10.3833375, 9);
  });

  it('puts the floor at the incoming frame, one delivery per recipient connection and the ack', () => {
    expect(floorCost(1, PRICES)).toBeCloseTo(3, 9);
    expect(floorCost(99, PRICES)).toBeCloseTo(101, 9);
  });

  it('puts the architecture floor at the shape every design pays (hand-computed)', () => {
    // 1:1, a 300-byte event item, batches of one: $3.00 of WebSocket messages, $0.20 route request + $0.20
    // delivery request, $0.50 send + $1.00 receive and delete, $0.625 for one write unit, and 400 bytes
    // (with DynamoDB's 100 of overhead) x a million = 0.4 GB x $0.25 = $0.10 for a month.
    const b1 = architectureFloor(1, 1, 300, PRICES);
    expect(b1.webSocket).toBeCloseTo(3, 9);
    expect(b1.lambdaRequests).toBeCloseTo(0.4, 9);
    expect(b1.sqs).toBeCloseTo(1.5, 9);
    expect(b1.dynamoWrites).toBeCloseTo(0.625, 9);
    expect(b1.dynamoReads).toBe(0);
    expect(b1.lambdaCompute).toBe(0);
    expect(b1.storageMonth).toBeCloseTo(0.1, 9);
    expect(b1.total).toBeCloseTo(5.625, 9); // 1.875x the protocol floor: above the 1.5x target ($4.50)
    // Batches of ten: the receive, the delete and the delivery request are shared by ten messages.
    const b10 = architectureFloor(1, 10, 300, PRICES);
    expect(b10.lambdaRequests).toBeCloseTo(0.22, 9);
    expect(b10.sqs).toBeCloseTo(0.6, 9);
    expect(b10.total).toBeCloseTo(4.545, 9); // 1.515x: still above $4.50
    // A 100-member group: 101 WebSocket messages; the rest as for 1:1.
    expect(architectureFloor(99, 1, 300, PRICES).total).toBeCloseTo(103.625, 9); // 1.026x, within 1.03x
    expect(architectureFloor(99, 10, 300, PRICES).total).toBeCloseTo(102.545, 9);
  });

  it('writes one unit per started kilobyte of the event, at least one', () => {
    expect(architectureFloor(1, 1, 0, PRICES).dynamoWrites).toBeCloseTo(0.625, 9);
    expect(architectureFloor(1, 1, 1024, PRICES).dynamoWrites).toBeCloseTo(0.625, 9);
    expect(architectureFloor(1, 1, 1025, PRICES).dynamoWrites).toBeCloseTo(1.25, 9);
    expect(() => architectureFloor(1, 0, 300, PRICES)).toThrow(RangeError);
  });

  it('finds the batch size a cost target needs, if any', () => {
    // 1:1 within $4.50: $4.425 does not shrink with the batch (3 + 0.2 + 0.5 + 0.625 + 0.1), leaving $0.075
    // for the $1.20 per batch (receive, delete, delivery request): 1.2 / 0.075 = 16 messages per batch.
    expect(batchSizeWithin(4.5, 1, 300, PRICES)).toBe(16);
    expect(architectureFloor(1, 16, 300, PRICES).total).toBeLessThanOrEqual(4.5 + 1e-9);
    expect(architectureFloor(1, 15, 300, PRICES).total).toBeGreaterThan(4.5);
    // A group within $104.03: batches of one already are.
    expect(batchSizeWithin(104.03, 99, 300, PRICES)).toBe(1);
    // Below what does not shrink: no batch size.
    expect(batchSizeWithin(4.4, 1, 300, PRICES)).toBe(Number.POSITIVE_INFINITY);
  });

  it('makes the naive design pay for a scan of every connection row per message', () => {
    const design = { recipientConnections: 1, connectionItemBytes: 200, lambdaGbSeconds: 0.0125 };
    const at10k = naiveCost({ ...design, connectedUsers: 10_000 }, PRICES);
    // 2,000,000 B / 4 KB = 488.3 -> 489 units x 0.5 (eventually consistent) = 244.5 read units.
    expect(at10k.dynamoReads).toBeCloseTo(244.5 * 0.125, 9);
    expect(at10k.webSocket).toBeCloseTo(2, 9);
    expect(at10k.total).toBeCloseTo(30.5625 + 2 + 0.2 + 0.0125 * 13.3334, 9); // 32.9291675
    const at100k = naiveCost({ ...design, connectedUsers: 100_000 }, PRICES);
    expect(at100k.dynamoReads).toBeGreaterThan(at10k.dynamoReads * 9.9);
  });

  it("keeps Herald's cost flat as connected users grow", () => {
    const measured = heraldCost(usage, PRICES);
    expect(heraldCostAt(1_000, measured).total).toBe(measured.total);
    expect(heraldCostAt(100_000, measured).total).toBe(measured.total);
  });

  it('sizes items as DynamoDB does: names plus values', () => {
    expect(dynamoItemBytes({ pk: 'abc', n: 12345 })).toBe(2 + 3 + 1 + 4);
    expect(dynamoItemBytes({ flag: true })).toBe(5);
  });

  it('refuses a phase without messages', () => {
    expect(() => perMessage({ ...usage, messages: 0 })).toThrow(RangeError);
  });
});

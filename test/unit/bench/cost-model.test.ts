import { describe, expect, it } from 'vitest';
import {
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

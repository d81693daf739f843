import { describe, expect, it } from 'vitest';
import { batchGetSeconds, type Capacities, ceilingOf } from '../../../bench/ceiling-model';

// Capacities measured alone (calls/s), round numbers for hand computation.
const capacities: Capacities = {
  GetItem: 500,
  UpdateItem: 250,
  Query: 400,
  TransactWriteItems: 100,
  BatchGetItem2: 400,
  BatchGetItem100: 50,
  SendMessage: 800,
  ReceiveDelete: 400,
};

// A 1:1 message as Herald makes it: 2 GetItems, 2 Queries, 1 transaction, 1 UpdateItem, 1 SendMessage, 2 posts,
// and one event-source batch per message.
const direct = {
  callsPerMessage: {
    'DynamoDBClient/GetItemCommand': 2,
    'DynamoDBClient/QueryCommand': 2,
    'DynamoDBClient/TransactWriteItemsCommand': 1,
    'DynamoDBClient/UpdateItemCommand': 1,
    'SQSClient/SendMessageCommand': 1,
    'ApiGatewayManagementApiClient/PostToConnectionCommand': 2,
  },
  batchesPerMessage: 1,
  recipientsPerMessage: 1,
};

describe('the emulator ceiling', () => {
  it('adds up the seconds each service is busy per message (hand-computed)', () => {
    const c = ceilingOf(direct, capacities);
    const dynamodb = c.services.find((s) => s.service === 'dynamodb');
    const sqs = c.services.find((s) => s.service === 'sqs');
    // 2/500 + 2/400 + 1/100 + 1/250 = 0.004 + 0.005 + 0.01 + 0.004 = 0.023 s -> 43.48 messages/s.
    expect(dynamodb?.secondsPerMessage).toBeCloseTo(0.023, 12);
    expect(dynamodb?.messagesPerSecond).toBeCloseTo(1 / 0.023, 9);
    // 1/800 + 1/400 = 0.00375 s -> 266.67 messages/s.
    expect(sqs?.secondsPerMessage).toBeCloseTo(0.00375, 12);
    expect(c.limitedBy).toBe('dynamodb');
    expect(c.messagesPerSecond).toBeCloseTo(43.478260869, 6);
    expect(c.deliveriesPerSecond).toBeCloseTo(43.478260869, 6);
    // In turn: 1 / (0.023 + 0.00375) = 37.38 messages/s.
    expect(c.inTurnMessagesPerSecond).toBeCloseTo(1 / 0.02675, 9);
    expect(c.unmeasured).toEqual([]);
  });

  it('is capacity / calls per message for a single operation', () => {
    const c = ceilingOf(
      {
        callsPerMessage: { 'DynamoDBClient/QueryCommand': 101 },
        batchesPerMessage: 0,
        recipientsPerMessage: 99,
      },
      capacities,
    );
    expect(c.messagesPerSecond).toBeCloseTo(400 / 101, 9);
    expect(c.deliveriesPerSecond).toBeCloseTo((400 / 101) * 99, 9);
    expect(c.services.find((s) => s.service === 'sqs')?.messagesPerSecond).toBe(Number.POSITIVE_INFINITY);
  });

  it('prices a BatchGetItem by its keys, on the line through the two measured sizes', () => {
    // 2 keys: 1/400 = 2.5 ms; 100 keys: 1/50 = 20 ms; 17.5 ms over 98 keys = 0.17857 ms a key.
    expect(batchGetSeconds(2, capacities)).toBeCloseTo(0.0025, 12);
    expect(batchGetSeconds(100, capacities)).toBeCloseTo(0.02, 12);
    expect(batchGetSeconds(51, capacities)).toBeCloseTo(0.0025 + 49 * (0.0175 / 98), 12); // 11.25 ms
    expect(batchGetSeconds(1, capacities)).toBeCloseTo(0.0025 - 0.0175 / 98, 12);
    expect(batchGetSeconds(2, { ...capacities, BatchGetItem2: undefined })).toBeUndefined();
    // A group message: one BatchGetItem of 100 keys, one Query, 4 GetItems; 99 recipients.
    const group = ceilingOf(
      {
        callsPerMessage: {
          'DynamoDBClient/BatchGetItemCommand': 1,
          'DynamoDBClient/QueryCommand': 1,
          'DynamoDBClient/GetItemCommand': 4,
        },
        batchesPerMessage: 1,
        keysPerBatchGet: 100,
        recipientsPerMessage: 99,
      },
      capacities,
    );
    // 0.02 + 1/400 + 4/500 = 0.0305 s -> 32.79 messages/s, 3,245.9 deliveries/s.
    expect(group.messagesPerSecond).toBeCloseTo(1 / 0.0305, 9);
    expect(group.deliveriesPerSecond).toBeCloseTo(99 / 0.0305, 6);
    expect(group.services[0]?.calls.find((c) => c.op === 'BatchGetItem100')).toMatchObject({
      keys: 100,
      capacity: 50,
    });
  });

  it('amortises the event source over the batch', () => {
    const batched = ceilingOf({ ...direct, batchesPerMessage: 0.25 }, capacities);
    // 1/800 + 0.25/400 = 0.001875 s.
    expect(batched.services.find((s) => s.service === 'sqs')?.secondsPerMessage).toBeCloseTo(0.001875, 12);
  });

  it('lists DynamoDB and SQS calls it has no measurement for, and leaves them out', () => {
    const c = ceilingOf(
      {
        ...direct,
        callsPerMessage: { ...direct.callsPerMessage, 'DynamoDBClient/DeleteItemCommand': 1 },
      },
      { ...capacities, ReceiveDelete: undefined },
    );
    expect(c.unmeasured).toEqual([
      'DynamoDBClient/DeleteItemCommand',
      'event source ReceiveMessage + DeleteMessageBatch',
    ]);
    expect(c.services.find((s) => s.service === 'sqs')?.secondsPerMessage).toBeCloseTo(1 / 800, 12);
  });
});

import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteTableCommand,
  PutItemCommand,
  QueryCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { dynamoDbClient, sqsClient } from '../../local/services/aws-clients';

// Runs against whatever test/helpers/local-services-setup.ts provides: DynamoDB Local and fauxqs by default, or
// the endpoints already in the environment (LocalStack, AWS). Names are unique per run so runs never collide.
// The clients get no explicit endpoint: like the Lambdas, they take it from AWS_ENDPOINT_URL_<SERVICE>.

const runId = `${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;

test('the global setup hands its endpoints to the workers through the environment', () => {
  const provided = inject('awsEndpoints');
  expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(provided.dynamodb);
  expect(process.env.AWS_ENDPOINT_URL_SQS).toBe(provided.sqs);
  expect(process.env.AWS_REGION).toBe(provided.region);
});

describe('DynamoDB', () => {
  const ddb = dynamoDbClient();
  const tableName = `herald-it-${runId}`;

  beforeAll(async () => {
    await ddb.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    await waitUntilTableExists({ client: ddb, maxWaitTime: 60 }, { TableName: tableName });
  });

  afterAll(async () => {
    await ddb.send(new DeleteTableCommand({ TableName: tableName })).catch(() => undefined);
    ddb.destroy();
  });

  test('puts items and queries them by primary key and through a GSI', async () => {
    // Three messages of one conversation; the GSI lists each sender's messages by time.
    const items = [
      { sk: 'msg#0001', sender: 'user#alice', at: '2026-01-01T00:00:01Z', body: 'hi' },
      { sk: 'msg#0002', sender: 'user#bob', at: '2026-01-01T00:00:02Z', body: 'hello' },
      { sk: 'msg#0003', sender: 'user#alice', at: '2026-01-01T00:00:03Z', body: 'how are you?' },
    ];
    for (const item of items) {
      await ddb.send(
        new PutItemCommand({
          TableName: tableName,
          Item: {
            pk: { S: 'conv#1' },
            sk: { S: item.sk },
            gsi1pk: { S: item.sender },
            gsi1sk: { S: item.at },
            body: { S: item.body },
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    }

    const conversation = await ddb.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :msg)',
        ExpressionAttributeValues: { ':pk': { S: 'conv#1' }, ':msg': { S: 'msg#' } },
        ScanIndexForward: false,
      }),
    );
    expect(conversation.Items?.map((item) => item.sk?.S)).toEqual(['msg#0003', 'msg#0002', 'msg#0001']);

    const bySender = await ddb.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'gsi1',
        KeyConditionExpression: 'gsi1pk = :sender',
        ExpressionAttributeValues: { ':sender': { S: 'user#alice' } },
      }),
    );
    expect(bySender.Items?.map((item) => item.body?.S)).toEqual(['hi', 'how are you?']);
  });
});

describe('SQS FIFO', () => {
  const sqs = sqsClient();
  const queueName = `herald-it-${runId}.fifo`;
  const dlqName = `herald-it-${runId}-dlq.fifo`;
  let queueUrl = '';
  let dlqUrl = '';
  let dlqArn = '';

  beforeAll(async () => {
    dlqUrl = await createQueue(dlqName, { FifoQueue: 'true' });
    const dlqAttributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
    );
    dlqArn = dlqAttributes.Attributes?.QueueArn ?? '';
    expect(dlqArn).toMatch(/^arn:aws:sqs:.+:herald-it-.+-dlq\.fifo$/);
    queueUrl = await createQueue(queueName, {
      FifoQueue: 'true',
      VisibilityTimeout: '30',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 1 }),
    });
  });

  afterAll(async () => {
    for (const url of [queueUrl, dlqUrl]) {
      if (url) await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
    }
    sqs.destroy();
  });

  async function createQueue(name: string, attributes: Record<string, string>): Promise<string> {
    const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!created.QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
    return created.QueueUrl;
  }

  async function receive(url: string, waitSeconds = 2): Promise<Message[]> {
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    return received.Messages ?? [];
  }

  test('the queue carries its redrive policy to the FIFO DLQ', async () => {
    const attributes = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['FifoQueue', 'RedrivePolicy'] }),
    );
    expect(attributes.Attributes?.FifoQueue).toBe('true');
    expect(JSON.parse(attributes.Attributes?.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: 1,
    });
  });

  test('delivers the messages of one group in the order they were sent', async () => {
    for (const [index, body] of ['first', 'second'].entries()) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: body,
          MessageGroupId: 'conv#1',
          MessageDeduplicationId: `${runId}-order-${index}`,
        }),
      );
    }

    // A FIFO receive may return the group's messages together (AWS) or one at a time (fauxqs): the group stays
    // held while one of its messages is in flight, so delete each before asking for the next.
    const bodies: string[] = [];
    const sequenceNumbers: bigint[] = [];
    for (let attempt = 0; bodies.length < 2 && attempt < 5; attempt++) {
      for (const message of await receive(queueUrl)) {
        expect(message.Attributes?.MessageGroupId).toBe('conv#1');
        bodies.push(message.Body ?? '');
        sequenceNumbers.push(BigInt(message.Attributes?.SequenceNumber ?? '0'));
        await sqs.send(
          new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
        );
      }
    }
    expect(bodies).toEqual(['first', 'second']);
    expect(sequenceNumbers[0]).toBeLessThan(sequenceNumbers[1] ?? 0n);
  });

  test('moves a message received more than maxReceiveCount times to the DLQ', async () => {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: 'poison',
        MessageGroupId: 'conv#2',
        MessageDeduplicationId: `${runId}-poison`,
      }),
    );
    const [first, ...others] = await receive(queueUrl);
    expect(others).toEqual([]);
    expect(first?.Body).toBe('poison');
    // Fail it: make it visible again at once, without deleting it.
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: first?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );

    // The next receive exceeds maxReceiveCount (1): SQS moves the message to the DLQ instead of returning it.
    expect(await receive(queueUrl, 1)).toEqual([]);
    const [deadLetter] = await receive(dlqUrl);
    expect(deadLetter?.Body).toBe('poison');
    expect(deadLetter?.Attributes?.MessageGroupId).toBe('conv#2');
  });
});

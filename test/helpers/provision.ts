/**
 * Creates Herald's tables and queues on whatever the AWS_ENDPOINT_URL* variables point at (DynamoDB Local and
 * fauxqs by default, LocalStack or a real account otherwise), under unique names so runs never collide.
 * Table shapes come from the CDK construct's synthesized template: the tests cannot drift from the stack.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnTable } from 'aws-cdk-lib/aws-dynamodb';
import { HeraldTables } from '../../lib/constructs/tables';
import { tableCreation } from '../../local/cloudformation/dynamodb';
import { redrivePolicy } from '../../local/cloudformation/sqs';
import { sqsClient } from '../../local/services/aws-clients';

export const runId = () => randomUUID().slice(0, 8);

/** Messages on a queue, visible or in flight (SQS's approximate counts): 0 once everything was consumed. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const visible = Attributes?.ApproximateNumberOfMessages;
  const inFlight = Attributes?.ApproximateNumberOfMessagesNotVisible;
  if (visible === undefined || inFlight === undefined) {
    throw new Error(`${queueUrl} reported no message counts`);
  }
  return Number(visible) + Number(inFlight);
}

export function documentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function testSqsClient(): SQSClient {
  return sqsClient(process.env.AWS_ENDPOINT_URL_SQS);
}

export interface HeraldTableNames {
  readonly connections: string;
  readonly conversations: string;
  readonly messages: string;
  drop(): Promise<void>;
}

export async function createHeraldTables(prefix = `herald-test-${runId()}`): Promise<HeraldTableNames> {
  const stack = new Stack(new App(), 'TablesOnly');
  const tables = new HeraldTables(stack, 'Tables');
  const resources = Template.fromStack(stack).findResources('AWS::DynamoDB::Table');
  const client = new DynamoDBClient({});
  const names = {
    connections: `${prefix}-Connections`,
    conversations: `${prefix}-Conversations`,
    messages: `${prefix}-Messages`,
  };
  const logicalId = (t: { node: { defaultChild: unknown } }) =>
    stack.getLogicalId(t.node.defaultChild as CfnTable);
  const plan: [string, string][] = [
    [logicalId(tables.connections), names.connections],
    [logicalId(tables.conversations), names.conversations],
    [logicalId(tables.messages), names.messages],
  ];
  await Promise.all(
    plan.map(async ([id, name]) => {
      const creation = tableCreation(name, resources[id]?.Properties);
      await client.send(new CreateTableCommand(creation.createTable));
      await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: name });
      if (creation.timeToLive) await client.send(new UpdateTimeToLiveCommand(creation.timeToLive));
    }),
  );
  return {
    ...names,
    async drop() {
      await Promise.allSettled(
        plan.map(([, name]) => client.send(new DeleteTableCommand({ TableName: name }))),
      );
    },
  };
}

export interface FifoQueuePair {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
  drop(): Promise<void>;
}

export async function createFifoQueuePair(
  sqs: SQSClient,
  options: { maxReceiveCount?: number; visibilityTimeout?: number } = {},
): Promise<FifoQueuePair> {
  const base = `herald-test-${runId()}`;
  const dlq = await sqs.send(
    new CreateQueueCommand({ QueueName: `${base}-dlq.fifo`, Attributes: { FifoQueue: 'true' } }),
  );
  const dlqUrl = dlq.QueueUrl ?? '';
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] }),
  );
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `${base}.fifo`,
      Attributes: {
        FifoQueue: 'true',
        VisibilityTimeout: String(options.visibilityTimeout ?? 30),
        RedrivePolicy: redrivePolicy(Attributes?.QueueArn ?? '', options.maxReceiveCount ?? 5),
      },
    }),
  );
  const queueUrl = queue.QueueUrl ?? '';
  const arn = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
  );
  return {
    queueUrl,
    queueArn: arn.Attributes?.QueueArn ?? '',
    dlqUrl,
    async drop() {
      await Promise.allSettled([
        sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })),
        sqs.send(new DeleteQueueCommand({ QueueUrl: dlqUrl })),
      ]);
    },
  };
}

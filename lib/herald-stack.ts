import {
  type CfnElement,
  CfnOutput,
  Duration,
  type RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { CONNECTIONS_KEY } from '../lambdas/adapters/dynamo-keys';
import { ENV, INDEX, MAX_RECALL_WINDOW_SECONDS } from '../lambdas/config';
import { CLIENT_ACTIONS, LIMITS, ROUTES } from '../protocol';
import { HeraldAlarms } from './constructs/alarms';
import { HeraldAuth, type HeraldAuthConfig } from './constructs/auth';
import { FanoutPipeline } from './constructs/fanout';
import { HeraldFunction, handlerEntry, POWERTOOLS } from './constructs/handler-function';
import { MessagePipeline } from './constructs/message-pipeline';
import { HeraldTables } from './constructs/tables';
import { HeraldWebSocketApi, type StageThrottle } from './constructs/websocket-api';

export interface HeraldStackProps extends StackProps {
  /** How `$connect` verifies tokens: an OIDC provider's JWKS, or a generated dev secret. */
  readonly auth: HeraldAuthConfig;

  /** @default 'prod' */
  readonly stageName?: string;

  /** @default { rateLimit: 500, burstLimit: 1000 } */
  readonly throttle?: StageThrottle;

  /** SNS topic notified when an alarm fires or recovers. @default - alarms without actions */
  readonly alarmTopicArn?: string;

  /**
   * Set the account's API Gateway CloudWatch Logs role (see `HeraldWebSocketApi.createAccountLoggingRole`).
   * @default false
   */
  readonly apiGatewayAccountRole?: boolean;

  /** Removal policy of the Conversations and Messages tables. @default RemovalPolicy.RETAIN */
  readonly dataRemovalPolicy?: RemovalPolicy;

  /** Timeout of the delivery function; the queue's visibility timeout follows from it. @default 30 seconds */
  readonly deliveryTimeout?: Duration;

  /** @default - six times `deliveryTimeout` (a lower value is an error) */
  readonly visibilityTimeout?: Duration;

  /** Receives before a message moves to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;

  /** Cap on concurrent delivery batches. @default - no cap */
  readonly deliveryMaxConcurrency?: number;

  /** Parallel `@connections` posts inside one delivery invocation (DELIVERY_CONCURRENCY). @default 16 */
  readonly deliveryConcurrency?: number;

  /**
   * How long after sending an author may recall a message (RECALL_WINDOW_SECONDS; group owners and admins may
   * recall any message at any time). From 1 second to 7 days. @default Duration.seconds(LIMITS.recallWindowSeconds)
   */
  readonly recallWindow?: Duration;

  /** Retention of every function's log group and of the access logs. @default RetentionDays.ONE_MONTH */
  readonly logRetention?: RetentionDays;
}

/**
 * Inserting and updating items. Reads are granted action by action, and `dynamodb:Scan` nowhere: IAM forbids
 * it. Nothing deletes history; member rows go by BatchWriteItem on Conversations only.
 */
const DYNAMO_UPSERT = ['dynamodb:PutItem', 'dynamodb:UpdateItem'];

/**
 * Herald: an API Gateway WebSocket API in front of nine Lambda functions, an SQS FIFO queue between accepting
 * a message and delivering it, and three DynamoDB tables. This class only composes the constructs, grants
 * each function exactly what its handler does, and prints the outputs.
 */
export class HeraldStack extends Stack {
  public readonly tables: HeraldTables;
  public readonly auth: HeraldAuth;
  public readonly pipeline: MessagePipeline;
  public readonly fanout: FanoutPipeline;
  public readonly webSocket: HeraldWebSocketApi;
  public readonly alarms: HeraldAlarms;
  public readonly functions: {
    readonly authorizer: HeraldFunction;
    readonly connect: HeraldFunction;
    readonly disconnect: HeraldFunction;
    readonly command: HeraldFunction;
    readonly query: HeraldFunction;
    readonly ephemeral: HeraldFunction;
    readonly fanout: HeraldFunction;
    readonly default: HeraldFunction;
    readonly deliver: HeraldFunction;
  };

  constructor(scope: Construct, id: string, props: HeraldStackProps) {
    super(scope, id, props);
    const logRetention = props.logRetention;

    this.tables = new HeraldTables(this, 'Tables', { removalPolicy: props.dataRemovalPolicy });
    const { connections, conversations, messages } = this.tables;
    this.auth = new HeraldAuth(this, 'Auth', { config: props.auth });

    const connectionsEnv = {
      [ENV.CONNECTIONS_TABLE]: connections.tableName,
    };

    const deliver = new HeraldFunction(this, 'Deliver', {
      entry: handlerEntry('deliver'),
      description: 'Stores each queued message and pushes it to every connection of every member',
      timeout: props.deliveryTimeout ?? Duration.seconds(30),
      memorySize: 512,
      logRetention,
      environment: {
        ...connectionsEnv,
        [ENV.CONVERSATIONS_TABLE]: conversations.tableName,
        [ENV.MESSAGES_TABLE]: messages.tableName,
        [ENV.DELIVERY_CONCURRENCY]: String(props.deliveryConcurrency ?? 16),
        [ENV.RECALL_WINDOW_SECONDS]: String(recallWindowSeconds(props.recallWindow)),
      },
    });
    this.pipeline = new MessagePipeline(this, 'Pipeline', {
      consumer: deliver,
      visibilityTimeout: props.visibilityTimeout,
      maxReceiveCount: props.maxReceiveCount,
      maxConcurrency: props.deliveryMaxConcurrency,
    });

    const authorizer = new HeraldFunction(this, 'Authorizer', {
      entry: handlerEntry('authorizer'),
      description: 'Verifies the ?token= JWT on $connect',
      logRetention,
      environment: this.auth.environment,
    });
    const connect = new HeraldFunction(this, 'Connect', {
      entry: handlerEntry('connect'),
      description: 'Records an authorized connection',
      logRetention,
      environment: connectionsEnv,
    });
    const disconnect = new HeraldFunction(this, 'Disconnect', {
      entry: handlerEntry('disconnect'),
      description: 'Removes a closed connection',
      logRetention,
      environment: connectionsEnv,
    });
    const command = new HeraldFunction(this, 'Command', {
      entry: handlerEntry('command'),
      description: 'Validates command frames (send, edit, recall, group changes, markRead) and enqueues them',
      logRetention,
      environment: {
        [ENV.CONVERSATIONS_TABLE]: conversations.tableName,
        [ENV.MESSAGE_QUEUE_URL]: this.pipeline.queue.queueUrl,
      },
    });
    const query = new HeraldFunction(this, 'Query', {
      entry: handlerEntry('query'),
      description: 'Answers history, sync, listConversations and listMembers from DynamoDB',
      logRetention,
      environment: {
        [ENV.CONVERSATIONS_TABLE]: conversations.tableName,
        [ENV.MESSAGES_TABLE]: messages.tableName,
      },
    });
    const ephemeral = new HeraldFunction(this, 'Ephemeral', {
      entry: handlerEntry('ephemeral'),
      description: 'Relays typing indicators straight to the members’ connections (not stored, rate-limited)',
      logRetention,
      environment: { ...connectionsEnv, [ENV.CONVERSATIONS_TABLE]: conversations.tableName },
    });
    const fanout = new HeraldFunction(this, 'Fanout', {
      entry: handlerEntry('fanout'),
      description: 'Pushes one chunk of a large group’s delivery to the chunk’s members’ connections',
      timeout: Duration.seconds(30),
      memorySize: 512,
      logRetention,
      environment: { ...connectionsEnv, [ENV.DELIVERY_CONCURRENCY]: String(props.deliveryConcurrency ?? 16) },
    });
    this.fanout = new FanoutPipeline(this, 'FanoutPipeline', { consumer: fanout });
    const fallback = new HeraldFunction(this, 'DefaultRoute', {
      entry: handlerEntry('default'),
      description: 'Answers frames that match no route with an error frame',
      logRetention,
    });
    this.functions = {
      authorizer,
      connect,
      disconnect,
      command,
      query,
      ephemeral,
      default: fallback,
      deliver,
      fanout,
    };

    this.webSocket = new HeraldWebSocketApi(this, 'WebSocket', {
      authorizerHandler: authorizer,
      connectHandler: connect,
      disconnectHandler: disconnect,
      defaultHandler: fallback,
      actionHandlers: Object.fromEntries(
        CLIENT_ACTIONS.map((action) => [action, { command, query, ephemeral }[ROUTES[action]]]),
      ),
      stageName: props.stageName,
      throttle: props.throttle,
      accessLogRetention: logRetention,
      createAccountLoggingRole: props.apiGatewayAccountRole ?? false,
    });
    for (const fn of [deliver, fanout, ephemeral, connect, disconnect]) {
      fn.addEnvironment(ENV.CALLBACK_URL, this.webSocket.callbackUrl);
    }
    for (const fn of [connect, disconnect])
      fn.addEnvironment(ENV.CONVERSATIONS_TABLE, conversations.tableName);
    for (const fn of [command, query]) fn.addEnvironment(ENV.CONNECTIONS_TABLE, connections.tableName);
    deliver.addEnvironment(ENV.FANOUT_QUEUE_URL, this.fanout.queue.queueUrl);
    fanout.addEnvironment(ENV.DEAD_LETTER_QUEUE_URL, this.fanout.deadLetterQueue.queueUrl);
    deliver.addEnvironment(ENV.DEAD_LETTER_QUEUE_URL, this.pipeline.deadLetterQueue.queueUrl);

    // ---- Grants: one block per function. Explicit actions instead of grantReadData/grantWriteData, which
    // would add dynamodb:Scan (and DeleteItem/BatchWriteItem where nothing deletes): a Scan is impossible by
    // IAM. test/infra/herald-stack.test.ts pins the resulting matrix; a new adapter call means updating both.
    // ---- authorizer: the dev signing secret (jwks mode needs no AWS permission at all).
    this.auth.devSecret?.grantRead(authorizer);
    const byMember = indexArn(conversations, INDEX.conversationsByMember);
    const postToConnections = this.formatArn({
      service: 'execute-api',
      resource: this.webSocket.api.apiId,
      resourceName: `${this.webSocket.stage.stageName}/POST/@connections/*`,
    });
    // Connections table, for every function that finds or removes connections: the user items that name a
    // user's connections are read by key (GetItem, BatchGetItem); a connection is removed by reading its row,
    // updating its user item and deleting the row (410 cleanup, $disconnect). UpdateItem is limited to the
    // user items (keys `user#...`): only the flood-limited routes update connection rows.
    const findAndRemoveConnections = (fn: HeraldFunction) => {
      allow(fn, ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:DeleteItem'], [connections.tableArn]);
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:UpdateItem'],
          resources: [connections.tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${CONNECTIONS_KEY.userPrefix}*`] },
          },
        }),
      );
    };
    // connect: PutItem of its own row and the user item's update; presence: the user's other connections and
    // their contacts (members of their conversations), stale-row cleanup, and POST to those contacts'
    // connections.
    allow(connect, ['dynamodb:PutItem'], [connections.tableArn]);
    findAndRemoveConnections(connect);
    // disconnect: the removal of its own connection, and the same presence reads and pushes.
    findAndRemoveConnections(disconnect);
    for (const fn of [connect, disconnect]) {
      allow(fn, ['dynamodb:Query'], [conversations.tableArn, byMember]);
      allow(fn, ['execute-api:ManageConnections'], [postToConnections]);
    }
    // ephemeral (typing): the membership check, the typing gate and flood limit on its connection row, the
    // members' connections, stale-row cleanup, and POST.
    allow(ephemeral, ['dynamodb:GetItem', 'dynamodb:Query'], [conversations.tableArn]);
    allow(ephemeral, ['dynamodb:Query'], [byMember]);
    // ephemeral also updates connection rows (typing gate, flood limit): UpdateItem on any key.
    findAndRemoveConnections(ephemeral);
    allow(ephemeral, ['dynamodb:UpdateItem'], [connections.tableArn]);
    allow(ephemeral, ['execute-api:ManageConnections'], [postToConnections]);
    // command and query: the per-connection flood limit (one conditional update on the connection row).
    allow(command, ['dynamodb:UpdateItem'], [connections.tableArn]);
    allow(query, ['dynamodb:UpdateItem'], [connections.tableArn]);
    // command: the membership check (one GetItem on Conversations) and the enqueue.
    allow(command, ['dynamodb:GetItem'], [conversations.tableArn]);
    this.pipeline.queue.grantSendMessages(command);
    // query: reads of conversations (meta, members), a user's memberships through byMember, and events.
    allow(query, ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'], [conversations.tableArn]);
    allow(
      query,
      ['dynamodb:Query'],
      [indexArn(conversations, INDEX.conversationsByMember), messages.tableArn],
    );
    // default: nothing. deliver: reads and upserts (never deletes) on Conversations and Messages for the
    // append transaction, the members' connections (their user items), the 410 cleanup, POST to
    // @connections of this stage, and forwarding poison records straight to the DLQ (the event source adds
    // consuming the main queue).
    // Conversations: meta, member and idempotency rows (read, append transaction, a leave's condition check,
    // member rows written and, in batches, deleted). Messages (events): read, stored, edited or recalled.
    allow(
      deliver,
      [
        'dynamodb:GetItem',
        'dynamodb:Query',
        ...DYNAMO_UPSERT,
        'dynamodb:ConditionCheckItem',
        'dynamodb:BatchWriteItem',
      ],
      [conversations.tableArn],
    );
    allow(deliver, ['dynamodb:GetItem', ...DYNAMO_UPSERT], [messages.tableArn]);
    // deliver and fanout: the members' connections (BatchGetItem of their user items), the 410 cleanup, POST.
    for (const fn of [deliver, fanout]) {
      findAndRemoveConnections(fn);
      allow(fn, ['execute-api:ManageConnections'], [postToConnections]);
    }
    this.pipeline.deadLetterQueue.grantSendMessages(deliver);
    this.fanout.queue.grantSendMessages(deliver);
    // fanout: forwarding poison jobs straight to the fan-out DLQ (the event source adds consuming the queue).
    this.fanout.deadLetterQueue.grantSendMessages(fanout);
    const apiLogicalId = this.getLogicalId(this.webSocket.api.node.defaultChild as CfnElement);
    for (const fn of [deliver, fanout, ephemeral, connect, disconnect]) {
      Validations.of(fn.serviceRole).acknowledge({
        id:
          'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:' +
          `<${apiLogicalId}>/${this.webSocket.stage.stageName}/POST/@connections/*]`,
        reason:
          'execute-api:ManageConnections is scoped to POST on this API and stage; the trailing * stands for the ' +
          'connection id, which exists only at runtime (one per connected client).',
      });
    }

    const alarmTopic = props.alarmTopicArn
      ? Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
      : undefined;
    this.alarms = new HeraldAlarms(this, 'Alarms', {
      functions: this.functions,
      deliveryFunction: deliver,
      queue: this.pipeline.queue,
      deadLetterQueue: this.pipeline.deadLetterQueue,
      otherDeadLetterQueues: { fanout: this.fanout.deadLetterQueue },
      applicationMetrics: { namespace: POWERTOOLS.metricsNamespace, service: POWERTOOLS.serviceName },
      alarmTopic,
    });

    new CfnOutput(this, 'WebSocketUrl', {
      value: this.webSocket.url,
      description: 'wss:// URL clients connect to (append ?token=<JWT>)',
    });
    new CfnOutput(this, 'CallbackUrl', {
      value: this.webSocket.callbackUrl,
      description: 'https:// URL of the @connections management API',
    });
    new CfnOutput(this, 'ConnectionsTableName', { value: connections.tableName });
    new CfnOutput(this, 'ConversationsTableName', { value: conversations.tableName });
    new CfnOutput(this, 'MessagesTableName', { value: messages.tableName });
    new CfnOutput(this, 'MessageQueueUrl', { value: this.pipeline.queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.pipeline.deadLetterQueue.queueUrl });
    if (this.auth.devSecret) {
      new CfnOutput(this, 'DevAuthSecretArn', {
        value: this.auth.devSecret.secretArn,
        description: 'Dev auth only: Secrets Manager secret whose value signs HS256 dev tokens',
      });
    }
  }
}

function allow(fn: HeraldFunction, actions: string[], resources: string[]): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));
}

function indexArn(table: Table, indexName: string): string {
  return `${table.tableArn}/index/${indexName}`;
}

/** The recall window in whole seconds, checked against what the delivery function accepts. */
function recallWindowSeconds(window: Duration | undefined): number {
  if (window === undefined) return LIMITS.recallWindowSeconds;
  const seconds = window.toMilliseconds() / 1000;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_RECALL_WINDOW_SECONDS) {
    throw new Error(
      `HeraldStack: recallWindow must be a whole number of seconds from 1 to ${MAX_RECALL_WINDOW_SECONDS}, got ${seconds}`,
    );
  }
  return seconds;
}

import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV, INDEX } from '../../lambdas/config';
import { REPO_ROOT } from '../../lib/constructs/handler-function';
import { CLIENT_ACTIONS } from '../../protocol';
import {
  describeArn,
  FUNCTION_NAMES,
  grantMatrix,
  logicalIdOf,
  type Resource,
  type Synthesized,
  statementsOfFunction,
  synthHerald,
} from './support';

// One synthesis for the whole file, with real esbuild bundles (a few seconds per function).
let s: Synthesized;
beforeAll(() => {
  s = synthHerald({}, { bundle: true });
});

const ofType = (type: string): [string, Resource][] =>
  Object.entries(s.resources).filter(([, r]) => r.Type === type);
const props = (id: string): Record<string, unknown> => s.resources[id]?.Properties ?? {};
const fnId = (name: string) => logicalIdOf(s.resources, 'AWS::Lambda::Function', name);
const queueId = () => logicalIdOf(s.resources, 'AWS::SQS::Queue', 'Pipeline/Queue');
const dlqId = () => logicalIdOf(s.resources, 'AWS::SQS::Queue', 'Pipeline/DeadLetterQueue');
const tableId = (name: string) => logicalIdOf(s.resources, 'AWS::DynamoDB::Table', `Tables/${name}`);

describe('message pipeline', () => {
  it('is a high-throughput FIFO queue with explicit deduplication and a FIFO DLQ redrive', () => {
    expect(props(queueId())).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [dlqId(), 'Arn'] }, maxReceiveCount: 5 },
    });
    expect(props(dlqId())).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 14 * 24 * 3600 });
    expect(ofType('AWS::SQS::Queue')).toHaveLength(2);
  });

  it('encrypts both queues (SSE-SQS) and denies every non-TLS request to them', () => {
    for (const id of [queueId(), dlqId()]) {
      expect(props(id).SqsManagedSseEnabled).toBe(true);
      s.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('keeps messages invisible for at least six times the delivery timeout', () => {
    const timeout = props(fnId('Deliver')).Timeout;
    expect(timeout).toBe(30);
    expect(props(queueId()).VisibilityTimeout).toBeGreaterThanOrEqual(6 * Number(timeout));
  });

  it('feeds the delivery function in batches of 10 with partial batch responses', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.[1].Properties).toMatchObject({
      FunctionName: { Ref: fnId('Deliver') },
      EventSourceArn: { 'Fn::GetAtt': [queueId(), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('tables', () => {
  it('are on demand, point-in-time recoverable and encrypted, and user data is retained', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(3);
    for (const [, table] of tables) {
      expect(table.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      });
    }
    expect(s.resources[tableId('Conversations')]?.DeletionPolicy).toBe('Retain');
    expect(s.resources[tableId('Messages')]?.DeletionPolicy).toBe('Retain');
  });

  it('Connections: connectionId key, TTL on expiresAt, KEYS_ONLY byUser index (userId, connectionId)', () => {
    expect(props(tableId('Connections'))).toMatchObject({
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: INDEX.connectionsByUser,
          KeySchema: [
            { AttributeName: 'userId', KeyType: 'HASH' },
            { AttributeName: 'connectionId', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'KEYS_ONLY' },
        },
      ],
    });
  });

  it('Conversations: (conversationId, sk) and the sparse byMember index (memberId, conversationId)', () => {
    expect(props(tableId('Conversations'))).toMatchObject({
      KeySchema: [
        { AttributeName: 'conversationId', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: INDEX.conversationsByMember,
          KeySchema: [
            { AttributeName: 'memberId', KeyType: 'HASH' },
            { AttributeName: 'conversationId', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('Messages: (conversationId, seq as a number)', () => {
    const messages = props(tableId('Messages'));
    expect(messages.KeySchema).toEqual([
      { AttributeName: 'conversationId', KeyType: 'HASH' },
      { AttributeName: 'seq', KeyType: 'RANGE' },
    ]);
    expect(messages.AttributeDefinitions).toContainEqual({ AttributeName: 'seq', AttributeType: 'N' });
  });
});

describe('WebSocket API', () => {
  const routeByKey = (key: string): [string, Record<string, unknown>] => {
    const found = ofType('AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties?.RouteKey === key);
    if (!found) throw new Error(`no route ${key}`);
    return [found[0], found[1].Properties ?? {}];
  };
  /** The function a route's integration invokes. */
  const targetOf = (key: string): string => {
    const target = JSON.stringify(routeByKey(key)[1].Target);
    const integrationId = /"Ref":"([A-Za-z0-9]+)"/.exec(target)?.[1] ?? '';
    return JSON.stringify(props(integrationId).IntegrationUri);
  };

  it('selects routes by $request.body.action', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('authorizes $connect with a Lambda REQUEST authorizer reading ?token=', () => {
    const [, connect] = routeByKey('$connect');
    expect(connect.AuthorizationType).toBe('CUSTOM');
    const authorizers = ofType('AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(1);
    const [authorizerId, authorizer] = authorizers[0] ?? ['', { Type: '' }];
    expect(connect.AuthorizerId).toEqual({ Ref: authorizerId });
    expect(authorizer.Properties).toMatchObject({
      AuthorizerType: 'REQUEST',
      IdentitySource: ['route.request.querystring.token'],
    });
    expect(JSON.stringify(authorizer.Properties?.AuthorizerUri)).toContain(fnId('Authorizer'));
  });

  it('has $connect, $disconnect, $default and one route per client action, each on its function', () => {
    const keys = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties?.RouteKey);
    expect(keys.sort()).toEqual(['$connect', '$default', '$disconnect', ...CLIENT_ACTIONS].sort());
    expect(CLIENT_ACTIONS).toContain('send');
    expect(targetOf('$connect')).toContain(fnId('Connect'));
    expect(targetOf('$disconnect')).toContain(fnId('Disconnect'));
    expect(targetOf('$default')).toContain(fnId('DefaultRoute'));
    for (const action of CLIENT_ACTIONS) expect(targetOf(action)).toContain(fnId('Send'));
  });

  it('makes $default and the client actions two-way (their response body reaches the client)', () => {
    const twoWay = ['$default', ...CLIENT_ACTIONS];
    for (const key of twoWay) {
      const [routeId, route] = routeByKey(key);
      expect(route.RouteResponseSelectionExpression).toBe('$default');
      s.template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', {
        RouteId: { Ref: routeId },
        RouteResponseKey: '$default',
      });
    }
    expect(ofType('AWS::ApiGatewayV2::RouteResponse')).toHaveLength(twoWay.length);
  });

  it('deploys one auto-deployed stage with throttling and JSON access logs that never contain the token', () => {
    const stages = ofType('AWS::ApiGatewayV2::Stage');
    expect(stages).toHaveLength(1);
    const stage = stages[0]?.[1].Properties ?? {};
    expect(stage).toMatchObject({
      StageName: 'prod',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 },
      AccessLogSettings: {
        DestinationArn: {
          'Fn::GetAtt': [logicalIdOf(s.resources, 'AWS::Logs::LogGroup', 'WebSocket/AccessLogs'), 'Arn'],
        },
      },
    });
    const format = String((stage.AccessLogSettings as { Format?: unknown }).Format);
    const fields = JSON.parse(format) as Record<string, string>;
    expect(fields).toMatchObject({
      requestId: '$context.requestId',
      connectionId: '$context.connectionId',
      routeKey: '$context.routeKey',
      eventType: '$context.eventType',
      status: '$context.status',
      integrationError: '$context.integration.error',
    });
    expect(format).not.toMatch(/querystring|requestQueryString|header|token/i);
  });

  it('keeps access logs for a month', () => {
    expect(
      props(logicalIdOf(s.resources, 'AWS::Logs::LogGroup', 'WebSocket/AccessLogs')).RetentionInDays,
    ).toBe(30);
  });
});

const BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

describe('functions', () => {
  it('are exactly the six handlers: no hidden helper functions (log retention, custom resources)', () => {
    expect(ofType('AWS::Lambda::Function')).toHaveLength(FUNCTION_NAMES.length);
  });

  it.each(FUNCTION_NAMES)(
    '%s runs Node 22 on arm64 with active tracing and its own month-long log group',
    (name) => {
      const fn = props(fnId(name));
      expect(fn).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: {
          LogGroup: { Ref: logicalIdOf(s.resources, 'AWS::Logs::LogGroup', `${name}LogGroup`) },
        },
      });
      expect(props(logicalIdOf(s.resources, 'AWS::Logs::LogGroup', `${name}LogGroup`)).RetentionInDays).toBe(
        30,
      );
      const env = (fn.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'herald',
        POWERTOOLS_METRICS_NAMESPACE: 'Herald',
        NODE_OPTIONS: '--enable-source-maps',
      });
    },
  );

  it('pins the Lambda runtime to the Node major the project runs locally', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
      engines: Record<string, string>;
    };
    const major = (range: string | undefined) => /(\d+)/.exec(range ?? '')?.[1];
    expect(major(pkg.devDependencies.node)).toBe('22');
    expect(major(pkg.engines.node)).toBe('22');
  });

  it('sets exactly the env vars each handler parses (names from lambdas/config.ts)', () => {
    const names = (name: string) =>
      Object.keys((props(fnId(name)).Environment as { Variables: Record<string, unknown> }).Variables)
        .filter((k) => !k.startsWith('POWERTOOLS_') && k !== 'NODE_OPTIONS')
        .sort();
    expect(names('Connect')).toEqual([ENV.CONNECTIONS_BY_USER_INDEX, ENV.CONNECTIONS_TABLE]);
    expect(names('Disconnect')).toEqual([ENV.CONNECTIONS_BY_USER_INDEX, ENV.CONNECTIONS_TABLE]);
    expect(names('Send')).toEqual([ENV.CONVERSATIONS_TABLE, ENV.MESSAGE_QUEUE_URL]);
    expect(names('DefaultRoute')).toEqual([]);
    expect(names('Deliver')).toEqual(
      [
        ENV.CALLBACK_URL,
        ENV.CONNECTIONS_BY_USER_INDEX,
        ENV.CONNECTIONS_TABLE,
        ENV.CONVERSATIONS_TABLE,
        ENV.DEAD_LETTER_QUEUE_URL,
        ENV.DELIVERY_CONCURRENCY,
        ENV.MESSAGES_TABLE,
      ].sort(),
    );
    expect(names('Authorizer')).toEqual(
      [ENV.AUTH_AUDIENCE, ENV.AUTH_DEV_SECRET_ARN, ENV.AUTH_ISSUER, ENV.AUTH_MODE].sort(),
    );
  });

  it('points each env var at the right resource', () => {
    const env = (name: string) =>
      (props(fnId(name)).Environment as { Variables: Record<string, Parameters<typeof describeArn>[1]> })
        .Variables;
    const deliver = env('Deliver');
    expect(deliver[ENV.CONNECTIONS_BY_USER_INDEX]).toBe(INDEX.connectionsByUser);
    expect(deliver[ENV.DELIVERY_CONCURRENCY]).toBe('16');
    expect(deliver[ENV.CONNECTIONS_TABLE]).toEqual({ Ref: tableId('Connections') });
    expect(deliver[ENV.CONVERSATIONS_TABLE]).toEqual({ Ref: tableId('Conversations') });
    expect(deliver[ENV.MESSAGES_TABLE]).toEqual({ Ref: tableId('Messages') });
    expect(deliver[ENV.DEAD_LETTER_QUEUE_URL]).toEqual({ Ref: dlqId() });
    const callback = describeArn(s.resources, deliver[ENV.CALLBACK_URL] ?? null);
    expect(callback).toBe('https://<WebSocket/Api>.execute-api.{AWS::Region}.{AWS::URLSuffix}/prod');
    expect(env('Send')[ENV.MESSAGE_QUEUE_URL]).toEqual({ Ref: queueId() });
    expect(env('Send')[ENV.CONVERSATIONS_TABLE]).toEqual({ Ref: tableId('Conversations') });
    expect(env('Connect')[ENV.CONNECTIONS_TABLE]).toEqual({ Ref: tableId('Connections') });
    expect(env('Authorizer')).toMatchObject({
      [ENV.AUTH_MODE]: 'dev',
      [ENV.AUTH_ISSUER]: 'herald-dev',
      [ENV.AUTH_AUDIENCE]: 'herald',
      [ENV.AUTH_DEV_SECRET_ARN]: {
        Ref: logicalIdOf(s.resources, 'AWS::SecretsManager::Secret', 'Auth/DevSigningSecret'),
      },
    });
  });

  it('are bundled by esbuild as minified ESM with source maps, the AWS SDK included', () => {
    const assembly = s.app.synth();
    const manifest = JSON.parse(
      readFileSync(path.join(assembly.directory, 'Herald.assets.json'), 'utf8'),
    ) as { files: Record<string, { source: { path: string } }> };
    const bundles = Object.values(manifest.files)
      .map((f) => path.join(assembly.directory, f.source.path))
      .filter((dir) => existsSync(path.join(dir, 'index.mjs')));
    expect(bundles).toHaveLength(FUNCTION_NAMES.length);
    const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    for (const dir of bundles) {
      expect(existsSync(path.join(dir, 'index.mjs.map'))).toBe(true);
      const code = readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      // Assertions on booleans, so that a failure does not print a megabyte of minified code.
      expect(code.startsWith(BANNER), dir).toBe(true);
      // Nothing is loaded from @aws-sdk at run time (an error message quoting `[require("@aws-sdk/...")]` is
      // fine)...
      expect(/\bfrom\s*["']@aws-sdk\//.test(code), dir).toBe(false);
      expect(/\bimport\(\s*["']@aws-sdk\//.test(code), dir).toBe(false);
      expect(/[^[]require\(["']@aws-sdk\//.test(code), dir).toBe(false);
      // ...because the clients are inside, at the versions package-lock.json pins.
      const bundled = [...code.matchAll(/name:"(@aws-sdk\/client-[a-z-]+)",version:"([0-9.]+)"/g)];
      expect(bundled.length, dir).toBeGreaterThan(0);
      for (const [, name, version] of bundled) {
        expect(version, name).toBe(lock.packages[`node_modules/${name}`]?.version);
      }
    }
  });
});

describe('IAM: each function can do what its handler does, and nothing more', () => {
  const XRAY = { 'xray:PutTelemetryRecords': ['*'], 'xray:PutTraceSegments': ['*'] };
  const ownLogs = (name: string) => ({
    'logs:CreateLogStream': [`<${name}LogGroup>`],
    'logs:PutLogEvents': [`<${name}LogGroup>`],
  });
  const matrix = (name: string) => grantMatrix(statementsOfFunction(s.resources, name));
  const postToConnections =
    'arn:{AWS::Partition}:execute-api:{AWS::Region}:{AWS::AccountId}:<WebSocket/Api>/prod/POST/@connections/*';

  it('authorizer: reads the dev signing secret only', () => {
    expect(matrix('Authorizer')).toEqual({
      ...XRAY,
      ...ownLogs('Authorizer'),
      'secretsmanager:DescribeSecret': ['<Auth/DevSigningSecret>'],
      'secretsmanager:GetSecretValue': ['<Auth/DevSigningSecret>'],
    });
  });

  it('connect: PutItem on Connections only', () => {
    expect(matrix('Connect')).toEqual({
      ...XRAY,
      ...ownLogs('Connect'),
      'dynamodb:PutItem': ['<Tables/Connections>'],
    });
  });

  it('disconnect: DeleteItem on Connections only', () => {
    expect(matrix('Disconnect')).toEqual({
      ...XRAY,
      ...ownLogs('Disconnect'),
      'dynamodb:DeleteItem': ['<Tables/Connections>'],
    });
  });

  it('send: reads Conversations and sends to the queue; no DynamoDB write, no @connections', () => {
    expect(matrix('Send')).toEqual({
      ...XRAY,
      ...ownLogs('Send'),
      'dynamodb:GetItem': ['<Tables/Conversations>'],
      'dynamodb:Query': ['<Tables/Conversations>'],
      'sqs:GetQueueAttributes': ['<Pipeline/Queue>'],
      'sqs:GetQueueUrl': ['<Pipeline/Queue>'],
      'sqs:SendMessage': ['<Pipeline/Queue>'],
    });
  });

  it('default: nothing beyond its logs and traces', () => {
    expect(matrix('DefaultRoute')).toEqual({ ...XRAY, ...ownLogs('DefaultRoute') });
  });

  it('deliver: the append, the byUser index, the 410 cleanup, POST @connections, the queue and the DLQ', () => {
    const data = ['<Tables/Conversations>', '<Tables/Messages>'];
    expect(matrix('Deliver')).toEqual({
      ...XRAY,
      ...ownLogs('Deliver'),
      'dynamodb:BatchGetItem': data,
      'dynamodb:ConditionCheckItem': data,
      'dynamodb:GetItem': data,
      'dynamodb:PutItem': data,
      'dynamodb:UpdateItem': data,
      'dynamodb:Query': ['<Tables/Connections>/index/byUser', ...data],
      'dynamodb:DeleteItem': ['<Tables/Connections>'],
      'execute-api:ManageConnections': [postToConnections],
      'sqs:ChangeMessageVisibility': ['<Pipeline/Queue>'],
      'sqs:DeleteMessage': ['<Pipeline/Queue>'],
      'sqs:ReceiveMessage': ['<Pipeline/Queue>'],
      'sqs:GetQueueAttributes': ['<Pipeline/DeadLetterQueue>', '<Pipeline/Queue>'],
      'sqs:GetQueueUrl': ['<Pipeline/DeadLetterQueue>', '<Pipeline/Queue>'],
      'sqs:SendMessage': ['<Pipeline/DeadLetterQueue>'],
    });
  });

  it('only the deliver function may manage connections', () => {
    for (const name of FUNCTION_NAMES) {
      const actions = statementsOfFunction(s.resources, name).flatMap((st) => st.actions);
      expect(actions.includes('execute-api:ManageConnections'), name).toBe(name === 'Deliver');
    }
  });

  it('nobody can Scan, use a service wildcard, or act on "*" outside X-Ray', () => {
    for (const name of FUNCTION_NAMES) {
      for (const st of statementsOfFunction(s.resources, name)) {
        expect(st.actions).not.toContain('dynamodb:Scan');
        for (const action of st.actions) expect(action, name).not.toMatch(/\*/);
        if (st.resources.includes('*')) {
          expect(
            st.actions.every((a) => a.startsWith('xray:')),
            `${name}: ${st.actions.join(',')}`,
          ).toBe(true);
        }
      }
    }
  });

  it('no policy anywhere grants DynamoDB, SQS, Secrets Manager or execute-api on "*"', () => {
    for (const [id, r] of ofType('AWS::IAM::Policy')) {
      const document = r.Properties?.PolicyDocument as {
        Statement: { Action: unknown; Resource: unknown }[];
      };
      const statements = document.Statement;
      for (const st of statements) {
        const actions = ([] as unknown[]).concat(st.Action).map(String);
        const resources = ([] as unknown[]).concat(st.Resource);
        if (resources.includes('*')) {
          expect(
            actions.filter((a) => /^(dynamodb|sqs|secretsmanager|execute-api):/.test(a)),
            id,
          ).toEqual([]);
        }
        expect(actions, id).not.toContain('dynamodb:Scan');
      }
    }
  });

  it('no role carries an AWS managed policy (logging is granted on each function’s own log group)', () => {
    for (const [id, role] of ofType('AWS::IAM::Role')) {
      expect(role.Properties?.ManagedPolicyArns, id).toBeUndefined();
    }
  });

  it('connect cannot touch Messages or Conversations', () => {
    const described = statementsOfFunction(s.resources, 'Connect').flatMap((st) => st.resources);
    expect(described.some((r) => r.includes('Tables/Messages') || r.includes('Tables/Conversations'))).toBe(
      false,
    );
  });
});

describe('alarms', () => {
  const alarms = () => ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties ?? {});
  const find = (metric: string) => alarms().filter((a) => a.MetricName === metric);

  it('fire on any message in the DLQ', () => {
    const [dlq, ...rest] = find('ApproximateNumberOfMessagesVisible');
    expect(rest).toHaveLength(0);
    expect(dlq).toMatchObject({
      Namespace: 'AWS/SQS',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqId(), 'QueueName'] } }],
    });
  });

  it('fire on any error of any function within five minutes', () => {
    const errors = find('Errors');
    expect(errors).toHaveLength(FUNCTION_NAMES.length);
    for (const name of FUNCTION_NAMES) {
      expect(errors).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/Lambda',
          Period: 300,
          Statistic: 'Sum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId(name) } }],
        }),
      );
    }
  });

  it('fire when delivery is throttled or the oldest message is older than five minutes', () => {
    expect(find('Throttles')).toEqual([
      expect.objectContaining({ Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId('Deliver') } }] }),
    ]);
    expect(find('ApproximateAgeOfOldestMessage')).toEqual([
      expect.objectContaining({
        Threshold: 300,
        ComparisonOperator: 'GreaterThanThreshold',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(), 'QueueName'] } }],
      }),
    ]);
  });

  it('fire on any INTERNAL answer of the send route (its Powertools metric, not a Lambda error)', () => {
    expect(find('InternalErrors')).toEqual([
      expect.objectContaining({
        Namespace: 'Herald',
        Dimensions: [{ Name: 'service', Value: 'herald' }],
        Statistic: 'Sum',
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      }),
    ]);
  });

  it('have no actions when no alarm topic is configured', () => {
    for (const a of alarms()) expect(a.AlarmActions).toBeUndefined();
    expect(s.stack.alarms.all).toHaveLength(FUNCTION_NAMES.length + 4);
    expect(alarms()).toHaveLength(FUNCTION_NAMES.length + 4);
  });
});

describe('dev auth and outputs', () => {
  it('generates a 48-character secret without punctuation, and warns that dev auth is for development', () => {
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    s.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
    Annotations.fromStack(s.stack).hasWarning('*', Match.stringLikeRegexp('development only'));
  });

  it('prints the URLs, table names, queue URLs and the dev secret ARN', () => {
    const outputs = s.template.toJSON().Outputs as Record<
      string,
      { Value: Parameters<typeof describeArn>[1] }
    >;
    const value = (key: string) => describeArn(s.resources, outputs[key]?.Value ?? null);
    expect(value('WebSocketUrl')).toBe(
      'wss://<WebSocket/Api>.execute-api.{AWS::Region}.{AWS::URLSuffix}/prod',
    );
    expect(value('CallbackUrl')).toBe(
      'https://<WebSocket/Api>.execute-api.{AWS::Region}.{AWS::URLSuffix}/prod',
    );
    expect(value('ConnectionsTableName')).toBe('<Tables/Connections>');
    expect(value('ConversationsTableName')).toBe('<Tables/Conversations>');
    expect(value('MessagesTableName')).toBe('<Tables/Messages>');
    expect(value('MessageQueueUrl')).toBe('<Pipeline/Queue>');
    expect(value('DeadLetterQueueUrl')).toBe('<Pipeline/DeadLetterQueue>');
    expect(value('DevAuthSecretArn')).toBe('<Auth/DevSigningSecret>');
  });
});

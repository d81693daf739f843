import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import type * as z from 'zod/mini';
import {
  authorizerConfig,
  commandConfig,
  connectConfig,
  deliverConfig,
  ENV,
  ephemeralConfig,
  fanoutConfig,
  INDEX,
  loadConfig,
  queryConfig,
} from '../../lambdas/config';
import { REPO_ROOT } from '../../lib/constructs/handler-function';
import { CLIENT_ACTIONS, LIMITS, ROUTES } from '../../protocol';
import {
  describeArn,
  environmentOf,
  FUNCTION_NAMES,
  type FunctionName,
  grantMatrix,
  type Json,
  logicalIdOf,
  POSTING_FUNCTIONS,
  type Resource,
  ROUTE_FUNCTIONS,
  type Synthesized,
  statementsOfFunction,
  synthHerald,
} from './support';

// One synthesis for the whole file, with real esbuild bundles (seconds per function, nine functions: on a busy
// machine this takes minutes, hence the hook's own timeout).
let s: Synthesized;
beforeAll(() => {
  s = synthHerald({}, { bundle: true });
}, 600_000);

const ofType = (type: string): [string, Resource][] =>
  Object.entries(s.resources).filter(([, r]) => r.Type === type);
const props = (id: string): Record<string, unknown> => s.resources[id]?.Properties ?? {};
const fnId = (name: FunctionName) => logicalIdOf(s.resources, 'AWS::Lambda::Function', name);
const queueId = (path: string) => logicalIdOf(s.resources, 'AWS::SQS::Queue', path);
const QUEUES = {
  main: 'Pipeline/Queue',
  dlq: 'Pipeline/DeadLetterQueue',
  fanout: 'FanoutPipeline/Queue',
  fanoutDlq: 'FanoutPipeline/DeadLetterQueue',
} as const;
const tableId = (name: string) => logicalIdOf(s.resources, 'AWS::DynamoDB::Table', `Tables/${name}`);
const mappingOf = (name: FunctionName): Record<string, unknown> => {
  const found = ofType('AWS::Lambda::EventSourceMapping').filter(
    ([, m]) => JSON.stringify(m.Properties?.FunctionName) === JSON.stringify({ Ref: fnId(name) }),
  );
  expect(found, `event source mappings of ${name}`).toHaveLength(1);
  return found[0]?.[1].Properties ?? {};
};

describe('message pipeline (FIFO: command -> deliver)', () => {
  it('is a high-throughput FIFO queue with explicit deduplication and a FIFO DLQ redrive', () => {
    expect(props(queueId(QUEUES.main))).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [queueId(QUEUES.dlq), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    expect(props(queueId(QUEUES.dlq))).toMatchObject({
      FifoQueue: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    expect(props(queueId(QUEUES.dlq)).RedrivePolicy).toBeUndefined();
  });

  it('keeps messages invisible for at least six times the delivery timeout', () => {
    const timeout = props(fnId('Deliver')).Timeout;
    expect(timeout).toBe(30);
    expect(props(queueId(QUEUES.main)).VisibilityTimeout).toBeGreaterThanOrEqual(6 * Number(timeout));
  });

  it('feeds the delivery function in batches of 10 with partial batch responses', () => {
    expect(mappingOf('Deliver')).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [queueId(QUEUES.main), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('fan-out pipeline (FIFO: deliver -> fanout)', () => {
  it('is a high-throughput FIFO queue with explicit deduplication and a FIFO DLQ kept 14 days', () => {
    // The delivery function sends each job with its group (conversation and bucket of users) and an explicit
    // deduplication id: a standard queue would refuse the latter and reorder a connection's frames.
    expect(props(queueId(QUEUES.fanout))).toMatchObject({
      FifoQueue: true,
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      MessageRetentionPeriod: 4 * 24 * 3600,
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [queueId(QUEUES.fanoutDlq), 'Arn'] },
        maxReceiveCount: 5,
      },
    });
    expect(props(queueId(QUEUES.fanoutDlq))).toMatchObject({
      FifoQueue: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    expect(props(queueId(QUEUES.fanoutDlq)).RedrivePolicy).toBeUndefined();
  });

  it('keeps jobs invisible for at least six times the fan-out timeout', () => {
    const timeout = props(fnId('Fanout')).Timeout;
    expect(timeout).toBe(30);
    expect(props(queueId(QUEUES.fanout)).VisibilityTimeout).toBeGreaterThanOrEqual(6 * Number(timeout));
  });

  it('feeds the fan-out function one job at a time, at most 10 at once, with partial batch responses', () => {
    expect(mappingOf('Fanout')).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [queueId(QUEUES.fanout), 'Arn'] },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      // Bounds fan-out's @connections posts in flight (see FanoutPipeline): API Gateway's quota is shared.
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });
});

describe('queues', () => {
  it('are exactly four, all FIFO: the queue and DLQ of the message pipeline and of fan-out', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues.map(([id]) => id).sort()).toEqual(Object.values(QUEUES).map(queueId).sort());
    for (const [id, queue] of queues) expect(queue.Properties?.FifoQueue, id).toBe(true);
  });

  it('are all encrypted (SSE-SQS) and deny every non-TLS request', () => {
    for (const id of Object.values(QUEUES).map(queueId)) {
      expect(props(id).SqsManagedSseEnabled, id).toBe(true);
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

  it('are consumed by exactly two event source mappings: deliver on the message queue, fanout on its own', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').map(([, m]) => ({
      fn: JSON.stringify(m.Properties?.FunctionName),
      queue: JSON.stringify(m.Properties?.EventSourceArn),
    }));
    expect(mappings).toHaveLength(2);
    const expected = [
      ['Deliver', QUEUES.main],
      ['Fanout', QUEUES.fanout],
    ] as const;
    for (const [fn, queue] of expected) {
      expect(mappings).toContainEqual({
        fn: JSON.stringify({ Ref: fnId(fn) }),
        queue: JSON.stringify({ 'Fn::GetAtt': [queueId(queue), 'Arn'] }),
      });
    }
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

  it('Connections: connectionId key, TTL on expiresAt, no index (user items name the connections, ADR 16)', () => {
    const connections = props(tableId('Connections'));
    expect(connections).toMatchObject({
      KeySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(connections.GlobalSecondaryIndexes).toBeUndefined();
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
    const found = ofType('AWS::ApiGatewayV2::Route').filter(([, r]) => r.Properties?.RouteKey === key);
    expect(found, `routes ${key}`).toHaveLength(1);
    const [id, route] = found[0] ?? ['', { Type: '' }];
    return [id, route.Properties ?? {}];
  };
  /** Logical ids of the functions a route's integration invokes (exactly one for a sound route). */
  const targetsOf = (key: string): string[] => {
    const target = JSON.stringify(routeByKey(key)[1].Target);
    const integrationId = /"Ref":"([A-Za-z0-9]+)"/.exec(target)?.[1] ?? '';
    const integration = props(integrationId);
    expect(integration.IntegrationType, key).toBe('AWS_PROXY');
    const uri = JSON.stringify(integration.IntegrationUri);
    return [...uri.matchAll(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/g)].map((m) => m[1] ?? '');
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
    expect(JSON.stringify(authorizer.Properties?.AuthorizerUri)).toContain(
      `"Fn::GetAtt":["${fnId('Authorizer')}","Arn"]`,
    );
  });

  it('has exactly $connect, $disconnect, $default and one route per client action', () => {
    const keys = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties?.RouteKey);
    expect(keys.sort()).toEqual(['$connect', '$default', '$disconnect', ...CLIENT_ACTIONS].sort());
  });

  it('routes the special routes to their own functions', () => {
    expect(targetsOf('$connect')).toEqual([fnId('Connect')]);
    expect(targetsOf('$disconnect')).toEqual([fnId('Disconnect')]);
    expect(targetsOf('$default')).toEqual([fnId('DefaultRoute')]);
  });

  it('routes every client action to the function ROUTES names for it, and to nothing else', () => {
    // The contract table itself: every route kind is served, and a few anchors cannot silently move.
    expect(new Set(Object.values(ROUTES))).toEqual(new Set(Object.keys(ROUTE_FUNCTIONS)));
    expect(ROUTES).toMatchObject({ send: 'command', history: 'query', typing: 'ephemeral' });
    for (const action of CLIENT_ACTIONS) {
      expect(targetsOf(action), action).toEqual([fnId(ROUTE_FUNCTIONS[ROUTES[action]])]);
    }
  });

  it('makes $default and the command, query and ephemeral routes two-way, and only them', () => {
    const twoWay = ['$default', ...CLIENT_ACTIONS];
    for (const key of twoWay) {
      const [routeId, route] = routeByKey(key);
      expect(route.RouteResponseSelectionExpression, key).toBe('$default');
      s.template.hasResourceProperties('AWS::ApiGatewayV2::RouteResponse', {
        RouteId: { Ref: routeId },
        RouteResponseKey: '$default',
      });
    }
    expect(ofType('AWS::ApiGatewayV2::RouteResponse')).toHaveLength(twoWay.length);
    for (const key of ['$connect', '$disconnect']) {
      expect(routeByKey(key)[1].RouteResponseSelectionExpression, key).toBeUndefined();
    }
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
const SHARED_ENV = ['POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_METRICS_NAMESPACE'];

/**
 * The exact function-specific env vars of each function (shared Powertools/Node ones apart). They are what
 * each handler's wiring parses (lambdas/config.ts): $connect and $disconnect also announce presence, so they
 * read the ephemeral config on top of the connection store's.
 */
const EXPECTED_ENV: Record<FunctionName, string[]> = {
  Authorizer: [ENV.AUTH_MODE, ENV.AUTH_ISSUER, ENV.AUTH_AUDIENCE, ENV.AUTH_DEV_SECRET_ARN],
  Connect: [ENV.CONNECTIONS_TABLE, ENV.CONVERSATIONS_TABLE, ENV.CALLBACK_URL],
  Disconnect: [ENV.CONNECTIONS_TABLE, ENV.CONVERSATIONS_TABLE, ENV.CALLBACK_URL],
  Ephemeral: [ENV.CONNECTIONS_TABLE, ENV.CONVERSATIONS_TABLE, ENV.CALLBACK_URL],
  Command: [ENV.CONNECTIONS_TABLE, ENV.CONVERSATIONS_TABLE, ENV.MESSAGE_QUEUE_URL],
  Query: [ENV.CONNECTIONS_TABLE, ENV.CONVERSATIONS_TABLE, ENV.MESSAGES_TABLE],
  DefaultRoute: [],
  Deliver: [
    ENV.CONNECTIONS_TABLE,
    ENV.CONVERSATIONS_TABLE,
    ENV.MESSAGES_TABLE,
    ENV.CALLBACK_URL,
    ENV.DEAD_LETTER_QUEUE_URL,
    ENV.FANOUT_QUEUE_URL,
    ENV.DELIVERY_CONCURRENCY,
    ENV.RECALL_WINDOW_SECONDS,
  ],
  Fanout: [ENV.CONNECTIONS_TABLE, ENV.CALLBACK_URL, ENV.DELIVERY_CONCURRENCY, ENV.DEAD_LETTER_QUEUE_URL],
};

/** The config schemas each function's wiring (lambdas/wiring/) loads at cold start. */
const CONFIGS: Record<FunctionName, readonly z.ZodMiniType[]> = {
  Authorizer: [authorizerConfig],
  Connect: [connectConfig, ephemeralConfig],
  Disconnect: [connectConfig, ephemeralConfig],
  Ephemeral: [ephemeralConfig],
  Command: [commandConfig],
  Query: [queryConfig],
  DefaultRoute: [],
  Deliver: [deliverConfig],
  Fanout: [fanoutConfig],
};

const DYNAMODB = '@aws-sdk/client-dynamodb';
const SQS = '@aws-sdk/client-sqs';
const MANAGEMENT_API = '@aws-sdk/client-apigatewaymanagementapi';

/** The AWS SDK clients in each function's bundle (sorted): the ones its wiring builds (lambdas/wiring/). */
const SDK_CLIENTS: Record<FunctionName, string[]> = {
  Authorizer: ['@aws-sdk/client-secrets-manager'],
  Connect: [MANAGEMENT_API, DYNAMODB],
  Disconnect: [MANAGEMENT_API, DYNAMODB],
  Ephemeral: [MANAGEMENT_API, DYNAMODB],
  Command: [DYNAMODB, SQS],
  Query: [DYNAMODB],
  DefaultRoute: [],
  Deliver: [MANAGEMENT_API, DYNAMODB, SQS],
  Fanout: [MANAGEMENT_API, DYNAMODB, SQS],
};

/** A function's asset directory in the cloud assembly: `asset.<hash>`, its code's S3 key being `<hash>.zip`. */
const assetDirOf = (name: FunctionName): string => {
  const key = (props(fnId(name)).Code as { S3Key?: unknown } | undefined)?.S3Key;
  if (typeof key !== 'string' || !key.endsWith('.zip')) throw new Error(`${name}: no asset S3 key`);
  return path.join(s.app.synth().directory, `asset.${key.slice(0, -'.zip'.length)}`);
};

/** The JavaScript files of a function's bundle (index.mjs and its chunks), name and content. */
const bundleFilesOf = (name: FunctionName): [string, string][] => {
  const dir = assetDirOf(name);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.mjs'))
    .map((file) => [file, readFileSync(path.join(dir, file), 'utf8')]);
};

/**
 * What CloudFormation makes of an env value on AWS: `Ref` of a table is its name, of a queue its URL, of a secret
 * its ARN, of an API its id; pseudo parameters take example values.
 */
function deployedValue(value: Json): string {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const ref = value.Ref;
    if (typeof ref === 'string') {
      const pseudo: Record<string, string> = {
        'AWS::Region': 'eu-west-1',
        'AWS::URLSuffix': 'amazonaws.com',
        'AWS::AccountId': '123456789012',
        'AWS::Partition': 'aws',
      };
      if (pseudo[ref]) return pseudo[ref];
      const type = s.resources[ref]?.Type;
      if (type === 'AWS::DynamoDB::Table') return `herald-${ref}`;
      if (type === 'AWS::SQS::Queue') return `https://sqs.eu-west-1.amazonaws.com/123456789012/${ref}`;
      if (type === 'AWS::SecretsManager::Secret') {
        return `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${ref}-AbCdEf`;
      }
      if (type === 'AWS::ApiGatewayV2::Api') return 'a1b2c3d4e5';
    }
    const join = value['Fn::Join'];
    if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
      return join[1].map(deployedValue).join(join[0]);
    }
  }
  throw new Error(`no deployed value for ${JSON.stringify(value)}`);
}

describe('functions', () => {
  const own = (name: FunctionName) =>
    Object.keys(environmentOf(s.resources, name))
      .filter((k) => !SHARED_ENV.includes(k))
      .sort();

  it('are exactly the nine handlers: no hidden helper functions (log retention, custom resources)', () => {
    expect(ofType('AWS::Lambda::Function')).toHaveLength(FUNCTION_NAMES.length);
    for (const name of FUNCTION_NAMES) expect(fnId(name)).toBeTruthy();
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
      expect(environmentOf(s.resources, name)).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'herald',
        POWERTOOLS_METRICS_NAMESPACE: 'Herald',
      });
      // No --enable-source-maps: it costs every cold start; the maps ship as files for offline use (ADR 17).
      expect(environmentOf(s.resources, name).NODE_OPTIONS).toBeUndefined();
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

  it.each(FUNCTION_NAMES)(
    '%s has exactly the env vars its handler parses (names from lambdas/config.ts)',
    (name) => {
      expect(own(name)).toEqual([...EXPECTED_ENV[name]].sort());
    },
  );

  it.each(FUNCTION_NAMES)(
    '%s: its deployed env passes its config schemas, and sets no variable they lack',
    (name) => {
      const env = Object.fromEntries(
        Object.entries(environmentOf(s.resources, name)).map(([k, v]) => [k, deployedValue(v)]),
      );
      // What the function does at cold start: a missing or malformed variable throws a ConfigError here.
      for (const schema of CONFIGS[name]) expect(() => loadConfig(schema, env)).not.toThrow();
      const known = new Set(
        CONFIGS[name].flatMap((schema) => {
          // The schema's definition (zod core): an object's shape, or a discriminated union's options.
          const { options, shape } = (
            schema as unknown as {
              _zod: {
                def: { options?: { shape: Record<string, unknown> }[]; shape?: Record<string, unknown> };
              };
            }
          )._zod.def;
          return (options?.map((o) => o.shape) ?? [shape ?? {}]).flatMap((sh) => Object.keys(sh));
        }),
      );
      expect(own(name).filter((k) => !known.has(k))).toEqual([]);
    },
  );

  it('points each env var at the right resource, in every function that has it', () => {
    const callbackUrl = 'https://<WebSocket/Api>.execute-api.{AWS::Region}.{AWS::URLSuffix}/prod';
    const expected: Record<string, string> = {
      [ENV.CONNECTIONS_TABLE]: '<Tables/Connections>',
      [ENV.CONVERSATIONS_TABLE]: '<Tables/Conversations>',
      [ENV.MESSAGES_TABLE]: '<Tables/Messages>',
      [ENV.MESSAGE_QUEUE_URL]: `<${QUEUES.main}>`,
      [ENV.DEAD_LETTER_QUEUE_URL]: `<${QUEUES.dlq}>`,
      [ENV.FANOUT_QUEUE_URL]: `<${QUEUES.fanout}>`,
      [ENV.CALLBACK_URL]: callbackUrl,
      [ENV.DELIVERY_CONCURRENCY]: '16',
      [ENV.RECALL_WINDOW_SECONDS]: String(LIMITS.recallWindowSeconds),
      [ENV.AUTH_MODE]: 'dev',
      [ENV.AUTH_ISSUER]: 'herald-dev',
      [ENV.AUTH_AUDIENCE]: 'herald',
      [ENV.AUTH_DEV_SECRET_ARN]: '<Auth/DevSigningSecret>',
    };
    for (const name of FUNCTION_NAMES) {
      for (const key of own(name)) {
        const value = environmentOf(s.resources, name)[key] ?? null;
        // Each pipeline's consumer forwards poison bodies to its own DLQ.
        const want =
          name === 'Fanout' && key === ENV.DEAD_LETTER_QUEUE_URL ? `<${QUEUES.fanoutDlq}>` : expected[key];
        expect(describeArn(s.resources, value), `${name} ${key}`).toBe(want);
      }
    }
    // Refs, not look-alike strings: the queue URLs and table names are the resources of this stack.
    const deliver = environmentOf(s.resources, 'Deliver');
    expect(deliver[ENV.FANOUT_QUEUE_URL]).toEqual({ Ref: queueId(QUEUES.fanout) });
    expect(deliver[ENV.DEAD_LETTER_QUEUE_URL]).toEqual({ Ref: queueId(QUEUES.dlq) });
    expect(environmentOf(s.resources, 'Command')[ENV.MESSAGE_QUEUE_URL]).toEqual({
      Ref: queueId(QUEUES.main),
    });
  });

  it('are bundled by esbuild as minified ESM chunks with source maps, the AWS SDK clients they use included', () => {
    const lock = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    for (const name of FUNCTION_NAMES) {
      const files = bundleFilesOf(name);
      expect(
        files.map(([file]) => file),
        name,
      ).toContain('index.mjs');
      for (const [file, code] of files) {
        expect(existsSync(path.join(assetDirOf(name), `${file}.map`)), `${name} ${file}`).toBe(true);
        // Assertions on booleans, so that a failure does not print a megabyte of minified code.
        expect(code.startsWith(BANNER), `${name} ${file}`).toBe(true);
        // Nothing is loaded from @aws-sdk at run time (an error message quoting `[require("@aws-sdk/...")]` is
        // fine)...
        expect(/\bfrom\s*["']@aws-sdk\//.test(code), `${name} ${file}`).toBe(false);
        expect(/\bimport\(\s*["']@aws-sdk\//.test(code), `${name} ${file}`).toBe(false);
        expect(/[^[]require\(["']@aws-sdk\//.test(code), `${name} ${file}`).toBe(false);
      }
      // ...because the clients are inside, at the versions package-lock.json pins: exactly the ones the
      // function's wiring builds (lambdas/wiring/), since every other client is init time for nothing.
      const bundled = files.flatMap(([, code]) => [
        ...code.matchAll(/name:"(@aws-sdk\/client-[a-z-]+)",version:"([0-9.]+)"/g),
      ]);
      expect([...new Set(bundled.map(([, client]) => client))].sort(), name).toEqual(SDK_CLIENTS[name]);
      for (const [, client, version] of bundled) {
        expect(version, client).toBe(lock.packages[`node_modules/${client}`]?.version);
      }
    }
  });

  it('validate with zod/mini only: no bundle carries classic zod (its method chains were ~100 KiB and init time)', () => {
    for (const name of FUNCTION_NAMES) {
      const dir = assetDirOf(name);
      // The bundle's own record of what went in: the sources of its source maps (they ship beside the code).
      const sources = readdirSync(dir)
        .filter((file) => file.endsWith('.mjs.map'))
        .flatMap(
          (file) => (JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { sources: string[] }).sources,
        );
      const zod = sources.filter((source) => source.includes('node_modules/zod/'));
      expect(zod.length, name).toBeGreaterThan(0);
      expect(
        zod.filter((source) => source.includes('/zod/v4/classic/')),
        name,
      ).toEqual([]);
    }
  });

  it('load Node built-ins without ES module facades (builtinModuleAliases), and import only their own chunks', () => {
    for (const name of FUNCTION_NAMES) {
      for (const [file, code] of bundleFilesOf(name)) {
        // The banner's `module` is the one built-in imported as a module: its facade runs no lazy getter.
        const imported = [...code.matchAll(/\b(?:from|import\()\s*["']([^"']+)["']/g)]
          .map(([, specifier]) => specifier ?? '')
          .filter((specifier) => specifier !== 'module' && !/^\.\/chunk-[A-Z0-9]+\.mjs$/.test(specifier));
        expect(imported, `${name} ${file}`).toEqual([]);
      }
    }
  });

  it('leave the code that dependencies load with import() out of the start: the SDK credential fallbacks', () => {
    for (const name of FUNCTION_NAMES.filter((n) => SDK_CLIENTS[n].length > 0)) {
      // The chunks index.mjs loads when the function starts, transitively.
      const files = new Map(bundleFilesOf(name));
      const loaded = new Set<string>();
      const visit = (file: string) => {
        if (loaded.has(file)) return;
        loaded.add(file);
        for (const [, chunk] of (files.get(file) ?? '').matchAll(
          /\bfrom\s*["']\.\/(chunk-[A-Z0-9]+\.mjs)["']/g,
        )) {
          if (chunk) visit(chunk);
        }
      };
      visit('index.mjs');
      const atStart = [...loaded].map((file) => files.get(file) ?? '').join('\n');
      // The credential chain's first provider reads the environment, as on Lambda; SSO is a later fallback.
      expect(atStart.includes('defaultProvider::fromEnv'), name).toBe(true);
      expect(atStart.includes('defaultProvider::fromSSO'), name).toBe(true);
      expect(atStart.includes('"SSOOIDCClient"'), name).toBe(false);
      expect(loaded.size, name).toBeLessThan(files.size);
    }
  });
});

describe('IAM: each function can do what its handler does, and nothing more', () => {
  const XRAY = { 'xray:PutTelemetryRecords': ['*'], 'xray:PutTraceSegments': ['*'] };
  const ownLogs = (name: FunctionName) => ({
    'logs:CreateLogStream': [`<${name}LogGroup>`],
    'logs:PutLogEvents': [`<${name}LogGroup>`],
  });
  const matrix = (name: FunctionName) => grantMatrix(statementsOfFunction(s.resources, name));
  /** The expected matrix of a function: its logs and traces plus `grants`, resources in any order. */
  const exactly = (name: FunctionName, grants: Record<string, string[]>) =>
    Object.fromEntries(
      Object.entries({ ...XRAY, ...ownLogs(name), ...grants })
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([action, resources]) => [action, [...resources].sort()]),
    );
  const postToConnections =
    'arn:{AWS::Partition}:execute-api:{AWS::Region}:{AWS::AccountId}:<WebSocket/Api>/prod/POST/@connections/*';
  const CONNECTIONS = '<Tables/Connections>';
  /** Connections' user items only (`dynamodb:LeadingKeys` user#*): the item that names a user's connections. */
  const USER_ITEMS = '<Tables/Connections> [keys user#*]';
  const CONVERSATIONS = '<Tables/Conversations>';
  const BY_MEMBER = '<Tables/Conversations>/index/byMember';
  const MESSAGES = '<Tables/Messages>';
  const sendTo = (queue: string) => ({
    'sqs:GetQueueAttributes': [queue],
    'sqs:GetQueueUrl': [queue],
    'sqs:SendMessage': [queue],
  });
  const consume = (queue: string) => ({
    'sqs:ChangeMessageVisibility': [queue],
    'sqs:DeleteMessage': [queue],
    'sqs:GetQueueAttributes': [queue],
    'sqs:GetQueueUrl': [queue],
    'sqs:ReceiveMessage': [queue],
  });
  /** Presence ($connect, $disconnect, and typing's follow-up of gone users): whom to tell. */
  const PRESENCE_QUERIES = { 'dynamodb:Query': [CONVERSATIONS, BY_MEMBER] };
  /** Finding users' connections (their user items) and removing a connection (row read, entry, row delete). */
  const FIND_AND_REMOVE_CONNECTIONS = {
    'dynamodb:GetItem': [CONNECTIONS],
    'dynamodb:BatchGetItem': [CONNECTIONS],
    'dynamodb:DeleteItem': [CONNECTIONS],
    'dynamodb:UpdateItem': [USER_ITEMS],
  };

  it('authorizer: reads the dev signing secret only', () => {
    expect(matrix('Authorizer')).toEqual(
      exactly('Authorizer', {
        'secretsmanager:DescribeSecret': ['<Auth/DevSigningSecret>'],
        'secretsmanager:GetSecretValue': ['<Auth/DevSigningSecret>'],
      }),
    );
  });

  it('connect: puts its own row; presence reads, stale-row cleanup and POST; never writes Conversations', () => {
    expect(matrix('Connect')).toEqual(
      exactly('Connect', {
        'dynamodb:PutItem': [CONNECTIONS],
        ...FIND_AND_REMOVE_CONNECTIONS,
        ...PRESENCE_QUERIES,
        'execute-api:ManageConnections': [postToConnections],
      }),
    );
  });

  it('disconnect: deletes its own row; presence reads and POST; never writes Conversations', () => {
    expect(matrix('Disconnect')).toEqual(
      exactly('Disconnect', {
        ...FIND_AND_REMOVE_CONNECTIONS,
        ...PRESENCE_QUERIES,
        'execute-api:ManageConnections': [postToConnections],
      }),
    );
  });

  it('command: flood limit on Connections, membership read on Conversations, send to the FIFO queue only', () => {
    expect(matrix('Command')).toEqual(
      exactly('Command', {
        'dynamodb:UpdateItem': [CONNECTIONS],
        // isMember is one GetItem; nothing on this route Queries.
        'dynamodb:GetItem': [CONVERSATIONS],
        ...sendTo(`<${QUEUES.main}>`),
      }),
    );
  });

  it('query: flood limit on Connections; reads of Conversations, byMember and Messages; no other write', () => {
    expect(matrix('Query')).toEqual(
      exactly('Query', {
        'dynamodb:UpdateItem': [CONNECTIONS],
        'dynamodb:GetItem': [CONVERSATIONS],
        'dynamodb:BatchGetItem': [CONVERSATIONS],
        'dynamodb:Query': [CONVERSATIONS, BY_MEMBER, MESSAGES],
      }),
    );
  });

  it('ephemeral: membership, typing gate and flood limit, presence follow-up, stale-row cleanup and POST', () => {
    expect(matrix('Ephemeral')).toEqual(
      exactly('Ephemeral', {
        ...FIND_AND_REMOVE_CONNECTIONS,
        'dynamodb:GetItem': [CONVERSATIONS, CONNECTIONS],
        ...PRESENCE_QUERIES,
        // The typing gate and flood limit update connection rows: UpdateItem on any key.
        'dynamodb:UpdateItem': [CONNECTIONS, USER_ITEMS],
        'execute-api:ManageConnections': [postToConnections],
      }),
    );
  });

  it('default: nothing beyond its logs and traces', () => {
    expect(matrix('DefaultRoute')).toEqual(exactly('DefaultRoute', {}));
  });

  it('deliver: the append, member changes, connections, 410 cleanup, POST, its queue, the DLQ and the fan-out queue', () => {
    const data = [CONVERSATIONS, MESSAGES];
    expect(matrix('Deliver')).toEqual(
      exactly('Deliver', {
        ...FIND_AND_REMOVE_CONNECTIONS,
        'dynamodb:GetItem': [...data, CONNECTIONS],
        'dynamodb:PutItem': data,
        'dynamodb:UpdateItem': [...data, USER_ITEMS],
        // A leave is conditioned on the leaver's member row, in the append transaction.
        'dynamodb:ConditionCheckItem': [CONVERSATIONS],
        'dynamodb:Query': [CONVERSATIONS],
        // Member removal is a BatchWriteItem of DeleteRequests on Conversations, never a delete of events;
        // DeleteItem only on Connections (the 410 cleanup).
        'dynamodb:BatchWriteItem': [CONVERSATIONS],
        'execute-api:ManageConnections': [postToConnections],
        ...consume(`<${QUEUES.main}>`),
        'sqs:GetQueueAttributes': [`<${QUEUES.main}>`, `<${QUEUES.dlq}>`, `<${QUEUES.fanout}>`],
        'sqs:GetQueueUrl': [`<${QUEUES.main}>`, `<${QUEUES.dlq}>`, `<${QUEUES.fanout}>`],
        'sqs:SendMessage': [`<${QUEUES.dlq}>`, `<${QUEUES.fanout}>`],
      }),
    );
  });

  it('fanout: the users’ connections, the 410 cleanup, POST, consuming its queue, poison jobs to its DLQ', () => {
    const queue = `<${QUEUES.fanout}>`;
    const dlq = `<${QUEUES.fanoutDlq}>`;
    expect(matrix('Fanout')).toEqual(
      exactly('Fanout', {
        ...FIND_AND_REMOVE_CONNECTIONS,
        'execute-api:ManageConnections': [postToConnections],
        ...consume(queue),
        'sqs:GetQueueAttributes': [queue, dlq],
        'sqs:GetQueueUrl': [queue, dlq],
        'sqs:SendMessage': [dlq],
      }),
    );
  });

  it('only deliver, fanout, ephemeral, connect and disconnect may manage connections: POST, this API, this stage', () => {
    for (const name of FUNCTION_NAMES) {
      const manage = statementsOfFunction(s.resources, name).filter((st) =>
        st.actions.some((a) => a.startsWith('execute-api:')),
      );
      const posting = (POSTING_FUNCTIONS as readonly string[]).includes(name);
      expect(manage.length > 0, name).toBe(posting);
      for (const st of manage) {
        expect(st.actions, name).toEqual(['execute-api:ManageConnections']);
        expect(st.resources, name).toEqual([postToConnections]);
        // The API id is a Ref to this stack's API, not a pattern.
        expect(JSON.stringify(st.rawResources), name).toContain(
          `{"Ref":"${logicalIdOf(s.resources, 'AWS::ApiGatewayV2::Api', 'WebSocket/Api')}"}`,
        );
      }
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

  it('no policy anywhere grants DynamoDB, SQS, Secrets Manager or execute-api on "*", or Scan', () => {
    const policies = ofType('AWS::IAM::Policy');
    expect(policies.length).toBeGreaterThanOrEqual(FUNCTION_NAMES.length);
    for (const [id, r] of policies) {
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

  /** `function -> actions` of every function holding one of `actions` on `resource`. */
  const holders = (actions: readonly string[], resource: string) =>
    Object.fromEntries(
      FUNCTION_NAMES.map((name) => {
        const m = matrix(name);
        return [name, actions.filter((a) => m[a]?.includes(resource))] as const;
      }).filter(([, held]) => held.length > 0),
    );
  const WRITES = [
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:BatchWriteItem',
  ];

  it('only deliver writes Conversations and Messages, and nothing can delete a message', () => {
    expect(Object.keys(holders(WRITES, CONVERSATIONS))).toEqual(['Deliver']);
    expect(holders(WRITES, MESSAGES)).toEqual({
      Deliver: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
    });
  });

  it('only connect creates connection rows; only the flood-limited routes update them; others only user items', () => {
    expect(holders(['dynamodb:PutItem'], CONNECTIONS)).toEqual({ Connect: ['dynamodb:PutItem'] });
    expect(Object.keys(holders(['dynamodb:UpdateItem'], CONNECTIONS)).sort()).toEqual(
      ['Command', 'Ephemeral', 'Query'].sort(),
    );
    expect(Object.keys(holders(['dynamodb:UpdateItem'], USER_ITEMS)).sort()).toEqual(
      ['Connect', 'Deliver', 'Disconnect', 'Ephemeral', 'Fanout'].sort(),
    );
    expect(holders(['dynamodb:BatchWriteItem'], CONNECTIONS)).toEqual({});
  });

  it('only query and deliver touch Messages; connect, disconnect, ephemeral, command and fanout cannot', () => {
    for (const name of FUNCTION_NAMES) {
      const touched = statementsOfFunction(s.resources, name).flatMap((st) => st.resources);
      expect(
        touched.some((r) => r.startsWith(MESSAGES)),
        name,
      ).toBe(name === 'Query' || name === 'Deliver');
    }
  });

  it('only command sends to the FIFO queue; deliver to its DLQ and the fan-out queue; fanout to its DLQ', () => {
    const senders = (queue: string) =>
      FUNCTION_NAMES.filter((name) => matrix(name)['sqs:SendMessage']?.includes(`<${queue}>`));
    expect(senders(QUEUES.main)).toEqual(['Command']);
    expect(senders(QUEUES.dlq)).toEqual(['Deliver']);
    expect(senders(QUEUES.fanout)).toEqual(['Deliver']);
    expect(senders(QUEUES.fanoutDlq)).toEqual(['Fanout']);
  });
});

describe('alarms', () => {
  const alarms = () => ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties ?? {});
  const find = (metric: string) => alarms().filter((a) => a.MetricName === metric);

  it('fire on any message in either dead-letter queue (delivery and fan-out)', () => {
    const dlqAlarms = find('ApproximateNumberOfMessagesVisible');
    expect(dlqAlarms).toHaveLength(2);
    for (const dlq of [QUEUES.dlq, QUEUES.fanoutDlq]) {
      expect(dlqAlarms).toContainEqual(
        expect.objectContaining({
          Namespace: 'AWS/SQS',
          Statistic: 'Maximum',
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
          Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(dlq), 'QueueName'] } }],
        }),
      );
    }
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
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId(QUEUES.main), 'QueueName'] } }],
      }),
    ]);
  });

  it('fire on any INTERNAL answer to a client frame (its Powertools metric, not a Lambda error)', () => {
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

  it('are exactly these, and have no actions when no alarm topic is configured', () => {
    for (const a of alarms()) expect(a.AlarmActions).toBeUndefined();
    // Per function errors, plus: two DLQs, INTERNAL answers, delivery throttles, oldest message age.
    const count = FUNCTION_NAMES.length + 5;
    expect(s.stack.alarms.all).toHaveLength(count);
    expect(alarms()).toHaveLength(count);
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
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: Json }>;
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
    expect(value('MessageQueueUrl')).toBe(`<${QUEUES.main}>`);
    expect(value('DeadLetterQueueUrl')).toBe(`<${QUEUES.dlq}>`);
    expect(value('DevAuthSecretArn')).toBe('<Auth/DevSigningSecret>');
  });
});

/**
 * The composition root: the only place that reads configuration and builds SDK clients and adapters. Each
 * function's dependencies are built once per cold start, on first use, from that function's config slice.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from './adapters/dynamo-connection-store';
import { DynamoConversationReader } from './adapters/dynamo-conversation-reader';
import { DynamoEventStore } from './adapters/dynamo-event-store';
import { DynamoMembershipDirectory } from './adapters/dynamo-membership-directory';
import { DynamoConnectionActivity, DynamoContactDirectory } from './adapters/dynamo-presence';
import { DynamoRateLimits } from './adapters/dynamo-rate-limits';
import { JoseTokenVerifier } from './adapters/jose-token-verifier';
import { ManagementApiNotifier } from './adapters/management-api-notifier';
import { readSecretString } from './adapters/secrets-manager-secret';
import { SqsCommandQueue } from './adapters/sqs-command-queue';
import { SqsDeadLetter } from './adapters/sqs-dead-letter';
import { SqsFanoutQueue } from './adapters/sqs-fanout-queue';
import {
  authorizerConfig,
  commandConfig,
  connectConfig,
  deliverConfig,
  type EphemeralConfig,
  ephemeralConfig,
  fanoutConfig,
  INDEX,
  loadConfig,
  queryConfig,
  sdkCallLogConfig,
} from './config';
import type { AcceptCommandDeps } from './core/accept-command';
import type { ApplyDeps } from './core/apply-command';
import type { FanoutDeps } from './core/fanout';
import type { Clock, ConnectionStore, TokenVerifier } from './core/ports';
import type { PresenceDeps } from './core/presence';
import type { QueryDeps } from './core/queries';
import { FRAME_POLICY, type FrameRateLimiter } from './core/rate-limit';
import { TYPING_POLICY, type TypingDeps } from './core/typing';

export const logger = new Logger({ serviceName: 'herald' });
export const metrics = new Metrics({ namespace: 'Herald', serviceName: 'herald' });

const systemClock: Clock = { now: () => Date.now() };

function once<T>(build: () => T): () => T {
  let value: { v: T } | undefined;
  return () => {
    value ??= { v: build() };
    return value.v;
  };
}

/** An SDK client's middleware stack, as far as call counting needs it (every client has one). */
interface CountableStack {
  add(middleware: CallCounter, options: { step: 'initialize'; name: string }): void;
}
type CallCounter = (
  next: (args: { input: Record<string, unknown> }) => Promise<{ output: unknown }>,
  context: { clientName?: string; commandName?: string },
) => (args: { input: Record<string, unknown> }) => Promise<{ output: unknown }>;

/**
 * Benchmarks only (HERALD_SDK_CALL_LOG=true; `npm run bench` sets it, the stack never does): counts this
 * environment's AWS calls by `Client/Command`, the time spent waiting on them and, for DynamoDB, the capacity
 * units the service reports (by asking for them), and logs what it counted since its last line, at most once a
 * second: `HERALD_SDK_CALLS {"DynamoDBClient/QueryCommand":{"calls":2,"read":1,"write":0,"ms":9.5},...}`.
 * Off, it returns the client untouched: no middleware, no cost.
 */
function counted<C extends { readonly middlewareStack: object }>(client: C): C {
  if (!sdkCallCounts()) return client;
  (client.middlewareStack as CountableStack).add(
    (next, context) => async (args) => {
      const key = `${context.clientName ?? 'UnknownClient'}/${context.commandName ?? 'UnknownCommand'}`;
      if (context.clientName === 'DynamoDBClient') args.input.ReturnConsumedCapacity ??= 'TOTAL';
      let output: unknown;
      const started = performance.now();
      try {
        const result = await next(args);
        output = result.output;
        return result;
      } finally {
        countCall(key, output, performance.now() - started);
      }
    },
    { step: 'initialize', name: 'heraldSdkCallCounter' },
  );
  return client;
}

const sdkCallCounts = /* @__PURE__ */ once(() =>
  loadConfig(sdkCallLogConfig, process.env).HERALD_SDK_CALL_LOG
    ? new Map<string, { calls: number; read: number; write: number; ms: number }>()
    : undefined,
);
let sdkCallFlushPending = false;

function countCall(key: string, output: unknown, ms: number): void {
  const counts = sdkCallCounts();
  if (!counts) return;
  const entry = counts.get(key) ?? { calls: 0, read: 0, write: 0, ms: 0 };
  entry.calls += 1;
  entry.ms += ms;
  // With ReturnConsumedCapacity TOTAL, DynamoDB reports CapacityUnits per table: read units for reads.
  const consumed = (output as { ConsumedCapacity?: unknown } | undefined)?.ConsumedCapacity;
  const isRead = /\/(Get|BatchGet|Query|Scan|TransactGet)/.test(key);
  for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
    const units = (c as { CapacityUnits?: number }).CapacityUnits ?? 0;
    if (isRead) entry.read += units;
    else entry.write += units;
  }
  counts.set(key, entry);
  if (sdkCallFlushPending) return;
  sdkCallFlushPending = true;
  setTimeout(() => {
    sdkCallFlushPending = false;
    process.stdout.write(`HERALD_SDK_CALLS ${JSON.stringify(Object.fromEntries(counts))}\n`);
    counts.clear();
  }, 1000).unref();
}

const documentClient = /* @__PURE__ */ once(() =>
  DynamoDBDocumentClient.from(counted(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  }),
);
// Queue URLs from emulators point at hosts that do not resolve; on AWS the regional endpoint is the same.
const sqsClient = /* @__PURE__ */ once(() => counted(new SQSClient({ useQueueUrlAsEndpoint: false })));

export const authorizerDeps = /* @__PURE__ */ once((): { verifier: TokenVerifier } => {
  const config = loadConfig(authorizerConfig, process.env);
  if (config.AUTH_MODE === 'jwks') {
    return {
      verifier: new JoseTokenVerifier(
        { kind: 'jwks', url: config.AUTH_JWKS_URL },
        config.AUTH_ISSUER,
        config.AUTH_AUDIENCE,
      ),
    };
  }
  const { AUTH_DEV_SECRET: inline, AUTH_DEV_SECRET_ARN: arn } = config;
  const secret =
    inline !== undefined
      ? () => Promise.resolve(inline)
      : () => readSecretString(counted(new SecretsManagerClient({})), arn ?? '');
  return {
    verifier: new JoseTokenVerifier({ kind: 'secret', secret }, config.AUTH_ISSUER, config.AUTH_AUDIENCE),
  };
});

export const connectionDeps = /* @__PURE__ */ once((): { connections: ConnectionStore } => {
  const config = loadConfig(connectConfig, process.env);
  return {
    connections: new DynamoConnectionStore(
      documentClient(),
      config.CONNECTIONS_TABLE,
      config.CONNECTIONS_BY_USER_INDEX,
    ),
  };
});

export const commandDeps = /* @__PURE__ */ once(
  (): AcceptCommandDeps & { takeFrame: FrameRateLimiter['takeFrame'] } => {
    const config = loadConfig(commandConfig, process.env);
    const limits = buildRateLimits(documentClient(), config.CONNECTIONS_TABLE);
    return {
      takeFrame: (connectionId, now) => limits.takeFrame(connectionId, now),
      directory: new DynamoMembershipDirectory(documentClient(), config.CONVERSATIONS_TABLE),
      queue: new SqsCommandQueue(sqsClient(), config.MESSAGE_QUEUE_URL),
      clock: systemClock,
    };
  },
);

export const deliverDeps = /* @__PURE__ */ once((): ApplyDeps & { deadLetter: SqsDeadLetter } => {
  const config = loadConfig(deliverConfig, process.env);
  const db = documentClient();
  return {
    store: new DynamoEventStore(db, config.CONVERSATIONS_TABLE, config.MESSAGES_TABLE, systemClock),
    directory: new DynamoMembershipDirectory(db, config.CONVERSATIONS_TABLE),
    push: {
      connections: new DynamoConnectionStore(db, config.CONNECTIONS_TABLE, config.CONNECTIONS_BY_USER_INDEX),
      notifier: new ManagementApiNotifier(
        counted(new ApiGatewayManagementApiClient({ endpoint: config.CALLBACK_URL })),
      ),
      concurrency: config.DELIVERY_CONCURRENCY,
      fanout: new SqsFanoutQueue(sqsClient(), config.FANOUT_QUEUE_URL),
    },
    clock: systemClock,
    recallWindowMs: config.RECALL_WINDOW_SECONDS * 1000,
    deadLetter: new SqsDeadLetter(sqsClient(), config.DEAD_LETTER_QUEUE_URL),
  };
});

export const queryDeps = /* @__PURE__ */ once(
  (): QueryDeps & { takeFrame: FrameRateLimiter['takeFrame'] } => {
    const config = loadConfig(queryConfig, process.env);
    const limits = buildRateLimits(documentClient(), config.CONNECTIONS_TABLE);
    return {
      takeFrame: (connectionId, now) => limits.takeFrame(connectionId, now),
      reader: new DynamoConversationReader(documentClient(), {
        conversations: config.CONVERSATIONS_TABLE,
        messages: config.MESSAGES_TABLE,
        byMemberIndex: INDEX.conversationsByMember,
      }),
    };
  },
);

export interface EphemeralDeps extends TypingDeps {
  readonly limiter: FrameRateLimiter;
}

/** Presence's dependencies from a config and the clients (wiring.ts reuses this when it takes these over). */
export function buildPresenceDeps(
  db: DynamoDBDocumentClient,
  api: ApiGatewayManagementApiClient,
  config: EphemeralConfig,
): PresenceDeps {
  return {
    activity: new DynamoConnectionActivity(db, config.CONNECTIONS_TABLE, config.CONNECTIONS_BY_USER_INDEX),
    contacts: new DynamoContactDirectory(db, config.CONVERSATIONS_TABLE, INDEX.conversationsByMember),
    directory: new DynamoMembershipDirectory(db, config.CONVERSATIONS_TABLE),
    connections: new DynamoConnectionStore(db, config.CONNECTIONS_TABLE, config.CONNECTIONS_BY_USER_INDEX),
    notifier: new ManagementApiNotifier(api),
    clock: systemClock,
    concurrency: config.DELIVERY_CONCURRENCY,
  };
}

/**
 * The flood limit and typing gate: one adapter on the Connections table. The command and query functions need
 * it too (for `takeFrame`), with only CONNECTIONS_TABLE.
 */
export function buildRateLimits(db: DynamoDBDocumentClient, connectionsTable: string): DynamoRateLimits {
  return new DynamoRateLimits(db, connectionsTable, {
    frameBurst: FRAME_POLICY.burst,
    frameWindowMs: FRAME_POLICY.windowMs,
    typingIntervalMs: TYPING_POLICY.intervalMs,
    typingMaxConversations: TYPING_POLICY.maxConversations,
  });
}

const ephemeralClients = /* @__PURE__ */ once(() => {
  const config = loadConfig(ephemeralConfig, process.env);
  return {
    config,
    db: documentClient(),
    api: counted(new ApiGatewayManagementApiClient({ endpoint: config.CALLBACK_URL })),
  };
});

/** For $connect and $disconnect, which announce presence. */
export const presenceDeps = /* @__PURE__ */ once((): PresenceDeps => {
  const { db, api, config } = ephemeralClients();
  return buildPresenceDeps(db, api, config);
});

/** For the ephemeral (typing) function. */
export const ephemeralDeps = /* @__PURE__ */ once((): EphemeralDeps => {
  const { db, api, config } = ephemeralClients();
  const limits = buildRateLimits(db, config.CONNECTIONS_TABLE);
  return { ...buildPresenceDeps(db, api, config), gate: limits, limiter: limits };
});

export const fanoutDeps = /* @__PURE__ */ once((): FanoutDeps & { deadLetter: SqsDeadLetter } => {
  const config = loadConfig(fanoutConfig, process.env);
  return {
    connections: new DynamoConnectionStore(
      documentClient(),
      config.CONNECTIONS_TABLE,
      config.CONNECTIONS_BY_USER_INDEX,
    ),
    notifier: new ManagementApiNotifier(
      counted(new ApiGatewayManagementApiClient({ endpoint: config.CALLBACK_URL })),
    ),
    concurrency: config.DELIVERY_CONCURRENCY,
    deadLetter: new SqsDeadLetter(sqsClient(), config.DEAD_LETTER_QUEUE_URL),
  };
});

/**
 * The local cloud: a CDK app's synthesized template running on this machine, with no AWS account and no
 * Docker. DynamoDB Local and fauxqs (SQS) serve the data plane, a minimal Secrets Manager serves secrets, every
 * Lambda function runs from its built asset in warm worker threads, every WebSocket API is served by a local
 * gateway (with `@connections`), and every SQS event source mapping polls its queue. All of it listens on
 * 127.0.0.1 only. The template is the source of truth: nothing about an app is configured twice.
 */
import { join } from 'node:path';
import { type SqsEventSource, startSqsEventSource } from '../runtime/sqs-event-source';
import { dynamoDbClient, sqsClient } from '../services/aws-clients';
import { startDynamoDbLocal } from '../services/dynamodb-local';
import { type LocalSecretsManager, startSecretsManager } from '../services/secrets-manager';
import { startSqs } from '../services/sqs';
import { type AssemblyStack, readAssembly, synthesize } from './assembly';
import { createLambdaRuntime, type LambdaRuntime } from './lambda-runtime';
import { type ProvisionedStack, provisionStack } from './provision';
import type { GatewayLimits, HostRedirect } from './types';
import { startWebSocketGateway, type WebSocketGateway } from './websocket-gateway';

export interface LocalCloudOptions {
  /** The directory holding the app's cdk.json. */
  readonly appDir: string;
  /** Where the cloud assembly goes. @default <appDir>/.herald/cdk.out */
  readonly assemblyDir?: string;
  /** Use the assembly already in `assemblyDir` instead of synthesizing. @default false */
  readonly skipSynth?: boolean;
  /** CDK context for the synthesis (`-c key=value`). */
  readonly context?: Readonly<Record<string, string>>;
  /** @default process.env.AWS_REGION or us-east-1 */
  readonly region?: string;
  /** Port of the first WebSocket API; the next ones take the following ports. 0 = any free port. @default 3001 */
  readonly port?: number;
  /** Keep tables, queues and secrets in this directory across restarts. @default in memory */
  readonly dataDir?: string;
  readonly limits?: GatewayLimits;
  /** Warm execution environments per function. @default 4 */
  readonly maxConcurrencyPerFunction?: number;
  /** Extra variables for every function's environment (`npm run bench` turns on call counting with one). */
  readonly functionEnvironment?: Readonly<Record<string, string>>;
  readonly log?: (line: string) => void;
}

export interface LocalWebSocketApi {
  readonly stackName: string;
  readonly logicalId: string;
  readonly name: string;
  readonly apiId: string;
  readonly stageName: string;
  /** ws://127.0.0.1:<port>/<stage> */
  readonly url: string;
  /** http://127.0.0.1:<port>/<stage>: the @connections endpoint */
  readonly callbackUrl: string;
  readonly gateway: WebSocketGateway;
}

export interface LocalCloud {
  /** The cloud assembly the cloud runs (reusable with `skipSynth`). */
  readonly assemblyDir: string;
  readonly stacks: readonly ProvisionedStack[];
  readonly webSocketApis: readonly LocalWebSocketApi[];
  readonly endpoints: { readonly dynamodb: string; readonly sqs: string; readonly secretsManager: string };
  readonly runtime: LambdaRuntime;
  readonly secrets: LocalSecretsManager;
  /** Milliseconds spent in each start-up phase. */
  readonly timings: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

export async function startLocalCloud(options: LocalCloudOptions): Promise<LocalCloud> {
  const log = options.log ?? ((line: string) => console.log(line));
  const region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
  const assemblyDir = options.assemblyDir ?? join(options.appDir, '.herald', 'cdk.out');
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      timings[name] = Math.round(performance.now() - t0);
    }
  };
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stoppers.splice(0).reverse())
      await stop().catch((e: unknown) => log(`stop: ${String(e)}`));
  };

  try {
    // Synthesis (~10-20 s of bundling) and the services (~3-6 s for DynamoDB Local) start side by side.
    const synth: Promise<AssemblyStack[]> = options.skipSynth
      ? Promise.resolve(readAssembly(assemblyDir))
      : timed('synth', () =>
          synthesize({
            appDir: options.appDir,
            outDir: assemblyDir,
            ...(options.context ? { context: options.context } : {}),
            log: (line) => log(`[cdk] ${line}`),
          }),
        );
    const dataDir = (name: string) => (options.dataDir ? join(options.dataDir, name) : undefined);
    const services = Promise.all([
      timed('dynamodb', () =>
        startDynamoDbLocal({ ...(dataDir('dynamodb') ? { dbPath: dataDir('dynamodb') } : {}) }),
      ),
      timed('sqs', () => startSqs({ ...(dataDir('sqs') ? { dataDir: dataDir('sqs') } : {}) })),
      timed('secretsManager', () =>
        startSecretsManager({ ...(options.dataDir ? { dataDir: options.dataDir } : {}) }),
      ),
    ]);
    const [stacksSettled, servicesSettled] = await Promise.allSettled([synth, services]);
    if (servicesSettled.status === 'fulfilled') {
      for (const service of servicesSettled.value) stoppers.push(() => service.stop());
    }
    if (stacksSettled.status === 'rejected') throw stacksSettled.reason;
    if (servicesSettled.status === 'rejected') throw servicesSettled.reason;
    const [dynamodb, sqs, secrets] = servicesSettled.value;
    const assembly = stacksSettled.value;
    const endpoints = { dynamodb: dynamodb.endpoint, sqs: sqs.endpoint, secretsManager: secrets.endpoint };

    const ddb = dynamoDbClient(dynamodb.endpoint);
    const sqsApi = sqsClient(sqs.endpoint);
    const stacks = await timed('provision', () =>
      Promise.all(
        assembly.map((stack) => provisionStack({ ...stack, region, dynamodb: ddb, sqs: sqsApi, secrets })),
      ),
    );

    const redirects: HostRedirect[] = [
      // SDK clients built with explicit regional endpoints, or fauxqs's own queue URLs, still reach the local services.
      { hostPattern: `dynamodb\\.${escapeRegExp(region)}\\.amazonaws\\.com`, target: dynamodb.endpoint },
      { hostPattern: `sqs\\.${escapeRegExp(region)}\\.(amazonaws\\.com|localhost)`, target: sqs.endpoint },
      { hostPattern: `secretsmanager\\.${escapeRegExp(region)}\\.amazonaws\\.com`, target: secrets.endpoint },
    ];
    const functions = stacks.flatMap((s) => s.functions);
    const runtime = createLambdaRuntime({
      functions,
      region,
      environmentOverrides: {
        AWS_ENDPOINT_URL_DYNAMODB: dynamodb.endpoint,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_SESSION_TOKEN: 'local',
        ...options.functionEnvironment,
      },
      redirects: () => redirects,
      ...(options.maxConcurrencyPerFunction
        ? { maxConcurrencyPerFunction: options.maxConcurrencyPerFunction }
        : {}),
      log: (functionName, _stream, line) => log(`[${functionName}] ${line}`),
    });
    stoppers.push(() => runtime.stop());

    const webSocketApis: LocalWebSocketApi[] = [];
    let nextPort = options.port ?? 3001;
    for (const stack of stacks) {
      for (const api of stack.webSocketApis) {
        const gateway = await timed(`gateway:${api.name}`, () =>
          startWebSocketGateway({
            api,
            invoker: runtime,
            region,
            port: nextPort,
            ...(options.limits ? { limits: options.limits } : {}),
            log: (line) => log(`[gateway ${api.name}] ${line}`),
          }),
        );
        stoppers.push(() => gateway.stop());
        if (nextPort !== 0) nextPort = gateway.port + 1;
        redirects.push({
          hostPattern: `${escapeRegExp(api.apiId)}\\.execute-api\\.${escapeRegExp(region)}\\.amazonaws\\.com`,
          target: `http://127.0.0.1:${gateway.port}`,
        });
        webSocketApis.push({
          stackName: stack.stackName,
          logicalId: api.id,
          name: api.name,
          apiId: api.apiId,
          stageName: api.stageName,
          url: gateway.url,
          callbackUrl: gateway.callbackUrl,
          gateway,
        });
      }
    }

    const eventSources: SqsEventSource[] = stacks.flatMap((stack) =>
      stack.sqsEventSources.map((mapping) =>
        startSqsEventSource({
          sqs: sqsApi,
          queueUrl: mapping.queueUrl,
          queueArn: mapping.queueArn,
          region,
          batchSize: mapping.batchSize,
          reportBatchItemFailures: mapping.reportBatchItemFailures,
          // Lambda polls with several pollers and runs batches of different FIFO groups side by side.
          pollers: Math.min(mapping.maximumConcurrency ?? 5, 10),
          invoke: (event) => runtime.invoke(mapping.functionId, event),
          onError: (error) =>
            log(`[event source ${mapping.id}] ${error instanceof Error ? error.message : String(error)}`),
        }),
      ),
    );
    // Event sources stop first (they feed the functions), so they are pushed last.
    stoppers.push(async () => {
      await Promise.all(eventSources.map((source) => source.stop()));
    });

    return { assemblyDir, stacks, webSocketApis, endpoints, runtime, secrets, timings, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

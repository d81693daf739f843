/**
 * Global setup of the end-to-end tests. By default it starts Herald on the local cloud (synthesized from this
 * repo, on DynamoDB Local and fauxqs, on a free port) and stops it afterwards. With HERALD_WS_URL set, the
 * same tests run against that deployment instead (LocalStack or AWS after `cdk deploy` in development auth
 * mode), minting tokens with the secret named by HERALD_DEV_SECRET_ARN, or using HERALD_TOKEN_<USER> as given.
 */
import type { TestProject } from 'vitest/node';
import { startLocalHerald } from '../../local/herald-local';
import { runAssemblyDir } from '../helpers/assembly-dir';

export interface E2eTarget {
  readonly kind: 'local' | 'remote';
  readonly wsUrl: string;
  /** How tests get tokens: from a Secrets Manager secret (local or deployed), or pre-minted per user. */
  readonly tokens:
    | {
        readonly secretArn: string;
        readonly region: string;
        readonly endpoint?: string;
        readonly issuer: string;
        readonly audience: string;
      }
    | { readonly preMinted: true };
  /** Local only: where the tests may look behind the API (tables, queues), to check effects. */
  readonly local?: {
    readonly dynamodbEndpoint: string;
    readonly sqsEndpoint: string;
    readonly tables: Readonly<Record<string, string>>;
    readonly deadLetterQueueUrl: string;
    readonly assemblyDir: string;
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    heraldTarget: E2eTarget;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const remote = process.env.HERALD_WS_URL;
  if (remote) {
    const secretArn = process.env.HERALD_DEV_SECRET_ARN;
    project.provide('heraldTarget', {
      kind: 'remote',
      wsUrl: remote,
      tokens: secretArn
        ? {
            secretArn,
            region: process.env.AWS_REGION ?? 'us-east-1',
            issuer: process.env.HERALD_TOKEN_ISSUER ?? 'herald-dev',
            audience: process.env.HERALD_TOKEN_AUDIENCE ?? 'herald',
          }
        : { preMinted: true },
    });
    return undefined;
  }
  const t0 = performance.now();
  // Its own cdk.out, so a second run (or `npm start`) at the same moment cannot overwrite this one's assets.
  const assembly = runAssemblyDir('e2e');
  const herald = await startLocalHerald({
    port: 0,
    writeStateFile: false,
    assemblyDir: assembly.path,
    log: () => undefined,
  }).catch((error: unknown) => {
    assembly.remove();
    throw error;
  });
  const { cloud, state } = herald;
  const outputs = Object.assign({}, ...cloud.stacks.map((s) => s.outputs)) as Record<string, string>;
  console.info(
    `[e2e] local Herald at ${state.wsUrl} in ${Math.round(performance.now() - t0)} ms (${JSON.stringify(cloud.timings)})`,
  );
  project.provide('heraldTarget', {
    kind: 'local',
    wsUrl: state.wsUrl,
    tokens: {
      secretArn: state.auth.secretArn,
      region: state.region,
      endpoint: state.secretsManagerEndpoint,
      issuer: state.auth.issuer,
      audience: state.auth.audience,
    },
    local: {
      dynamodbEndpoint: cloud.endpoints.dynamodb,
      sqsEndpoint: cloud.endpoints.sqs,
      tables: {
        connections: outputs.ConnectionsTableName ?? '',
        conversations: outputs.ConversationsTableName ?? '',
        messages: outputs.MessagesTableName ?? '',
      },
      deadLetterQueueUrl: outputs.DeadLetterQueueUrl ?? '',
      assemblyDir: cloud.assemblyDir,
    },
  });
  return async () => {
    await herald.stop();
    assembly.remove();
  };
}

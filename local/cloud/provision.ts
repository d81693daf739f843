/**
 * Creates a template's resources on the local services and computes what every intrinsic resolves to:
 * DynamoDB tables (keys, GSIs, TTL), SQS queues (FIFO, deduplication, visibility, redrive), Secrets Manager
 * secrets, and the definitions the runtime needs: Lambda functions, WebSocket APIs and SQS event source mappings.
 * Nothing here knows Herald: it reads resource types, not names.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { tableCreation } from '../cloudformation/dynamodb';
import { queueCreation, redrivePolicy } from '../cloudformation/sqs';
import { generateSecretString, type LocalSecretsManager } from '../services/secrets-manager';
import {
  type CfnResource,
  type CfnTemplate,
  functionIdOfIntegrationUri,
  LOCAL_ACCOUNT_ID,
  type ResolveContext,
  referencedIds,
  resolve,
  resolveString,
  resourcesOfType,
  TemplateError,
} from './template';
import type { FunctionDefinition, WebSocketApiDefinition, WebSocketRoute } from './types';

export interface SqsEventSourceDefinition {
  readonly id: string;
  readonly functionId: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly batchSize: number;
  readonly reportBatchItemFailures: boolean;
  readonly maximumConcurrency?: number;
}

export interface ProvisionedStack {
  readonly stackName: string;
  readonly context: ResolveContext;
  readonly functions: FunctionDefinition[];
  readonly webSocketApis: WebSocketApiDefinition[];
  readonly sqsEventSources: SqsEventSourceDefinition[];
  readonly outputs: Record<string, string>;
}

export interface ProvisionOptions {
  readonly stackName: string;
  readonly template: CfnTemplate;
  /** The cloud assembly directory: asset paths in the template's metadata are relative to it. */
  readonly assemblyDir: string;
  readonly region: string;
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly secrets: LocalSecretsManager;
}

export async function provisionStack(options: ProvisionOptions): Promise<ProvisionedStack> {
  const { template, stackName, region } = options;
  const context: ResolveContext = {
    region,
    accountId: LOCAL_ACCOUNT_ID,
    stackName,
    refs: new Map(),
    attributes: new Map(),
  };
  for (const [id, parameter] of Object.entries(template.Parameters ?? {})) {
    if (parameter.Default !== undefined) context.refs.set(id, String(parameter.Default));
  }
  // Names first: every resource gets the physical id CloudFormation would give it, so references resolve.
  for (const [id, resource] of Object.entries(template.Resources)) {
    nameResource(id, resource, context);
  }
  await createTables(options, context);
  await createQueues(options, context);
  createSecrets(options, context);

  const functions = resourcesOfType(template, 'AWS::Lambda::Function').map(([id, r]) =>
    functionDefinition(id, r, options, context),
  );
  const webSocketApis = resourcesOfType(template, 'AWS::ApiGatewayV2::Api')
    .filter(([, r]) => r.Properties?.ProtocolType === 'WEBSOCKET')
    .map(([id]) => webSocketApi(id, template, context));
  const sqsEventSources = sqsEventSourceMappings(template, context);
  const outputs: Record<string, string> = {};
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    try {
      outputs[name] = resolveString(output.Value, context);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
    }
  }
  return { stackName, context, functions, webSocketApis, sqsEventSources, outputs };
}

/** AWS-shaped ids: 10 lowercase letters and digits, stable for a given stack and logical id. */
export function localApiId(stackName: string, logicalId: string): string {
  const digest = createHash('sha256').update(`${stackName}/${logicalId}`).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(digest.subarray(0, 10), (b) => alphabet[b % alphabet.length]).join('');
}

function nameResource(id: string, resource: CfnResource, ctx: ResolveContext): void {
  const { region, accountId, stackName } = ctx;
  const p = resource.Properties ?? {};
  const explicit = (key: string) => (typeof p[key] === 'string' ? (p[key] as string) : undefined);
  const generated = `${stackName}-${id}`;
  switch (resource.Type) {
    case 'AWS::DynamoDB::Table':
    case 'AWS::DynamoDB::GlobalTable': {
      const name = explicit('TableName') ?? generated;
      ctx.refs.set(id, name);
      ctx.attributes.set(id, { Arn: `arn:aws:dynamodb:${region}:${accountId}:table/${name}` });
      return;
    }
    case 'AWS::SQS::Queue': {
      const name = explicit('QueueName') ?? (p.FifoQueue === true ? `${generated}.fifo` : generated);
      // The URL is known once the queue exists (createQueues); the ARN and name already are.
      ctx.attributes.set(id, { Arn: `arn:aws:sqs:${region}:${accountId}:${name}`, QueueName: name });
      return;
    }
    case 'AWS::Lambda::Function': {
      const name = explicit('FunctionName') ?? generated;
      ctx.refs.set(id, name);
      ctx.attributes.set(id, { Arn: `arn:aws:lambda:${region}:${accountId}:function:${name}` });
      return;
    }
    case 'AWS::ApiGatewayV2::Api': {
      const apiId = localApiId(stackName, id);
      ctx.refs.set(id, apiId);
      const scheme = p.ProtocolType === 'WEBSOCKET' ? 'wss' : 'https';
      ctx.attributes.set(id, {
        ApiId: apiId,
        ApiEndpoint: `${scheme}://${apiId}.execute-api.${region}.amazonaws.com`,
      });
      return;
    }
    case 'AWS::ApiGatewayV2::Stage':
      ctx.refs.set(id, explicit('StageName') ?? id);
      return;
    case 'AWS::SecretsManager::Secret': {
      const name = explicit('Name') ?? generated;
      const suffix = createHash('sha256').update(name).digest('hex').slice(0, 6);
      ctx.refs.set(id, `arn:aws:secretsmanager:${region}:${accountId}:secret:${name}-${suffix}`);
      ctx.attributes.set(id, { Id: name });
      return;
    }
    case 'AWS::Logs::LogGroup': {
      const name = explicit('LogGroupName') ?? generated;
      ctx.refs.set(id, name);
      ctx.attributes.set(id, { Arn: `arn:aws:logs:${region}:${accountId}:log-group:${name}:*` });
      return;
    }
    case 'AWS::IAM::Role': {
      ctx.refs.set(id, generated);
      ctx.attributes.set(id, { Arn: `arn:aws:iam::${accountId}:role/${generated}`, RoleId: id });
      return;
    }
    default: {
      // Resources the local cloud does not run (alarms, permissions, policies...) still resolve.
      const service = resource.Type.split('::')[1]?.toLowerCase() ?? 'local';
      ctx.refs.set(id, generated);
      ctx.attributes.set(id, { Arn: `arn:aws:${service}:${region}:${accountId}:${generated}` });
    }
  }
}

async function createTables({ template, dynamodb }: ProvisionOptions, ctx: ResolveContext): Promise<void> {
  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table');
  await Promise.all(
    tables.map(async ([id, resource]) => {
      const name = ctx.refs.get(id) ?? id;
      const creation = tableCreation(name, resolve(resource.Properties, ctx));
      try {
        await dynamodb.send(new CreateTableCommand(creation.createTable));
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error; // kept from an earlier run (data dir)
      }
      if (creation.timeToLive) {
        await dynamodb.send(new UpdateTimeToLiveCommand(creation.timeToLive)).catch((error: unknown) => {
          // Already enabled on a kept table.
          if (!(error instanceof Error && /already enabled/i.test(error.message))) throw error;
        });
      }
    }),
  );
}

async function createQueues({ template, sqs }: ProvisionOptions, ctx: ResolveContext): Promise<void> {
  const pending = new Map(resourcesOfType(template, 'AWS::SQS::Queue'));
  // A queue's redrive policy names its DLQ: create DLQs first.
  while (pending.size > 0) {
    const ready = [...pending].filter(([, r]) =>
      [...referencedIds(r.Properties)].every((dep) => !pending.has(dep)),
    );
    if (ready.length === 0)
      throw new TemplateError(`queues reference each other in a cycle: ${[...pending.keys()]}`);
    await Promise.all(
      ready.map(async ([id, resource]) => {
        pending.delete(id);
        const creation = queueCreation(resolve(resource.Properties, ctx));
        const attributes = { ...creation.attributes };
        if (creation.deadLetterTarget !== undefined && creation.maxReceiveCount !== undefined) {
          attributes.RedrivePolicy = redrivePolicy(
            String(creation.deadLetterTarget),
            creation.maxReceiveCount,
          );
        }
        const name = ctx.attributes.get(id)?.QueueName ?? id;
        const { QueueUrl } = await sqs.send(
          new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
        );
        if (!QueueUrl) throw new Error(`CreateQueue ${name} returned no URL`);
        const arn = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
        const queueArn = arn.Attributes?.QueueArn ?? ctx.attributes.get(id)?.Arn ?? '';
        ctx.refs.set(id, QueueUrl);
        ctx.attributes.set(id, { Arn: queueArn, QueueName: name, QueueUrl });
      }),
    );
  }
}

function createSecrets({ template, secrets }: ProvisionOptions, ctx: ResolveContext): void {
  for (const [id, resource] of resourcesOfType(template, 'AWS::SecretsManager::Secret')) {
    const p = (resolve(resource.Properties, ctx) ?? {}) as Record<string, unknown>;
    const arn = ctx.refs.get(id) ?? id;
    secrets.ensure({
      arn,
      name: ctx.attributes.get(id)?.Id ?? id,
      value: () =>
        typeof p.SecretString === 'string'
          ? p.SecretString
          : generateSecretString((p.GenerateSecretString ?? {}) as Record<string, unknown>),
    });
  }
}

function functionDefinition(
  id: string,
  resource: CfnResource,
  { assemblyDir }: ProvisionOptions,
  ctx: ResolveContext,
): FunctionDefinition {
  const p = resource.Properties ?? {};
  const runtime = String(p.Runtime ?? '');
  if (!runtime.startsWith('nodejs')) {
    throw new TemplateError(
      `${id}: runtime ${runtime || '(container image)'} is not supported locally (Node.js only)`,
    );
  }
  const code = (p.Code ?? {}) as Record<string, unknown>;
  let codeDir: string;
  const assetPath = resource.Metadata?.['aws:asset:path'];
  if (typeof assetPath === 'string') {
    codeDir = resolvePath(assemblyDir, assetPath);
  } else if (typeof code.ZipFile === 'string') {
    // Inline code (Code.fromInline): CommonJS, in index.js, as Lambda runs it.
    codeDir = join(assemblyDir, '.local-inline', id);
    mkdirSync(codeDir, { recursive: true });
    writeFileSync(join(codeDir, 'index.js'), resolveString(code.ZipFile, ctx));
  } else {
    throw new TemplateError(`${id}: no asset path or inline code to run locally`);
  }
  const variables = ((p.Environment as { Variables?: unknown } | undefined)?.Variables ?? {}) as Record<
    string,
    unknown
  >;
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) environment[name] = resolveString(value, ctx);
  return {
    id,
    functionName: ctx.refs.get(id) ?? id,
    codeDir,
    handler: String(p.Handler ?? 'index.handler'),
    runtime,
    timeoutSeconds: typeof p.Timeout === 'number' ? p.Timeout : 3,
    memoryMb: typeof p.MemorySize === 'number' ? p.MemorySize : 128,
    environment,
  };
}

function webSocketApi(
  apiLogicalId: string,
  template: CfnTemplate,
  ctx: ResolveContext,
): WebSocketApiDefinition {
  const api = template.Resources[apiLogicalId];
  const belongs = (r: CfnResource) => referencedIds(r.Properties?.ApiId).has(apiLogicalId);
  const integrations = new Map(
    resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')
      .filter(([, r]) => belongs(r))
      .map(([id, r]) => [id, functionIdOfIntegrationUri(r.Properties?.IntegrationUri)]),
  );
  const authorizers = new Map(
    resourcesOfType(template, 'AWS::ApiGatewayV2::Authorizer')
      .filter(([, r]) => belongs(r))
      .map(([id, r]) => [
        id,
        {
          functionId: functionIdOfIntegrationUri(r.Properties?.AuthorizerUri),
          identitySources: ((resolve(r.Properties?.IdentitySource, ctx) ?? []) as unknown[]).map(String),
        },
      ]),
  );
  const twoWayRoutes = new Set(
    resourcesOfType(template, 'AWS::ApiGatewayV2::RouteResponse')
      .filter(([, r]) => belongs(r))
      .flatMap(([, r]) => [...referencedIds(r.Properties?.RouteId)]),
  );
  const routes: WebSocketRoute[] = resourcesOfType(template, 'AWS::ApiGatewayV2::Route')
    .filter(([, r]) => belongs(r))
    .map(([routeId, r]) => {
      const integrationId = [...referencedIds(r.Properties?.Target)][0];
      const functionId = integrationId ? integrations.get(integrationId) : undefined;
      const authorizerId = [...referencedIds(r.Properties?.AuthorizerId)][0];
      const authorizer = authorizerId ? authorizers.get(authorizerId) : undefined;
      return {
        routeKey: resolveString(r.Properties?.RouteKey, ctx),
        ...(functionId ? { functionId } : {}),
        ...(authorizer?.functionId
          ? { authorizer: { functionId: authorizer.functionId, identitySources: authorizer.identitySources } }
          : {}),
        twoWay: twoWayRoutes.has(routeId),
      };
    });
  const stage = resourcesOfType(template, 'AWS::ApiGatewayV2::Stage').find(([, r]) => belongs(r));
  const settings = (stage?.[1].Properties?.DefaultRouteSettings ?? {}) as Record<string, unknown>;
  return {
    id: apiLogicalId,
    apiId: ctx.refs.get(apiLogicalId) ?? apiLogicalId,
    name: String(api?.Properties?.Name ?? apiLogicalId),
    stageName: stage ? resolveString(stage[1].Properties?.StageName, ctx) : '$default',
    routeSelectionExpression: String(api?.Properties?.RouteSelectionExpression ?? '$request.body.action'),
    routes,
    ...(typeof settings.ThrottlingRateLimit === 'number' && typeof settings.ThrottlingBurstLimit === 'number'
      ? { throttle: { rateLimit: settings.ThrottlingRateLimit, burstLimit: settings.ThrottlingBurstLimit } }
      : {}),
  };
}

function sqsEventSourceMappings(template: CfnTemplate, ctx: ResolveContext): SqsEventSourceDefinition[] {
  const byArn = new Map<string, string>();
  for (const [id] of resourcesOfType(template, 'AWS::SQS::Queue')) {
    const attrs = ctx.attributes.get(id);
    if (attrs?.Arn) byArn.set(attrs.Arn, id);
  }
  return resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').flatMap(([id, r]) => {
    const p = r.Properties ?? {};
    if (p.Enabled === false) return [];
    const arn = resolveString(p.EventSourceArn, ctx);
    const queueId = byArn.get(arn);
    if (!queueId) return []; // streams, Kafka...: not run locally
    const functionId = [...referencedIds(p.FunctionName)][0];
    if (!functionId) throw new TemplateError(`${id}: cannot tell which function it invokes`);
    const scaling = (p.ScalingConfig ?? {}) as { MaximumConcurrency?: number };
    const types = Array.isArray(p.FunctionResponseTypes) ? p.FunctionResponseTypes : [];
    return [
      {
        id,
        functionId,
        queueUrl: ctx.refs.get(queueId) ?? '',
        queueArn: arn,
        batchSize: typeof p.BatchSize === 'number' ? p.BatchSize : 10,
        reportBatchItemFailures: types.includes('ReportBatchItemFailures'),
        ...(typeof scaling.MaximumConcurrency === 'number'
          ? { maximumConcurrency: scaling.MaximumConcurrency }
          : {}),
      },
    ];
  });
}

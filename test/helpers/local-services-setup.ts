import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../../local/services/dynamodb-local';
import { startSqs } from '../../local/services/sqs';

// Global setup of the integration project: gives the tests a DynamoDB and an SQS endpoint.
// An endpoint already in the environment (AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS, or AWS_ENDPOINT_URL
// for both, e.g. LocalStack) is used as it is; otherwise DynamoDB Local and fauxqs are started on 127.0.0.1.
// The endpoints, region and (fake) credentials go into process.env, which the test workers inherit (checked on
// vitest 5: workers start after the global setup), so SDK clients need no explicit endpoint; they are also
// provided as `inject('awsEndpoints')`.

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoints: { dynamodb: string; sqs: string; region: string };
  }
}

interface Service {
  endpoint: string;
  stop(): Promise<void>;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const env = process.env;
  const givenDynamoDb = env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL;
  const givenSqs = env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL;

  const started: Service[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(started.splice(0).map((service) => service.stop()));
  };
  const timed = async (name: string, start: () => Promise<Service>): Promise<Service> => {
    const t0 = performance.now();
    const service = await start();
    started.push(service);
    console.info(
      `[local-services] ${name} at ${service.endpoint} in ${Math.round(performance.now() - t0)} ms`,
    );
    return service;
  };

  const [dynamodb, sqs] = await Promise.allSettled([
    givenDynamoDb ? { endpoint: givenDynamoDb } : timed('DynamoDB Local', () => startDynamoDbLocal()),
    givenSqs ? { endpoint: givenSqs } : timed('fauxqs (SQS)', () => startSqs()),
  ]);
  if (dynamodb.status === 'rejected' || sqs.status === 'rejected') {
    await stopAll();
    const reasons = [dynamodb, sqs].flatMap((result) =>
      result.status === 'rejected' ? [result.reason] : [],
    );
    throw reasons.length === 1 ? reasons[0] : new AggregateError(reasons, 'Local services did not start');
  }

  const saved = saveEnv([
    'AWS_ENDPOINT_URL_DYNAMODB',
    'AWS_ENDPOINT_URL_SQS',
    'AWS_REGION',
    'AWS_ACCESS_KEY_ID',
    'AWS_SECRET_ACCESS_KEY',
  ]);
  env.AWS_ENDPOINT_URL_DYNAMODB = dynamodb.value.endpoint;
  env.AWS_ENDPOINT_URL_SQS = sqs.value.endpoint;
  env.AWS_REGION ||= 'us-east-1';
  if (!env.AWS_ACCESS_KEY_ID) {
    env.AWS_ACCESS_KEY_ID = 'local';
    env.AWS_SECRET_ACCESS_KEY = 'local';
  }
  project.provide('awsEndpoints', {
    dynamodb: dynamodb.value.endpoint,
    sqs: sqs.value.endpoint,
    region: env.AWS_REGION,
  });

  return async () => {
    await stopAll();
    // A later setup in the same process (watch mode restart) must not mistake our endpoints for given ones.
    saved.restore();
  };
}

function saveEnv(names: string[]): { restore(): void } {
  const values = new Map(names.map((name) => [name, process.env[name]]));
  return {
    restore() {
      for (const [name, value] of values) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    },
  };
}

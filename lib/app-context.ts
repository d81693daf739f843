import { Duration } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import { MAX_RECALL_WINDOW_SECONDS } from '../lambdas/config';
import type { HeraldAuthConfig } from './constructs/auth';
import type { HeraldStackProps } from './herald-stack';

/** The CDK context keys Herald reads (`cdk synth -c herald:auth=jwks ...` or cdk.json). */
export const CONTEXT = {
  stackName: 'herald:stackName',
  auth: 'herald:auth',
  jwksUrl: 'herald:jwksUrl',
  issuer: 'herald:issuer',
  audience: 'herald:audience',
  stageName: 'herald:stageName',
  alarmTopicArn: 'herald:alarmTopicArn',
  apiGatewayAccountRole: 'herald:apiGatewayAccountRole',
  deliveryTimeoutSeconds: 'herald:deliveryTimeoutSeconds',
  maxReceiveCount: 'herald:maxReceiveCount',
  recallWindowSeconds: 'herald:recallWindowSeconds',
} as const;

export class HeraldContextError extends Error {
  override readonly name = 'HeraldContextError';
}

export interface HeraldAppConfig {
  readonly stackName: string;
  readonly props: Pick<
    HeraldStackProps,
    | 'auth'
    | 'stageName'
    | 'alarmTopicArn'
    | 'apiGatewayAccountRole'
    | 'deliveryTimeout'
    | 'maxReceiveCount'
    | 'recallWindow'
  >;
}

/**
 * Reads and validates Herald's context. Every problem is reported at once, by key, with how to fix it; values
 * given on the command line arrive as strings, values in cdk.json may be of any JSON type.
 */
export function heraldConfigFromContext(node: Node): HeraldAppConfig {
  const problems: string[] = [];

  const text = (key: string): string | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      problems.push(`${key} must be a non-empty string, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return value.trim();
  };
  const flag = (key: string): boolean => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null || value === false || value === 'false') return false;
    if (value === true || value === 'true') return true;
    problems.push(`${key} must be true or false, got ${JSON.stringify(value)}`);
    return false;
  };

  const stackName = text(CONTEXT.stackName) ?? 'Herald';
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) {
    problems.push(`${CONTEXT.stackName} must start with a letter and use letters, digits and - only`);
  }

  const mode = text(CONTEXT.auth) ?? 'dev';
  const issuer = text(CONTEXT.issuer);
  const audience = text(CONTEXT.audience);
  const jwksUrl = text(CONTEXT.jwksUrl);
  let auth: HeraldAuthConfig | undefined;
  if (mode === 'jwks') {
    const missing = (
      [
        [CONTEXT.jwksUrl, jwksUrl],
        [CONTEXT.issuer, issuer],
        [CONTEXT.audience, audience],
      ] as const
    )
      .filter(([, value]) => value === undefined)
      .map(([key]) => key);
    if (missing.length > 0) {
      problems.push(
        `${CONTEXT.auth}=jwks needs ${missing.join(', ')} (for example ` +
          `-c ${CONTEXT.jwksUrl}=https://cognito-idp.<region>.amazonaws.com/<poolId>/.well-known/jwks.json ` +
          `-c ${CONTEXT.issuer}=https://cognito-idp.<region>.amazonaws.com/<poolId> -c ${CONTEXT.audience}=<clientId>)`,
      );
    } else if (jwksUrl !== undefined && !isHttpsUrl(jwksUrl)) {
      problems.push(`${CONTEXT.jwksUrl} must be an https:// URL, got ${JSON.stringify(jwksUrl)}`);
    } else if (jwksUrl !== undefined && issuer !== undefined && audience !== undefined) {
      auth = { mode: 'jwks', jwksUrl, issuer, audience };
    }
  } else if (mode === 'dev') {
    if (jwksUrl !== undefined)
      problems.push(`${CONTEXT.jwksUrl} is set but ${CONTEXT.auth} is "dev": set both or neither`);
    auth = { mode: 'dev', issuer, audience };
  } else {
    problems.push(`${CONTEXT.auth} must be "jwks" or "dev", got ${JSON.stringify(mode)}`);
  }

  const stageName = text(CONTEXT.stageName);
  const alarmTopicArn = text(CONTEXT.alarmTopicArn);
  if (
    alarmTopicArn !== undefined &&
    !/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$/.test(alarmTopicArn)
  ) {
    problems.push(`${CONTEXT.alarmTopicArn} must be an SNS topic ARN, got ${JSON.stringify(alarmTopicArn)}`);
  }
  const apiGatewayAccountRole = flag(CONTEXT.apiGatewayAccountRole);
  const integer = (key: string, min: number, max: number): number | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null) return undefined;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${key} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
      return undefined;
    }
    return n;
  };
  // Lambda allows 1-900 s; the queue's visibility timeout (6x) must stay within SQS's 12 hours.
  const deliveryTimeoutSeconds = integer(CONTEXT.deliveryTimeoutSeconds, 1, 900);
  const maxReceiveCount = integer(CONTEXT.maxReceiveCount, 1, 1000);
  const recallWindowSeconds = integer(CONTEXT.recallWindowSeconds, 1, MAX_RECALL_WINDOW_SECONDS);

  if (problems.length > 0 || auth === undefined) {
    throw new HeraldContextError(`Invalid Herald context:\n  - ${problems.join('\n  - ')}`);
  }
  return {
    stackName,
    props: {
      auth,
      stageName,
      alarmTopicArn,
      apiGatewayAccountRole,
      ...(deliveryTimeoutSeconds === undefined
        ? {}
        : { deliveryTimeout: Duration.seconds(deliveryTimeoutSeconds) }),
      ...(maxReceiveCount === undefined ? {} : { maxReceiveCount }),
      ...(recallWindowSeconds === undefined ? {} : { recallWindow: Duration.seconds(recallWindowSeconds) }),
    },
  };
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

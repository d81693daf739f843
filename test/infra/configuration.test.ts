import { App, Duration } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { authorizerConfig, deliverConfig, ENV, loadConfig } from '../../lambdas/config';
import { CONTEXT, HeraldContextError, heraldConfigFromContext } from '../../lib/app-context';
import type { HeraldAuthConfig } from '../../lib/constructs/auth';
import { HeraldStack, type HeraldStackProps } from '../../lib/herald-stack';
import {
  describeArn,
  environmentOf,
  FUNCTION_NAMES,
  logicalIdOf,
  POSTING_FUNCTIONS,
  statementsOfFunction,
  synthHerald,
} from './support';

const JWKS: HeraldAuthConfig = {
  mode: 'jwks',
  jwksUrl: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json',
  issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc',
  audience: 'client-123',
};

/** Builds a stack without synthesizing it: enough for constructor errors, and fast (no bundling). */
function build(props: Partial<HeraldStackProps>): HeraldStack {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  return new HeraldStack(app, 'Herald', { auth: { mode: 'dev' }, ...props });
}

describe('jwks auth', () => {
  const s = synthHerald({ auth: JWKS });

  it('configures the authorizer for the provider and creates no secret', () => {
    expect(environmentOf(s.resources, 'Authorizer')).toMatchObject({
      [ENV.AUTH_MODE]: 'jwks',
      [ENV.AUTH_JWKS_URL]: JWKS.jwksUrl,
      [ENV.AUTH_ISSUER]: JWKS.issuer,
      [ENV.AUTH_AUDIENCE]: JWKS.audience,
    });
    expect(environmentOf(s.resources, 'Authorizer')).not.toHaveProperty(ENV.AUTH_DEV_SECRET_ARN);
    expect(environmentOf(s.resources, 'Authorizer')).not.toHaveProperty(ENV.AUTH_DEV_SECRET);
    // Plain strings, so the authorizer's own schema can read them as it will at cold start.
    expect(() =>
      loadConfig(authorizerConfig, environmentOf(s.resources, 'Authorizer') as Record<string, string>),
    ).not.toThrow();
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(Object.keys(s.template.toJSON().Outputs as object)).not.toContain('DevAuthSecretArn');
  });

  it('gives the authorizer no AWS permission beyond its logs and traces', () => {
    const actions = statementsOfFunction(s.resources, 'Authorizer').flatMap((st) => st.actions);
    expect(actions.filter((a) => !/^(logs|xray):/.test(a))).toEqual([]);
  });

  it('does not warn about dev auth', () => {
    expect(
      Annotations.fromStack(s.stack).findWarning('*', Match.stringLikeRegexp('development only')),
    ).toEqual([]);
  });
});

describe('options', () => {
  it('derives the visibility timeout from the delivery timeout', () => {
    const s = synthHerald({
      deliveryTimeout: Duration.seconds(60),
      maxReceiveCount: 3,
      deliveryMaxConcurrency: 20,
    });
    const queue = s.resources[logicalIdOf(s.resources, 'AWS::SQS::Queue', 'Pipeline/Queue')]?.Properties;
    expect(queue).toMatchObject({ VisibilityTimeout: 360, RedrivePolicy: { maxReceiveCount: 3 } });
    const deliver = logicalIdOf(s.resources, 'AWS::Lambda::Function', 'Deliver');
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: deliver },
      ScalingConfig: { MaximumConcurrency: 20 },
    });
    // The fan-out pipeline follows its own function's timeout and keeps its own cap.
    const fanoutQueue =
      s.resources[logicalIdOf(s.resources, 'AWS::SQS::Queue', 'FanoutPipeline/Queue')]?.Properties;
    expect(fanoutQueue).toMatchObject({ VisibilityTimeout: 180, RedrivePolicy: { maxReceiveCount: 5 } });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(s.resources, 'AWS::Lambda::Function', 'Fanout') },
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it('passes the recall window to the delivery function, and refuses one outside 1 s to 7 days', () => {
    const s = synthHerald({ recallWindow: Duration.minutes(15) });
    expect(environmentOf(s.resources, 'Deliver')[ENV.RECALL_WINDOW_SECONDS]).toBe('900');
    // What the stack sets, the function accepts (its config schema is the one that reads it at cold start).
    expect(
      deliverConfig.shape.RECALL_WINDOW_SECONDS.parse(
        environmentOf(s.resources, 'Deliver')[ENV.RECALL_WINDOW_SECONDS],
      ),
    ).toBe(900);
    expect(() => synthHerald({ recallWindow: Duration.days(8) })).toThrow(/recallWindow/);
    expect(() => synthHerald({ recallWindow: Duration.millis(1500) })).toThrow(/recallWindow/);
  });

  it('passes deliveryConcurrency to the delivery and fan-out functions', () => {
    const s = synthHerald({ deliveryConcurrency: 32 });
    for (const name of ['Deliver', 'Fanout']) {
      expect(environmentOf(s.resources, name)[ENV.DELIVERY_CONCURRENCY], name).toBe('32');
    }
  });

  it('adds the alarm topic as alarm and OK action of every alarm', () => {
    const topic = 'arn:aws:sns:eu-west-1:123456789012:herald-alarms';
    const s = synthHerald({ alarmTopicArn: topic });
    const alarms = Object.values(s.resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    // Per function errors, plus: two DLQs (delivery, fan-out), INTERNAL answers, throttles, oldest message.
    expect(alarms).toHaveLength(FUNCTION_NAMES.length + 5);
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({ AlarmActions: [topic], OKActions: [topic] });
    }
  });

  it('sets the account logging role only when asked, retains it, and deploys the stage after it', () => {
    synthHerald().template.resourceCountIs('AWS::ApiGateway::Account', 0);
    const s = synthHerald({ apiGatewayAccountRole: true });
    const accountId = logicalIdOf(s.resources, 'AWS::ApiGateway::Account', 'WebSocket/Account');
    const roleId = logicalIdOf(s.resources, 'AWS::IAM::Role', 'WebSocket/AccountLoggingRole');
    expect(s.resources[accountId]?.Properties).toEqual({
      CloudWatchRoleArn: { 'Fn::GetAtt': [roleId, 'Arn'] },
    });
    expect(s.resources[roleId]?.DeletionPolicy).toBe('Retain');
    const stage = s.resources[logicalIdOf(s.resources, 'AWS::ApiGatewayV2::Stage', 'WebSocket/Stage')];
    expect(stage?.DependsOn).toContain(accountId);
  });

  it('uses the stage name everywhere the stage appears', () => {
    const s = synthHerald({ stageName: 'beta' });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'beta' });
    for (const name of POSTING_FUNCTIONS) {
      const manage = statementsOfFunction(s.resources, name).filter((st) =>
        st.actions.includes('execute-api:ManageConnections'),
      );
      expect(
        manage.map((st) => st.resources),
        name,
      ).toEqual([
        [
          'arn:{AWS::Partition}:execute-api:{AWS::Region}:{AWS::AccountId}:<WebSocket/Api>/beta/POST/@connections/*',
        ],
      ]);
      expect(describeArn(s.resources, environmentOf(s.resources, name)[ENV.CALLBACK_URL] ?? null), name).toBe(
        'https://<WebSocket/Api>.execute-api.{AWS::Region}.{AWS::URLSuffix}/beta',
      );
    }
  });
});

describe('bad configuration fails at synth time, with a clear message', () => {
  it('a visibility timeout below six times the delivery timeout', () => {
    expect(() => build({ visibilityTimeout: Duration.seconds(179) })).toThrow(
      /visibilityTimeout \(179 s\) must be at least 6 x the consumer's timeout \(30 s\)/,
    );
    expect(() =>
      build({ deliveryTimeout: Duration.seconds(60), visibilityTimeout: Duration.minutes(5) }),
    ).toThrow(/at least 6 x/);
    expect(() => build({ visibilityTimeout: Duration.seconds(180) })).not.toThrow();
  });

  it('jwks auth without issuer, audience or an https JWKS URL', () => {
    const without = (key: 'issuer' | 'audience' | 'jwksUrl') =>
      ({ ...JWKS, [key]: '' }) as unknown as HeraldAuthConfig;
    expect(() => build({ auth: without('issuer') })).toThrow(/auth mode "jwks" needs a non-empty issuer/);
    expect(() => build({ auth: without('audience') })).toThrow(/needs a non-empty audience/);
    expect(() => build({ auth: without('jwksUrl') })).toThrow(/needs a non-empty jwksUrl/);
    expect(() => build({ auth: { ...JWKS, jwksUrl: 'http://idp.example.com/jwks.json' } })).toThrow(
      /must use https/,
    );
  });

  it('out-of-range pipeline and API settings', () => {
    expect(() => build({ maxReceiveCount: 0 })).toThrow(/maxReceiveCount/);
    expect(() => build({ deliveryMaxConcurrency: 1 })).toThrow(/maxConcurrency/);
    expect(() => build({ stageName: 'no spaces' })).toThrow(/stageName/);
    expect(() => build({ throttle: { rateLimit: 0, burstLimit: 10 } })).toThrow(/throttle/);
  });
});

describe('CDK context (bin/herald.ts)', () => {
  const read = (context: Record<string, unknown>) => heraldConfigFromContext(new App({ context }).node);

  it('defaults to dev auth and the stack name Herald', () => {
    expect(read({})).toEqual({
      stackName: 'Herald',
      props: {
        auth: { mode: 'dev', issuer: undefined, audience: undefined },
        stageName: undefined,
        alarmTopicArn: undefined,
        apiGatewayAccountRole: false,
      },
    });
  });

  it('reads jwks auth, the stage, the alarm topic, the account role flag and the stack name', () => {
    const config = read({
      [CONTEXT.stackName]: 'HeraldProd',
      [CONTEXT.auth]: 'jwks',
      [CONTEXT.jwksUrl]: JWKS.jwksUrl,
      [CONTEXT.issuer]: JWKS.issuer,
      [CONTEXT.audience]: JWKS.audience,
      [CONTEXT.stageName]: 'v1',
      [CONTEXT.alarmTopicArn]: 'arn:aws:sns:eu-west-1:123456789012:ops',
      [CONTEXT.apiGatewayAccountRole]: 'true',
    });
    expect(config).toEqual({
      stackName: 'HeraldProd',
      props: {
        auth: JWKS,
        stageName: 'v1',
        alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:ops',
        apiGatewayAccountRole: true,
      },
    });
  });

  it('reads the delivery timeout and maxReceiveCount, from the command line (strings) or cdk.json (numbers)', () => {
    const config = read({ [CONTEXT.deliveryTimeoutSeconds]: '2', [CONTEXT.maxReceiveCount]: 3 });
    expect(config.props.deliveryTimeout?.toSeconds()).toBe(2);
    expect(config.props.maxReceiveCount).toBe(3);
  });

  it('reads the recall window in seconds', () => {
    expect(read({ [CONTEXT.recallWindowSeconds]: '600' }).props.recallWindow?.toSeconds()).toBe(600);
    expect(read({}).props.recallWindow).toBeUndefined();
  });

  it('names every missing jwks value at once', () => {
    expect(() => read({ [CONTEXT.auth]: 'jwks', [CONTEXT.issuer]: JWKS.issuer })).toThrow(
      /herald:auth=jwks needs herald:jwksUrl, herald:audience/,
    );
  });

  it.each([
    [{ [CONTEXT.auth]: 'cognito' }, /herald:auth must be "jwks" or "dev"/],
    [
      {
        [CONTEXT.auth]: 'jwks',
        [CONTEXT.jwksUrl]: 'http://x/jwks',
        [CONTEXT.issuer]: 'i',
        [CONTEXT.audience]: 'a',
      },
      /https/,
    ],
    [{ [CONTEXT.jwksUrl]: JWKS.jwksUrl }, /herald:jwksUrl is set but herald:auth is "dev"/],
    [{ [CONTEXT.alarmTopicArn]: 'my-topic' }, /herald:alarmTopicArn must be an SNS topic ARN/],
    [{ [CONTEXT.apiGatewayAccountRole]: 'yes' }, /herald:apiGatewayAccountRole must be true or false/],
    [{ [CONTEXT.stageName]: '' }, /herald:stageName must be a non-empty string/],
    [{ [CONTEXT.stackName]: '1-bad' }, /herald:stackName must start with a letter/],
    [
      { [CONTEXT.deliveryTimeoutSeconds]: '0' },
      /herald:deliveryTimeoutSeconds must be a whole number from 1/,
    ],
    [{ [CONTEXT.maxReceiveCount]: 'many' }, /herald:maxReceiveCount must be a whole number/],
    [
      { [CONTEXT.recallWindowSeconds]: '0' },
      /herald:recallWindowSeconds must be a whole number from 1 to 604800/,
    ],
  ])('rejects %j', (context, message) => {
    expect(() => read(context)).toThrow(HeraldContextError);
    expect(() => read(context)).toThrow(message);
  });
});

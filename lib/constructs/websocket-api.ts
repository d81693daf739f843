import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat, CfnAccount } from 'aws-cdk-lib/aws-apigateway';
import {
  LogGroupLogDestination,
  WebSocketApi,
  type WebSocketRoute,
  WebSocketStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** Where the `$connect` authorizer finds the token: browsers cannot set headers on a WebSocket upgrade. */
export const TOKEN_IDENTITY_SOURCE = 'route.request.querystring.token';

/**
 * One JSON object per access-log line. Deliberately without `$context.requestQueryString` or any header: the
 * token travels in the query string and must never reach a log.
 */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  extendedRequestId: '$context.extendedRequestId',
  requestTime: '$context.requestTime',
  requestTimeEpoch: '$context.requestTimeEpoch',
  connectionId: '$context.connectionId',
  connectedAt: '$context.connectedAt',
  eventType: '$context.eventType',
  routeKey: '$context.routeKey',
  messageId: '$context.messageId',
  messageDirection: '$context.messageDirection',
  status: '$context.status',
  principalId: '$context.authorizer.principalId',
  authorizerError: '$context.authorizer.error',
  integrationStatus: '$context.integration.status',
  integrationError: '$context.integration.error',
  integrationLatency: '$context.integration.latency',
  errorMessage: '$context.error.message',
  sourceIp: '$context.identity.sourceIp',
} as const;

export interface StageThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Burst capacity. */
  readonly burstLimit: number;
}

export interface HeraldWebSocketApiProps {
  /** REQUEST authorizer of `$connect`: the only route API Gateway authorizes on a WebSocket API. */
  readonly authorizerHandler: IFunction;
  readonly connectHandler: IFunction;
  readonly disconnectHandler: IFunction;
  /** Answers frames whose `action` names no route; two-way, its response body is the error frame. */
  readonly defaultHandler: IFunction;
  /** One two-way route per client action (route key = the frame's `action`). Keys may not start with `$`. */
  readonly actionHandlers: Readonly<Record<string, IFunction>>;

  /** @default 'prod' */
  readonly stageName?: string;

  /** Stage-wide throttling. @default { rateLimit: 500, burstLimit: 1000 } */
  readonly throttle?: StageThrottle;

  /** @default RetentionDays.ONE_MONTH */
  readonly accessLogRetention?: RetentionDays;

  /** @default RemovalPolicy.DESTROY */
  readonly accessLogRemovalPolicy?: RemovalPolicy;

  /**
   * Also set the account's API Gateway CloudWatch Logs role (`AWS::ApiGateway::Account`), which access
   * logging needs. Off by default: the setting is one per account and region, so a stack that sets it
   * overwrites whatever another stack or an administrator configured, and deleting the stack does not reset
   * it. Turn it on in accounts where nothing else manages that setting (a fresh sandbox account, for
   * example); the role is retained on stack deletion so that the account setting never points at a deleted
   * role.
   * @default false
   */
  readonly createAccountLoggingRole?: boolean;
}

const DEFAULT_THROTTLE: StageThrottle = { rateLimit: 500, burstLimit: 1000 };
const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The WebSocket API: `$connect` behind a Lambda REQUEST authorizer reading `?token=`, `$disconnect`, a
 * two-way `$default` and one two-way route per client action, selected by `$request.body.action`; one
 * auto-deployed stage with throttling and JSON access logs.
 */
export class HeraldWebSocketApi extends Construct {
  public readonly api: WebSocketApi;
  public readonly stage: WebSocketStage;
  public readonly authorizer: WebSocketLambdaAuthorizer;
  public readonly accessLogGroup: LogGroup;
  /** The routes of the client actions, by route key. */
  public readonly actionRoutes: Readonly<Record<string, WebSocketRoute>>;
  /** The account-level logging setting, when `createAccountLoggingRole` is on. */
  public readonly account: CfnAccount | undefined;
  /** `wss://` URL clients connect to. */
  public readonly url: string;
  /** `https://` URL of the `@connections` management API of the stage. */
  public readonly callbackUrl: string;

  constructor(scope: Construct, id: string, props: HeraldWebSocketApiProps) {
    super(scope, id);

    const stageName = props.stageName ?? 'prod';
    if (!STAGE_NAME.test(stageName)) {
      throw new Error(
        `HeraldWebSocketApi: stageName must be 1-128 letters, digits, - or _, got ${JSON.stringify(stageName)}`,
      );
    }
    const throttle = props.throttle ?? DEFAULT_THROTTLE;
    if (!(throttle.rateLimit > 0) || !Number.isInteger(throttle.burstLimit) || throttle.burstLimit < 1) {
      throw new Error(
        'HeraldWebSocketApi: throttle needs a positive rateLimit and a positive integer burstLimit, got ' +
          JSON.stringify(throttle),
      );
    }
    const actionKeys = Object.keys(props.actionHandlers);
    if (actionKeys.length === 0) {
      throw new Error('HeraldWebSocketApi: actionHandlers needs at least one client action');
    }
    const reserved = actionKeys.filter((key) => key.startsWith('$') || key.trim() === '');
    if (reserved.length > 0) {
      throw new Error(
        `HeraldWebSocketApi: client action route keys may not be empty or start with "$": ${reserved.join(', ')}`,
      );
    }

    this.authorizer = new WebSocketLambdaAuthorizer('TokenAuthorizer', props.authorizerHandler, {
      identitySource: [TOKEN_IDENTITY_SOURCE],
    });

    this.api = new WebSocketApi(this, 'Api', {
      description: 'Herald instant messaging',
      routeSelectionExpression: '$request.body.action',
      connectRouteOptions: {
        integration: new WebSocketLambdaIntegration('ConnectIntegration', props.connectHandler),
        authorizer: this.authorizer,
      },
      disconnectRouteOptions: {
        integration: new WebSocketLambdaIntegration('DisconnectIntegration', props.disconnectHandler),
      },
      defaultRouteOptions: {
        integration: new WebSocketLambdaIntegration('DefaultIntegration', props.defaultHandler),
        returnResponse: true,
      },
    });

    const actionRoutes: Record<string, WebSocketRoute> = {};
    for (const [routeKey, handler] of Object.entries(props.actionHandlers)) {
      actionRoutes[routeKey] = this.api.addRoute(routeKey, {
        integration: new WebSocketLambdaIntegration(`${pascal(routeKey)}Integration`, handler),
        returnResponse: true,
      });
    }
    this.actionRoutes = actionRoutes;

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.accessLogRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    this.stage = new WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName,
      autoDeploy: true,
      throttle: { rateLimit: throttle.rateLimit, burstLimit: throttle.burstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    this.account = props.createAccountLoggingRole ? this.createAccountLoggingRole() : undefined;
    this.url = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;

    // cdk-nag APIG4: API Gateway runs authorizers on `$connect` only. The other routes travel on a connection
    // that `$connect` has already authorized, and their handlers take the user from that connection's
    // context.
    for (const route of [
      this.api.node.tryFindChild('$disconnect-Route'),
      this.api.node.tryFindChild('$default-Route'),
      ...Object.values(actionRoutes),
    ]) {
      if (route === undefined) continue;
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'WebSocket APIs authorize only the $connect route (Lambda REQUEST authorizer on ?token=); every ' +
          'later frame and $disconnect belong to a connection that was authorized then, and API Gateway ' +
          'accepts no authorizer on non-$connect WebSocket routes.',
      });
    }
  }

  private createAccountLoggingRole(): CfnAccount {
    const role = new iam.Role(this, 'AccountLoggingRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'Lets API Gateway write access and execution logs to CloudWatch Logs (account setting)',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonAPIGatewayPushToCloudWatchLogs'),
      ],
    });
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason:
        'AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents for the account-wide API Gateway ' +
        'logging role; it must cover the log groups of every API of the account, not just this one.',
    });
    const account = new CfnAccount(this, 'Account', { cloudWatchRoleArn: role.roleArn });
    // Access logging fails to deploy until the account knows the role.
    this.stage.node.addDependency(account);
    return account;
  }
}

function pascal(routeKey: string): string {
  return routeKey
    .split(/[^A-Za-z0-9]+/)
    .filter((part) => part !== '')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

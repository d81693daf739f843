/**
 * The contracts between the parts of Herald's local cloud: the template reader, the Lambda runtime, the
 * WebSocket gateway and the SQS event sources. Nothing here knows about Herald's own routes, queues or tables:
 * the local cloud runs any CDK app that uses these resource types.
 */

/** A Lambda function read from the synthesized template, with its environment already resolved. */
export interface FunctionDefinition {
  /** The template's logical id, e.g. `Deliver72E7B226`. */
  readonly id: string;
  /** Its local physical name (what `Ref` resolves to), e.g. `Herald-Deliver72E7B226`. */
  readonly functionName: string;
  /** Absolute path of the built asset directory (cdk.out/asset.<hash>). */
  readonly codeDir: string;
  /** `file.export`, e.g. `index.handler`: the file is `index.mjs`, `index.js` or `index.cjs`. */
  readonly handler: string;
  /** e.g. `nodejs22.x`. */
  readonly runtime: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The function's `Environment.Variables`, intrinsics resolved to local names and URLs. */
  readonly environment: Readonly<Record<string, string>>;
}

/** A failed invocation, with the fields Lambda reports (`errorType`, `errorMessage`). */
export class LambdaInvocationError extends Error {
  override readonly name = 'LambdaInvocationError';
  constructor(
    readonly functionId: string,
    /** `handled`: the handler threw or rejected; `timeout`: it ran past its timeout; `crash`: the runtime died. */
    readonly kind: 'handled' | 'timeout' | 'crash',
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(`${functionId}: ${errorType}: ${errorMessage}`);
  }
}

export interface LambdaInvoker {
  /** Invokes a function synchronously (RequestResponse) and resolves to its JSON-serialisable result. */
  invoke(functionId: string, event: unknown): Promise<unknown>;
}

/** Where a worker's outgoing HTTP(S) requests to a host go instead (the local gateway, local services). */
export interface HostRedirect {
  /** A regular expression source matched against the whole host name (no port). */
  readonly hostPattern: string;
  /** e.g. `http://127.0.0.1:3001`: protocol, host and port replace the original's; the path is kept. */
  readonly target: string;
}

export interface WebSocketRoute {
  /** `$connect`, `$disconnect`, `$default` or a custom key such as `send`. */
  readonly routeKey: string;
  /** The function of the route's AWS_PROXY integration; undefined for a route with no Lambda integration. */
  readonly functionId?: string;
  /** A REQUEST authorizer (API Gateway allows one on `$connect` only). */
  readonly authorizer?: {
    readonly functionId: string;
    /** e.g. `route.request.querystring.token`, `route.request.header.Authorization`. */
    readonly identitySources: readonly string[];
  };
  /** True when the route has a route response (two-way): the integration's `body` goes back to the client. */
  readonly twoWay: boolean;
}

export interface WebSocketApiDefinition {
  /** The template's logical id of the AWS::ApiGatewayV2::Api. */
  readonly id: string;
  /** The local api id (what `Ref` of the Api resolves to): 10 lowercase letters and digits, like AWS's. */
  readonly apiId: string;
  readonly name: string;
  readonly stageName: string;
  /** e.g. `$request.body.action`. */
  readonly routeSelectionExpression: string;
  readonly routes: readonly WebSocketRoute[];
  readonly throttle?: { readonly rateLimit: number; readonly burstLimit: number };
}

export interface GatewayLimits {
  /** @default 32 * 1024 (API Gateway: 32 KB a frame; larger closes with 1009) */
  readonly maxFrameBytes?: number;
  /** @default 128 * 1024 (API Gateway: 128 KB a message) */
  readonly maxMessageBytes?: number;
  /** @default 10 minutes */
  readonly idleTimeoutMs?: number;
  /** @default 2 hours */
  readonly maxConnectionMs?: number;
}

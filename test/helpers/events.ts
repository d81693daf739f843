/**
 * Event factories shaped exactly like API Gateway's and SQS's (typed with @types/aws-lambda, values as in
 * AWS's documentation examples), for handler tests.
 */
import type {
  APIGatewayProxyWebsocketEventV2,
  APIGatewayRequestAuthorizerEvent,
  Context,
  SQSEvent,
  SQSRecord,
} from 'aws-lambda';

const API_ID = 'abcdef1234';
const STAGE = 'prod';
const DOMAIN = `${API_ID}.execute-api.us-east-1.amazonaws.com`;

type RouteKey = '$connect' | '$disconnect' | '$default' | string;

export function websocketEvent(
  routeKey: RouteKey,
  options: { connectionId?: string; userId?: string; body?: string; connectedAt?: number } = {},
): APIGatewayProxyWebsocketEventV2 & { requestContext: { authorizer?: Record<string, string> } } {
  const now = Date.now();
  const eventType =
    routeKey === '$connect' ? 'CONNECT' : routeKey === '$disconnect' ? 'DISCONNECT' : 'MESSAGE';
  const event = {
    requestContext: {
      routeKey,
      eventType,
      extendedRequestId: 'HJ3ZMGI_oAMF7tA=',
      requestTime: '09/Feb/2026:10:00:00 +0000',
      messageDirection: 'IN',
      stage: STAGE,
      connectedAt: options.connectedAt ?? now - 1000,
      requestTimeEpoch: now,
      requestId: 'HJ3ZMGI_oAMF7tA=',
      domainName: DOMAIN,
      connectionId: options.connectionId ?? 'HJ3ZMcnnoAMCLDw=',
      apiId: API_ID,
      // $connect and $disconnect events carry no messageId; message events do.
      ...(eventType === 'MESSAGE' ? { messageId: 'HJ3ZMfXfoAMCLDw=' } : {}),
      ...(options.userId === undefined
        ? {}
        : { authorizer: { userId: options.userId, principalId: options.userId } }),
    },
    ...(options.body === undefined ? {} : { body: options.body }),
    isBase64Encoded: false,
  };
  return event as APIGatewayProxyWebsocketEventV2 & {
    requestContext: { authorizer?: Record<string, string> };
  };
}

export function authorizerEvent(query: Record<string, string> | null): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:us-east-1:123456789012:${API_ID}/${STAGE}/$connect`,
    resource: '$connect',
    path: '',
    httpMethod: 'GET',
    headers: { Host: DOMAIN, 'Sec-WebSocket-Version': '13' },
    multiValueHeaders: { Host: [DOMAIN] },
    pathParameters: {},
    queryStringParameters: query,
    multiValueQueryStringParameters: query
      ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]]))
      : null,
    stageVariables: {},
    requestContext: {
      accountId: '123456789012',
      apiId: API_ID,
      authorizer: undefined,
      protocol: 'HTTP/1.1',
      httpMethod: 'GET',
      identity: { sourceIp: '192.0.2.1' } as APIGatewayRequestAuthorizerEvent['requestContext']['identity'],
      path: '',
      stage: STAGE,
      requestId: 'HJ3ZMGI_oAMF7tA=',
      requestTimeEpoch: Date.now(),
      resourceId: '$connect',
      resourcePath: '',
    },
  };
}

let sequence = 0;

export function sqsFifoRecord(body: string, groupId: string): SQSRecord {
  sequence++;
  return {
    messageId: `059f36b4-87a3-44ab-83d2-${String(sequence).padStart(12, '0')}`,
    receiptHandle: `AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a-${sequence}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAIENQZJOLO23YVJ4VO',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      SequenceNumber: String(18849496460467696128n + BigInt(sequence)),
      MessageGroupId: groupId,
      MessageDeduplicationId: `dedup-${sequence}`,
    },
    messageAttributes: {},
    md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:Herald-Messages.fifo',
    awsRegion: 'us-east-1',
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: 'Herald-Deliver',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:Herald-Deliver',
    memoryLimitInMB: '512',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
    logGroupName: '/aws/lambda/Herald-Deliver',
    logStreamName: '2026/11/27/[$LATEST]abc',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Architecture, Code, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { CfnQueue, Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { FANOUT_BUCKETS } from '../../lambdas/core/push';
import { FanoutPipeline, type FanoutPipelineProps } from '../../lib/constructs/fanout';
import { HERALD_RUNTIME, HeraldFunction, handlerEntry } from '../../lib/constructs/handler-function';

type Props = Omit<FanoutPipelineProps, 'consumer'>;

/** A stack with just the construct, fed to an inline function (no bundling). */
function synth(props: Props = {}, consumer: { timeout?: Duration } = { timeout: Duration.seconds(20) }) {
  const stack = new Stack(new App(), 'FanoutOnly');
  const fn = new LambdaFunction(stack, 'Consumer', {
    runtime: HERALD_RUNTIME,
    architecture: Architecture.ARM_64,
    handler: 'index.handler',
    code: Code.fromInline('export const handler = async () => ({ batchItemFailures: [] });'),
    timeout: consumer.timeout,
  });
  const fanout = new FanoutPipeline(stack, 'Fanout', { consumer: fn, ...props });
  const template = Template.fromStack(stack);
  const resolve = <T>(value: T) => stack.resolve(value) as unknown;
  const logicalId = (queue: Queue) => stack.getLogicalId(queue.node.defaultChild as CfnQueue);
  return { stack, consumer: fn, fanout, template, resolve, logicalId };
}

describe('FanoutPipeline', () => {
  it('is a high-throughput FIFO queue with a FIFO DLQ kept 14 days, redriven after 5 receives', () => {
    const { fanout, template, resolve, logicalId } = synth();
    const queues = template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(2);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties?.FifoQueue).toBe(true);
    }
    expect(queues[logicalId(fanout.queue)]?.Properties).toMatchObject({
      FifoQueue: true,
      // The producer sets each job's deduplication id (frame, bucket, chunk).
      ContentBasedDeduplication: false,
      DeduplicationScope: 'messageGroup',
      FifoThroughputLimit: 'perMessageGroupId',
      RedrivePolicy: {
        deadLetterTargetArn: resolve(fanout.deadLetterQueue.queueArn),
        maxReceiveCount: 5,
      },
      MessageRetentionPeriod: 4 * 24 * 3600,
    });
    expect(queues[logicalId(fanout.deadLetterQueue)]?.Properties).toMatchObject({
      FifoQueue: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    expect(queues[logicalId(fanout.deadLetterQueue)]?.Properties?.RedrivePolicy).toBeUndefined();
    expect(fanout.maxReceiveCount).toBe(5);
    // One conversation's jobs spread over this many message groups: the most invocations it can use at once.
    expect(fanout.bucketsPerConversation).toBe(FANOUT_BUCKETS);
  });

  it('encrypts both queues (SSE-SQS) and denies every non-TLS request to them', () => {
    const { fanout, template, logicalId } = synth();
    for (const queue of [fanout.queue, fanout.deadLetterQueue]) {
      const id = logicalId(queue);
      expect(template.toJSON().Resources[id].Properties.SqsManagedSseEnabled).toBe(true);
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Principal: { AWS: '*' },
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('keeps jobs invisible for six times the consumer timeout by default', () => {
    const { fanout, template } = synth({}, { timeout: Duration.seconds(20) });
    expect(fanout.visibilityTimeout.toSeconds()).toBe(120);
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 120,
      RedrivePolicy: Match.anyValue(),
    });
    // Lambda's default timeout (3 s) when the function sets none.
    expect(synth({}, {}).fanout.visibilityTimeout.toSeconds()).toBe(18);
  });

  it('feeds the consumer one job at a time, with partial batch responses and a concurrency cap', () => {
    const { consumer, fanout, template, resolve } = synth();
    const mappings = template.findResources('AWS::Lambda::EventSourceMapping');
    expect(Object.values(mappings)).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: resolve(consumer.functionName),
      EventSourceArn: resolve(fanout.queue.queueArn),
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
      MaximumBatchingWindowInSeconds: Match.absent(),
    });
    expect([fanout.batchSize, fanout.maxConcurrency]).toEqual([1, 10]);
  });

  it('lets the consumer receive and delete jobs, and nothing of the DLQ (the stack grants the poison forward)', () => {
    const { template, resolve, fanout } = synth();
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:ReceiveMessage', 'sqs:DeleteMessage']),
            Resource: resolve(fanout.queue.queueArn),
          }),
        ]),
      },
    });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain(JSON.stringify(resolve(fanout.deadLetterQueue.queueArn)));
  });

  it('takes its settings from props', () => {
    const { template } = synth({
      maxConcurrency: 40,
      batchSize: 10,
      maxReceiveCount: 3,
      visibilityTimeout: Duration.minutes(5),
      retentionPeriod: Duration.hours(6),
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10,
      ScalingConfig: { MaximumConcurrency: 40 },
    });
    template.hasResourceProperties('AWS::SQS::Queue', {
      VisibilityTimeout: 300,
      MessageRetentionPeriod: 6 * 3600,
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 3 }),
    });
  });

  it.each<[string, Props, RegExp]>([
    [
      'a visibility timeout under 6x the consumer timeout',
      { visibilityTimeout: Duration.seconds(119) },
      /at least 6 x/,
    ],
    ['maxConcurrency 7', { maxConcurrency: 7 }, /maxConcurrency must be an integer from 8 to 1000/],
    ['maxConcurrency 1001', { maxConcurrency: 1001 }, /maxConcurrency/],
    ['a fractional maxConcurrency', { maxConcurrency: 2.5 }, /maxConcurrency/],
    ['batchSize 0', { batchSize: 0 }, /batchSize must be an integer from 1 to 10 for a FIFO queue/],
    ['batchSize 11 (FIFO takes at most 10)', { batchSize: 11 }, /batchSize/],
    ['maxReceiveCount 0', { maxReceiveCount: 0 }, /maxReceiveCount/],
  ])('refuses %s', (_name, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  it('accepts a HeraldFunction consumer (the stack passes one)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'WithHeraldFunction');
    const consumer = new HeraldFunction(stack, 'Fanout', { entry: handlerEntry('fanout') });
    const fanout = new FanoutPipeline(stack, 'FanoutPipeline', { consumer });
    expect(fanout.visibilityTimeout.toSeconds()).toBe(60);
    Template.fromStack(stack).resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
  });

  it('raises no cdk-nag AwsSolutions finding on its own resources', () => {
    const { stack } = synth();
    const findings = new AwsSolutionsChecks()
      .validateScope(stack)
      .violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
    // Not vacuous: the bare inline consumer (managed policy, runtime) is reported.
    expect(findings.some((f) => f.includes('FanoutOnly/Consumer/'))).toBe(true);
    expect(findings.filter((f) => f.includes('FanoutOnly/Fanout/'))).toEqual([]);
  });
});

import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HeraldStackProps } from '../../lib/herald-stack';
import { POSTING_FUNCTIONS, type Synthesized, synthHerald } from './support';

const variants: [string, Partial<HeraldStackProps>][] = [
  ['dev auth with the defaults', {}],
  [
    'jwks auth, account logging role, alarm topic and another stage name',
    {
      auth: {
        mode: 'jwks',
        jwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
        issuer: 'https://issuer.example.com/',
        audience: 'herald',
      },
      apiGatewayAccountRole: true,
      alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:herald-alarms',
      stageName: 'beta',
    },
  ],
];

interface Acknowledgment {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
  readonly onStack: boolean;
}

function acknowledgments(root: IConstruct): Acknowledgment[] {
  const found: Acknowledgment[] = [];
  for (const construct of root.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        found.push({ path: construct.node.path, id, reason, onStack: Stack.isStack(construct) });
      }
    }
  }
  return found;
}

describe('cdk-nag AwsSolutions, sanity', () => {
  it('is not vacuous: a queue without DLQ or TLS enforcement added to the stack is reported', () => {
    const s = synthHerald();
    new Queue(s.stack, 'Unsafe');
    const rules = new AwsSolutionsChecks().validateScope(s.stack).violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS3', 'AwsSolutions-SQS4']));
  });
});

describe.each(variants)('cdk-nag AwsSolutions, %s', (_name, props) => {
  let s: Synthesized;
  beforeAll(() => {
    // The pack is registered as bin/herald.ts registers it: synthesis itself throws on an unacknowledged
    // error.
    s = synthHerald(props, { plugins: [new AwsSolutionsChecks(undefined, { verbose: true })] });
  });

  it('reports no unacknowledged error and no warning', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s.stack);
    const violations = report.violations.map(
      (v) => `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
    );
    expect(violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  it('leaves the validation report of the synthesized app empty, and no AwsSolutions annotation', () => {
    const assembly = s.app.synth();
    const report = JSON.parse(
      readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'),
    ) as {
      pluginReports: unknown[];
    };
    expect(report.pluginReports).toEqual([]);
    const annotations = Annotations.fromStack(s.stack);
    expect(annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
    expect(annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'))).toEqual([]);
  });

  it('acknowledges each finding on a resource (never stack-wide) with a specific written reason', () => {
    const acks = acknowledgments(s.stack).filter((a) => a.id.includes('AwsSolutions-'));
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.onStack, `${ack.id} at ${ack.path}`).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(80);
    }
    // IAM5 is only ever acknowledged per finding (X-Ray's "*", the @connections id), never for the whole
    // rule.
    for (const ack of acks.filter((a) => a.id.includes('AwsSolutions-IAM'))) {
      expect(ack.id, ack.path).toMatch(/AwsSolutions-IAM[45]\[.+\]$/);
    }
  });

  it('acknowledges the @connections wildcard only on the roles of the functions that post, for this stage', () => {
    const stage = props.stageName ?? 'prod';
    const acks = acknowledgments(s.stack).filter((a) => a.id.includes('@connections'));
    expect(acks.map((a) => a.path).sort()).toEqual(
      POSTING_FUNCTIONS.map((name) => `Herald/${name}Role`).sort(),
    );
    const apiId = s.stack.getLogicalId(s.stack.webSocket.api.node.defaultChild as CfnElement);
    for (const ack of acks) {
      expect(ack.id.replace(/^Annotation::/, ''), ack.path).toBe(
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:' +
          `<${apiId}>/${stage}/POST/@connections/*]`,
      );
    }
  });
});

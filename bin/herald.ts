#!/usr/bin/env -S npx tsx
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { HeraldContextError, heraldConfigFromContext } from '../lib/app-context';
import { HeraldStack } from '../lib/herald-stack';

const app = new App();
try {
  const { stackName, props } = heraldConfigFromContext(app.node);
  new HeraldStack(app, stackName, {
    stackName,
    description: 'Herald: serverless instant messaging',
    ...props,
  });
} catch (error) {
  // A bad -c value is a usage error: say what to fix, without a stack trace.
  if (!(error instanceof HeraldContextError)) throw error;
  console.error(error.message);
  process.exit(1);
}
// cdk-nag v3 is a policy-validation plugin: synthesis fails on any unacknowledged AwsSolutions error.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';

/** A conditional write's condition was false (the SDK's class, or the same error by name across bundles). */
export function isConditionFailure(error: unknown): error is ConditionalCheckFailedException {
  return (
    error instanceof ConditionalCheckFailedException ||
    (error instanceof Error && error.name === 'ConditionalCheckFailedException')
  );
}

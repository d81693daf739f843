/**
 * The errors Herald's use cases raise on purpose. Each carries the protocol's stable code; `errorFrame` in
 * `error-frame.ts` is the one place that turns them into client frames. Anything else is a bug or an outage
 * and is rethrown.
 */
import type { ErrorCode } from '../../protocol';

export type ErrorDetail = { readonly path: string; readonly problem: string };

export abstract class HeraldError extends Error {
  abstract readonly code: ErrorCode;
  constructor(
    message: string,
    /** The clientMessageId of the frame being answered, when it had a readable one. */
    readonly clientMessageId?: string,
  ) {
    super(message);
  }
}

/** A client frame the protocol refuses: bad JSON, unknown action, bad fields, too large, wrong version. */
export class InvalidFrameError extends HeraldError {
  override readonly name = 'InvalidFrameError';
  constructor(
    readonly code: Extract<
      ErrorCode,
      'MALFORMED_JSON' | 'UNKNOWN_ACTION' | 'INVALID_FRAME' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_VERSION'
    >,
    message: string,
    clientMessageId?: string,
    readonly details?: readonly ErrorDetail[],
  ) {
    super(message, clientMessageId);
  }
}

export class NotAMemberError extends HeraldError {
  override readonly name = 'NotAMemberError';
  readonly code = 'NOT_A_MEMBER' as const;
}

/** The token on $connect is missing, malformed, expired, badly signed or for another issuer or audience. */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** The token is valid but names a subject Herald cannot use as a user id. */
export class ForbiddenSubjectError extends Error {
  override readonly name = 'ForbiddenSubjectError';
}

/** A queue body that can never be processed: it goes to the dead-letter queue at once, not after N retries. */
export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

/** Some pushes failed for a reason other than 410 Gone: the record must be retried. */
export class DeliveryIncompleteError extends Error {
  override readonly name = 'DeliveryIncompleteError';
  constructor(
    readonly failedConnections: readonly string[],
    override readonly cause: unknown,
  ) {
    super(`delivery failed to ${failedConnections.length} connection(s)`);
  }
}

/**
 * The errors Herald's use cases raise on purpose. Each carries the protocol's stable code; `errorFrame` in
 * `error-frame.ts` is the one place that turns them into client frames. Anything else is a bug or an outage
 * and is rethrown.
 */
import type { ErrorCode } from '../../protocol';

export type ErrorDetail = { readonly path: string; readonly problem: string };

/** Which frame an error answers: its clientMessageId (commands) or requestId (queries), when readable. */
export interface FrameRef {
  readonly clientMessageId?: string | undefined;
  readonly requestId?: string | undefined;
}

export abstract class HeraldError extends Error {
  abstract readonly code: ErrorCode;
  constructor(
    message: string,
    readonly ref: FrameRef = {},
  ) {
    super(message);
  }
  get clientMessageId(): string | undefined {
    return this.ref.clientMessageId;
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
    ref: FrameRef = {},
    readonly details?: readonly ErrorDetail[],
  ) {
    super(message, ref);
  }
}

export class NotAMemberError extends HeraldError {
  override readonly name = 'NotAMemberError';
  readonly code = 'NOT_A_MEMBER' as const;
}

export class NotAllowedError extends HeraldError {
  override readonly name = 'NotAllowedError';
  readonly code = 'NOT_ALLOWED' as const;
}

export class NotFoundError extends HeraldError {
  override readonly name = 'NotFoundError';
  readonly code = 'NOT_FOUND' as const;
}

export class RecallWindowClosedError extends HeraldError {
  override readonly name = 'RecallWindowClosedError';
  readonly code = 'RECALL_WINDOW_CLOSED' as const;
}

export class GroupTooLargeError extends HeraldError {
  override readonly name = 'GroupTooLargeError';
  readonly code = 'GROUP_TOO_LARGE' as const;
}

export class RateLimitedError extends HeraldError {
  override readonly name = 'RateLimitedError';
  readonly code = 'RATE_LIMITED' as const;
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

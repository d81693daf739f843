import type { ErrorCode } from '../protocol';

/** Codes the SDK raises itself, next to the server's {@link ErrorCode}s. */
export type ClientErrorCode =
  /** A query got no answer in time. */
  | 'TIMEOUT'
  /** The client was closed before the command or query was answered. */
  | 'CLOSED'
  /** The server sent something that is not a valid protocol frame: it is ignored. */
  | 'INVALID_SERVER_FRAME'
  /** The token function failed, or the connection could not be opened. */
  | 'CONNECT_FAILED'
  /** The store failed to load or save. */
  | 'STORE_FAILED'
  /** An event handler of the application threw. */
  | 'HANDLER_FAILED';

/** Every error the SDK reports: rejected promises and the `error` event. `code` is the server's or the SDK's. */
export class HeraldError extends Error {
  override readonly name = 'HeraldError';
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    readonly details?: {
      readonly clientMessageId?: string;
      readonly requestId?: string;
      readonly fields?: readonly { readonly path: string; readonly problem: string }[];
      readonly cause?: unknown;
    },
  ) {
    super(message);
  }
}

/** Server codes after which the same frame may be sent again (docs/protocol.md, Errors). */
export function isRetryable(code: HeraldError['code']): boolean {
  return code === 'RATE_LIMITED' || code === 'INTERNAL';
}

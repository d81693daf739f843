import { type ErrorFrame, PROTOCOL_VERSION } from '../../protocol';
import { HeraldError, InvalidFrameError } from './errors';

/** The single mapping from Herald's errors to the client's error frames. */
export function errorFrame(error: HeraldError): ErrorFrame {
  return {
    type: 'error',
    v: PROTOCOL_VERSION,
    code: error.code,
    message: error.message,
    ...(error.clientMessageId === undefined ? {} : { clientMessageId: error.clientMessageId }),
    ...(error instanceof InvalidFrameError && error.details ? { details: [...error.details] } : {}),
  };
}

/** The frame for a failure the client cannot fix: nothing was accepted, so retrying the same frame is safe. */
export function internalErrorFrame(clientMessageId?: string): ErrorFrame {
  return {
    type: 'error',
    v: PROTOCOL_VERSION,
    code: 'INTERNAL',
    message:
      'The server could not accept this frame; nothing was stored. Retry with the same clientMessageId.',
    ...(clientMessageId === undefined ? {} : { clientMessageId }),
  };
}

export { HeraldError };

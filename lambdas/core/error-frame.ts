import { type ErrorFrame, PROTOCOL_VERSION } from '../../protocol';
import { type FrameRef, HeraldError, InvalidFrameError } from './errors';

/** The single mapping from Herald's errors to the client's error frames. */
export function errorFrame(error: HeraldError): ErrorFrame {
  return {
    type: 'error',
    v: PROTOCOL_VERSION,
    code: error.code,
    message: error.message,
    ...(error.ref.clientMessageId === undefined ? {} : { clientMessageId: error.ref.clientMessageId }),
    ...(error.ref.requestId === undefined ? {} : { requestId: error.ref.requestId }),
    ...(error instanceof InvalidFrameError && error.details ? { details: [...error.details] } : {}),
  };
}

/** The frame for a failure the client cannot fix: nothing was accepted, so retrying the same frame is safe. */
export function internalErrorFrame(ref: FrameRef = {}): ErrorFrame {
  return {
    type: 'error',
    v: PROTOCOL_VERSION,
    code: 'INTERNAL',
    message:
      'The server could not accept this frame; nothing was stored. Retry with the same clientMessageId.',
    ...(ref.clientMessageId === undefined ? {} : { clientMessageId: ref.clientMessageId }),
    ...(ref.requestId === undefined ? {} : { requestId: ref.requestId }),
  };
}

export { HeraldError };

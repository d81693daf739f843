import {
  CLIENT_ACTIONS,
  CLIENT_FRAMES,
  type ClientAction,
  type ClientFrame,
  LIMITS,
  PROTOCOL_VERSION,
} from '../../protocol';
import { InvalidFrameError } from './errors';

const utf8 = new TextEncoder();

/**
 * Validates one WebSocket frame from a client against the protocol. Throws InvalidFrameError with the most
 * specific code; the error carries the frame's clientMessageId whenever one can be read, so the client can
 * match the error to the send it answers.
 */
export function parseClientFrame(body: string | null | undefined): ClientFrame {
  if (body === null || body === undefined || body === '') {
    throw new InvalidFrameError('MALFORMED_JSON', 'The frame is empty: send a JSON object.');
  }
  // Cheap length bound before encoding: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (body.length > LIMITS.maxFrameBytes || utf8.encode(body).byteLength > LIMITS.maxFrameBytes) {
    throw new InvalidFrameError(
      'PAYLOAD_TOO_LARGE',
      `The frame is larger than ${LIMITS.maxFrameBytes} bytes.`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidFrameError('MALFORMED_JSON', 'The frame is not valid JSON.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidFrameError('MALFORMED_JSON', 'The frame must be a JSON object.');
  }
  const fields = json as Record<string, unknown>;
  const clientMessageId = readableId(fields.clientMessageId);
  const requestId = readableId(fields.requestId);
  const action = fields.action;
  if (typeof action !== 'string' || !(CLIENT_ACTIONS as readonly string[]).includes(action)) {
    const shown = typeof action === 'string' ? `"${action.slice(0, 40)}"` : 'missing';
    throw new InvalidFrameError(
      'UNKNOWN_ACTION',
      `Unknown action (${shown}): expected one of ${CLIENT_ACTIONS.join(', ')}.`,
      { clientMessageId, requestId },
    );
  }
  if (fields.v !== PROTOCOL_VERSION) {
    throw new InvalidFrameError(
      'UNSUPPORTED_VERSION',
      `Protocol version ${JSON.stringify(fields.v ?? null)} is not supported: send "v": ${PROTOCOL_VERSION}.`,
      { clientMessageId, requestId },
    );
  }
  const parsed = CLIENT_FRAMES[action as ClientAction].safeParse(json);
  if (!parsed.success) {
    const details = parsed.error.issues.map((issue) => ({
      path: issue.path.map(String).join('.') || '(frame)',
      problem: issue.message,
    }));
    throw new InvalidFrameError(
      'INVALID_FRAME',
      `The ${action} frame is invalid: ${details.map((d) => `${d.path}: ${d.problem}`).join('; ')}`,
      { clientMessageId, requestId },
      details,
    );
  }
  return parsed.data as ClientFrame;
}

/** Echo a clientMessageId back only when it is a sane string: never reflect arbitrary input. */
function readableId(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value) ? value : undefined;
}

import { describe, expect, it } from 'vitest';
import { InvalidFrameError } from '../../../lambdas/core/errors';
import { parseClientFrame } from '../../../lambdas/core/parse-frame';
import { LIMITS } from '../../../protocol';

const valid = { action: 'send', v: 1, conversationId: 'dm:alice:bob', clientMessageId: 'm-1', text: 'hi' };

function refusal(body: string | undefined): InvalidFrameError {
  try {
    parseClientFrame(body);
  } catch (error) {
    if (error instanceof InvalidFrameError) return error;
    throw error;
  }
  throw new Error('frame was accepted');
}

describe('parseClientFrame', () => {
  it('accepts a valid send frame and returns it typed', () => {
    expect(parseClientFrame(JSON.stringify(valid))).toEqual(valid);
  });

  it.each([
    ['empty body', undefined, 'MALFORMED_JSON'],
    ['not JSON', '{"action": "send",', 'MALFORMED_JSON'],
    ['a JSON array', '[1,2]', 'MALFORMED_JSON'],
    ['a JSON string', '"send"', 'MALFORMED_JSON'],
    ['no action', JSON.stringify({ v: 1 }), 'UNKNOWN_ACTION'],
    ['an unknown action', JSON.stringify({ ...valid, action: 'fly' }), 'UNKNOWN_ACTION'],
    ['a non-string action', JSON.stringify({ ...valid, action: 7 }), 'UNKNOWN_ACTION'],
    ['a missing version', JSON.stringify({ ...valid, v: undefined }), 'UNSUPPORTED_VERSION'],
    ['a future version', JSON.stringify({ ...valid, v: 2 }), 'UNSUPPORTED_VERSION'],
  ])('refuses %s with %s', (_name, body, code) => {
    expect(refusal(body).code).toBe(code);
  });

  it('refuses frames over the documented size with PAYLOAD_TOO_LARGE, counting UTF-8 bytes', () => {
    // 11,000 three-byte characters: under the limit in UTF-16 units, over it in bytes.
    const body = JSON.stringify({ ...valid, text: '€'.repeat(11_000) });
    expect(body.length).toBeLessThan(LIMITS.maxFrameBytes);
    expect(refusal(body).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it.each([
    ['a missing text', { text: undefined }, 'text'],
    ['a number for text', { text: 42 }, 'text'],
    ['an empty text', { text: '' }, 'text'],
    ['an over-long text', { text: 'x'.repeat(LIMITS.maxTextLength + 1) }, 'text'],
    [
      'an over-long conversation id',
      { conversationId: `g:${'a'.repeat(LIMITS.maxConversationIdLength)}` },
      'conversationId',
    ],
    [
      'control characters in the conversation id',
      { conversationId: 'dm:alice:\u0000bob\n' },
      'conversationId',
    ],
    ['a conversation id with spaces', { conversationId: 'dm:alice: bob' }, 'conversationId'],
    ['an unexpected field', { conversationId: 'dm:alice:bob', extra: true }, '(frame)'],
    ['a missing clientMessageId', { clientMessageId: undefined }, 'clientMessageId'],
  ])('refuses %s with INVALID_FRAME naming the field', (_name, patch, path) => {
    const error = refusal(JSON.stringify({ ...valid, ...patch }));
    expect(error.code).toBe('INVALID_FRAME');
    expect(error.details?.map((d) => d.path)).toContain(path);
  });

  it('echoes a readable clientMessageId in the error so the client can match it', () => {
    expect(refusal(JSON.stringify({ ...valid, text: '' })).clientMessageId).toBe('m-1');
  });

  it('never echoes an unreadable clientMessageId back', () => {
    const error = refusal(
      JSON.stringify({ ...valid, text: '', clientMessageId: '<script>alert(1)</script>' }),
    );
    expect(error.code).toBe('INVALID_FRAME');
    expect(error.clientMessageId).toBeUndefined();
  });
});

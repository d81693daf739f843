import { describe, expect, it } from 'vitest';
import { createDefaultHandler } from '../../../lambdas/handlers/default';
import { createSendHandler } from '../../../lambdas/handlers/send';
import { ErrorFrame, LIMITS } from '../../../protocol';
import { websocketEvent } from '../../helpers/events';
import { FixedClock, InMemoryDirectory, InMemoryQueue } from '../../helpers/fakes';

const good = { action: 'send', v: 1, conversationId: 'dm:alice:bob', clientMessageId: 'm-1', text: 'hi' };

function setup() {
  const deps = { directory: new InMemoryDirectory(), queue: new InMemoryQueue(), clock: new FixedClock(7) };
  const send = createSendHandler(() => deps);
  const call = (body: string | undefined, userId = 'alice') =>
    send(websocketEvent('send', { connectionId: 'conn-a', userId, ...(body === undefined ? {} : { body }) }));
  return { deps, call };
}

function errorOf(response: { statusCode: number; body?: string }): ErrorFrame {
  return ErrorFrame.parse(JSON.parse(response.body ?? 'null'));
}

describe('send route handler', () => {
  it('enqueues a valid frame and answers nothing (the ack comes from delivery)', async () => {
    const { deps, call } = setup();
    expect(await call(JSON.stringify(good))).toEqual({ statusCode: 200 });
    expect(deps.queue.sent).toMatchObject([{ senderId: 'alice', senderConnectionId: 'conn-a', sentAt: 7 }]);
  });

  it.each([
    ['malformed JSON', '{"action":"send"', 'MALFORMED_JSON', undefined],
    ['a missing field', JSON.stringify({ ...good, text: undefined }), 'INVALID_FRAME', 'm-1'],
    ['a wrongly typed field', JSON.stringify({ ...good, text: ['hi'] }), 'INVALID_FRAME', 'm-1'],
    [
      'an oversize body',
      JSON.stringify({ ...good, text: 'x'.repeat(LIMITS.maxFrameBytes) }),
      'PAYLOAD_TOO_LARGE',
      undefined,
    ],
    [
      'a control-character conversation id',
      JSON.stringify({ ...good, conversationId: 'dm:alice:\tbob' }),
      'INVALID_FRAME',
      'm-1',
    ],
    [
      'an over-long conversation id',
      JSON.stringify({ ...good, conversationId: 'c'.repeat(500) }),
      'INVALID_FRAME',
      'm-1',
    ],
    ['an old protocol version', JSON.stringify({ ...good, v: 0 }), 'UNSUPPORTED_VERSION', 'm-1'],
    [
      'a conversation the sender is not in',
      JSON.stringify({ ...good, conversationId: 'dm:bob:carol' }),
      'NOT_A_MEMBER',
      'm-1',
    ],
  ])('answers %s with its error frame and enqueues nothing', async (_name, body, code, clientMessageId) => {
    const { deps, call } = setup();
    const response = await call(body);
    expect(response.statusCode).toBe(400);
    const frame = errorOf(response);
    expect(frame.code).toBe(code);
    expect(frame.clientMessageId).toBe(clientMessageId);
    expect(frame.message.length).toBeGreaterThan(0);
    expect(deps.queue.sent).toEqual([]);
  });

  it('answers a failure of its own with INTERNAL and the clientMessageId, so the client retries', async () => {
    const { deps, call } = setup();
    deps.queue.failWith = new Error('SQS unavailable');
    const response = await call(JSON.stringify(good));
    expect(response.statusCode).toBe(500);
    expect(errorOf(response)).toMatchObject({ code: 'INTERNAL', clientMessageId: 'm-1' });
  });
});

describe('$default route handler', () => {
  const handler = createDefaultHandler();
  it.each([
    ['an unknown action', JSON.stringify({ action: 'fly', v: 1 }), 'UNKNOWN_ACTION'],
    ['a frame without action', JSON.stringify({ text: 'hi' }), 'UNKNOWN_ACTION'],
    ['plain text', 'hello there', 'MALFORMED_JSON'],
    ['an empty frame', '', 'MALFORMED_JSON'],
  ])('answers %s with %s', async (_name, body, code) => {
    const response = await handler(websocketEvent('$default', { userId: 'alice', body }));
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(code);
  });
});

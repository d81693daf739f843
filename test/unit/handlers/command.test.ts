import { describe, expect, it } from 'vitest';
import { groupConversationId } from '../../../lambdas/core/apply-command';
import { createCommandHandler } from '../../../lambdas/handlers/command';
import { createDefaultHandler } from '../../../lambdas/handlers/default';
import { ErrorFrame, LIMITS } from '../../../protocol';
import { websocketEvent } from '../../helpers/events';
import { FixedClock, InMemoryDirectory, InMemoryQueue } from '../../helpers/fakes';

const NOW = 7_000;
const GROUP = 'grp:team';
const send = { action: 'send', v: 1, conversationId: 'dm:alice:bob', clientMessageId: 'm-1', text: 'hi' };

function setup(takeFrame?: (connectionId: string, now: number) => Promise<boolean>) {
  const deps = {
    directory: new InMemoryDirectory().add(GROUP, 'alice', 'bob'),
    queue: new InMemoryQueue(),
    clock: new FixedClock(NOW),
    ...(takeFrame ? { takeFrame } : {}),
  };
  const handler = createCommandHandler(() => deps);
  const call = (body: string | undefined, userId = 'alice') =>
    handler(
      websocketEvent('command', { connectionId: 'conn-a', userId, ...(body === undefined ? {} : { body }) }),
    );
  return { deps, call };
}

function errorOf(response: { statusCode: number; body?: string }): ErrorFrame {
  return ErrorFrame.parse(JSON.parse(response.body ?? 'null'));
}

describe('command route handler', () => {
  it.each([
    ['send', send],
    [
      'edit',
      { action: 'edit', v: 1, conversationId: GROUP, clientMessageId: 'e-1', targetSeq: 1, text: 'x' },
    ],
    ['recall', { action: 'recall', v: 1, conversationId: GROUP, clientMessageId: 'r-1', targetSeq: 1 }],
    [
      'createGroup',
      { action: 'createGroup', v: 1, clientMessageId: 'g-1', name: ' Team ', members: ['bob'] },
    ],
    [
      'addMembers',
      { action: 'addMembers', v: 1, conversationId: GROUP, clientMessageId: 'a-1', userIds: ['c'] },
    ],
    [
      'removeMembers',
      { action: 'removeMembers', v: 1, conversationId: GROUP, clientMessageId: 'x-1', userIds: ['bob'] },
    ],
    ['leave', { action: 'leave', v: 1, conversationId: GROUP, clientMessageId: 'l-1' }],
    ['rename', { action: 'rename', v: 1, conversationId: GROUP, clientMessageId: 'n-1', name: 'New' }],
    ['markRead', { action: 'markRead', v: 1, conversationId: GROUP, seq: 3 }],
  ])('enqueues a valid %s frame and answers nothing (the ack comes from delivery)', async (kind, frame) => {
    const { deps, call } = setup();
    expect(await call(JSON.stringify(frame))).toEqual({ statusCode: 200 });
    expect(deps.queue.sent).toHaveLength(1);
    expect(deps.queue.sent[0]).toMatchObject({
      kind,
      v: 1,
      actorId: 'alice',
      connectionId: 'conn-a',
      at: NOW,
    });
  });

  it('enqueues a createGroup on the group id derived from the caller, with the trimmed name', async () => {
    const { deps, call } = setup();
    await call(
      JSON.stringify({
        action: 'createGroup',
        v: 1,
        clientMessageId: 'g-1',
        name: ' Team ',
        members: ['bob'],
      }),
    );
    expect(deps.queue.sent[0]).toMatchObject({
      conversationId: groupConversationId('alice', 'g-1'),
      name: 'Team',
      members: ['bob'],
    });
  });

  it.each([
    ['malformed JSON', '{"action":"send"', 'MALFORMED_JSON', undefined],
    ['an empty frame', '', 'MALFORMED_JSON', undefined],
    ['a missing field', JSON.stringify({ ...send, text: undefined }), 'INVALID_FRAME', 'm-1'],
    ['a wrongly typed field', JSON.stringify({ ...send, text: ['hi'] }), 'INVALID_FRAME', 'm-1'],
    ['an empty text', JSON.stringify({ ...send, text: '' }), 'INVALID_FRAME', 'm-1'],
    [
      'an actor chosen by the client',
      JSON.stringify({ ...send, actorId: 'mallory' }),
      'INVALID_FRAME',
      'm-1',
    ],
    [
      'a control character in the conversation id',
      JSON.stringify({ ...send, conversationId: 'dm:alice:\tbob' }),
      'INVALID_FRAME',
      'm-1',
    ],
    [
      'a control character in the clientMessageId (not echoed back)',
      JSON.stringify({ ...send, clientMessageId: 'm-1\u0000' }),
      'INVALID_FRAME',
      undefined,
    ],
    [
      'a control character in a user id',
      JSON.stringify({
        action: 'addMembers',
        v: 1,
        conversationId: GROUP,
        clientMessageId: 'a-1',
        userIds: ['c\n'],
      }),
      'INVALID_FRAME',
      'a-1',
    ],
    [
      'a control character in a group name',
      JSON.stringify({
        action: 'rename',
        v: 1,
        conversationId: GROUP,
        clientMessageId: 'n-1',
        name: 'a\u0007b',
      }),
      'INVALID_FRAME',
      'n-1',
    ],
    [
      'too many members for one group',
      JSON.stringify({
        action: 'createGroup',
        v: 1,
        clientMessageId: 'g-1',
        name: 'Big',
        members: Array.from({ length: LIMITS.maxGroupMembers }, (_, i) => `u${i}`),
      }),
      'INVALID_FRAME',
      'g-1',
    ],
    [
      'an over-long conversation id',
      JSON.stringify({ ...send, conversationId: 'c'.repeat(LIMITS.maxConversationIdLength + 1) }),
      'INVALID_FRAME',
      'm-1',
    ],
    [
      'an oversize body',
      JSON.stringify({ ...send, text: 'x'.repeat(LIMITS.maxFrameBytes) }),
      'PAYLOAD_TOO_LARGE',
      undefined,
    ],
    ['an old protocol version', JSON.stringify({ ...send, v: 0 }), 'UNSUPPORTED_VERSION', 'm-1'],
    [
      'a direct conversation the sender is not in',
      JSON.stringify({ ...send, conversationId: 'dm:bob:carol' }),
      'NOT_A_MEMBER',
      'm-1',
    ],
    [
      'a group the sender is not in',
      JSON.stringify({ ...send, conversationId: 'grp:other' }),
      'NOT_A_MEMBER',
      'm-1',
    ],
    [
      'a markRead in a group the sender is not in',
      JSON.stringify({ action: 'markRead', v: 1, conversationId: 'grp:other', seq: 1 }),
      'NOT_A_MEMBER',
      undefined,
    ],
    [
      'a query action (history) sent to the command route',
      JSON.stringify({ action: 'history', v: 1, requestId: 'q-1', conversationId: 'dm:alice:bob' }),
      'UNKNOWN_ACTION',
      undefined,
    ],
    [
      'an ephemeral action (typing) sent to the command route',
      JSON.stringify({ action: 'typing', v: 1, conversationId: 'dm:alice:bob', state: 'start' }),
      'UNKNOWN_ACTION',
      undefined,
    ],
    ['an unknown action', JSON.stringify({ ...send, action: 'fly' }), 'UNKNOWN_ACTION', 'm-1'],
  ])('answers %s with a 400 error frame and enqueues nothing', async (_name, body, code, clientMessageId) => {
    const { deps, call } = setup();
    const response = await call(body);
    expect(response.statusCode).toBe(400);
    const frame = errorOf(response);
    expect(frame.code).toBe(code);
    expect(frame.clientMessageId).toBe(clientMessageId);
    expect(frame.message.length).toBeGreaterThan(0);
    expect(deps.queue.sent).toEqual([]);
  });

  it('quotes a refused markRead’s requestId in its error frame', async () => {
    const { deps, call } = setup();
    const response = await call(
      JSON.stringify({ action: 'markRead', v: 1, conversationId: 'grp:other', seq: 1, requestId: 'rd-1' }),
    );
    expect(errorOf(response)).toMatchObject({ code: 'NOT_A_MEMBER', requestId: 'rd-1' });
    expect(deps.queue.sent).toEqual([]);
  });

  it('lists the bad fields of an invalid frame', async () => {
    const { call } = setup();
    const frame = errorOf(await call(JSON.stringify({ ...send, text: '', extra: 1 })));
    expect(frame.details?.map((d) => d.path).sort()).toEqual(['(frame)', 'text']);
  });

  it('answers RATE_LIMITED and enqueues nothing when the connection has no allowance left', async () => {
    const calls: [string, number][] = [];
    const { deps, call } = setup(async (connectionId, now) => {
      calls.push([connectionId, now]);
      return false;
    });
    const response = await call(JSON.stringify(send));
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({ code: 'RATE_LIMITED', clientMessageId: 'm-1' });
    expect(deps.queue.sent).toEqual([]);
    expect(calls).toEqual([['conn-a', NOW]]);
  });

  it('reads the allowance and the membership at once, and a flooding non-member gets RATE_LIMITED', async () => {
    const order: string[] = [];
    let release: (allowed: boolean) => void = () => {};
    const { deps, call } = setup(
      () =>
        new Promise<boolean>((resolve) => {
          order.push('takeFrame started');
          release = resolve;
        }),
    );
    const isMember = deps.directory.isMember.bind(deps.directory);
    deps.directory.isMember = async (conversationId, userId) => {
      order.push('isMember started');
      return isMember(conversationId, userId);
    };
    const pending = call(JSON.stringify({ ...send, conversationId: 'grp:other' }));
    await new Promise((r) => setTimeout(r, 10));
    // Both reads are in flight before the allowance answers.
    expect(order).toEqual(['takeFrame started', 'isMember started']);
    release(false);
    expect(errorOf(await pending)).toMatchObject({ code: 'RATE_LIMITED', clientMessageId: 'm-1' });
    expect(deps.queue.sent).toEqual([]);
  });

  it('enqueues when the connection has allowance left', async () => {
    const { deps, call } = setup(async () => true);
    expect(await call(JSON.stringify(send))).toEqual({ statusCode: 200 });
    expect(deps.queue.sent).toHaveLength(1);
  });

  it('answers a failure of its own with 500 INTERNAL and the clientMessageId, so the client retries', async () => {
    const { deps, call } = setup();
    deps.queue.failWith = new Error('SQS unavailable');
    const response = await call(JSON.stringify(send));
    expect(response.statusCode).toBe(500);
    expect(errorOf(response)).toMatchObject({ code: 'INTERNAL', clientMessageId: 'm-1' });
    expect(errorOf(response).message).not.toContain('SQS');
  });

  it('refuses an event without an authorized user (a deployment error)', async () => {
    const { deps } = setup();
    const handler = createCommandHandler(() => deps);
    await expect(
      handler(websocketEvent('command', { connectionId: 'conn-a', body: JSON.stringify(send) })),
    ).rejects.toThrow(/WebSocket event/);
    expect(deps.queue.sent).toEqual([]);
  });
});

describe('$default route handler', () => {
  const handler = createDefaultHandler();
  it.each([
    ['an unknown action', JSON.stringify({ action: 'fly', v: 1 }), 'UNKNOWN_ACTION'],
    ['a frame without action', JSON.stringify({ text: 'hi' }), 'UNKNOWN_ACTION'],
    ['a known action whose route is missing', JSON.stringify(send), 'UNKNOWN_ACTION'],
    ['plain text', 'hello there', 'MALFORMED_JSON'],
    ['an empty frame', '', 'MALFORMED_JSON'],
  ])('answers %s with %s', async (_name, body, code) => {
    const response = await handler(websocketEvent('$default', { userId: 'alice', body }));
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe(code);
  });
});

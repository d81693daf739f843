import { describe, expect, it } from 'vitest';
import { directConversationId, parseDirectConversationId, ServerFrame } from '../../../protocol';

describe('direct conversation ids', () => {
  it('are the same whichever user computes them', () => {
    expect(directConversationId('bob', 'alice')).toBe('dm:alice:bob');
    expect(directConversationId('alice', 'bob')).toBe('dm:alice:bob');
  });

  it('parse back to their two members', () => {
    expect(parseDirectConversationId('dm:alice:bob')).toEqual(['alice', 'bob']);
  });

  it.each(['dm:bob:alice', 'dm:alice:alice', 'dm:alice', 'dm:alice:bob:carol', 'g:alice:bob', 'dm::bob'])(
    'reject the non-canonical or malformed id %s',
    (id) => {
      expect(parseDirectConversationId(id)).toBeUndefined();
    },
  );
});

describe('server frames', () => {
  it('validate every kind the server sends', () => {
    const message = {
      type: 'message',
      v: 1,
      message: {
        conversationId: 'dm:a:b',
        seq: 1,
        senderId: 'a',
        clientMessageId: 'c',
        text: 't',
        sentAt: 1,
      },
    };
    const ack = { type: 'ack', v: 1, conversationId: 'dm:a:b', clientMessageId: 'c', seq: 1, sentAt: 1 };
    const error = { type: 'error', v: 1, code: 'NOT_A_MEMBER', message: 'no', clientMessageId: 'c' };
    for (const frame of [message, ack, error]) expect(ServerFrame.parse(frame)).toEqual(frame);
    expect(ServerFrame.safeParse({ ...ack, seq: 0 }).success).toBe(false);
    expect(ServerFrame.safeParse({ ...error, code: 'NOPE' }).success).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ConversationEvent,
  directConversationId,
  isKnownEvent,
  isKnownServerFrame,
  LenientServerFrames,
  parseDirectConversationId,
  ServerFrame,
} from '../../../protocol';

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
  const base = { conversationId: 'grp:abc', seq: 3, at: 1, actorId: 'ann', clientMessageId: 'c1' };
  const frames = [
    { type: 'event', v: 1, event: { kind: 'message', ...base, text: 'hi' } },
    { type: 'event', v: 1, event: { kind: 'message', ...base, text: '', recalled: true } },
    { type: 'event', v: 1, event: { kind: 'edit', ...base, targetSeq: 2, text: 'fixed' } },
    { type: 'event', v: 1, event: { kind: 'recall', ...base, targetSeq: 2 } },
    { type: 'event', v: 1, event: { kind: 'group.created', ...base, name: 'Team', members: ['ann', 'ben'] } },
    { type: 'event', v: 1, event: { kind: 'members.added', ...base, userIds: ['cat'], role: 'member' } },
    { type: 'event', v: 1, event: { kind: 'members.removed', ...base, userIds: ['cat'] } },
    { type: 'event', v: 1, event: { kind: 'member.left', ...base } },
    { type: 'event', v: 1, event: { kind: 'group.renamed', ...base, name: 'Crew' } },
    { type: 'ack', v: 1, conversationId: 'dm:a:b', clientMessageId: 'c', seq: 1, at: 1 },
    { type: 'receipt', v: 1, conversationId: 'dm:a:b', userId: 'a', readSeq: 4 },
    { type: 'presence', v: 1, userId: 'a', online: true, at: 1 },
    { type: 'typing', v: 1, conversationId: 'dm:a:b', userId: 'a', state: 'start' },
    {
      type: 'history',
      v: 1,
      requestId: 'r',
      conversationId: 'dm:a:b',
      events: [],
      hasMore: false,
      lastSeq: 0,
    },
    { type: 'sync', v: 1, requestId: 'r', results: [{ conversationId: 'dm:a:b', gap: true, lastSeq: 900 }] },
    { type: 'conversations', v: 1, requestId: 'r', items: [] },
    { type: 'members', v: 1, requestId: 'r', conversationId: 'grp:x', members: [] },
    { type: 'error', v: 1, code: 'NOT_A_MEMBER', message: 'no', clientMessageId: 'c' },
  ];

  it.each(frames.map((f) => [f.type, f]))('validate a %s frame, strict and lenient alike', (_type, frame) => {
    expect(ServerFrame.parse(frame)).toEqual(frame);
    expect(LenientServerFrames.ServerFrame.parse(frame)).toEqual(frame);
  });

  it('reject frames that break the contract', () => {
    expect(
      ServerFrame.safeParse({
        type: 'ack',
        v: 1,
        conversationId: 'dm:a:b',
        clientMessageId: 'c',
        seq: 0,
        at: 1,
      }).success,
    ).toBe(false);
    expect(ServerFrame.safeParse({ type: 'error', v: 1, code: 'NOPE', message: 'x' }).success).toBe(false);
    expect(ServerFrame.safeParse({ type: 'event', v: 1, event: { kind: 'teleport', ...base } }).success).toBe(
      false,
    );
  });
});

describe('lenient server frames (what clients parse with)', () => {
  const event = {
    kind: 'message',
    conversationId: 'dm:a:b',
    seq: 2,
    at: 1,
    actorId: 'a',
    clientMessageId: 'c1',
    text: 'hi',
  };
  const sync = {
    type: 'sync',
    v: 1,
    requestId: 'r',
    results: [
      { conversationId: 'dm:a:b', events: [event], hasMore: false, lastSeq: 2 },
      { conversationId: 'grp:x', gap: true, lastSeq: 900 },
    ],
  };
  // The same frames with a field added at every level, as a later server within protocol v1 may send them.
  const later = {
    ...sync,
    servedBy: 'v1.1',
    results: [
      { ...sync.results[0], events: [{ ...event, reactions: { '+1': 2 } }], cursor: 'x' },
      { ...sync.results[1], gapSize: 898 },
    ],
  };

  it('accept a field they do not know, at any level, and drop it', () => {
    expect(LenientServerFrames.ServerFrame.parse(later)).toEqual(sync);
    expect(
      LenientServerFrames.ServerFrame.parse({
        type: 'event',
        v: 1,
        event: { ...event, pinned: true },
        shard: 3,
      }),
    ).toEqual({ type: 'event', v: 1, event });
    expect(
      LenientServerFrames.ServerFrame.parse({
        type: 'error',
        v: 1,
        code: 'INVALID_FRAME',
        message: 'm',
        details: [{ path: 'text', problem: 'p', hint: 'h' }],
        retryAfterMs: 5,
      }),
    ).toEqual({
      type: 'error',
      v: 1,
      code: 'INVALID_FRAME',
      message: 'm',
      details: [{ path: 'text', problem: 'p' }],
    });
  });

  it('are strict for the server: the same frames are refused, naming the unknown keys', () => {
    const parsed = ServerFrame.safeParse(later);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => [i.code, i.path.join('.')])).toContainEqual([
      'unrecognized_keys',
      '',
    ]);
    expect(ServerFrame.safeParse({ type: 'event', v: 1, event: { ...event, pinned: true } }).success).toBe(
      false,
    );
    expect(ServerFrame.parse(sync)).toEqual(sync);
  });

  it('still refuse what breaks the contract: unknown codes, missing or wrong fields, known kinds and types alike', () => {
    const { text: _text, ...noText } = event;
    for (const frame of [
      { type: 'teleport' },
      { type: 'teleport', v: 2 },
      { type: 7, v: 1 },
      { type: 'event', v: 1, event: { ...event, kind: 'teleport', seq: 0 } },
      { type: 'event', v: 1, event: { kind: 'teleport', conversationId: 'dm:a:b', seq: 2 } },
      { type: 'event', v: 1, event: { ...event, kind: 7 } },
      { type: 'event', v: 1, event: noText },
      { type: 'event', v: 1, event: { ...event, kind: 'edit' } },
      {
        ...sync,
        results: [{ conversationId: 'dm:a:b', events: [{ ...event, text: 1 }], hasMore: false, lastSeq: 2 }],
      },
      { type: 'error', v: 1, code: 'NOPE', message: 'x' },
      { type: 'ack', v: 1, conversationId: 'dm:a:b', clientMessageId: 'c', seq: 0, at: 1 },
      { type: 'ack', v: 2, conversationId: 'dm:a:b', clientMessageId: 'c', seq: 1, at: 1 },
      { ...sync, results: [{ conversationId: 'dm:a:b', events: [event], lastSeq: 2 }] },
    ]) {
      expect(LenientServerFrames.ServerFrame.safeParse(frame).success).toBe(false);
      expect(ServerFrame.safeParse(frame).success).toBe(false);
    }
  });

  it('report a known kind with a bad field as the strict schemas do: the same issues', () => {
    const { text: _text, ...noText } = event;
    for (const frame of [
      { type: 'event', v: 1, event: noText },
      { type: 'event', v: 1, event: { ...event, seq: 0, actorId: 'a:b' } },
      { type: 'ack', v: 1, conversationId: 'dm:a:b', clientMessageId: 'c', seq: 0, at: 1 },
    ]) {
      const issues = (schema: typeof ServerFrame | typeof LenientServerFrames.ServerFrame) =>
        schema.safeParse(frame).error?.issues.map((i) => [i.code, i.path.join('.'), i.message]);
      expect(issues(LenientServerFrames.ServerFrame)).toEqual(issues(ServerFrame));
      expect(issues(ServerFrame)?.length).toBeGreaterThan(0);
    }
  });
});

describe('event kinds and frame types a later server adds within v1', () => {
  const base = { conversationId: 'dm:a:b', seq: 2, at: 1, actorId: 'a', clientMessageId: 'c1' };
  const pinned = { kind: 'message.pinned', ...base, pinnedSeq: 1, by: { userId: 'a' } };
  const message = { kind: 'message', ...base, seq: 3, text: 'hi' };
  /** A history page's fields but its events. */
  const history = {
    type: 'history',
    v: 1,
    requestId: 'r',
    conversationId: 'dm:a:b',
    hasMore: false,
    lastSeq: 3,
  };

  it('the strict schemas refuse an unknown kind, in a frame and in a page, and an unknown frame type', () => {
    expect(ConversationEvent.safeParse(pinned).success).toBe(false);
    expect(ServerFrame.safeParse({ type: 'event', v: 1, event: pinned }).success).toBe(false);
    expect(ServerFrame.safeParse({ ...history, events: [pinned, message] }).success).toBe(false);
    expect(ServerFrame.safeParse({ type: 'reaction', v: 1 }).success).toBe(false);
  });

  it('the lenient schemas take an unknown kind as an unknown event: common fields checked, the rest dropped', () => {
    const unknown = { kind: 'message.pinned', ...base };
    expect(LenientServerFrames.ConversationEvent.parse(pinned)).toEqual(unknown);
    expect(LenientServerFrames.ServerFrame.parse({ type: 'event', v: 1, event: pinned })).toEqual({
      type: 'event',
      v: 1,
      event: unknown,
    });
    expect(LenientServerFrames.ServerFrame.parse({ ...history, events: [pinned, message] })).toEqual({
      ...history,
      events: [unknown, message],
    });
    const sync = {
      type: 'sync',
      v: 1,
      requestId: 'r',
      results: [{ conversationId: 'dm:a:b', events: [pinned, message], hasMore: false, lastSeq: 3 }],
    };
    expect(LenientServerFrames.SyncPageFrame.parse(sync).results[0]).toEqual({
      ...sync.results[0],
      events: [unknown, message],
    });
    const parsed = LenientServerFrames.ConversationEvent.parse(pinned);
    expect(isKnownEvent(parsed)).toBe(false);
    expect(isKnownEvent(LenientServerFrames.ConversationEvent.parse(message))).toBe(true);
  });

  it('the lenient schemas take an unknown frame type with v: 1 as an unknown frame, type and v only', () => {
    const frame = LenientServerFrames.ServerFrame.parse({ type: 'reaction', v: 1, emoji: '+1' });
    expect(frame).toEqual({ type: 'reaction', v: 1 });
    expect(isKnownServerFrame(frame)).toBe(false);
    expect(isKnownServerFrame(LenientServerFrames.ServerFrame.parse({ type: 'pong', v: 1, at: 1 }))).toBe(
      true,
    );
  });
});

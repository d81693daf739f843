import { describe, expect, it } from 'vitest';
import { createQueryHandler } from '../../../lambdas/handlers/query';
import {
  ConversationsPageFrame,
  ErrorFrame,
  HistoryPageFrame,
  MembersFrame,
  ServerFrame,
  SyncPageFrame,
} from '../../../protocol';
import { websocketEvent } from '../../helpers/events';
import { InMemoryConversationReader } from '../../helpers/fake-reader';

const DM = 'dm:alice:bob';

function setup() {
  const reader = new InMemoryConversationReader();
  reader.join(DM, 'alice').join(DM, 'bob');
  reader.say(DM, 'bob', 3);
  const query = createQueryHandler(() => ({ reader }));
  const call = (body: unknown, userId = 'alice') =>
    query(
      websocketEvent('query', {
        connectionId: 'conn-a',
        userId,
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    );
  return { reader, call };
}

function frameOf(response: { statusCode: number; body?: string }): ServerFrame {
  return ServerFrame.parse(JSON.parse(response.body ?? 'null'));
}

function errorOf(response: { statusCode: number; body?: string }): ErrorFrame {
  return ErrorFrame.parse(JSON.parse(response.body ?? 'null'));
}

describe('query route handler', () => {
  it('answers history with a history page', async () => {
    const { call } = setup();
    const response = await call({ action: 'history', v: 1, requestId: 'h-1', conversationId: DM });
    expect(response.statusCode).toBe(200);
    const page = HistoryPageFrame.parse(frameOf(response));
    expect(page).toMatchObject({ requestId: 'h-1', hasMore: false, lastSeq: 3 });
    expect(page.events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('answers sync with a sync page', async () => {
    const { call } = setup();
    const response = await call({
      action: 'sync',
      v: 1,
      requestId: 's-1',
      positions: [{ conversationId: DM, afterSeq: 1 }],
    });
    expect(response.statusCode).toBe(200);
    const page = SyncPageFrame.parse(frameOf(response));
    expect(page.requestId).toBe('s-1');
    expect(page.results).toMatchObject([{ conversationId: DM, hasMore: false, lastSeq: 3 }]);
  });

  it('answers listConversations with a conversations page', async () => {
    const { call } = setup();
    const response = await call({ action: 'listConversations', v: 1, requestId: 'l-1' });
    expect(response.statusCode).toBe(200);
    const page = ConversationsPageFrame.parse(frameOf(response));
    expect(page.items).toMatchObject([{ conversationId: DM, kind: 'direct', lastSeq: 3, unread: 3 }]);
  });

  it('answers listMembers with the members', async () => {
    const { call } = setup();
    const response = await call({ action: 'listMembers', v: 1, requestId: 'm-1', conversationId: DM });
    expect(response.statusCode).toBe(200);
    const frame = MembersFrame.parse(frameOf(response));
    expect(frame.members.map((m) => m.userId)).toEqual(['alice', 'bob']);
  });

  it.each([
    [
      'a conversation the caller is not in',
      { action: 'history', v: 1, requestId: 'q-1', conversationId: 'dm:bob:carol' },
      'NOT_A_MEMBER',
    ],
    [
      'an invalid field',
      { action: 'history', v: 1, requestId: 'q-1', conversationId: DM, limit: 1000 },
      'INVALID_FRAME',
    ],
    [
      'both beforeSeq and afterSeq',
      { action: 'history', v: 1, requestId: 'q-1', conversationId: DM, beforeSeq: 3, afterSeq: 1 },
      'INVALID_FRAME',
    ],
    [
      'a bad cursor',
      { action: 'listConversations', v: 1, requestId: 'q-1', cursor: 'bogus!' },
      'INVALID_FRAME',
    ],
    [
      'an old protocol version',
      { action: 'sync', v: 0, requestId: 'q-1', positions: [] },
      'UNSUPPORTED_VERSION',
    ],
    ['an unknown action', { action: 'fly', v: 1, requestId: 'q-1' }, 'UNKNOWN_ACTION'],
  ])('answers %s with its error frame and the requestId', async (_name, body, code) => {
    const { call } = setup();
    const response = await call(body);
    expect(response.statusCode).toBe(400);
    expect(errorOf(response)).toMatchObject({ code, requestId: 'q-1' });
  });

  it('answers malformed JSON with MALFORMED_JSON', async () => {
    const { call } = setup();
    const response = await call('{"action":"history"');
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe('MALFORMED_JSON');
  });

  it.each([
    [{ action: 'send', v: 1, conversationId: DM, clientMessageId: 'c-1', text: 'hi' }, 'c-1'],
    [{ action: 'markRead', v: 1, conversationId: DM, seq: 2 }, undefined],
    [{ action: 'typing', v: 1, conversationId: DM, state: 'start' }, undefined],
  ])(
    'answers a non-query action (%j) with UNKNOWN_ACTION and reads nothing',
    async (body, clientMessageId) => {
      const { reader, call } = setup();
      const response = await call(body);
      expect(response.statusCode).toBe(400);
      const frame = errorOf(response);
      expect(frame.code).toBe('UNKNOWN_ACTION');
      expect(frame.clientMessageId).toBe(clientMessageId);
      expect(reader.calls).toEqual({ readEvents: 0, listMemberships: 0, getMetas: 0 });
    },
  );

  it('answers a failure of its own with INTERNAL and the requestId', async () => {
    const { reader, call } = setup();
    reader.failWith = new Error('DynamoDB unavailable');
    const response = await call({ action: 'history', v: 1, requestId: 'h-9', conversationId: DM });
    expect(response.statusCode).toBe(500);
    expect(errorOf(response)).toMatchObject({ code: 'INTERNAL', requestId: 'h-9' });
  });

  it('throws on an event without an authorized user: a deployment error, not input', async () => {
    const { reader } = setup();
    const query = createQueryHandler(() => ({ reader }));
    await expect(query(websocketEvent('query', { body: '{}' }))).rejects.toThrow(/context/);
  });
});

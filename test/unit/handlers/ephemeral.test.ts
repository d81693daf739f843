import { describe, expect, it } from 'vitest';
import type { PostOutcome } from '../../../lambdas/core/ports';
import { createEphemeralHandler } from '../../../lambdas/handlers/ephemeral';
import type { EphemeralDeps } from '../../../lambdas/wiring/ephemeral';
import { type ConversationId, ErrorFrame, ServerFrame, type UserId } from '../../../protocol';
import { websocketEvent } from '../../helpers/events';

const NOW = 1_760_000_000_000;

class World {
  readonly rows = new Map<string, UserId>();
  readonly members = new Map<ConversationId, UserId[]>();
  readonly posts: { connectionId: string; frame: ServerFrame }[] = [];
  readonly limiterCalls: string[] = [];
  flooding = false;
  typingPasses = true;
  directoryDown = false;

  connect(userId: UserId, ...connectionIds: string[]): this {
    for (const id of connectionIds) this.rows.set(id, userId);
    return this;
  }

  conversation(conversationId: ConversationId, ...userIds: UserId[]): this {
    this.members.set(conversationId, userIds);
    return this;
  }

  deps(): EphemeralDeps {
    const connectionsOf = (u: UserId) => [...this.rows.entries()].filter(([, owner]) => owner === u);
    const lookup = async <T>(value: () => T): Promise<T> => {
      if (this.directoryDown) throw new Error('DynamoDB unavailable');
      return value();
    };
    return {
      limiter: {
        takeFrame: async (connectionId) => {
          this.limiterCalls.push(connectionId);
          return !this.flooding;
        },
      },
      gate: { pass: async () => this.typingPasses },
      connections: {
        put: async () => undefined,
        remove: async (id) => void this.rows.delete(id),
        removeGone: async (id) => void this.rows.delete(id),
        listByUsers: async (users) =>
          users.flatMap((userId) =>
            connectionsOf(userId).map(([connectionId]) => ({ connectionId, userId, connectedAt: NOW })),
          ),
      },
      activity: {
        touch: async () => true,
        connectionsOf: async (u) =>
          connectionsOf(u).map(([connectionId]) => ({ connectionId, connectedAt: NOW })),
        removeIfConnectedBefore: async (id) => this.rows.delete(id),
      },
      contacts: { conversationsOf: async () => [] },
      directory: {
        isMember: (c, u) => lookup(() => this.members.get(c)?.includes(u) ?? false),
        listMembers: (c) => lookup(() => [...(this.members.get(c) ?? [])]),
      },
      notifier: {
        post: async (connectionId, frame): Promise<PostOutcome> => {
          this.posts.push({ connectionId, frame });
          return 'delivered';
        },
      },
      clock: { now: () => NOW },
      concurrency: 4,
    };
  }
}

const world = () =>
  new World().conversation('grp:1', 'alice', 'bob').connect('alice', 'a1', 'a2').connect('bob', 'b1');

const typingEvent = (body: unknown, connectionId = 'a1') =>
  websocketEvent('typing', {
    connectionId,
    userId: 'alice',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const frame = { action: 'typing', v: 1, conversationId: 'grp:1', state: 'start' };

function errorOf(response: { body?: string }): ErrorFrame {
  return ErrorFrame.parse(JSON.parse(response.body ?? 'null'));
}

describe('ephemeral handler (typing route)', () => {
  it('relays a typing frame to the other members and answers nothing', async () => {
    const w = world();
    const response = await createEphemeralHandler(() => w.deps())(typingEvent(frame));
    expect(response).toEqual({ statusCode: 200 });
    expect(w.posts).toEqual([
      {
        connectionId: 'b1',
        frame: { type: 'typing', v: 1, conversationId: 'grp:1', userId: 'alice', state: 'start' },
      },
    ]);
    expect(w.limiterCalls).toEqual(['a1']);
  });

  it('answers ping with pong (echoing requestId), taking a frame of the allowance, which records activity', async () => {
    const w = world();
    const handler = createEphemeralHandler(() => w.deps());
    const response = await handler(typingEvent({ action: 'ping', v: 1, requestId: 'hb-1' }));
    expect(response.statusCode).toBe(200);
    expect(ServerFrame.parse(JSON.parse(response.body ?? 'null'))).toEqual({
      type: 'pong',
      v: 1,
      requestId: 'hb-1',
      at: expect.any(Number),
    });
    const bare = await handler(typingEvent({ action: 'ping', v: 1 }, 'a2'));
    expect(JSON.parse(bare.body ?? 'null')).not.toHaveProperty('requestId');
    expect(w.limiterCalls).toEqual(['a1', 'a2']);
    expect(w.posts).toEqual([]);
    const refused = await handler(typingEvent({ action: 'ping', v: 1, requestId: 'no spaces allowed' }));
    expect(refused.statusCode).toBe(400);
    expect(errorOf(refused).code).toBe('INVALID_FRAME');
  });

  it('answers nothing either when the typing interval drops the frame', async () => {
    const w = world();
    w.typingPasses = false;
    expect(await createEphemeralHandler(() => w.deps())(typingEvent(frame))).toEqual({ statusCode: 200 });
    expect(w.posts).toEqual([]);
  });

  it('answers RATE_LIMITED to a flooding connection, before even reading its frame', async () => {
    const w = world();
    w.flooding = true;
    const handler = createEphemeralHandler(() => w.deps());
    for (const body of [frame, 'not json']) {
      const response = await handler(typingEvent(body));
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe('RATE_LIMITED');
    }
    expect(w.posts).toEqual([]);
  });

  it('answers invalid frames with the protocol’s error frame', async () => {
    const w = world();
    const handler = createEphemeralHandler(() => w.deps());
    const cases: [unknown, string][] = [
      ['{oops', 'MALFORMED_JSON'],
      [{ ...frame, state: 'thinking' }, 'INVALID_FRAME'],
      [{ ...frame, v: 2 }, 'UNSUPPORTED_VERSION'],
      [
        { action: 'send', v: 1, conversationId: 'grp:1', clientMessageId: 'm-1', text: 'hi' },
        'UNKNOWN_ACTION',
      ],
    ];
    for (const [body, code] of cases) {
      const response = await handler(typingEvent(body));
      expect(response.statusCode).toBe(400);
      expect(errorOf(response).code).toBe(code);
    }
    expect(w.posts).toEqual([]);
  });

  it('answers NOT_A_MEMBER to a non-member', async () => {
    const w = world().connect('mallory', 'm1');
    const response = await createEphemeralHandler(() => w.deps())(
      websocketEvent('typing', { connectionId: 'm1', userId: 'mallory', body: JSON.stringify(frame) }),
    );
    expect(response.statusCode).toBe(400);
    expect(errorOf(response).code).toBe('NOT_A_MEMBER');
  });

  it('answers INTERNAL when its own dependencies fail', async () => {
    const w = world();
    w.directoryDown = true;
    const response = await createEphemeralHandler(() => w.deps())(typingEvent(frame));
    expect(response.statusCode).toBe(500);
    expect(errorOf(response).code).toBe('INTERNAL');
  });

  it('refuses an event without an authorized user (a deployment error)', async () => {
    const w = world();
    await expect(
      createEphemeralHandler(() => w.deps())(websocketEvent('typing', { connectionId: 'a1', body: '{}' })),
    ).rejects.toThrow(/WebSocket event/);
  });
});

import { describe, expect, it } from 'vitest';
import { NotAMemberError } from '../../../lambdas/core/errors';
import type { PostOutcome } from '../../../lambdas/core/ports';
import { relayTyping, TYPING_POLICY, type TypingDeps, type TypingGate } from '../../../lambdas/core/typing';
import {
  type ConversationId,
  LIMITS,
  type ServerFrame,
  TypingEventFrame,
  type UserId,
} from '../../../protocol';

const NOW = 1_760_000_000_000;

/** Connections, members and @connections in memory; the gate answers what the test says. */
class World {
  readonly rows = new Map<string, UserId>();
  readonly members = new Map<ConversationId, UserId[]>();
  readonly posts: { connectionId: string; frame: ServerFrame }[] = [];
  readonly dead = new Set<string>();
  readonly gateCalls: Parameters<TypingGate['pass']>[] = [];
  gateAnswer = true;

  connect(userId: UserId, ...connectionIds: string[]): this {
    for (const id of connectionIds) this.rows.set(id, userId);
    return this;
  }

  conversation(conversationId: ConversationId, ...userIds: UserId[]): this {
    this.members.set(conversationId, userIds);
    return this;
  }

  framesTo(connectionId: string): ServerFrame[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => p.frame);
  }

  deps(): TypingDeps {
    const connectionsOf = (u: UserId) => [...this.rows.entries()].filter(([, owner]) => owner === u);
    return {
      gate: {
        pass: async (...args) => {
          this.gateCalls.push(args);
          return this.gateAnswer;
        },
      },
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
      contacts: {
        conversationsOf: async (u) =>
          [...this.members.entries()].filter(([, m]) => m.includes(u)).map(([c]) => c),
      },
      directory: {
        isMember: async (c, u) => this.members.get(c)?.includes(u) ?? false,
        listMembers: async (c) => [...(this.members.get(c) ?? [])],
      },
      notifier: {
        post: async (connectionId, frame): Promise<PostOutcome> => {
          if (this.dead.has(connectionId)) return 'gone';
          this.posts.push({ connectionId, frame });
          return 'delivered';
        },
      },
      clock: { now: () => NOW },
      concurrency: 4,
    };
  }
}

const typing = (conversationId: ConversationId, state: 'start' | 'stop' = 'start') =>
  ({ action: 'typing', v: 1, conversationId, state }) as const;

describe('relayTyping', () => {
  it('pushes a typing event to every connection of the other members, none of the sender’s', async () => {
    const world = new World()
      .conversation('grp:1', 'alice', 'bob', 'carol')
      .connect('alice', 'a1', 'a2')
      .connect('bob', 'b1', 'b2')
      .connect('carol', 'c1')
      .connect('dave', 'd1');

    const report = await relayTyping(world.deps(), { userId: 'alice', connectionId: 'a1' }, typing('grp:1'));

    expect(report).toMatchObject({ relayed: true, recipients: 2, delivered: 3, failed: 0 });
    const expected = { type: 'typing', v: 1, conversationId: 'grp:1', userId: 'alice', state: 'start' };
    for (const id of ['b1', 'b2', 'c1']) expect(world.framesTo(id)).toEqual([expected]);
    for (const id of ['a1', 'a2', 'd1']) expect(world.framesTo(id)).toEqual([]);
    expect(TypingEventFrame.parse(world.posts[0]?.frame)).toEqual(expected);
    expect(world.gateCalls).toEqual([['a1', 'grp:1', 'start', NOW]]);
  });

  it('relays stop like start: the gate decides which pass', async () => {
    const world = new World().connect('bob', 'b1');
    await relayTyping(world.deps(), { userId: 'alice', connectionId: 'a1' }, typing('dm:alice:bob', 'stop'));
    expect(world.framesTo('b1')).toEqual([
      { type: 'typing', v: 1, conversationId: 'dm:alice:bob', userId: 'alice', state: 'stop' },
    ]);
  });

  it('drops, silently, a frame the gate refuses', async () => {
    const world = new World().connect('bob', 'b1');
    world.gateAnswer = false;
    const report = await relayTyping(
      world.deps(),
      { userId: 'alice', connectionId: 'a1' },
      typing('dm:alice:bob'),
    );
    expect(report).toEqual({ relayed: false });
    expect(world.posts).toEqual([]);
  });

  it('refuses a non-member before touching the gate', async () => {
    const world = new World().conversation('grp:1', 'bob', 'carol').connect('bob', 'b1');
    await expect(
      relayTyping(world.deps(), { userId: 'mallory', connectionId: 'm1' }, typing('grp:1')),
    ).rejects.toBeInstanceOf(NotAMemberError);
    await expect(
      relayTyping(world.deps(), { userId: 'mallory', connectionId: 'm1' }, typing('dm:alice:bob')),
    ).rejects.toBeInstanceOf(NotAMemberError);
    expect(world.gateCalls).toEqual([]);
    expect(world.posts).toEqual([]);
  });

  it('deletes a recipient connection that answers 410 and announces that member offline', async () => {
    const world = new World()
      .conversation('grp:1', 'alice', 'bob')
      .connect('alice', 'a1')
      .connect('bob', 'b1');
    world.dead.add('b1');
    const report = await relayTyping(world.deps(), { userId: 'alice', connectionId: 'a1' }, typing('grp:1'));
    expect(report).toMatchObject({ relayed: true, gone: 1, goneUsers: ['bob'], followedUp: 1 });
    expect(world.rows.has('b1')).toBe(false);
    expect(world.framesTo('a1')).toEqual([{ type: 'presence', v: 1, userId: 'bob', online: false, at: NOW }]);
  });

  it('limits typing by the protocol’s interval', () => {
    expect(TYPING_POLICY.intervalMs).toBe(LIMITS.typingIntervalMs);
  });
});

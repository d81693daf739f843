import { describe, expect, it } from 'vitest';
import type {
  ConnectionStore,
  MembershipDirectory,
  Notifier,
  PostOutcome,
} from '../../../lambdas/core/ports';
import {
  ACTIVITY_REFRESH_MS,
  announceOffline,
  announceOnline,
  CONNECT_GRACE_MS,
  contactsOf,
  isLive,
  isOnline,
  LIVE_WINDOW_MS,
  PRESENCE_LIMITS,
  type PresenceDeps,
  pushEphemeral,
  recordActivity,
} from '../../../lambdas/core/presence';
import type {
  ConnectionActivity,
  ConnectionActivityRecord,
  ContactDirectory,
} from '../../../lambdas/core/presence-ports';
import { type ConversationId, PresenceFrame, type ServerFrame, type UserId } from '../../../protocol';

const NOW = 1_760_000_000_000;

interface Row extends ConnectionActivityRecord {
  readonly userId: UserId;
}

/** In-memory Connections and Conversations tables and @connections, behind presence's ports. */
class World {
  time = NOW;
  readonly rows = new Map<string, Row>();
  readonly members = new Map<ConversationId, UserId[]>();
  readonly posts: { connectionId: string; frame: ServerFrame }[] = [];
  /** Connections that answer 410 Gone (their rows still exist until a push finds out). */
  readonly dead = new Set<string>();
  readonly failing = new Map<string, Error>();
  readonly touches: { connectionId: string; now: number; ifLastSeenBefore: number }[] = [];
  memberLookups = 0;

  connect(userId: UserId, connectionId: string, connectedAt = this.time, lastSeenAt?: number): this {
    this.rows.set(connectionId, {
      connectionId,
      userId,
      connectedAt,
      ...(lastSeenAt === undefined ? {} : { lastSeenAt }),
    });
    return this;
  }

  conversation(conversationId: ConversationId, ...userIds: UserId[]): this {
    this.members.set(conversationId, userIds);
    return this;
  }

  framesTo(connectionId: string): ServerFrame[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => p.frame);
  }

  deps(concurrency = 4): PresenceDeps {
    const connections: ConnectionStore = {
      put: async (c) => void this.rows.set(c.connectionId, c),
      remove: async (id) => void this.rows.delete(id),
      removeGone: async (id) => void this.rows.delete(id),
      listByUsers: async (users) => [...this.rows.values()].filter((r) => users.includes(r.userId)),
    };
    const activity: ConnectionActivity = {
      touch: async (connectionId, now, ifLastSeenBefore) => {
        this.touches.push({ connectionId, now, ifLastSeenBefore });
        return true;
      },
      connectionsOf: async (u) => [...this.rows.values()].filter((r) => r.userId === u),
      removeIfConnectedBefore: async (id, before) => {
        const row = this.rows.get(id);
        return row !== undefined && row.connectedAt < before && this.rows.delete(id);
      },
    };
    const contacts: ContactDirectory = {
      conversationsOf: async (u, limit) =>
        [...this.members.entries()]
          .filter(([, m]) => m.includes(u))
          .map(([id]) => id)
          .slice(0, limit),
    };
    const directory: MembershipDirectory = {
      isMember: async (c, u) => this.members.get(c)?.includes(u) ?? false,
      listMembers: async (c) => {
        this.memberLookups++;
        return [...(this.members.get(c) ?? [])];
      },
    };
    const notifier: Notifier = {
      post: async (connectionId, frame): Promise<PostOutcome> => {
        const failure = this.failing.get(connectionId);
        if (failure) throw failure;
        if (this.dead.has(connectionId)) return 'gone';
        this.posts.push({ connectionId, frame });
        return 'delivered';
      },
    };
    return {
      activity,
      contacts,
      directory,
      connections,
      notifier,
      clock: { now: () => this.time },
      concurrency,
    };
  }
}

describe('liveness', () => {
  it('counts a connection live within LIVE_WINDOW_MS (11 minutes) of its connection or last traffic', () => {
    const at = (minutesAgo: number) => NOW - minutesAgo * 60_000;
    expect(LIVE_WINDOW_MS).toBe(11 * 60_000);
    expect(isLive({ connectionId: 'c', connectedAt: at(10) }, NOW)).toBe(true);
    expect(isLive({ connectionId: 'c', connectedAt: at(12) }, NOW)).toBe(false);
    expect(isLive({ connectionId: 'c', connectedAt: at(90), lastSeenAt: at(3) }, NOW)).toBe(true);
    expect(isLive({ connectionId: 'c', connectedAt: at(90), lastSeenAt: at(11.5) }, NOW)).toBe(false);
  });

  it('isOnline: a user whose only row is stale ($disconnect never arrived) is offline', async () => {
    const world = new World().connect('alice', 'a1', NOW - 60 * 60_000, NOW - 20 * 60_000);
    expect(await isOnline(world.deps(), 'alice')).toBe(false);
    world.connect('alice', 'a2', NOW - 60 * 60_000, NOW - 30_000);
    expect(await isOnline(world.deps(), 'alice')).toBe(true);
    expect(await isOnline(world.deps(), 'nobody')).toBe(false);
  });

  it('recordActivity asks for a write only when the last one is ACTIVITY_REFRESH_MS old', async () => {
    const world = new World();
    await recordActivity(world.deps(), 'a1');
    expect(world.touches).toEqual([
      { connectionId: 'a1', now: NOW, ifLastSeenBefore: NOW - ACTIVITY_REFRESH_MS },
    ]);
  });
});

describe('contactsOf', () => {
  it('is the members of the user’s conversations, each once, never the user', async () => {
    const world = new World()
      .conversation('dm:alice:bob', 'alice', 'bob')
      .conversation('grp:1', 'alice', 'bob', 'carol')
      .conversation('grp:2', 'dave', 'erin');
    expect((await contactsOf(world.deps(), 'alice')).sort()).toEqual(['bob', 'carol']);
  });

  it('leaves out groups larger than PRESENCE_LIMITS.groupSize (presence there would cost members² pushes)', async () => {
    const crowd = Array.from({ length: PRESENCE_LIMITS.groupSize + 1 }, (_, i) => `u${i}`);
    const world = new World()
      .conversation('grp:small', 'alice', 'bob')
      .conversation('grp:big', 'alice', ...crowd);
    const deps = world.deps();
    const limited = {
      ...deps,
      contacts: {
        ...deps.contacts,
        membersIfAtMost: async (id: string, max: number) => {
          const members = world.members.get(id) ?? [];
          return members.length > max ? undefined : [...members];
        },
      },
    };
    expect(await contactsOf(limited, 'alice')).toEqual(['bob']);
  });

  it('reads direct members from the conversation id, without a lookup', async () => {
    const world = new World().conversation('dm:alice:bob', 'alice', 'bob');
    expect(await contactsOf(world.deps(), 'alice')).toEqual(['bob']);
    expect(world.memberLookups).toBe(0);
  });

  it(`considers at most ${PRESENCE_LIMITS.conversations} conversations and ${PRESENCE_LIMITS.contacts} contacts`, async () => {
    const world = new World();
    for (let i = 0; i < 250; i++) world.conversation(`grp:${String(i).padStart(3, '0')}`, 'alice', `u${i}`);
    const few = await contactsOf(world.deps(), 'alice');
    expect(few).toHaveLength(PRESENCE_LIMITS.conversations);
    expect(world.memberLookups).toBe(PRESENCE_LIMITS.conversations);

    const crowd = new World();
    for (let g = 0; g < 30; g++) {
      crowd.conversation(`grp:${g}`, 'alice', ...Array.from({ length: 100 }, (_, i) => `g${g}-u${i}`));
    }
    const many = crowd.deps(4);
    const contacts = await contactsOf(many, 'alice');
    expect(contacts).toHaveLength(PRESENCE_LIMITS.contacts);
    expect(new Set(contacts).size).toBe(contacts.length);
    expect(contacts).not.toContain('alice');
    // Reading stops once the cap is reached (20 groups of 100 fill it; the batch in flight finishes).
    expect(crowd.memberLookups).toBeLessThan(30);
  });
});

describe('announceOnline', () => {
  it('on the user’s first live connection, tells every connection of every contact', async () => {
    const world = new World()
      .conversation('dm:alice:bob', 'alice', 'bob')
      .conversation('grp:1', 'alice', 'bob', 'carol')
      .connect('bob', 'b1')
      .connect('bob', 'b2')
      .connect('carol', 'c1')
      .connect('dave', 'd1')
      .connect('alice', 'a1');

    const report = await announceOnline(world.deps(), {
      userId: 'alice',
      connectionId: 'a1',
      connectedAt: NOW,
    });

    expect(report).toMatchObject({ announced: true, online: true, contacts: 2, delivered: 3, failed: 0 });
    const expected = { type: 'presence', v: 1, userId: 'alice', online: true, at: NOW };
    for (const id of ['b1', 'b2', 'c1']) expect(world.framesTo(id)).toEqual([expected]);
    expect(world.framesTo('d1')).toEqual([]);
    expect(world.framesTo('a1')).toEqual([]);
    expect(PresenceFrame.parse(world.posts[0]?.frame)).toEqual(expected);
  });

  it('stays silent when an earlier connection of the user is live (the user was online already)', async () => {
    const world = new World()
      .conversation('dm:alice:bob', 'alice', 'bob')
      .connect('bob', 'b1')
      .connect('alice', 'a1', NOW - 5 * 60_000)
      .connect('alice', 'a2');
    expect(
      await announceOnline(world.deps(), { userId: 'alice', connectionId: 'a2', connectedAt: NOW }),
    ).toEqual({
      announced: false,
    });
    expect(world.posts).toEqual([]);
  });

  it('announces when the user’s only other row is stale: its $disconnect never came', async () => {
    const world = new World()
      .conversation('dm:alice:bob', 'alice', 'bob')
      .connect('bob', 'b1')
      .connect('alice', 'old', NOW - 90 * 60_000, NOW - 12 * 60_000)
      .connect('alice', 'a2');
    const report = await announceOnline(world.deps(), {
      userId: 'alice',
      connectionId: 'a2',
      connectedAt: NOW,
    });
    expect(report.announced).toBe(true);
    expect(world.framesTo('b1')).toHaveLength(1);
  });

  it('of two simultaneous first connections that see each other, exactly the earlier one announces', async () => {
    const world = new World()
      .conversation('dm:alice:bob', 'alice', 'bob')
      .connect('bob', 'b1')
      .connect('alice', 'x', NOW)
      .connect('alice', 'y', NOW)
      .connect('alice', 'z', NOW - 1);
    const deps = world.deps();
    const reports = await Promise.all(
      [
        { connectionId: 'x', connectedAt: NOW },
        { connectionId: 'y', connectedAt: NOW },
        { connectionId: 'z', connectedAt: NOW - 1 },
      ].map((c) => announceOnline(deps, { userId: 'alice', ...c })),
    );
    expect(reports.map((r) => r.announced)).toEqual([false, false, true]);
    expect(world.framesTo('b1')).toHaveLength(1);
  });
});

describe('announceOffline', () => {
  it('tells the contacts once no live connection of the user remains', async () => {
    const world = new World()
      .conversation('grp:1', 'alice', 'bob')
      .connect('bob', 'b1')
      .connect('alice', 'a2', NOW - 60 * 60_000, NOW - 15 * 60_000); // stale: does not keep alice online
    world.time = NOW + 1000;
    const report = await announceOffline(world.deps(), 'alice');
    expect(report).toMatchObject({ announced: true, online: false, delivered: 1 });
    expect(world.framesTo('b1')).toEqual([
      { type: 'presence', v: 1, userId: 'alice', online: false, at: NOW + 1000 },
    ]);
  });

  it('stays silent while another connection of the user is live', async () => {
    const world = new World()
      .conversation('grp:1', 'alice', 'bob')
      .connect('bob', 'b1')
      .connect('alice', 'a2');
    expect(await announceOffline(world.deps(), 'alice')).toEqual({ announced: false });
    expect(world.posts).toEqual([]);
  });

  it('ignores the connection that went away, whatever the store still says about it', async () => {
    const world = new World()
      .conversation('grp:1', 'alice', 'bob')
      .connect('bob', 'b1')
      .connect('alice', 'a1');
    const report = await announceOffline(world.deps(), 'alice', { exceptConnectionId: 'a1' });
    expect(report.announced).toBe(true);
  });
});

describe('ephemeral pushes', () => {
  it('delete a connection that answers 410 and then announce its user offline, one level deep', async () => {
    const earlier = NOW - 60_000;
    const world = new World()
      .conversation('grp:1', 'alice', 'bob')
      .conversation('grp:2', 'bob', 'carol')
      .conversation('grp:3', 'carol', 'dave')
      .connect('bob', 'b1', earlier)
      .connect('carol', 'c1', earlier)
      .connect('dave', 'd1', earlier)
      .connect('alice', 'a1');
    world.dead.add('b1');
    world.dead.add('c1');

    const report = await announceOnline(world.deps(), {
      userId: 'alice',
      connectionId: 'a1',
      connectedAt: NOW,
    });

    expect(report).toMatchObject({ announced: true, gone: 1, goneUsers: ['bob'], followedUp: 1 });
    expect(world.rows.has('b1')).toBe(false);
    // Bob's offline went to his contacts (alice, carol); carol's gone connection was deleted, but carol's own
    // offline was not announced: follow-ups do not cascade.
    expect(world.framesTo('a1')).toEqual([{ type: 'presence', v: 1, userId: 'bob', online: false, at: NOW }]);
    expect(world.rows.has('c1')).toBe(false);
    expect(world.framesTo('d1')).toEqual([]);
  });

  it('keep the row of a connection whose $connect is still running (API Gateway answers 410 then too)', async () => {
    const world = new World()
      .conversation('grp:1', 'alice', 'bob')
      .connect('bob', 'b1', NOW - CONNECT_GRACE_MS + 1)
      .connect('alice', 'a1');
    world.dead.add('b1');
    const report = await announceOnline(world.deps(), {
      userId: 'alice',
      connectionId: 'a1',
      connectedAt: NOW,
    });
    expect(report).toMatchObject({ announced: true, gone: 1, goneUsers: [], followedUp: 0 });
    expect(world.rows.has('b1')).toBe(true);
  });

  it('count failures instead of throwing: an ephemeral frame is not retried', async () => {
    const world = new World().connect('bob', 'b1').connect('bob', 'b2').connect('carol', 'c1');
    const boom = new Error('throttled');
    world.failing.set('b2', boom);
    const frame: ServerFrame = { type: 'presence', v: 1, userId: 'alice', online: true, at: NOW };
    const report = await pushEphemeral(world.deps(), ['bob', 'carol', 'bob'], frame);
    expect(report).toEqual({
      connections: 3,
      delivered: 2,
      gone: 0,
      failed: 1,
      goneUsers: [],
      firstFailure: boom,
    });
  });

  it('count a failed connection lookup (one batch for the whole audience) instead of throwing', async () => {
    const world = new World().connect('bob', 'b1');
    const deps = world.deps();
    const lookups = deps.connections;
    const failingLookups: ConnectionStore = {
      ...lookups,
      listByUsers: async (users) => {
        if (users.includes('carol')) throw new Error('ProvisionedThroughputExceeded');
        return lookups.listByUsers(users);
      },
    };
    const frame: ServerFrame = { type: 'presence', v: 1, userId: 'alice', online: true, at: NOW };
    const report = await pushEphemeral({ ...deps, connections: failingLookups }, ['bob', 'carol'], frame);
    expect(report).toMatchObject({ connections: 0, delivered: 0, failed: 1 });
    expect(world.posts).toEqual([]);
  });
});

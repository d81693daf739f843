import { describe, expect, it } from 'vitest';
import { type ApplyReport, applyCommand, groupConversationId } from '../../../lambdas/core/apply-command';
import type { QueuedCommand } from '../../../lambdas/core/commands';
import { DeliveryIncompleteError } from '../../../lambdas/core/errors';
import { FANOUT_THRESHOLD } from '../../../lambdas/core/push';
import {
  type ConversationEvent,
  ConversationId,
  isGroupConversationId,
  LIMITS,
  ServerFrame,
  type UserId,
} from '../../../protocol';
import {
  addMembersCommand,
  createGroupCommand,
  type DeliveryHarness,
  deliveryHarness,
  editCommand,
  leaveCommand,
  markReadCommand,
  RecordingFanoutQueue,
  recallCommand,
  removeMembersCommand,
  renameCommand,
  sendCommand,
  T0,
} from '../../helpers/fakes';

const DM = 'dm:alice:bob';
const WINDOW_MS = LIMITS.recallWindowSeconds * 1000;

/** alice has two connections, everyone else one (`conn-<user>-1`). */
function setup(options: Parameters<typeof deliveryHarness>[0] = {}): DeliveryHarness {
  const h = deliveryHarness(options);
  h.connections.connect('alice', 'conn-alice-1', 'conn-alice-2');
  for (const user of ['bob', 'carol', 'dave', 'erin']) h.connections.connect(user, `conn-${user}-1`);
  return h;
}

const conn = (user: UserId) => `conn-${user}-1`;

async function apply(h: DeliveryHarness, command: QueuedCommand): Promise<ApplyReport> {
  const report = await applyCommand(h.deps, command);
  // Whatever was pushed is a valid server frame of the protocol.
  for (const { frame } of h.notifier.posts) ServerFrame.parse(frame);
  return report;
}

/** Creates a group owned by `owner` with `members`; returns its id. */
async function createGroup(
  h: DeliveryHarness,
  owner: UserId,
  members: UserId[],
  clientMessageId = 'g-1',
): Promise<ConversationId> {
  const conversationId = groupConversationId(owner, clientMessageId);
  const report = await apply(
    h,
    createGroupCommand({
      conversationId,
      actorId: owner,
      connectionId: conn(owner),
      clientMessageId,
      members,
    }),
  );
  expect(report.outcome).toBe('stored');
  return conversationId;
}

function eventsOf(h: DeliveryHarness, conversationId: ConversationId): ConversationEvent[] {
  return h.store.events.get(conversationId) ?? [];
}

/** The event frames' events one connection received, in order. */
function eventsTo(h: DeliveryHarness, connectionId: string): ConversationEvent[] {
  return h.notifier.framesTo(connectionId).flatMap((f) => (f.type === 'event' ? [f.event] : []));
}

function refusal(code: string, clientMessageId?: string) {
  return {
    type: 'error',
    v: 1,
    code,
    message: expect.any(String),
    ...(clientMessageId === undefined ? {} : { clientMessageId }),
  };
}

/** Posts made after `mark` (an index into notifier.posts). */
function postsSince(h: DeliveryHarness, mark: number) {
  return h.notifier.posts.slice(mark);
}

describe('applyCommand: send', () => {
  it('creates a direct conversation with its first message, acks the origin and pushes to everyone else', async () => {
    const h = setup();
    const report = await apply(h, sendCommand());
    expect(report).toEqual({ outcome: 'stored', seq: 1, delivered: 3, gone: 0 });

    expect(h.store.conversations.get(DM)).toEqual({
      conversationId: DM,
      kind: 'direct',
      lastSeq: 1,
      memberCount: 2,
    });
    expect(await h.store.listMemberRecords(DM)).toEqual(
      expect.arrayContaining([
        { userId: 'alice', role: 'member', joinedAt: T0, readSeq: 1 },
        { userId: 'bob', role: 'member', joinedAt: T0, readSeq: 0 },
      ]),
    );
    expect(await h.store.listMemberRecords(DM)).toHaveLength(2);

    expect(h.notifier.framesTo('conn-alice-1')).toEqual([
      { type: 'ack', v: 1, conversationId: DM, clientMessageId: 'm-1', seq: 1, at: T0 },
    ]);
    const event = {
      kind: 'message',
      conversationId: DM,
      seq: 1,
      at: T0,
      actorId: 'alice',
      clientMessageId: 'm-1',
      text: 'hello',
    };
    expect(h.notifier.framesTo('conn-alice-2')).toEqual([{ type: 'event', v: 1, event }]);
    expect(h.notifier.framesTo('conn-bob-1')).toEqual([{ type: 'event', v: 1, event }]);
    expect(h.notifier.framesTo('conn-carol-1')).toEqual([]);
    expect(eventsOf(h, DM)).toEqual([event]);
  });

  it('numbers the events of a conversation 1, 2, 3 without gaps, whoever sends', async () => {
    const h = setup();
    const seqs: number[] = [];
    for (const [actorId, clientMessageId] of [
      ['alice', 'a'],
      ['bob', 'b'],
      ['alice', 'c'],
    ] as const) {
      const report = await apply(h, sendCommand({ actorId, clientMessageId, connectionId: conn(actorId) }));
      if (report.outcome !== 'stored') throw new Error(`unexpected ${report.outcome}`);
      seqs.push(report.seq);
    }
    expect(seqs).toEqual([1, 2, 3]);
    expect(eventsOf(h, DM).map((e) => [e.seq, e.clientMessageId])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
    expect(h.store.conversations.get(DM)).toMatchObject({ lastSeq: 3, memberCount: 2 });
    expect(h.notifier.framesTo('conn-bob-1').map((f) => f.type)).toEqual(['event', 'ack', 'event']);
  });

  it('stores a repeat (same actor and clientMessageId) once and re-acks the original seq to the new connection', async () => {
    const h = setup();
    await apply(h, sendCommand());
    await apply(h, sendCommand({ actorId: 'bob', clientMessageId: 'b-1', connectionId: 'conn-bob-1' }));
    const mark = h.notifier.posts.length;

    const report = await apply(
      h,
      sendCommand({ connectionId: 'conn-alice-2', text: 'different text', at: T0 + 60_000 }),
    );
    expect(report).toMatchObject({ outcome: 'duplicate', seq: 1 });
    expect(eventsOf(h, DM)).toHaveLength(2);
    expect(eventsOf(h, DM)[0]).toMatchObject({ seq: 1, text: 'hello', at: T0 });
    expect(h.store.conversations.get(DM)).toMatchObject({ lastSeq: 2, memberCount: 2 });
    expect(h.notifier.framesTo('conn-alice-2').at(-1)).toEqual({
      type: 'ack',
      v: 1,
      conversationId: DM,
      clientMessageId: 'm-1',
      seq: 1,
      at: T0,
    });
    // Nobody is told about a new event: at most the original one again (clients drop it by seq).
    for (const { frame } of postsSince(h, mark)) {
      if (frame.type === 'event') expect(frame.event).toMatchObject({ seq: 1, text: 'hello' });
    }
  });

  it('delivers a group message to every connection of every member', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol']);
    await apply(h, sendCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1' }));
    expect(h.notifier.framesTo('conn-bob-1').at(-1)).toMatchObject({ type: 'ack', seq: 2 });
    for (const c of ['conn-alice-1', 'conn-alice-2', 'conn-carol-1']) {
      expect(eventsTo(h, c).at(-1)).toMatchObject({ kind: 'message', seq: 2, actorId: 'bob' });
    }
    expect(h.notifier.framesTo('conn-dave-1')).toEqual([]);
  });

  it('refuses a group message from a non-member: error frame to its connection, nothing stored', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    const mark = h.notifier.posts.length;
    const report = await apply(
      h,
      sendCommand({
        conversationId: g,
        actorId: 'carol',
        connectionId: 'conn-carol-1',
        clientMessageId: 'c-1',
      }),
    );
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_A_MEMBER' });
    expect(postsSince(h, mark)).toEqual([
      { connectionId: 'conn-carol-1', frame: refusal('NOT_A_MEMBER', 'c-1') },
    ]);
    expect(eventsOf(h, g)).toHaveLength(1);
    expect(h.store.conversations.get(g)?.lastSeq).toBe(1);
    expect(h.store.keys.has(`${g}|carol/c-1`)).toBe(false);
  });

  it('keeps the message for members with no live connection', async () => {
    const h = setup();
    const report = await apply(h, sendCommand({ conversationId: 'dm:alice:zoe' }));
    expect(report).toEqual({ outcome: 'stored', seq: 1, delivered: 2, gone: 0 });
    expect(eventsOf(h, 'dm:alice:zoe')[0]).toMatchObject({ text: 'hello' });
    expect(await h.store.getMember('dm:alice:zoe', 'zoe')).toMatchObject({ readSeq: 0 });
  });
});

describe('applyCommand: the audience lookup', () => {
  /** Records, in order, when the store appends and when connections are looked up. */
  function traced(h: DeliveryHarness): string[] {
    const trace: string[] = [];
    const append = h.store.append.bind(h.store);
    h.store.append = async (...args) => {
      trace.push('append:start');
      await new Promise((r) => setTimeout(r, 5));
      const result = await append(...args);
      trace.push('append:end');
      return result;
    };
    const list = h.connections.listByUsers.bind(h.connections);
    h.connections.listByUsers = async (users) => {
      trace.push(`lookup:${[...users].sort().join(',')}`);
      return list(users);
    };
    return trace;
  }

  it('looks up a send’s audience and connections while the message is stored (membership cannot change)', async () => {
    const h = setup();
    const conversationId = await createGroup(h, 'alice', ['bob', 'carol']);
    const trace = traced(h);
    const report = await apply(h, sendCommand({ conversationId, actorId: 'bob', connectionId: conn('bob') }));
    expect(report.outcome).toBe('stored');
    expect(trace).toEqual(['append:start', 'lookup:alice,bob,carol', 'append:end']);
    expect(h.notifier.framesTo('conn-alice-2').map((f) => f.type)).toContain('event');
  });

  it('looks up an addMembers’ audience only after it is stored, so the new member gets it', async () => {
    const h = setup();
    const conversationId = await createGroup(h, 'alice', ['bob']);
    const trace = traced(h);
    await apply(
      h,
      addMembersCommand({ conversationId, actorId: 'alice', connectionId: conn('alice'), userIds: ['dave'] }),
    );
    expect(trace).toEqual(['append:start', 'append:end', 'lookup:alice,bob,dave']);
    expect(eventsTo(h, conn('dave')).map((e) => e.kind)).toEqual(['members.added']);
  });

  it('a refused send leaves no unhandled rejection behind when its early lookup fails too', async () => {
    const h = setup();
    const conversationId = await createGroup(h, 'alice', ['bob']);
    h.connections.listByUsers = async () => {
      throw new Error('lookup failed');
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      // carol is not a member: refused, and the refusal is posted to her connection directly.
      const report = await apply(
        h,
        sendCommand({ conversationId, actorId: 'carol', connectionId: conn('carol') }),
      );
      expect(report).toMatchObject({ outcome: 'refused', code: 'NOT_A_MEMBER' });
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(eventsOf(h, conversationId).map((e) => e.kind)).toEqual(['group.created']);
  });
});

describe('applyCommand: edit', () => {
  it('lets the author edit: an edit event, and the message shows the new text and editedAt', async () => {
    const h = setup();
    await apply(h, sendCommand());
    const report = await apply(h, editCommand({ targetSeq: 1, text: 'hello, bob', at: T0 + 5_000 }));
    expect(report).toMatchObject({ outcome: 'stored', seq: 2 });
    const edit = {
      kind: 'edit',
      conversationId: DM,
      seq: 2,
      at: T0 + 5_000,
      actorId: 'alice',
      clientMessageId: 'e-1',
      targetSeq: 1,
      text: 'hello, bob',
    };
    expect(h.notifier.framesTo('conn-bob-1').at(-1)).toEqual({ type: 'event', v: 1, event: edit });
    expect(h.notifier.framesTo('conn-alice-2').at(-1)).toEqual({ type: 'event', v: 1, event: edit });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toMatchObject({ type: 'ack', seq: 2, at: T0 + 5_000 });
    expect(await h.store.getEvent(DM, 1)).toEqual({
      kind: 'message',
      conversationId: DM,
      seq: 1,
      at: T0,
      actorId: 'alice',
      clientMessageId: 'm-1',
      text: 'hello, bob',
      editedAt: T0 + 5_000,
    });
  });

  it('refuses an edit by someone other than the author with NOT_ALLOWED', async () => {
    const h = setup();
    await apply(h, sendCommand());
    const mark = h.notifier.posts.length;
    const report = await apply(h, editCommand({ actorId: 'bob', connectionId: 'conn-bob-1', text: 'pwned' }));
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(postsSince(h, mark)).toEqual([
      { connectionId: 'conn-bob-1', frame: refusal('NOT_ALLOWED', 'e-1') },
    ]);
    expect(await h.store.getEvent(DM, 1)).toMatchObject({ text: 'hello' });
    expect(await h.store.getEvent(DM, 1)).not.toHaveProperty('editedAt');
    expect(eventsOf(h, DM)).toHaveLength(1);
  });

  it('answers NOT_FOUND for an unknown seq and for a target that is not a message', async () => {
    const h = setup();
    await apply(h, sendCommand());
    await apply(h, editCommand({ clientMessageId: 'e-1', targetSeq: 1 }));
    expect(await apply(h, editCommand({ clientMessageId: 'e-2', targetSeq: 9 }))).toEqual({
      outcome: 'refused',
      code: 'NOT_FOUND',
    });
    // seq 2 is the edit event itself.
    expect(await apply(h, editCommand({ clientMessageId: 'e-3', targetSeq: 2 }))).toEqual({
      outcome: 'refused',
      code: 'NOT_FOUND',
    });
    const g = await createGroup(h, 'alice', ['bob']);
    expect(await apply(h, editCommand({ conversationId: g, clientMessageId: 'e-4', targetSeq: 1 }))).toEqual({
      outcome: 'refused',
      code: 'NOT_FOUND',
    });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toEqual(refusal('NOT_FOUND', 'e-4'));
    expect(eventsOf(h, DM)).toHaveLength(2);
    expect(eventsOf(h, g)).toHaveLength(1);
  });

  it('answers RECALL_WINDOW_CLOSED for an edit of a recalled message', async () => {
    const h = setup();
    await apply(h, sendCommand());
    await apply(h, recallCommand({ targetSeq: 1 }));
    const report = await apply(h, editCommand({ targetSeq: 1, text: 'back' }));
    expect(report).toEqual({ outcome: 'refused', code: 'RECALL_WINDOW_CLOSED' });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toEqual(refusal('RECALL_WINDOW_CLOSED', 'e-1'));
    expect(await h.store.getEvent(DM, 1)).toMatchObject({ text: '', recalled: true });
    expect(eventsOf(h, DM)).toHaveLength(2);
  });
});

describe('applyCommand: recall', () => {
  it('lets the author recall within the window: a recall event, the message stored recalled with empty text', async () => {
    const h = setup();
    await apply(h, sendCommand());
    const report = await apply(h, recallCommand({ targetSeq: 1, at: T0 + WINDOW_MS }));
    expect(report).toMatchObject({ outcome: 'stored', seq: 2 });
    expect(h.notifier.framesTo('conn-bob-1').at(-1)).toEqual({
      type: 'event',
      v: 1,
      event: {
        kind: 'recall',
        conversationId: DM,
        seq: 2,
        at: T0 + WINDOW_MS,
        actorId: 'alice',
        clientMessageId: 'r-1',
        targetSeq: 1,
      },
    });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toMatchObject({ type: 'ack', seq: 2 });
    expect(await h.store.getEvent(DM, 1)).toEqual({
      kind: 'message',
      conversationId: DM,
      seq: 1,
      at: T0,
      actorId: 'alice',
      clientMessageId: 'm-1',
      text: '',
      recalled: true,
    });
  });

  it('refuses the author after the window with RECALL_WINDOW_CLOSED (LIMITS.recallWindowSeconds)', async () => {
    const h = setup();
    await apply(h, sendCommand());
    const report = await apply(h, recallCommand({ targetSeq: 1, at: T0 + WINDOW_MS + 1 }));
    expect(report).toEqual({ outcome: 'refused', code: 'RECALL_WINDOW_CLOSED' });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toEqual(refusal('RECALL_WINDOW_CLOSED', 'r-1'));
    expect(await h.store.getEvent(DM, 1)).toMatchObject({ text: 'hello' });
    expect(eventsOf(h, DM)).toHaveLength(1);
  });

  it('uses the recallWindowMs dependency when given', async () => {
    const h = setup({ recallWindowMs: 1_000 });
    await apply(h, sendCommand());
    await apply(h, sendCommand({ clientMessageId: 'm-2', at: T0 }));
    expect(await apply(h, recallCommand({ clientMessageId: 'r-1', targetSeq: 1, at: T0 + 1_001 }))).toEqual({
      outcome: 'refused',
      code: 'RECALL_WINDOW_CLOSED',
    });
    expect(
      await apply(h, recallCommand({ clientMessageId: 'r-2', targetSeq: 2, at: T0 + 1_000 })),
    ).toMatchObject({ outcome: 'stored', seq: 3 });
  });

  it('answers RECALL_WINDOW_CLOSED for a message already recalled', async () => {
    const h = setup();
    await apply(h, sendCommand());
    await apply(h, recallCommand({ clientMessageId: 'r-1' }));
    expect(await apply(h, recallCommand({ clientMessageId: 'r-2' }))).toEqual({
      outcome: 'refused',
      code: 'RECALL_WINDOW_CLOSED',
    });
    expect(eventsOf(h, DM)).toHaveLength(2);
  });

  it.each([['owner'], ['admin']] as const)(
    'lets a group %s recall another member’s message at any time',
    async (role) => {
      const h = setup();
      const g = await createGroup(h, 'alice', ['bob']);
      await apply(h, addMembersCommand({ conversationId: g, userIds: ['carol'], role: 'admin' }));
      await apply(h, sendCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1' }));
      const actorId = role === 'owner' ? 'alice' : 'carol';
      const report = await apply(
        h,
        recallCommand({
          conversationId: g,
          actorId,
          connectionId: conn(actorId),
          targetSeq: 3,
          at: T0 + 86_400_000,
        }),
      );
      expect(report).toMatchObject({ outcome: 'stored', seq: 4 });
      expect(await h.store.getEvent(g, 3)).toMatchObject({ actorId: 'bob', text: '', recalled: true });
      expect(eventsTo(h, 'conn-bob-1').at(-1)).toMatchObject({ kind: 'recall', targetSeq: 3, actorId });
    },
  );

  it('refuses a plain member (or the other side of a direct conversation) recalling another’s message', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol']);
    await apply(h, sendCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1' }));
    expect(
      await apply(
        h,
        recallCommand({ conversationId: g, actorId: 'carol', connectionId: 'conn-carol-1', targetSeq: 2 }),
      ),
    ).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(h.notifier.framesTo('conn-carol-1').at(-1)).toEqual(refusal('NOT_ALLOWED', 'r-1'));
    expect(await h.store.getEvent(g, 2)).toMatchObject({ text: 'hello' });

    await apply(h, sendCommand());
    expect(
      await apply(h, recallCommand({ actorId: 'bob', connectionId: 'conn-bob-1', targetSeq: 1 })),
    ).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(await h.store.getEvent(DM, 1)).toMatchObject({ text: 'hello' });
  });

  // BUG (reported): protocol/index.ts documents RecallFrame as "group owners and admins: any message, any
  // time", but apply-command.ts (recall case) applies the author's window before it looks at the role, so an
  // owner or admin cannot recall their OWN message after the window.
  it('lets a group owner recall their own message after the window (protocol: any message, any time)', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(h, sendCommand({ conversationId: g }));
    const report = await apply(h, recallCommand({ conversationId: g, targetSeq: 2, at: T0 + WINDOW_MS + 1 }));
    expect(report).toMatchObject({ outcome: 'stored', seq: 3 });
  });
});

describe('applyCommand: createGroup', () => {
  it('makes the creator owner, writes member rows and the count, and announces group.created to all', async () => {
    const h = setup();
    const g = groupConversationId('alice', 'g-1');
    const report = await apply(
      h,
      createGroupCommand({ conversationId: g, name: 'Team', members: ['bob', 'carol', 'bob', 'alice'] }),
    );
    expect(report).toEqual({ outcome: 'stored', seq: 1, delivered: 4, gone: 0 });
    expect(h.store.conversations.get(g)).toEqual({
      conversationId: g,
      kind: 'group',
      name: 'Team',
      lastSeq: 1,
      memberCount: 3,
    });
    expect(await h.store.listMemberRecords(g)).toEqual([
      { userId: 'alice', role: 'owner', joinedAt: T0, readSeq: 1 },
      { userId: 'bob', role: 'member', joinedAt: T0, readSeq: 1 },
      { userId: 'carol', role: 'member', joinedAt: T0, readSeq: 1 },
    ]);
    const event = {
      kind: 'group.created',
      conversationId: g,
      seq: 1,
      at: T0,
      actorId: 'alice',
      clientMessageId: 'g-1',
      name: 'Team',
      members: ['alice', 'bob', 'carol'],
    };
    expect(h.notifier.framesTo('conn-alice-1')).toEqual([
      { type: 'ack', v: 1, conversationId: g, clientMessageId: 'g-1', seq: 1, at: T0 },
    ]);
    for (const c of ['conn-alice-2', 'conn-bob-1', 'conn-carol-1']) {
      expect(h.notifier.framesTo(c)).toEqual([{ type: 'event', v: 1, event }]);
    }
    expect(h.notifier.framesTo('conn-dave-1')).toEqual([]);
  });

  it('refuses more than LIMITS.maxGroupMembers members with GROUP_TOO_LARGE', async () => {
    const h = setup();
    const g = groupConversationId('alice', 'g-1');
    const members = Array.from({ length: LIMITS.maxGroupMembers }, (_, i) => `user${i}`);
    const report = await apply(h, createGroupCommand({ conversationId: g, members }));
    expect(report).toEqual({ outcome: 'refused', code: 'GROUP_TOO_LARGE' });
    expect(h.notifier.framesTo('conn-alice-1')).toEqual([refusal('GROUP_TOO_LARGE', 'g-1')]);
    expect(h.store.conversations.has(g)).toBe(false);
    expect(h.store.members.get(g)).toBeUndefined();
  });

  it('accepts exactly LIMITS.maxGroupMembers members, the creator included', async () => {
    const h = setup();
    const members = Array.from({ length: LIMITS.maxGroupMembers - 1 }, (_, i) => `user${i}`);
    const g = await createGroup(h, 'alice', members);
    expect(h.store.conversations.get(g)?.memberCount).toBe(LIMITS.maxGroupMembers);
  });

  it('answers a repeated create with a re-ack of the same group, and makes no second group', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    const report = await apply(
      h,
      createGroupCommand({
        conversationId: g,
        connectionId: 'conn-alice-2',
        name: 'Other',
        members: ['carol'],
      }),
    );
    expect(report).toMatchObject({ outcome: 'duplicate', seq: 1 });
    expect(h.store.conversations.size).toBe(1);
    expect(h.store.conversations.get(g)).toMatchObject({ name: 'Team', memberCount: 2, lastSeq: 1 });
    expect(eventsOf(h, g)).toHaveLength(1);
    expect(await h.directory.listMembers(g)).toEqual(['alice', 'bob']);
    expect(h.notifier.framesTo('conn-alice-2').at(-1)).toMatchObject({
      type: 'ack',
      seq: 1,
      clientMessageId: 'g-1',
    });
    expect(h.notifier.framesTo('conn-carol-1')).toEqual([]);
  });

  it('derives the group id deterministically from creator and clientMessageId', () => {
    const id = groupConversationId('alice', 'g-1');
    expect(groupConversationId('alice', 'g-1')).toBe(id);
    expect(groupConversationId('alice', 'g-2')).not.toBe(id);
    expect(groupConversationId('bob', 'g-1')).not.toBe(id);
    // The separator cannot be forged: a different split of the same characters is a different group.
    expect(groupConversationId('alice', 'g-1')).not.toBe(groupConversationId('alic', 'e-g-1'));
    expect(id).toMatch(/^grp:[A-Za-z0-9_-]{22}$/);
    expect(isGroupConversationId(id)).toBe(true);
    expect(ConversationId.safeParse(id).success).toBe(true);
  });
});

describe('applyCommand: addMembers', () => {
  it('adds members: rows with readSeq at the event, the count, the event to old and new members', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(h, sendCommand({ conversationId: g, clientMessageId: 'before' }));
    const report = await apply(h, addMembersCommand({ conversationId: g, userIds: ['carol', 'dave'] }));
    expect(report).toMatchObject({ outcome: 'stored', seq: 3 });
    expect(h.store.conversations.get(g)?.memberCount).toBe(4);
    expect(await h.store.getMember(g, 'carol')).toEqual({
      userId: 'carol',
      role: 'member',
      joinedAt: T0,
      readSeq: 3,
    });
    expect(await h.store.getMember(g, 'dave')).toEqual({
      userId: 'dave',
      role: 'member',
      joinedAt: T0,
      readSeq: 3,
    });
    const added = {
      kind: 'members.added',
      seq: 3,
      userIds: ['carol', 'dave'],
      role: 'member',
      actorId: 'alice',
    };
    for (const c of ['conn-alice-2', 'conn-bob-1', 'conn-carol-1', 'conn-dave-1']) {
      expect(eventsTo(h, c).at(-1)).toMatchObject(added);
    }
    // The new members saw nothing from before they joined, and get what follows.
    expect(eventsTo(h, 'conn-carol-1')).toHaveLength(1);
    await apply(
      h,
      sendCommand({
        conversationId: g,
        actorId: 'bob',
        connectionId: 'conn-bob-1',
        clientMessageId: 'after',
      }),
    );
    for (const c of ['conn-carol-1', 'conn-dave-1']) {
      expect(eventsTo(h, c).at(-1)).toMatchObject({ kind: 'message', seq: 4, clientMessageId: 'after' });
    }
  });

  it('refuses a plain member with NOT_ALLOWED', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    const report = await apply(
      h,
      addMembersCommand({
        conversationId: g,
        actorId: 'bob',
        connectionId: 'conn-bob-1',
        userIds: ['carol'],
      }),
    );
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(h.notifier.framesTo('conn-bob-1').at(-1)).toEqual(refusal('NOT_ALLOWED', 'add-1'));
    expect(await h.directory.isMember(g, 'carol')).toBe(false);
    expect(h.notifier.framesTo('conn-carol-1')).toEqual([]);
  });

  it('lets admins add members but only the owner add admins', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    expect(
      await apply(
        h,
        addMembersCommand({ conversationId: g, clientMessageId: 'a-1', userIds: ['carol'], role: 'admin' }),
      ),
    ).toMatchObject({ outcome: 'stored', seq: 2 });
    expect(await h.store.getMember(g, 'carol')).toMatchObject({ role: 'admin' });
    expect(eventsTo(h, 'conn-bob-1').at(-1)).toMatchObject({ kind: 'members.added', role: 'admin' });

    const byAdmin = { conversationId: g, actorId: 'carol', connectionId: 'conn-carol-1' };
    expect(
      await apply(
        h,
        addMembersCommand({ ...byAdmin, clientMessageId: 'a-2', userIds: ['dave'], role: 'admin' }),
      ),
    ).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(await h.directory.isMember(g, 'dave')).toBe(false);
    expect(
      await apply(
        h,
        addMembersCommand({ ...byAdmin, clientMessageId: 'a-3', userIds: ['dave'], role: 'member' }),
      ),
    ).toMatchObject({ outcome: 'stored', seq: 3 });
    expect(await h.store.getMember(g, 'dave')).toMatchObject({ role: 'member', readSeq: 3 });
  });

  it('leaves out those who are members already, and refuses when nobody new is named', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(
      h,
      addMembersCommand({ conversationId: g, clientMessageId: 'a-1', userIds: ['bob', 'carol', 'carol'] }),
    );
    expect(eventsOf(h, g)[1]).toMatchObject({ kind: 'members.added', userIds: ['carol'] });
    expect(h.store.conversations.get(g)?.memberCount).toBe(3);
    expect(await h.store.getMember(g, 'bob')).toMatchObject({ readSeq: 1 });

    const report = await apply(
      h,
      addMembersCommand({ conversationId: g, clientMessageId: 'a-2', userIds: ['alice', 'bob', 'carol'] }),
    );
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toEqual(refusal('NOT_ALLOWED', 'a-2'));
    expect(eventsOf(h, g)).toHaveLength(2);
  });

  it('refuses to grow a group beyond LIMITS.maxGroupMembers', async () => {
    const h = setup();
    const members = Array.from({ length: LIMITS.maxGroupMembers - 1 }, (_, i) => `user${i}`);
    const g = await createGroup(h, 'alice', members);
    expect(await apply(h, addMembersCommand({ conversationId: g, userIds: ['dave'] }))).toEqual({
      outcome: 'refused',
      code: 'GROUP_TOO_LARGE',
    });
    expect(await h.directory.isMember(g, 'dave')).toBe(false);
  });

  it('refuses in a direct conversation with NOT_ALLOWED', async () => {
    const h = setup();
    await apply(h, sendCommand());
    expect(await apply(h, addMembersCommand({ conversationId: DM, userIds: ['carol'] }))).toEqual({
      outcome: 'refused',
      code: 'NOT_ALLOWED',
    });
    expect(await h.store.listMemberRecords(DM)).toHaveLength(2);
  });
});

describe('applyCommand: removeMembers', () => {
  it('tells the removed users, deletes their rows, and sends them nothing afterwards', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol', 'dave']);
    const report = await apply(
      h,
      removeMembersCommand({ conversationId: g, userIds: ['bob', 'dave', 'zoe'] }),
    );
    expect(report).toMatchObject({ outcome: 'stored', seq: 2 });
    const removed = { kind: 'members.removed', seq: 2, actorId: 'alice', userIds: ['bob', 'dave'] };
    for (const c of ['conn-bob-1', 'conn-dave-1', 'conn-carol-1', 'conn-alice-2']) {
      expect(eventsTo(h, c).at(-1)).toMatchObject(removed);
    }
    expect(await h.directory.listMembers(g)).toEqual(['alice', 'carol']);
    expect(h.store.conversations.get(g)?.memberCount).toBe(2);

    const bobFrames = h.notifier.framesTo('conn-bob-1').length;
    const daveFrames = h.notifier.framesTo('conn-dave-1').length;
    await apply(
      h,
      sendCommand({
        conversationId: g,
        actorId: 'carol',
        connectionId: 'conn-carol-1',
        clientMessageId: 'c',
      }),
    );
    expect(eventsTo(h, 'conn-alice-1').at(-1)).toMatchObject({ kind: 'message', seq: 3 });
    expect(h.notifier.framesTo('conn-bob-1')).toHaveLength(bobFrames);
    expect(h.notifier.framesTo('conn-dave-1')).toHaveLength(daveFrames);

    // And their own commands are refused now.
    expect(
      await apply(
        h,
        sendCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1', clientMessageId: 'b' }),
      ),
    ).toEqual({ outcome: 'refused', code: 'NOT_A_MEMBER' });
  });

  it('never removes the owner', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(
      h,
      addMembersCommand({ conversationId: g, clientMessageId: 'a-1', userIds: ['carol'], role: 'admin' }),
    );
    const report = await apply(
      h,
      removeMembersCommand({
        conversationId: g,
        actorId: 'carol',
        connectionId: 'conn-carol-1',
        userIds: ['alice'],
      }),
    );
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(h.notifier.framesTo('conn-carol-1').at(-1)).toEqual(refusal('NOT_ALLOWED', 'rm-1'));
    expect(await h.store.getMember(g, 'alice')).toMatchObject({ role: 'owner' });
    // The owner naming only themselves removes no one: they must leave instead.
    expect(
      await apply(
        h,
        removeMembersCommand({ conversationId: g, clientMessageId: 'rm-2', userIds: ['alice'] }),
      ),
    ).toEqual({ outcome: 'refused', code: 'NOT_FOUND' });
    expect(h.store.conversations.get(g)?.memberCount).toBe(3);
  });

  it('lets an admin remove members but not another admin; the owner may remove admins', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(
      h,
      addMembersCommand({
        conversationId: g,
        clientMessageId: 'a-1',
        userIds: ['carol', 'dave'],
        role: 'admin',
      }),
    );
    const byCarol = { conversationId: g, actorId: 'carol', connectionId: 'conn-carol-1' };
    expect(
      await apply(h, removeMembersCommand({ ...byCarol, clientMessageId: 'rm-1', userIds: ['dave', 'bob'] })),
    ).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(await h.directory.listMembers(g)).toEqual(['alice', 'bob', 'carol', 'dave']);

    expect(
      await apply(h, removeMembersCommand({ ...byCarol, clientMessageId: 'rm-2', userIds: ['bob'] })),
    ).toMatchObject({
      outcome: 'stored',
    });
    expect(
      await apply(h, removeMembersCommand({ conversationId: g, clientMessageId: 'rm-3', userIds: ['dave'] })),
    ).toMatchObject({ outcome: 'stored' });
    expect(await h.directory.listMembers(g)).toEqual(['alice', 'carol']);
  });

  it('refuses a plain member with NOT_ALLOWED', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol']);
    expect(
      await apply(
        h,
        removeMembersCommand({
          conversationId: g,
          actorId: 'bob',
          connectionId: 'conn-bob-1',
          userIds: ['carol'],
        }),
      ),
    ).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(await h.directory.isMember(g, 'carol')).toBe(true);
  });

  it('answers NOT_FOUND when no one named is a member', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    const report = await apply(h, removeMembersCommand({ conversationId: g, userIds: ['zoe', 'carol'] }));
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_FOUND' });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toEqual(refusal('NOT_FOUND', 'rm-1'));
    expect(eventsOf(h, g)).toHaveLength(1);
  });
});

describe('applyCommand: leave', () => {
  it('tells the leaver (ack, and the event on their other connections), then sends them nothing more', async () => {
    const h = setup();
    const g = await createGroup(h, 'bob', ['alice', 'carol']);
    const report = await apply(h, leaveCommand({ conversationId: g }));
    expect(report).toMatchObject({ outcome: 'stored', seq: 2 });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toMatchObject({
      type: 'ack',
      seq: 2,
      clientMessageId: 'leave-1',
    });
    const left = { kind: 'member.left', seq: 2, actorId: 'alice', clientMessageId: 'leave-1' };
    for (const c of ['conn-alice-2', 'conn-bob-1', 'conn-carol-1'])
      expect(eventsTo(h, c).at(-1)).toMatchObject(left);
    expect(await h.directory.listMembers(g)).toEqual(['bob', 'carol']);
    expect(h.store.conversations.get(g)?.memberCount).toBe(2);

    const before = [h.notifier.framesTo('conn-alice-1').length, h.notifier.framesTo('conn-alice-2').length];
    await apply(
      h,
      sendCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1', clientMessageId: 'b' }),
    );
    expect(eventsTo(h, 'conn-carol-1').at(-1)).toMatchObject({ kind: 'message', seq: 3 });
    expect([h.notifier.framesTo('conn-alice-1').length, h.notifier.framesTo('conn-alice-2').length]).toEqual(
      before,
    );
  });

  it('hands ownership to an admin first when the owner leaves', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol']);
    await apply(
      h,
      addMembersCommand({
        conversationId: g,
        clientMessageId: 'a-1',
        userIds: ['dave'],
        role: 'admin',
        at: T0 + 1_000,
      }),
    );
    await apply(h, leaveCommand({ conversationId: g, at: T0 + 2_000 }));
    expect(await h.store.getMember(g, 'dave')).toMatchObject({ role: 'owner' });
    expect(await h.store.getMember(g, 'bob')).toMatchObject({ role: 'member' });
    expect(await h.store.getMember(g, 'carol')).toMatchObject({ role: 'member' });
    expect(await h.store.getMember(g, 'alice')).toBeUndefined();
    // The new owner can do what owners do.
    expect(
      await apply(
        h,
        addMembersCommand({
          conversationId: g,
          actorId: 'dave',
          connectionId: 'conn-dave-1',
          clientMessageId: 'd-1',
          userIds: ['erin'],
          role: 'admin',
        }),
      ),
    ).toMatchObject({ outcome: 'stored' });
  });

  it('hands ownership to the longest-standing member when there is no admin', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['carol']);
    await apply(
      h,
      addMembersCommand({ conversationId: g, clientMessageId: 'a-1', userIds: ['bob'], at: T0 + 1_000 }),
    );
    await apply(
      h,
      addMembersCommand({ conversationId: g, clientMessageId: 'a-2', userIds: ['dave'], at: T0 + 2_000 }),
    );
    // Storage order says nothing about seniority: list the newest first.
    const rows = h.store.members.get(g);
    if (!rows) throw new Error('no member rows');
    h.store.members.set(g, new Map([...rows].reverse()));

    await apply(h, leaveCommand({ conversationId: g, at: T0 + 3_000 }));
    expect(await h.store.listMemberRecords(g)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ userId: 'carol', role: 'owner' }),
        expect.objectContaining({ userId: 'bob', role: 'member' }),
        expect.objectContaining({ userId: 'dave', role: 'member' }),
      ]),
    );
    expect(await h.store.listMemberRecords(g)).toHaveLength(3);
  });

  it('refuses to leave a direct conversation with NOT_ALLOWED', async () => {
    const h = setup();
    await apply(h, sendCommand());
    const report = await apply(h, leaveCommand({ conversationId: DM }));
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toEqual(refusal('NOT_ALLOWED', 'leave-1'));
    expect(await h.store.listMemberRecords(DM)).toHaveLength(2);
    expect(eventsOf(h, DM)).toHaveLength(1);
  });
});

describe('applyCommand: rename', () => {
  it('lets an admin rename: the name is stored and group.renamed goes to all members', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(
      h,
      addMembersCommand({ conversationId: g, clientMessageId: 'a-1', userIds: ['carol'], role: 'admin' }),
    );
    const report = await apply(
      h,
      renameCommand({
        conversationId: g,
        actorId: 'carol',
        connectionId: 'conn-carol-1',
        name: 'Night shift',
      }),
    );
    expect(report).toMatchObject({ outcome: 'stored', seq: 3 });
    expect(h.store.conversations.get(g)).toMatchObject({ name: 'Night shift', kind: 'group', lastSeq: 3 });
    for (const c of ['conn-alice-1', 'conn-alice-2', 'conn-bob-1']) {
      expect(eventsTo(h, c).at(-1)).toEqual({
        kind: 'group.renamed',
        conversationId: g,
        seq: 3,
        at: T0,
        actorId: 'carol',
        clientMessageId: 'ren-1',
        name: 'Night shift',
      });
    }
    expect(h.notifier.framesTo('conn-carol-1').at(-1)).toMatchObject({ type: 'ack', seq: 3 });
    expect(
      await apply(h, renameCommand({ conversationId: g, clientMessageId: 'ren-2', name: 'Day' })),
    ).toMatchObject({
      outcome: 'stored',
    });
    expect(h.store.conversations.get(g)?.name).toBe('Day');
  });

  it('refuses a plain member, and a direct conversation, with NOT_ALLOWED', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    expect(
      await apply(
        h,
        renameCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1', name: 'Mine' }),
      ),
    ).toEqual({ outcome: 'refused', code: 'NOT_ALLOWED' });
    expect(h.notifier.framesTo('conn-bob-1').at(-1)).toEqual(refusal('NOT_ALLOWED', 'ren-1'));
    expect(h.store.conversations.get(g)?.name).toBe('Team');

    await apply(h, sendCommand());
    expect(await apply(h, renameCommand({ conversationId: DM }))).toEqual({
      outcome: 'refused',
      code: 'NOT_ALLOWED',
    });
    expect(h.store.conversations.get(DM)).not.toHaveProperty('name');
  });
});

describe('applyCommand: markRead', () => {
  async function threeMessages(h: DeliveryHarness) {
    h.connections.connect('bob', 'conn-bob-2');
    for (const id of ['a', 'b', 'c']) await apply(h, sendCommand({ clientMessageId: id }));
  }

  it('moves the read position forward and pushes a receipt to everyone but the origin', async () => {
    const h = setup();
    await threeMessages(h);
    const mark = h.notifier.posts.length;
    const report = await apply(h, markReadCommand({ actorId: 'bob', connectionId: 'conn-bob-1', seq: 2 }));
    expect(report).toEqual({ outcome: 'read', readSeq: 2, delivered: 3, gone: 0 });
    expect(await h.store.getMember(DM, 'bob')).toMatchObject({ readSeq: 2 });
    const receipt = { type: 'receipt', v: 1, conversationId: DM, userId: 'bob', readSeq: 2 };
    expect(
      postsSince(h, mark)
        .map((p) => p.connectionId)
        .sort(),
    ).toEqual(['conn-alice-1', 'conn-alice-2', 'conn-bob-2']);
    for (const p of postsSince(h, mark)) expect(p.frame).toEqual(receipt);
  });

  it('never moves it back, and pushes nothing when it does not move', async () => {
    const h = setup();
    await threeMessages(h);
    await apply(h, markReadCommand({ actorId: 'bob', connectionId: 'conn-bob-1', seq: 2 }));
    const mark = h.notifier.posts.length;
    for (const seq of [1, 2]) {
      expect(await apply(h, markReadCommand({ actorId: 'bob', connectionId: 'conn-bob-1', seq }))).toEqual({
        outcome: 'read',
        readSeq: undefined,
        delivered: 0,
        gone: 0,
      });
    }
    expect(postsSince(h, mark)).toEqual([]);
    expect(await h.store.getMember(DM, 'bob')).toMatchObject({ readSeq: 2 });
    // The sender has read their own messages already.
    expect(await apply(h, markReadCommand({ seq: 3 }))).toMatchObject({
      outcome: 'read',
      readSeq: undefined,
    });
    expect(postsSince(h, mark)).toEqual([]);
  });

  it('clamps a position beyond the last event to the last event', async () => {
    const h = setup();
    await threeMessages(h);
    const report = await apply(h, markReadCommand({ actorId: 'bob', connectionId: 'conn-bob-1', seq: 99 }));
    expect(report).toMatchObject({ outcome: 'read', readSeq: 3 });
    expect(await h.store.getMember(DM, 'bob')).toMatchObject({ readSeq: 3 });
    expect(h.notifier.framesTo('conn-alice-1').at(-1)).toMatchObject({ type: 'receipt', readSeq: 3 });
  });

  it('does nothing in a conversation without events', async () => {
    const h = setup();
    expect(await apply(h, markReadCommand({ seq: 5 }))).toMatchObject({
      outcome: 'read',
      readSeq: undefined,
    });
    expect(h.notifier.posts).toEqual([]);
  });

  it('pushes group receipts to every member', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol']);
    await apply(h, sendCommand({ conversationId: g }));
    const mark = h.notifier.posts.length;
    await apply(
      h,
      markReadCommand({ conversationId: g, actorId: 'carol', connectionId: 'conn-carol-1', seq: 2 }),
    );
    expect(
      postsSince(h, mark)
        .map((p) => p.connectionId)
        .sort(),
    ).toEqual(['conn-alice-1', 'conn-alice-2', 'conn-bob-1']);
  });

  it('refuses a non-member with a NOT_A_MEMBER frame to the origin', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    const mark = h.notifier.posts.length;
    const report = await apply(
      h,
      markReadCommand({ conversationId: g, actorId: 'carol', connectionId: 'conn-carol-1' }),
    );
    expect(report).toEqual({ outcome: 'refused', code: 'NOT_A_MEMBER' });
    expect(postsSince(h, mark)).toEqual([{ connectionId: 'conn-carol-1', frame: refusal('NOT_A_MEMBER') }]);
  });
  it('quotes the markRead’s requestId in a late refusal, so the client can match it', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    const mark = h.notifier.posts.length;
    await apply(
      h,
      markReadCommand({
        conversationId: g,
        actorId: 'carol',
        connectionId: 'conn-carol-1',
        requestId: 'rd-7',
      }),
    );
    expect(postsSince(h, mark)).toEqual([
      {
        connectionId: 'conn-carol-1',
        frame: expect.objectContaining({ code: 'NOT_A_MEMBER', requestId: 'rd-7' }),
      },
    ]);
  });
});

describe('applyCommand: the fan-out path is chosen per conversation', () => {
  const many = (n: number) => Array.from({ length: n }, (_, i) => `m${String(i).padStart(3, '0')}`);

  it('keeps fanning out a group that shrank below the threshold, so no event overtakes an earlier one', async () => {
    const fanout = new RecordingFanoutQueue();
    const h = setup({ fanout });
    const g = await createGroup(h, 'alice', ['bob', ...many(FANOUT_THRESHOLD + 20)]);
    expect((await h.store.getConversation(g))?.fanout).toBe(true);
    expect(fanout.seqs()).toEqual([1]);
    await apply(
      h,
      removeMembersCommand({
        conversationId: g,
        actorId: 'alice',
        connectionId: conn('alice'),
        clientMessageId: 'rm-1',
        userIds: many(FANOUT_THRESHOLD + 20),
      }),
    );
    const mark = h.notifier.posts.length;
    const report = await apply(
      h,
      sendCommand({ conversationId: g, actorId: 'bob', connectionId: conn('bob'), clientMessageId: 's-1' }),
    );
    // Two members now, and still the fan-out path: seq 3 queues behind 1 and 2 in the same buckets.
    expect(report).toMatchObject({ outcome: 'stored', seq: 3, delivered: 0 });
    expect(fanout.seqs()).toEqual([1, 2, 3]);
    expect(postsSince(h, mark)).toEqual([]);
    // The sender's ack rides in the job of its own bucket.
    const carrier = fanout.entries.find((e) => e.job.own?.type === 'ack' && e.job.own.seq === 3);
    expect(carrier?.job).toMatchObject({
      exceptConnectionId: conn('bob'),
      users: expect.arrayContaining(['bob']),
    });
    // Receipts take the same path.
    await apply(
      h,
      markReadCommand({ conversationId: g, actorId: 'alice', connectionId: conn('alice'), seq: 3 }),
    );
    expect(fanout.entries.at(-1)?.job.frame).toMatchObject({ type: 'receipt', userId: 'alice', readSeq: 3 });
    expect(postsSince(h, mark)).toEqual([]);
  });

  it('never fans out a conversation that never had more than the threshold', async () => {
    const fanout = new RecordingFanoutQueue();
    const h = setup({ fanout });
    const g = await createGroup(h, 'alice', many(FANOUT_THRESHOLD - 1));
    await apply(h, sendCommand({ conversationId: g, actorId: 'alice', connectionId: conn('alice') }));
    expect(fanout.entries).toEqual([]);
    expect((await h.store.getConversation(g))?.fanout).toBeUndefined();
    expect(h.notifier.framesTo(conn('alice'))).toMatchObject([
      { type: 'ack', seq: 1 },
      { type: 'ack', seq: 2 },
    ]);
  });
});

describe('applyCommand: push failures', () => {
  it('throws DeliveryIncompleteError after trying everyone, with the event stored for the retry', async () => {
    const h = setup();
    h.notifier.failing.set('conn-bob-1', new Error('LimitExceededException'));
    h.notifier.gone.add('conn-alice-2');
    const attempt = applyCommand(h.deps, sendCommand());
    await expect(attempt).rejects.toBeInstanceOf(DeliveryIncompleteError);
    await expect(attempt).rejects.toMatchObject({ failedConnections: ['conn-bob-1'] });
    expect(eventsOf(h, DM)).toHaveLength(1);
    expect(h.notifier.framesTo('conn-alice-1')).toMatchObject([{ type: 'ack', seq: 1 }]);
    expect(h.connections.rows.has('conn-alice-2')).toBe(false);

    // The queue's retry stores nothing new and pushes the same event under the same seq.
    h.notifier.failing.clear();
    expect(await apply(h, sendCommand())).toMatchObject({ outcome: 'duplicate', seq: 1 });
    expect(eventsTo(h, 'conn-bob-1')).toMatchObject([{ kind: 'message', seq: 1 }]);
    expect(eventsOf(h, DM)).toHaveLength(1);
  });

  it('treats 410 Gone as success and deletes exactly that connection', async () => {
    const h = setup();
    h.notifier.gone.add('conn-bob-1');
    const report = await apply(h, sendCommand());
    expect(report).toEqual({ outcome: 'stored', seq: 1, delivered: 2, gone: 1 });
    expect([...h.connections.rows.keys()].sort()).toEqual([
      'conn-alice-1',
      'conn-alice-2',
      'conn-carol-1',
      'conn-dave-1',
      'conn-erin-1',
    ]);
  });

  it('fails the record when the refusal itself cannot be pushed', async () => {
    const h = setup();
    await apply(h, sendCommand());
    h.notifier.failing.set('conn-bob-1', new Error('throttled'));
    await expect(
      applyCommand(h.deps, editCommand({ actorId: 'bob', connectionId: 'conn-bob-1' })),
    ).rejects.toBeInstanceOf(DeliveryIncompleteError);
    expect(eventsOf(h, DM)).toHaveLength(1);
  });

  it('pushes with bounded parallelism', async () => {
    const h = setup({ concurrency: 2 });
    const members = Array.from({ length: 20 }, (_, i) => `user${i}`);
    for (const m of members) h.connections.connect(m, `conn-${m}`);
    const g = await createGroup(h, 'alice', members);
    expect(h.notifier.maxInFlight).toBe(2);
    const report = await apply(h, sendCommand({ conversationId: g }));
    expect(report).toMatchObject({ delivered: 22 });
  });
});

// BUG (reported): apply-command.ts applySequenced re-applies a repeat's membership rows (applyMembershipRows on
// the ORIGINAL event) whatever happened since, so a late retry of an old membership command rewrites the
// current membership from a stale event: removed members come back, a former owner regains ownership, and
// memberCount no longer matches the rows. Nothing is stored and no event says so.
describe('applyCommand: a late repeat of a membership command', () => {
  it('does not bring back a member removed since (createGroup retried)', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob', 'carol']);
    await apply(h, removeMembersCommand({ conversationId: g, userIds: ['carol'], at: T0 + 1_000 }));
    expect(
      await apply(h, createGroupCommand({ conversationId: g, members: ['bob', 'carol'], at: T0 + 600_000 })),
    ).toMatchObject({ outcome: 'duplicate', seq: 1 });
    expect(await h.directory.isMember(g, 'carol')).toBe(false);
    expect(await h.directory.listMembers(g)).toHaveLength(h.store.conversations.get(g)?.memberCount ?? -1);
  });

  it('does not make a creator who left the owner again (createGroup retried)', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(h, leaveCommand({ conversationId: g, at: T0 + 1_000 }));
    expect(await h.store.getMember(g, 'bob')).toMatchObject({ role: 'owner' });
    await apply(h, createGroupCommand({ conversationId: g, members: ['bob'], at: T0 + 600_000 }));
    expect(await h.store.getMember(g, 'alice')).toBeUndefined();
    expect(await h.store.getMember(g, 'bob')).toMatchObject({ role: 'owner' });
  });

  it('does not bring back a member removed since (addMembers retried)', async () => {
    const h = setup();
    const g = await createGroup(h, 'alice', ['bob']);
    await apply(h, addMembersCommand({ conversationId: g, clientMessageId: 'add-dave', userIds: ['dave'] }));
    await apply(h, removeMembersCommand({ conversationId: g, userIds: ['dave'] }));
    await apply(h, addMembersCommand({ conversationId: g, clientMessageId: 'add-dave', userIds: ['dave'] }));
    expect(await h.directory.isMember(g, 'dave')).toBe(false);
    expect(h.store.conversations.get(g)?.memberCount).toBe(2);
  });
});

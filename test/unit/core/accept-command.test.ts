import { describe, expect, it } from 'vitest';
import { acceptCommand, type CommandFrame } from '../../../lambdas/core/accept-command';
import { groupConversationId } from '../../../lambdas/core/apply-command';
import { QueuedCommand } from '../../../lambdas/core/commands';
import { NotAMemberError } from '../../../lambdas/core/errors';
import { FixedClock, InMemoryDirectory, InMemoryQueue } from '../../helpers/fakes';

const NOW = 42_000;
const GROUP = 'grp:team';
const sender = { userId: 'alice', connectionId: 'conn-a' };
/** What the server sets on every command, whatever the frame says. */
const base = { v: 1, actorId: 'alice', connectionId: 'conn-a', at: NOW } as const;

function setup() {
  const directory = new InMemoryDirectory().add(GROUP, 'alice', 'bob');
  return { directory, queue: new InMemoryQueue(), clock: new FixedClock(NOW) };
}

const cases: [string, CommandFrame, QueuedCommand][] = [
  [
    'send',
    { action: 'send', v: 1, conversationId: 'dm:alice:bob', clientMessageId: 'm-1', text: 'hi' },
    { kind: 'send', ...base, conversationId: 'dm:alice:bob', clientMessageId: 'm-1', text: 'hi' },
  ],
  [
    'edit',
    { action: 'edit', v: 1, conversationId: GROUP, clientMessageId: 'e-1', targetSeq: 3, text: 'fixed' },
    { kind: 'edit', ...base, conversationId: GROUP, clientMessageId: 'e-1', targetSeq: 3, text: 'fixed' },
  ],
  [
    'recall',
    { action: 'recall', v: 1, conversationId: GROUP, clientMessageId: 'r-1', targetSeq: 4 },
    { kind: 'recall', ...base, conversationId: GROUP, clientMessageId: 'r-1', targetSeq: 4 },
  ],
  [
    'addMembers without a role (a member)',
    { action: 'addMembers', v: 1, conversationId: GROUP, clientMessageId: 'a-1', userIds: ['carol'] },
    {
      kind: 'addMembers',
      ...base,
      conversationId: GROUP,
      clientMessageId: 'a-1',
      userIds: ['carol'],
      role: 'member',
    },
  ],
  [
    'addMembers of admins',
    {
      action: 'addMembers',
      v: 1,
      conversationId: GROUP,
      clientMessageId: 'a-2',
      userIds: ['carol', 'dave'],
      role: 'admin',
    },
    {
      kind: 'addMembers',
      ...base,
      conversationId: GROUP,
      clientMessageId: 'a-2',
      userIds: ['carol', 'dave'],
      role: 'admin',
    },
  ],
  [
    'removeMembers',
    { action: 'removeMembers', v: 1, conversationId: GROUP, clientMessageId: 'rm-1', userIds: ['bob'] },
    { kind: 'removeMembers', ...base, conversationId: GROUP, clientMessageId: 'rm-1', userIds: ['bob'] },
  ],
  [
    'leave',
    { action: 'leave', v: 1, conversationId: GROUP, clientMessageId: 'l-1' },
    { kind: 'leave', ...base, conversationId: GROUP, clientMessageId: 'l-1' },
  ],
  [
    'rename',
    { action: 'rename', v: 1, conversationId: GROUP, clientMessageId: 'n-1', name: 'Night shift' },
    { kind: 'rename', ...base, conversationId: GROUP, clientMessageId: 'n-1', name: 'Night shift' },
  ],
  [
    'markRead',
    { action: 'markRead', v: 1, conversationId: GROUP, seq: 7 },
    { kind: 'markRead', ...base, conversationId: GROUP, seq: 7 },
  ],
];

describe('acceptCommand', () => {
  it.each(cases)('enqueues %s as its queued command', async (_name, frame, expected) => {
    const deps = setup();
    const command = await acceptCommand(deps, sender, frame);
    expect(command).toEqual(expected);
    expect(deps.queue.sent).toEqual([expected]);
    // It is what the delivery side accepts off the queue.
    expect(QueuedCommand.parse(JSON.parse(JSON.stringify(command)))).toEqual(expected);
  });

  it('takes the actor, connection and time from the server, never from the frame', async () => {
    const deps = setup();
    const command = await acceptCommand(
      deps,
      { userId: 'bob', connectionId: 'conn-b' },
      {
        action: 'send',
        v: 1,
        conversationId: 'dm:alice:bob',
        clientMessageId: 'm-1',
        text: 'hi',
      },
    );
    expect(command).toMatchObject({ actorId: 'bob', connectionId: 'conn-b', at: NOW });
  });

  it('derives a new group’s id from its creator and clientMessageId, without a membership lookup', async () => {
    const deps = setup();
    const command = await acceptCommand(deps, sender, {
      action: 'createGroup',
      v: 1,
      clientMessageId: 'g-1',
      name: 'Team',
      members: ['bob', 'carol'],
    });
    const expected = {
      kind: 'createGroup',
      ...base,
      conversationId: groupConversationId('alice', 'g-1'),
      clientMessageId: 'g-1',
      name: 'Team',
      members: ['bob', 'carol'],
    };
    expect(command).toEqual(expected);
    expect(deps.queue.sent).toEqual([expected]);
    expect(deps.directory.lookups).toBe(0);
    // Another creator with the same clientMessageId makes another group.
    const other = await acceptCommand(
      deps,
      { userId: 'bob', connectionId: 'conn-b' },
      { action: 'createGroup', v: 1, clientMessageId: 'g-1', name: 'Team', members: [] },
    );
    expect(other.conversationId).toBe(groupConversationId('bob', 'g-1'));
    expect(other.conversationId).not.toBe(command.conversationId);
  });

  it('checks a direct conversation’s membership from its id, without a lookup', async () => {
    const deps = setup();
    await acceptCommand(deps, sender, {
      action: 'send',
      v: 1,
      conversationId: 'dm:alice:bob',
      clientMessageId: 'm-1',
      text: 'hi',
    });
    expect(deps.directory.lookups).toBe(0);
  });

  it.each([
    ['a group the sender is not in', 'grp:other'],
    ['a direct conversation of two others', 'dm:bob:carol'],
    ['a malformed direct id naming the sender', 'dm:bob:alice'],
  ])('refuses %s with NOT_A_MEMBER before enqueueing', async (_name, conversationId) => {
    const deps = setup();
    const attempt = acceptCommand(deps, sender, {
      action: 'send',
      v: 1,
      conversationId,
      clientMessageId: 'm-9',
      text: 'hi',
    });
    await expect(attempt).rejects.toBeInstanceOf(NotAMemberError);
    await expect(attempt).rejects.toMatchObject({ code: 'NOT_A_MEMBER', clientMessageId: 'm-9' });
    expect(deps.queue.sent).toEqual([]);
  });

  it('refuses every group command of a non-member, markRead too (without a clientMessageId)', async () => {
    const deps = setup();
    const carol = { userId: 'carol', connectionId: 'conn-c' };
    for (const [, frame] of cases) {
      if (!('conversationId' in frame) || frame.conversationId !== GROUP) continue;
      const attempt = acceptCommand(deps, carol, frame);
      await expect(attempt).rejects.toBeInstanceOf(NotAMemberError);
      const clientMessageId = 'clientMessageId' in frame ? frame.clientMessageId : undefined;
      await expect(attempt).rejects.toMatchObject({ clientMessageId });
    }
    expect(deps.queue.sent).toEqual([]);
  });

  it('lets a queue failure propagate (the route answers INTERNAL)', async () => {
    const deps = setup();
    const failure = new Error('SQS unavailable');
    deps.queue.failWith = failure;
    await expect(
      acceptCommand(deps, sender, {
        action: 'send',
        v: 1,
        conversationId: 'dm:alice:bob',
        clientMessageId: 'm-1',
        text: 'hi',
      }),
    ).rejects.toBe(failure);
  });
});

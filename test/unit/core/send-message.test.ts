import { describe, expect, it } from 'vitest';
import { NotAMemberError } from '../../../lambdas/core/errors';
import { sendMessage } from '../../../lambdas/core/send-message';
import type { SendFrame } from '../../../protocol';
import { FixedClock, InMemoryDirectory, InMemoryQueue } from '../../helpers/fakes';

const frame = (conversationId: string): SendFrame => ({
  action: 'send',
  v: 1,
  conversationId,
  clientMessageId: 'm-1',
  text: 'hello',
});

function setup() {
  const deps = {
    directory: new InMemoryDirectory(),
    queue: new InMemoryQueue(),
    clock: new FixedClock(42_000),
  };
  return deps;
}

describe('sendMessage', () => {
  it('enqueues a direct message with server-chosen sender, connection and time', async () => {
    const deps = setup();
    await sendMessage(deps, { userId: 'alice', connectionId: 'c-a' }, frame('dm:alice:bob'));
    expect(deps.queue.sent).toEqual([
      {
        kind: 'chat.message',
        v: 1,
        conversationId: 'dm:alice:bob',
        senderId: 'alice',
        senderConnectionId: 'c-a',
        clientMessageId: 'm-1',
        text: 'hello',
        sentAt: 42_000,
      },
    ]);
    expect(deps.directory.lookups).toBe(0); // direct membership is in the id: no read
  });

  it('refuses a direct conversation the sender is not part of, and enqueues nothing', async () => {
    const deps = setup();
    const attempt = sendMessage(deps, { userId: 'mallory', connectionId: 'c-m' }, frame('dm:alice:bob'));
    await expect(attempt).rejects.toBeInstanceOf(NotAMemberError);
    await expect(attempt).rejects.toMatchObject({ code: 'NOT_A_MEMBER', clientMessageId: 'm-1' });
    expect(deps.queue.sent).toEqual([]);
  });

  it('refuses a malformed direct id instead of looking it up', async () => {
    const deps = setup();
    deps.directory.add('dm:bob:alice', 'alice');
    await expect(
      sendMessage(deps, { userId: 'alice', connectionId: 'c' }, frame('dm:bob:alice')),
    ).rejects.toBeInstanceOf(NotAMemberError);
    expect(deps.directory.lookups).toBe(0);
  });

  it('checks other conversations against the membership directory', async () => {
    const deps = setup();
    deps.directory.add('grp:team', 'alice', 'bob');
    await sendMessage(deps, { userId: 'bob', connectionId: 'c-b' }, frame('grp:team'));
    await expect(
      sendMessage(deps, { userId: 'carol', connectionId: 'c-c' }, frame('grp:team')),
    ).rejects.toBeInstanceOf(NotAMemberError);
    expect(deps.queue.sent.map((m) => m.senderId)).toEqual(['bob']);
  });

  it('lets a queue failure propagate: nothing is reported as accepted', async () => {
    const deps = setup();
    deps.queue.failWith = new Error('queue down');
    await expect(
      sendMessage(deps, { userId: 'alice', connectionId: 'c' }, frame('dm:alice:bob')),
    ).rejects.toThrow('queue down');
  });
});

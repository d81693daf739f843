import { describe, expect, it } from 'vitest';
import { deliverMessage } from '../../../lambdas/core/deliver-message';
import { DeliveryIncompleteError } from '../../../lambdas/core/errors';
import {
  InMemoryConnectionStore,
  InMemoryDirectory,
  InMemoryMessageStore,
  queuedMessage,
  RecordingNotifier,
} from '../../helpers/fakes';

function setup(concurrency = 8) {
  const connections = new InMemoryConnectionStore();
  connections.connect('alice', 'conn-alice-1', 'conn-alice-2');
  connections.connect('bob', 'conn-bob-1');
  connections.connect('carol', 'conn-carol-1');
  return {
    directory: new InMemoryDirectory(),
    messages: new InMemoryMessageStore(),
    connections,
    notifier: new RecordingNotifier(),
    concurrency,
  };
}

describe('deliverMessage', () => {
  it('acks the sending connection and pushes the message to every other connection of the members', async () => {
    const deps = setup();
    const report = await deliverMessage(deps, queuedMessage());
    expect(report).toEqual({ seq: 1, duplicate: false, delivered: 3, gone: 0 });
    expect(deps.notifier.framesTo('conn-alice-1')).toEqual([
      {
        type: 'ack',
        v: 1,
        conversationId: 'dm:alice:bob',
        clientMessageId: 'm-1',
        seq: 1,
        sentAt: 1_760_000_000_000,
      },
    ]);
    for (const other of ['conn-alice-2', 'conn-bob-1']) {
      expect(deps.notifier.framesTo(other)).toEqual([
        {
          type: 'message',
          v: 1,
          message: {
            conversationId: 'dm:alice:bob',
            seq: 1,
            senderId: 'alice',
            clientMessageId: 'm-1',
            text: 'hello',
            sentAt: 1_760_000_000_000,
          },
        },
      ]);
    }
    expect(deps.notifier.framesTo('conn-carol-1')).toEqual([]);
  });

  it('records the members of a new direct conversation with its first message', async () => {
    const deps = setup();
    await deliverMessage(deps, queuedMessage());
    expect(deps.messages.membersRecorded.get('dm:alice:bob')).toEqual(['alice', 'bob']);
  });

  it('numbers messages of a conversation 1, 2, 3 without gaps', async () => {
    const deps = setup();
    const seqs: number[] = [];
    for (const id of ['a', 'b', 'c'])
      seqs.push((await deliverMessage(deps, queuedMessage({ clientMessageId: id }))).seq);
    expect(seqs).toEqual([1, 2, 3]);
  });

  it('stores a redelivered message once and re-sends its original sequence number', async () => {
    const deps = setup();
    await deliverMessage(deps, queuedMessage());
    const again = await deliverMessage(
      deps,
      queuedMessage({ senderConnectionId: 'conn-alice-2', sentAt: 99 }),
    );
    expect(again).toMatchObject({ seq: 1, duplicate: true });
    expect(deps.messages.byConversation.get('dm:alice:bob')).toHaveLength(1);
    expect(deps.notifier.framesTo('conn-alice-2').at(-1)).toMatchObject({
      type: 'ack',
      seq: 1,
      sentAt: 1_760_000_000_000,
    });
  });

  it('treats 410 Gone as success and deletes exactly that connection', async () => {
    const deps = setup();
    deps.notifier.gone.add('conn-bob-1');
    const report = await deliverMessage(deps, queuedMessage());
    expect(report).toMatchObject({ delivered: 2, gone: 1 });
    expect([...deps.connections.rows.keys()].sort()).toEqual([
      'conn-alice-1',
      'conn-alice-2',
      'conn-carol-1',
    ]);
  });

  it('fails the record when a push fails for another reason, after trying every connection', async () => {
    const deps = setup();
    deps.notifier.failing.set('conn-bob-1', new Error('throttled'));
    deps.notifier.gone.add('conn-alice-2');
    const attempt = deliverMessage(deps, queuedMessage());
    await expect(attempt).rejects.toBeInstanceOf(DeliveryIncompleteError);
    await expect(attempt).rejects.toMatchObject({ failedConnections: ['conn-bob-1'] });
    expect(deps.notifier.framesTo('conn-alice-1')).toHaveLength(1);
    expect(deps.connections.rows.has('conn-alice-2')).toBe(false);
    // The message is stored even though a push failed: the retry re-pushes it under the same seq.
    expect(deps.messages.byConversation.get('dm:alice:bob')).toHaveLength(1);
  });

  it('delivers to group members from the directory, with bounded parallel pushes', async () => {
    const deps = setup(2);
    const members = Array.from({ length: 20 }, (_, i) => `user${i}`);
    deps.directory.add('grp:big', 'alice', ...members);
    for (const m of members) deps.connections.connect(m, `conn-${m}`);
    const report = await deliverMessage(deps, queuedMessage({ conversationId: 'grp:big' }));
    expect(report.delivered).toBe(22);
    expect(deps.notifier.maxInFlight).toBe(2);
  });

  it('keeps the message for members with no live connection', async () => {
    const deps = setup();
    const report = await deliverMessage(deps, queuedMessage({ conversationId: 'dm:alice:dave' }));
    expect(report).toMatchObject({ seq: 1, delivered: 2 });
    expect(deps.messages.byConversation.get('dm:alice:dave')?.[0]?.text).toBe('hello');
  });
});

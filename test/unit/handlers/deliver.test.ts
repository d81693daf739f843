import { describe, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../../lambdas/adapters/sqs-dead-letter';
import { groupConversationId } from '../../../lambdas/core/apply-command';
import type { QueuedCommand } from '../../../lambdas/core/commands';
import { createDeliverHandler, type DeliverHandlerDeps } from '../../../lambdas/handlers/deliver';
import type { ServerFrame } from '../../../protocol';
import { lambdaContext, sqsEvent, sqsFifoRecord } from '../../helpers/events';
import {
  createGroupCommand,
  deliveryHarness,
  editCommand,
  markReadCommand,
  RecordingNotifier,
  sendCommand,
} from '../../helpers/fakes';

/** Fails every push (event, ack or error) that answers the clientMessageId 'bad'. */
class SelectiveNotifier extends RecordingNotifier {
  failBad = true;
  override async post(connectionId: string, frame: ServerFrame) {
    const id =
      frame.type === 'event'
        ? frame.event.clientMessageId
        : frame.type === 'ack' || frame.type === 'error'
          ? frame.clientMessageId
          : undefined;
    if (this.failBad && id === 'bad') throw new Error('LimitExceededException');
    return super.post(connectionId, frame);
  }
}

function setup() {
  const notifier = new SelectiveNotifier();
  const h = deliveryHarness({ notifier, concurrency: 4 });
  h.connections.connect('alice', 'conn-alice-1');
  h.connections.connect('bob', 'conn-bob-1');
  h.connections.connect('carol', 'conn-carol-1');
  const deadLetters: DeadLetterRecord[] = [];
  const deps: DeliverHandlerDeps = {
    ...h.deps,
    deadLetter: { forward: async (r: DeadLetterRecord) => void deadLetters.push(r) },
  };
  return { h, notifier, deps, deadLetters, handler: createDeliverHandler(() => deps) };
}

const recordOf = (command: QueuedCommand) => sqsFifoRecord(JSON.stringify(command), command.conversationId);
const send = (clientMessageId: string, conversationId = 'dm:alice:bob') =>
  recordOf(sendCommand({ clientMessageId, conversationId }));

describe('deliver handler', () => {
  it('reports the failed record and the rest of its group, and delivers the other groups', async () => {
    const { h, notifier, handler } = setup();
    const a1 = send('a1');
    const a2 = send('bad');
    const a3 = send('a3');
    const c1 = send('c1', 'dm:alice:carol');
    const response = await handler(sqsEvent(a1, a2, c1, a3), lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([a2.messageId, a3.messageId]);
    // 'bad' is stored (only its pushes failed); a3 was not applied ahead of it, so FIFO order holds.
    expect(h.store.events.get('dm:alice:bob')?.map((e) => [e.seq, e.clientMessageId])).toEqual([
      [1, 'a1'],
      [2, 'bad'],
    ]);
    expect(h.store.events.get('dm:alice:carol')?.map((e) => e.clientMessageId)).toEqual(['c1']);
    expect(h.notifier.framesTo('conn-carol-1')).toMatchObject([
      { type: 'event', event: { kind: 'message', clientMessageId: 'c1', seq: 1 } },
    ]);

    // The queue's retry of the failed records (pushes healthy again) keeps the order and the numbers.
    notifier.failBad = false;
    const mark = notifier.posts.length;
    const retry = await handler(sqsEvent(a2, a3), lambdaContext());
    expect(retry.batchItemFailures).toEqual([]);
    expect(h.store.events.get('dm:alice:bob')?.map((e) => [e.seq, e.clientMessageId])).toEqual([
      [1, 'a1'],
      [2, 'bad'],
      [3, 'a3'],
    ]);
    expect(
      notifier.posts
        .slice(mark)
        .filter((p) => p.connectionId === 'conn-alice-1')
        .map((p) => p.frame),
    ).toMatchObject([
      { type: 'ack', clientMessageId: 'bad', seq: 2 },
      { type: 'ack', clientMessageId: 'a3', seq: 3 },
    ]);
  });

  it('forwards a poison body to the DLQ at once and keeps its group moving', async () => {
    const { h, deadLetters, handler } = setup();
    const poison = sqsFifoRecord(
      '{"kind":"chat.message","v":1,"conversationId":"dm:alice:bob"}',
      'dm:alice:bob',
    );
    const junk = sqsFifoRecord('not json', 'dm:alice:bob');
    const wrongVersion = sqsFifoRecord(
      JSON.stringify({ ...sendCommand({ clientMessageId: 'v2' }), v: 2 }),
      'dm:alice:bob',
    );
    const next = send('after');
    const response = await handler(sqsEvent(poison, junk, wrongVersion, next), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.map((d) => d.messageId)).toEqual([
      poison.messageId,
      junk.messageId,
      wrongVersion.messageId,
    ]);
    expect(deadLetters[0]).toMatchObject({ messageGroupId: 'dm:alice:bob', body: poison.body });
    expect(deadLetters[0]?.reason.length).toBeGreaterThan(0);
    expect(deadLetters[1]?.reason).toBe('body is not JSON');
    expect(h.store.events.get('dm:alice:bob')?.map((e) => [e.seq, e.clientMessageId])).toEqual([
      [1, 'after'],
    ]);
  });

  it('fails a poison record normally (with the rest of its group) when the DLQ cannot take it', async () => {
    const { h, deps, handler } = setup();
    deps.deadLetter.forward = async () => Promise.reject(new Error('DLQ down'));
    const poison = sqsFifoRecord('{}', 'dm:alice:bob');
    const later = send('later');
    const other = send('b', 'dm:alice:carol');
    const response = await handler(sqsEvent(poison, later, other), lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      poison.messageId,
      later.messageId,
    ]);
    expect(h.store.events.get('dm:alice:bob')).toBeUndefined();
    expect(h.store.events.get('dm:alice:carol')).toHaveLength(1);
  });

  it('does not fail the batch for a refused command: its connection gets the error, the group moves on', async () => {
    const { h, handler } = setup();
    const first = send('m-1');
    const editByBob = recordOf(editCommand({ actorId: 'bob', connectionId: 'conn-bob-1', targetSeq: 1 }));
    const after = send('after');
    const response = await handler(sqsEvent(first, editByBob, after), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    expect(h.notifier.framesTo('conn-bob-1')).toEqual([
      expect.objectContaining({ type: 'event' }),
      { type: 'error', v: 1, code: 'NOT_ALLOWED', message: expect.any(String), clientMessageId: 'e-1' },
      expect.objectContaining({ type: 'event' }),
    ]);
    expect(h.store.events.get('dm:alice:bob')?.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'message'],
      [2, 'message'],
    ]);
    expect(await h.store.getEvent('dm:alice:bob', 1)).toMatchObject({ text: 'hello' });
  });

  it('applies every kind of command off the queue: a group created, a message in it, a receipt', async () => {
    const { h, handler } = setup();
    const g = groupConversationId('alice', 'g-1');
    const response = await handler(
      sqsEvent(
        recordOf(createGroupCommand({ conversationId: g, members: ['bob', 'carol'] })),
        recordOf(sendCommand({ conversationId: g, clientMessageId: 'hi' })),
        recordOf(markReadCommand({ conversationId: g, actorId: 'bob', connectionId: 'conn-bob-1', seq: 2 })),
      ),
      lambdaContext(),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(h.store.events.get(g)?.map((e) => e.kind)).toEqual(['group.created', 'message']);
    expect(await h.store.getMember(g, 'bob')).toMatchObject({ readSeq: 2 });
    expect(h.notifier.framesTo('conn-carol-1').map((f) => f.type)).toEqual(['event', 'event', 'receipt']);
  });
});

import { describe, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../../lambdas/adapters/sqs-dead-letter';
import { createDeliverHandler } from '../../../lambdas/handlers/deliver';
import type { ServerFrame } from '../../../protocol';
import { lambdaContext, sqsEvent, sqsFifoRecord } from '../../helpers/events';
import {
  InMemoryConnectionStore,
  InMemoryDirectory,
  InMemoryMessageStore,
  queuedMessage,
  RecordingNotifier,
} from '../../helpers/fakes';

/** Fails every push of the message whose clientMessageId is 'bad'. */
class SelectiveNotifier extends RecordingNotifier {
  override async post(connectionId: string, frame: ServerFrame) {
    const id =
      frame.type === 'message'
        ? frame.message.clientMessageId
        : frame.type === 'ack'
          ? frame.clientMessageId
          : '';
    if (id === 'bad') throw new Error('LimitExceededException');
    return super.post(connectionId, frame);
  }
}

function setup() {
  const connections = new InMemoryConnectionStore();
  connections.connect('alice', 'conn-alice-1');
  connections.connect('bob', 'conn-bob-1');
  connections.connect('carol', 'conn-carol-1');
  const deadLetters: DeadLetterRecord[] = [];
  const deps = {
    directory: new InMemoryDirectory(),
    messages: new InMemoryMessageStore(),
    connections,
    notifier: new SelectiveNotifier(),
    concurrency: 4,
    deadLetter: { forward: async (r: DeadLetterRecord) => void deadLetters.push(r) },
  };
  return { deps, deadLetters, handler: createDeliverHandler(() => deps) };
}

const record = (clientMessageId: string, conversationId: string) =>
  sqsFifoRecord(JSON.stringify(queuedMessage({ clientMessageId, conversationId })), conversationId);

describe('deliver handler', () => {
  it('reports the failed record and the rest of its group, and delivers the other groups', async () => {
    const { deps, handler } = setup();
    const a1 = record('a1', 'dm:alice:bob');
    const a2 = record('bad', 'dm:alice:bob');
    const a3 = record('a3', 'dm:alice:bob');
    const c1 = record('c1', 'dm:alice:carol');
    const response = await handler(sqsEvent(a1, a2, c1, a3), lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([a2.messageId, a3.messageId]);
    // a1 and c1 went through; a3 was not processed ahead of a2, so FIFO order holds on the retry.
    expect(deps.messages.byConversation.get('dm:alice:bob')?.map((m) => m.clientMessageId)).toEqual([
      'a1',
      'bad',
    ]);
    expect(deps.messages.byConversation.get('dm:alice:carol')?.map((m) => m.clientMessageId)).toEqual(['c1']);
    expect(deps.notifier.framesTo('conn-carol-1')).toHaveLength(1);
  });

  it('forwards a poison body to the DLQ at once and keeps its group moving', async () => {
    const { deps, deadLetters, handler } = setup();
    const poison = sqsFifoRecord(
      '{"kind":"chat.message","v":1,"conversationId":"dm:alice:bob"}',
      'dm:alice:bob',
    );
    const junk = sqsFifoRecord('not json', 'dm:alice:bob');
    const next = record('after', 'dm:alice:bob');
    const response = await handler(sqsEvent(poison, junk, next), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters.map((d) => d.messageId)).toEqual([poison.messageId, junk.messageId]);
    expect(deadLetters[0]?.messageGroupId).toBe('dm:alice:bob');
    expect(deadLetters[1]?.reason).toBe('body is not JSON');
    expect(deps.messages.byConversation.get('dm:alice:bob')?.map((m) => m.clientMessageId)).toEqual([
      'after',
    ]);
  });

  it('fails a poison record normally when the DLQ cannot take it, so nothing is lost', async () => {
    const { deps, handler } = setup();
    deps.deadLetter.forward = async () => Promise.reject(new Error('DLQ down'));
    const poison = sqsFifoRecord('{}', 'dm:alice:bob');
    const response = await handler(sqsEvent(poison, record('b', 'dm:alice:carol')), lambdaContext());
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: poison.messageId }]);
  });
});

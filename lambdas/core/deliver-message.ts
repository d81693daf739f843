import { type AckFrame, type MessageFrame, PROTOCOL_VERSION, type ServerFrame } from '../../protocol';
import { settleWithLimit } from './concurrency';
import { membersOf } from './conversations';
import { DeliveryIncompleteError } from './errors';
import type { ConnectionStore, MembershipDirectory, MessageStore, Notifier } from './ports';
import type { QueuedMessage } from './queued-message';

export interface DeliverMessageDeps {
  readonly directory: MembershipDirectory;
  readonly messages: MessageStore;
  readonly connections: ConnectionStore;
  readonly notifier: Notifier;
  /** Pushes in flight at once for one message. */
  readonly concurrency: number;
}

export interface DeliveryReport {
  readonly seq: number;
  readonly duplicate: boolean;
  readonly delivered: number;
  readonly gone: number;
}

/**
 * Persists one queued message under the conversation's next sequence number, then pushes it to every live
 * connection of every member: the sending connection gets an ack, every other connection (the sender's
 * other devices included) gets the message. 410 Gone removes that connection and counts as success; any
 * other failure throws DeliveryIncompleteError so the queue retries the record. Storage is exactly-once (a
 * retried record finds its original sequence number); pushes are at-least-once and clients drop repeats by
 * (conversationId, seq).
 */
export async function deliverMessage(
  deps: DeliverMessageDeps,
  queued: QueuedMessage,
): Promise<DeliveryReport> {
  const members = await membersOf(deps.directory, queued.conversationId);
  const { message, duplicate } = await deps.messages.append(queued, members);

  const connectionLists = await Promise.all(members.map((m) => deps.connections.listByUser(m)));
  const targets = [...new Set(connectionLists.flat())];

  const messageFrame: MessageFrame = { type: 'message', v: PROTOCOL_VERSION, message };
  const ackFrame: AckFrame = {
    type: 'ack',
    v: PROTOCOL_VERSION,
    conversationId: message.conversationId,
    clientMessageId: message.clientMessageId,
    seq: message.seq,
    sentAt: message.sentAt,
  };
  const frameFor = (connectionId: string): ServerFrame =>
    connectionId === queued.senderConnectionId ? ackFrame : messageFrame;

  const results = await settleWithLimit(targets, deps.concurrency, async (connectionId) => {
    const outcome = await deps.notifier.post(connectionId, frameFor(connectionId));
    if (outcome === 'gone') await deps.connections.remove(connectionId);
    return outcome;
  });

  const failed: string[] = [];
  let firstFailure: unknown;
  let delivered = 0;
  let gone = 0;
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') {
      if (result.value === 'gone') gone++;
      else delivered++;
    } else {
      failed.push(targets[index] ?? '?');
      firstFailure ??= result.reason;
    }
  });
  if (failed.length > 0) throw new DeliveryIncompleteError(failed, firstFailure);
  return { seq: message.seq, duplicate, delivered, gone };
}

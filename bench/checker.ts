/**
 * Correctness under load: from what was sent and what each recipient connection received, finds every message
 * lost, duplicated, delivered where it should not be, or reordered, and every gap in a conversation's
 * sequence numbers. Pure: the load generator records, this judges.
 */

/** One message the load generator sent. `recipients` are the connections that must each get it once. */
export interface SentMessage {
  readonly clientMessageId: string;
  readonly conversationId: string;
  readonly sender: string;
  readonly recipients: readonly string[];
}

/** One event frame as a connection received it, in arrival order. */
export interface ReceivedEvent {
  readonly conversationId: string;
  readonly seq: number;
  /** For message events; other events (group.created...) take part in the seq checks only. */
  readonly clientMessageId?: string;
  /** The sender's acknowledgement of its own message (carries the seq the message got). */
  readonly ack?: boolean;
}

export interface CorrectnessReport {
  readonly ok: boolean;
  readonly expectedDeliveries: number;
  readonly deliveries: number;
  /** Expected deliveries that never arrived. */
  readonly lost: number;
  /** Deliveries beyond the first of a message to a connection. */
  readonly duplicated: number;
  /** Deliveries of a message to a connection that is not its recipient, or of an unknown message. */
  readonly unexpected: number;
  /** Arrivals whose seq is not above the previous one of the conversation on that connection, or that break one sender's order. */
  readonly reordered: number;
  /** Places where a conversation's seq jumped by more than one on a connection. */
  readonly gaps: number;
  /** Accepted messages whose sender got no ack, or more than one. */
  readonly badAcks: number;
  /** The first few problems, for the log. */
  readonly examples: readonly string[];
}

const MAX_EXAMPLES = 10;

export function checkDeliveries(
  sent: readonly SentMessage[],
  received: ReadonlyMap<string, readonly ReceivedEvent[]>,
): CorrectnessReport {
  const examples: string[] = [];
  const note = (text: string) => {
    if (examples.length < MAX_EXAMPLES) examples.push(text);
  };
  const byId = new Map<string, SentMessage>();
  /** Per sender and conversation, the order the messages were sent in. */
  const sendOrder = new Map<string, number>();
  const senderSeqCounter = new Map<string, number>();
  let expectedDeliveries = 0;
  for (const m of sent) {
    if (byId.has(m.clientMessageId)) throw new Error(`clientMessageId ${m.clientMessageId} was sent twice`);
    byId.set(m.clientMessageId, m);
    const stream = `${m.sender}\u0000${m.conversationId}`;
    const n = (senderSeqCounter.get(stream) ?? 0) + 1;
    senderSeqCounter.set(stream, n);
    sendOrder.set(m.clientMessageId, n);
    expectedDeliveries += m.recipients.length;
  }

  let deliveries = 0;
  let duplicated = 0;
  let unexpected = 0;
  let reordered = 0;
  let gaps = 0;
  const delivered = new Map<string, Set<string>>();
  const acks = new Map<string, number>();
  for (const [connection, events] of received) {
    const lastSeq = new Map<string, number>();
    const lastSendIndex = new Map<string, number>();
    const got = new Set<string>();
    delivered.set(connection, got);
    for (const event of events) {
      const previous = lastSeq.get(event.conversationId);
      if (previous !== undefined) {
        if (event.seq <= previous) {
          reordered += 1;
          note(`${connection}: ${event.conversationId} seq ${event.seq} arrived after seq ${previous}`);
        } else if (event.seq !== previous + 1) {
          gaps += 1;
          note(`${connection}: ${event.conversationId} seq jumped from ${previous} to ${event.seq}`);
        }
      }
      lastSeq.set(event.conversationId, Math.max(previous ?? event.seq, event.seq));
      const id = event.clientMessageId;
      if (id === undefined) continue;
      const message = byId.get(id);
      if (!message) continue; // a message of an earlier phase, or another kind of traffic: not this run's.
      if (event.ack) {
        if (message.sender !== connection) {
          unexpected += 1;
          note(`${connection} got the ack of ${id}, sent by ${message.sender}`);
        } else acks.set(id, (acks.get(id) ?? 0) + 1);
        continue;
      }
      deliveries += 1;
      if (!message.recipients.includes(connection)) {
        unexpected += 1;
        note(`${connection} got ${id}, which was not addressed to it`);
        continue;
      }
      if (got.has(id)) {
        duplicated += 1;
        note(`${connection} got ${id} more than once`);
        continue;
      }
      got.add(id);
      const stream = `${message.sender}\u0000${message.conversationId}`;
      const index = sendOrder.get(id) ?? 0;
      const last = lastSendIndex.get(stream) ?? 0;
      if (index < last) {
        reordered += 1;
        note(`${connection} got ${id} (sent #${index} by ${message.sender}) after #${last}`);
      }
      lastSendIndex.set(stream, Math.max(last, index));
    }
  }

  let lost = 0;
  let badAcks = 0;
  for (const m of sent) {
    const n = acks.get(m.clientMessageId) ?? 0;
    if (n !== 1) {
      badAcks += 1;
      note(`${m.sender} got ${n} acks of ${m.clientMessageId}`);
    }
    for (const r of m.recipients) {
      if (!delivered.get(r)?.has(m.clientMessageId)) {
        lost += 1;
        note(`${r} never got ${m.clientMessageId}`);
      }
    }
  }
  return {
    ok: lost + duplicated + unexpected + reordered + gaps + badAcks === 0,
    expectedDeliveries,
    deliveries,
    lost,
    duplicated,
    unexpected,
    reordered,
    gaps,
    badAcks,
    examples,
  };
}

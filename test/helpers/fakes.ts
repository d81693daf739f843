/** In-memory implementations of the core's ports: for unit tests of the domain core only. */

import type {
  AppendResult,
  Clock,
  ConnectionRecord,
  ConnectionStore,
  MembershipDirectory,
  MessageQueue,
  MessageStore,
  Notifier,
  PostOutcome,
} from '../../lambdas/core/ports';
import { idempotencyKey, type QueuedMessage } from '../../lambdas/core/queued-message';
import type { ChatMessage, ConversationId, ServerFrame, UserId } from '../../protocol';

export class FixedClock implements Clock {
  constructor(public time = 1_760_000_000_000) {}
  now(): number {
    return this.time;
  }
}

export class InMemoryConnectionStore implements ConnectionStore {
  readonly rows = new Map<string, ConnectionRecord>();
  async put(connection: ConnectionRecord): Promise<void> {
    this.rows.set(connection.connectionId, connection);
  }
  async remove(connectionId: string): Promise<void> {
    this.rows.delete(connectionId);
  }
  async listByUser(userId: UserId): Promise<string[]> {
    return [...this.rows.values()].filter((r) => r.userId === userId).map((r) => r.connectionId);
  }
  connect(userId: UserId, ...connectionIds: string[]): void {
    for (const connectionId of connectionIds) {
      this.rows.set(connectionId, { connectionId, userId, connectedAt: 1, expiresAt: 2 });
    }
  }
}

export class InMemoryDirectory implements MembershipDirectory {
  readonly members = new Map<ConversationId, Set<UserId>>();
  lookups = 0;
  add(conversationId: ConversationId, ...userIds: UserId[]): this {
    const set = this.members.get(conversationId) ?? new Set();
    for (const u of userIds) set.add(u);
    this.members.set(conversationId, set);
    return this;
  }
  async isMember(conversationId: ConversationId, userId: UserId): Promise<boolean> {
    this.lookups++;
    return this.members.get(conversationId)?.has(userId) ?? false;
  }
  async listMembers(conversationId: ConversationId): Promise<UserId[]> {
    this.lookups++;
    return [...(this.members.get(conversationId) ?? [])];
  }
}

export class InMemoryQueue implements MessageQueue {
  readonly sent: QueuedMessage[] = [];
  failWith: Error | undefined;
  async enqueue(message: QueuedMessage): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push(message);
  }
}

/** Mirrors the DynamoDB store's contract: gap-free sequence, one message per (sender, clientMessageId). */
export class InMemoryMessageStore implements MessageStore {
  readonly byConversation = new Map<ConversationId, ChatMessage[]>();
  readonly keys = new Map<string, ChatMessage>();
  readonly membersRecorded = new Map<ConversationId, readonly UserId[]>();
  async append(queued: QueuedMessage, members: readonly UserId[]): Promise<AppendResult> {
    const key = `${queued.conversationId}|${idempotencyKey(queued)}`;
    const existing = this.keys.get(key);
    if (existing) return { message: existing, duplicate: true };
    const list = this.byConversation.get(queued.conversationId) ?? [];
    const message: ChatMessage = {
      conversationId: queued.conversationId,
      seq: list.length + 1,
      senderId: queued.senderId,
      clientMessageId: queued.clientMessageId,
      text: queued.text,
      sentAt: queued.sentAt,
    };
    list.push(message);
    this.byConversation.set(queued.conversationId, list);
    this.keys.set(key, message);
    if (message.seq === 1) this.membersRecorded.set(queued.conversationId, members);
    return { message, duplicate: false };
  }
}

export class RecordingNotifier implements Notifier {
  readonly posts: { connectionId: string; frame: ServerFrame }[] = [];
  readonly gone = new Set<string>();
  readonly failing = new Map<string, Error>();
  inFlight = 0;
  maxInFlight = 0;
  async post(connectionId: string, frame: ServerFrame): Promise<PostOutcome> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      const failure = this.failing.get(connectionId);
      if (failure) throw failure;
      if (this.gone.has(connectionId)) return 'gone';
      this.posts.push({ connectionId, frame });
      return 'delivered';
    } finally {
      this.inFlight--;
    }
  }
  framesTo(connectionId: string): ServerFrame[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => p.frame);
  }
}

export function queuedMessage(overrides: Partial<QueuedMessage> = {}): QueuedMessage {
  return {
    kind: 'chat.message',
    v: 1,
    conversationId: 'dm:alice:bob',
    senderId: 'alice',
    senderConnectionId: 'conn-alice-1',
    clientMessageId: 'm-1',
    text: 'hello',
    sentAt: 1_760_000_000_000,
    ...overrides,
  };
}

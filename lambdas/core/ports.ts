/**
 * The small interfaces the domain core needs from the outside world. AWS adapters implement them in
 * `lambdas/adapters`; in-memory fakes implement them for unit tests.
 */
import type { ChatMessage, ConversationId, ServerFrame, UserId } from '../../protocol';
import type { QueuedMessage } from './queued-message';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface ConnectionRecord {
  readonly connectionId: string;
  readonly userId: UserId;
  /** Milliseconds since the epoch, as API Gateway reports it. */
  readonly connectedAt: number;
  /** Epoch **seconds** (DynamoDB TTL): a stale row disappears even when $disconnect never arrives. */
  readonly expiresAt: number;
}

export interface ConnectionStore {
  put(connection: ConnectionRecord): Promise<void>;
  remove(connectionId: string): Promise<void>;
  /** The live connection ids of one user, read through an index (never a Scan). */
  listByUser(userId: UserId): Promise<string[]>;
}

export interface MembershipDirectory {
  isMember(conversationId: ConversationId, userId: UserId): Promise<boolean>;
  listMembers(conversationId: ConversationId): Promise<UserId[]>;
}

export interface MessageQueue {
  /** FIFO per conversation; a retried enqueue of the same (sender, clientMessageId) is dropped by the queue. */
  enqueue(message: QueuedMessage): Promise<void>;
}

export interface AppendResult {
  readonly message: ChatMessage;
  /** True when this (sender, clientMessageId) was stored before: the original message is returned. */
  readonly duplicate: boolean;
}

export interface MessageStore {
  /**
   * Stores the message under the conversation's next sequence number, atomically with the sequence counter
   * and the (sender, clientMessageId) idempotency record. `members` are recorded as the conversation's members
   * when the conversation is new (direct conversations come into being with their first message).
   */
  append(message: QueuedMessage, members: readonly UserId[]): Promise<AppendResult>;
}

export type PostOutcome = 'delivered' | 'gone';

export interface Notifier {
  /** Pushes one frame to one connection; 'gone' when the connection no longer exists (HTTP 410). */
  post(connectionId: string, frame: ServerFrame): Promise<PostOutcome>;
}

export interface TokenVerifier {
  /** Resolves to the token's subject, or rejects with InvalidTokenError. */
  verify(token: string): Promise<{ subject: string }>;
}

/**
 * The small interfaces the domain core needs from the outside world. AWS adapters implement them in
 * `lambdas/adapters`; in-memory fakes implement them for unit tests.
 */
import type { ConversationEvent, ConversationId, ServerFrame, UserId } from '../../protocol';
import type { QueuedCommand } from './commands';

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
  /**
   * Removes a connection that answered 410 Gone, unless it connected in the last CONNECT_GRACE_MS: API Gateway
   * also answers 410 while a connection's $connect is still running, and that row must stay.
   */
  removeGone(connectionId: string): Promise<void>;
  /**
   * The live connections of every user of `userIds` (repeats ignored; a user without one contributes nothing),
   * read by key in batches: never a Scan, and not one call per user.
   */
  listByUsers(userIds: readonly UserId[]): Promise<LiveConnection[]>;
}

/** A live connection and its user, as `ConnectionStore.listByUsers` finds it. */
export interface LiveConnection {
  readonly connectionId: string;
  readonly userId: UserId;
  /** Milliseconds since the epoch. */
  readonly connectedAt: number;
}

export type MemberRole = 'owner' | 'admin' | 'member';

export interface MemberRecord {
  readonly userId: UserId;
  readonly role: MemberRole;
  readonly joinedAt: number;
  /** The member's read position: events up to it are read. */
  readonly readSeq: number;
}

export interface ConversationRecord {
  readonly conversationId: ConversationId;
  readonly kind: 'direct' | 'group';
  readonly name?: string;
  readonly lastSeq: number;
  readonly memberCount: number;
  readonly createdBy?: UserId;
  /** Its frames fan out (it once had more than FANOUT_THRESHOLD recipients): see `applyCommand`. */
  readonly fanout?: boolean;
}

export interface MembershipDirectory {
  isMember(conversationId: ConversationId, userId: UserId): Promise<boolean>;
  listMembers(conversationId: ConversationId): Promise<UserId[]>;
}

export interface CommandQueue {
  /** FIFO per conversation; a retried enqueue of the same command is dropped by the queue for 5 minutes. */
  enqueue(command: QueuedCommand): Promise<void>;
}

/** The effects stored atomically with an event. */
export interface AppendEffects {
  /** Conversation fields to set. */
  readonly conversation?: {
    readonly kind?: 'direct' | 'group';
    readonly name?: string;
    readonly createdBy?: UserId;
  };
  /** Change of the member count (conditioned on staying within LIMITS.maxGroupMembers). */
  readonly memberCountDelta?: number;
  /** The message an edit or recall changes: its stored state follows, conditioned on it not being recalled. */
  readonly updateMessage?: {
    readonly seq: number;
    readonly change: { readonly edit: { text: string; editedAt: number } } | { readonly recall: true };
  };
}

export interface AppendResult {
  readonly event: ConversationEvent;
  /** True when this (actor, clientMessageId) was stored before: the original event is returned. */
  readonly duplicate: boolean;
}

/** Distributes the `Omit` over the union, so each event kind keeps its own fields. */
export type UnsequencedEvent = ConversationEvent extends infer E
  ? E extends ConversationEvent
    ? Omit<E, 'seq'>
    : never
  : never;

export interface EventStore {
  getConversation(conversationId: ConversationId): Promise<ConversationRecord | undefined>;
  getMember(conversationId: ConversationId, userId: UserId): Promise<MemberRecord | undefined>;
  listMemberRecords(conversationId: ConversationId): Promise<MemberRecord[]>;
  /** The event stored for this (actor, clientMessageId), if any. */
  findEvent(conversationId: ConversationId, idempotencyKey: string): Promise<ConversationEvent | undefined>;
  /** Writes member rows (idempotent: the same rows again change nothing). */
  putMembers(conversationId: ConversationId, members: readonly MemberRecord[]): Promise<void>;
  deleteMembers(conversationId: ConversationId, userIds: readonly UserId[]): Promise<void>;
  /** One stored event, in its current state (a message shows its edits and recall). */
  getEvent(conversationId: ConversationId, seq: number): Promise<ConversationEvent | undefined>;
  /**
   * Stores the event under the conversation's next sequence number, atomically with the sequence counter, the
   * (actor, clientMessageId) idempotency record and the effects. A repeat returns the original event.
   * `lastSeq`, when the caller has just read it, saves reading it again: the write is conditioned on it, so a
   * stale value costs one retry, never a gap.
   */
  append(event: UnsequencedEvent, effects?: AppendEffects, lastSeq?: number): Promise<AppendResult>;
  /** From now on, the conversation's frames fan out (ConversationRecord.fanout). Idempotent. */
  markFanout(conversationId: ConversationId): Promise<void>;
  /** Moves a member's read position forward; the new position, or undefined when it was already there. */
  advanceRead(conversationId: ConversationId, userId: UserId, seq: number): Promise<number | undefined>;
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

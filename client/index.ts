/**
 * Herald's client SDK: browser and Node, no AWS dependencies.
 * @packageDocumentation
 */

export type {
  AckFrame,
  AddMembersFrame,
  ConversationEvent,
  ConversationId,
  ConversationsPageFrame,
  CreateGroupFrame,
  EditFrame,
  ErrorCode,
  EventKind,
  HistoryPageFrame,
  LeaveFrame,
  MembersFrame,
  PresenceFrame,
  RecallFrame,
  ReceiptFrame,
  RemoveMembersFrame,
  RenameFrame,
  SendFrame,
  TypingEventFrame,
  UserId,
} from '../protocol';
export { directConversationId, isGroupConversationId, LIMITS } from '../protocol';
export type { BackoffOptions } from './backoff';
export { backoffDelay } from './backoff';
export type {
  CommandOptions,
  ConversationsPage,
  HeraldClientOptions,
  HistoryPage,
  MembersPage,
} from './client';
export { HeraldClient } from './client';
export { Emitter } from './emitter';
export type { ClientErrorCode } from './errors';
export { HeraldError, isRetryable } from './errors';
export type { CommandAck, ConnectionState, EventOf, HeraldEventMap, Unsupported } from './events';
export { newId } from './ids';
export type { CommandFrame, PendingCommand } from './outbox';
export { Outbox } from './outbox';
export { RateLimiter } from './rate-limiter';
export { Sequencer } from './sequencer';
export type { WebSocketConstructor, WebSocketLike } from './socket';
export type { HeraldStore, StorageLike, StoreSnapshot } from './store';
export { LocalStorageStore, MemoryStore } from './store';

import type {
  AckFrame,
  ConversationEvent,
  ConversationsPageFrame,
  EventKind,
  PresenceFrame,
  ReceiptFrame,
  TypingEventFrame,
} from '../protocol';
import type { HeraldError } from './errors';
import type { CommandFrame } from './outbox';

/** One kind of conversation event, typed from the protocol's schemas: `EventOf<'message'>` has `text`. */
export type EventOf<K extends EventKind> = Extract<ConversationEvent, { kind: K }>;

/** The server's acknowledgement of a command: its event is stored at `seq`. */
export type CommandAck = Omit<AckFrame, 'type' | 'v'>;

/**
 * Something a later server sent within protocol v1 that this SDK does not know, and skipped: an event of a new
 * kind (its seq is passed, nothing is emitted for it, also not `event`) or a frame of a new type (ignored).
 * Reported once per kind or type and client; update the SDK to understand it.
 */
export type Unsupported =
  | {
      readonly what: 'event';
      readonly kind: string;
      /** Where it was first met. */
      readonly conversationId: string;
      readonly seq: number;
    }
  | { readonly what: 'frame'; readonly type: string };

/**
 * `idle` before `connect()`; `connecting` until the first connection opens; `open`; `reconnecting` between a
 * lost connection and the next (renewals stay `open`); `closed` after `close()`.
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Every event of {@link HeraldClient.on}, and its payload. */
export type HeraldEventMap = {
  /** Every conversation event, each once, in seq order per conversation (yours too, once acknowledged). */
  event: ConversationEvent;
  /** A read position moved (the other members', and yours from your other devices). */
  receipt: ReceiptFrame;
  /** A contact came online or went offline: keep the newest `at` per user. */
  presence: PresenceFrame;
  /** Another member started or stopped typing. */
  typing: TypingEventFrame;
  /** A command was stored (also for commands restored from the store, which have no promise). */
  ack: CommandAck & { readonly frame: CommandFrame };
  /** A command was refused by the server. */
  rejected: { readonly frame: CommandFrame; readonly error: HeraldError };
  state: { readonly state: ConnectionState; readonly previous: ConnectionState };
  /** A connection opened and every followed conversation caught up: commands flow again. */
  synced: { readonly conversations: number };
  /** Your conversations, listed after each connection and reconnection (option `discoverConversations`). */
  conversations: ConversationsPageFrame['items'];
  /** An event kind or frame type this SDK does not know was skipped: once per kind or type (see `Unsupported`). */
  unsupported: Unsupported;
  /** Something went wrong that no promise reports: invalid server frames, refusals without an id, the store. */
  error: HeraldError;
} & { readonly [K in EventKind]: EventOf<K> };

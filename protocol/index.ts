/**
 * Herald's wire contract: every frame a client may send and every frame the server may push, defined once.
 * Imported by the Lambdas, the CDK code (route names), the local runtime, the client SDK and the docs.
 * Pure zod: no AWS, no Node-only APIs, so it also runs in browsers.
 *
 * The schemas use `zod/mini` (functions and `.check()` instead of classic zod's method chains): classic zod is
 * about a fifth of a Lambda bundle and binds its whole method chain to every schema it builds, at every cold
 * start (ADR 17). The parse results, issues and messages are classic zod's.
 */

import { en } from 'zod/locales';
import * as z from 'zod/mini';

// The English messages clients read in INVALID_FRAME details ("Too big: expected string to have <=4000
// characters"). Classic zod sets this locale itself; zod/mini sets none ("Invalid input"). Global to zod, so
// every schema that imports the protocol (the Lambdas' config and queue contracts, the SDK) gets it too.
z.config(en());

/** Protocol version carried by every frame. Bump on breaking changes only. */
export const PROTOCOL_VERSION = 1 as const;

/** Documented limits (docs/protocol.md). API Gateway's own limits are 128 KB a message, 32 KB a frame. */
export const LIMITS = {
  /** Largest frame (UTF-8 bytes of the JSON text) a client may send; larger ones get PAYLOAD_TOO_LARGE. */
  maxFrameBytes: 32 * 1024,
  /** Longest message text, in UTF-16 code units. */
  maxTextLength: 4000,
  maxUserIdLength: 128,
  /** A direct conversation id is `dm:<a>:<b>`: two user ids and three separators. */
  maxConversationIdLength: 2 * 128 + 4,
  maxClientMessageIdLength: 64,
  maxRequestIdLength: 64,
  maxGroupNameLength: 100,
  /** Members of a group, its owner included. */
  maxGroupMembers: 1000,
  /** User ids in one createGroup/addMembers/removeMembers frame. */
  maxUsersPerFrame: 999,
  /** Events in one history page, and a byte budget that keeps a page inside one 128 KB WebSocket message. */
  maxHistoryPage: 100,
  maxPageBytes: 96 * 1024,
  /** Conversations in one sync frame. */
  maxSyncConversations: 100,
  /** Events a sync replays per conversation; a larger gap is answered with `gap: true` (page history instead). */
  maxReplayEvents: 500,
  /** Conversations in one listConversations page. */
  maxConversationsPage: 50,
  /**
   * Members in one listMembers page. A full page of 128-character user ids is about 43 KB of JSON, well inside
   * maxPageBytes (a unit test computes the worst case), so no byte budget is needed on top.
   */
  maxMembersPage: 200,
  /** How long after sending an author may recall a message (the default: a deployment can set its own). */
  recallWindowSeconds: 120,
  /** Edits of one message: a recall scrubs the message and each of its edits in one transaction. */
  maxEditsPerMessage: 50,
  /** Frames a connection may send per second (sustained) and at once (burst) before RATE_LIMITED. */
  framesPerSecond: 10,
  frameBurst: 20,
  /** At most one typing indicator per connection and conversation in this many milliseconds; more are dropped. */
  typingIntervalMs: 2000,
} as const;

/** User ids come from the token's `sub` (Cognito UUIDs, OIDC subjects such as `auth0|123`). No `:` allowed. */
export const UserId = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(LIMITS.maxUserIdLength),
    z.regex(/^[A-Za-z0-9_.@|+=-]+$/, 'user ids use letters, digits and _ . @ | + = - only'),
  );
export type UserId = z.infer<typeof UserId>;

export const ConversationId = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(LIMITS.maxConversationIdLength),
    z.regex(/^[A-Za-z0-9_.@|+=:-]+$/, 'conversation ids use letters, digits and _ . @ | + = : - only'),
  );
export type ConversationId = z.infer<typeof ConversationId>;

/** Chosen by the client, unique per sender: it makes a retried send idempotent. */
export const ClientMessageId = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(LIMITS.maxClientMessageIdLength),
    z.regex(/^[A-Za-z0-9_-]+$/, 'client message ids use letters, digits, _ and - only'),
  );
export type ClientMessageId = z.infer<typeof ClientMessageId>;

/** Chosen by the client for a query, echoed in its response. */
export const RequestId = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(LIMITS.maxRequestIdLength),
    z.regex(/^[A-Za-z0-9_-]+$/, 'request ids use letters, digits, _ and - only'),
  );

export const Seq = z.number().check(z.int(), z.positive());
/** A whole number >= 0: a position that may be 0 (nothing yet: `lastSeq`, `afterSeq`, read positions), a count. */
const SeqOrZero = z.number().check(z.int(), z.gte(0));
/** A time or duration in whole milliseconds. */
const Integer = z.number().check(z.int());

const DIRECT_PREFIX = 'dm';
export const GROUP_PREFIX = 'grp';

export function isGroupConversationId(id: string): boolean {
  return id.startsWith(`${GROUP_PREFIX}:`);
}

/** The deterministic id of the direct conversation between two users: the same whoever computes it. */
export function directConversationId(a: UserId, b: UserId): ConversationId {
  const [first, second] = a <= b ? [a, b] : [b, a];
  return `${DIRECT_PREFIX}:${first}:${second}`;
}

/** The two members of a direct conversation id, or undefined when the id is not a valid direct id. */
export function parseDirectConversationId(id: string): readonly [UserId, UserId] | undefined {
  const parts = id.split(':');
  if (parts.length !== 3 || parts[0] !== DIRECT_PREFIX) return undefined;
  const a = UserId.safeParse(parts[1]);
  const b = UserId.safeParse(parts[2]);
  if (!a.success || !b.success || !(a.data < b.data)) return undefined;
  return [a.data, b.data];
}

// ---------------------------------------------------------------------------------------------------------
// Client -> server. API Gateway selects the route with `$request.body.action`.

const frame = <A extends string, S extends z.core.$ZodLooseShape>(action: A, shape: S) =>
  z.strictObject({ action: z.literal(action), v: z.literal(PROTOCOL_VERSION), ...shape });

const Text = z.string().check(z.minLength(1), z.maxLength(LIMITS.maxTextLength));
const GroupName = z
  .string()
  .check(
    z.trim(),
    z.minLength(1),
    z.maxLength(LIMITS.maxGroupNameLength),
    z.regex(/^[^\p{Cc}]*$/u, 'group names contain no control characters'),
  );
const UserIds = z.array(UserId).check(z.minLength(1), z.maxLength(LIMITS.maxUsersPerFrame));
const Cursor = z.optional(z.string().check(z.maxLength(512)));

/** Post a message. */
export const SendFrame = frame('send', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  text: Text,
});
/** Replace the text of one of your messages. */
export const EditFrame = frame('edit', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  targetSeq: Seq,
  text: Text,
});
/** Withdraw one of your messages within the recall window (group owners and admins: any message, any time). */
export const RecallFrame = frame('recall', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  targetSeq: Seq,
});
/** Create a group; its id is derived from you and clientMessageId, so a retried create makes one group. */
export const CreateGroupFrame = frame('createGroup', {
  clientMessageId: ClientMessageId,
  name: GroupName,
  members: z.array(UserId).check(z.maxLength(LIMITS.maxGroupMembers - 1)),
});
/** Owners and admins add members; only owners add admins. */
export const AddMembersFrame = frame('addMembers', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  userIds: UserIds,
  role: z.optional(z.enum(['admin', 'member'])),
});
export const RemoveMembersFrame = frame('removeMembers', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  userIds: UserIds,
});
export const LeaveFrame = frame('leave', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
});
export const RenameFrame = frame('rename', {
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  name: GroupName,
});
/** Move your read position forward (never back) to `seq`. A refusal echoes `requestId` when given. */
export const MarkReadFrame = frame('markRead', {
  conversationId: ConversationId,
  seq: Seq,
  requestId: z.optional(RequestId),
});
/** Ephemeral: not stored, not sequenced, rate-limited. */
export const TypingFrame = frame('typing', {
  conversationId: ConversationId,
  state: z.enum(['start', 'stop']),
});
/**
 * Heartbeat: answered with `pong` on the same connection. API Gateway closes a connection after 10 minutes
 * without traffic, and presence counts a connection as live while it shows traffic: send one every few minutes
 * when nothing else is sent.
 */
export const PingFrame = frame('ping', { requestId: z.optional(RequestId) });
/** One page of a conversation's events, backwards from `beforeSeq` (default: the newest) or forwards from `afterSeq`. */
export const HistoryFrame = frame('history', {
  requestId: RequestId,
  conversationId: ConversationId,
  beforeSeq: z.optional(Seq),
  afterSeq: z.optional(SeqOrZero),
  limit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(LIMITS.maxHistoryPage))),
}).check(
  z.refine((f) => f.beforeSeq === undefined || f.afterSeq === undefined, {
    message: 'give beforeSeq or afterSeq, not both',
    path: ['afterSeq'],
  }),
);
/** Catch up after a reconnect: per conversation, the last sequence number you have. */
export const SyncFrame = frame('sync', {
  requestId: RequestId,
  positions: z
    .array(z.strictObject({ conversationId: ConversationId, afterSeq: SeqOrZero }))
    .check(z.minLength(1), z.maxLength(LIMITS.maxSyncConversations)),
});
export const ListConversationsFrame = frame('listConversations', {
  requestId: RequestId,
  cursor: Cursor,
  limit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(LIMITS.maxConversationsPage))),
});
/** One page of a conversation's members, by user id; `cursor` is the previous page's `nextCursor`. */
export const ListMembersFrame = frame('listMembers', {
  requestId: RequestId,
  conversationId: ConversationId,
  cursor: Cursor,
  limit: z.optional(z.number().check(z.int(), z.gte(1), z.lte(LIMITS.maxMembersPage))),
});

export const ClientFrame = z.union([
  SendFrame,
  EditFrame,
  RecallFrame,
  CreateGroupFrame,
  AddMembersFrame,
  RemoveMembersFrame,
  LeaveFrame,
  RenameFrame,
  MarkReadFrame,
  TypingFrame,
  PingFrame,
  HistoryFrame,
  SyncFrame,
  ListConversationsFrame,
  ListMembersFrame,
]);
export type ClientFrame = z.infer<typeof ClientFrame>;
export type SendFrame = z.infer<typeof SendFrame>;
export type EditFrame = z.infer<typeof EditFrame>;
export type RecallFrame = z.infer<typeof RecallFrame>;
export type CreateGroupFrame = z.infer<typeof CreateGroupFrame>;
export type AddMembersFrame = z.infer<typeof AddMembersFrame>;
export type RemoveMembersFrame = z.infer<typeof RemoveMembersFrame>;
export type LeaveFrame = z.infer<typeof LeaveFrame>;
export type RenameFrame = z.infer<typeof RenameFrame>;
export type MarkReadFrame = z.infer<typeof MarkReadFrame>;
export type TypingFrame = z.infer<typeof TypingFrame>;
export type PingFrame = z.infer<typeof PingFrame>;
export type HistoryFrame = z.infer<typeof HistoryFrame>;
export type SyncFrame = z.infer<typeof SyncFrame>;
export type ListConversationsFrame = z.infer<typeof ListConversationsFrame>;
export type ListMembersFrame = z.infer<typeof ListMembersFrame>;
export type ClientAction = ClientFrame['action'];
/** The frames that become a stored event and are answered by an `ack` (the SDK queues and retries them). */
export type AckedFrame =
  | SendFrame
  | EditFrame
  | RecallFrame
  | CreateGroupFrame
  | AddMembersFrame
  | RemoveMembersFrame
  | LeaveFrame
  | RenameFrame;

/** The schema of each action's frame: validation looks the action up here, for precise errors. */
export const CLIENT_FRAMES = {
  send: SendFrame,
  edit: EditFrame,
  recall: RecallFrame,
  createGroup: CreateGroupFrame,
  addMembers: AddMembersFrame,
  removeMembers: RemoveMembersFrame,
  leave: LeaveFrame,
  rename: RenameFrame,
  markRead: MarkReadFrame,
  typing: TypingFrame,
  ping: PingFrame,
  history: HistoryFrame,
  sync: SyncFrame,
  listConversations: ListConversationsFrame,
  listMembers: ListMembersFrame,
} as const satisfies Record<ClientAction, z.ZodMiniType>;

/** Every action, and which Lambda route serves it: the CDK stack builds the routes from this table. */
export const ROUTES = {
  send: 'command',
  edit: 'command',
  recall: 'command',
  createGroup: 'command',
  addMembers: 'command',
  removeMembers: 'command',
  leave: 'command',
  rename: 'command',
  markRead: 'command',
  typing: 'ephemeral',
  ping: 'ephemeral',
  history: 'query',
  sync: 'query',
  listConversations: 'query',
  listMembers: 'query',
} as const satisfies Record<ClientAction, 'command' | 'query' | 'ephemeral'>;
export type RouteKind = (typeof ROUTES)[ClientAction];

/** Route keys of the WebSocket API, derived from the contract so CDK and handlers cannot drift. */
export const CLIENT_ACTIONS = Object.keys(ROUTES) as ClientAction[];

// ---------------------------------------------------------------------------------------------------------
// Server -> client.

export const ErrorCode = z.enum([
  /** The frame is not JSON. */
  'MALFORMED_JSON',
  /** The `action` is missing or names no route. */
  'UNKNOWN_ACTION',
  /** The frame's fields fail the schema: `details` lists them. */
  'INVALID_FRAME',
  /** The frame is larger than LIMITS.maxFrameBytes. */
  'PAYLOAD_TOO_LARGE',
  /** The `v` field names a protocol version this server does not speak. */
  'UNSUPPORTED_VERSION',
  /** The caller is not a member of the conversation. */
  'NOT_A_MEMBER',
  /** The caller may not do this (not the author, not an owner or admin, not a group). */
  'NOT_ALLOWED',
  /** The message or user named does not exist in the conversation. */
  'NOT_FOUND',
  /** The message was recalled, or the recall window has passed. */
  'RECALL_WINDOW_CLOSED',
  /** A group would exceed LIMITS.maxGroupMembers. */
  'GROUP_TOO_LARGE',
  /** This connection sends faster than LIMITS.framesPerSecond: slow down and retry. */
  'RATE_LIMITED',
  /** The server could not take the frame; nothing was accepted, retry with the same clientMessageId. */
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/**
 * How the server-frame schemas build their objects: `z.strictObject` refuses a field it does not know (the
 * server's own contract, which its tests and the fan-out queue hold it to), `z.object` drops it (clients:
 * see `LenientServerFrames`).
 */
type ObjectOf<Mode extends z.core.$strict | z.core.$strip> = <S extends z.core.$ZodLooseShape>(
  shape: S,
) => z.ZodMiniObject<S, Mode>;

/**
 * A discriminated union that also takes a discriminator value it does not define: an object whose `key` is
 * another string is checked against `fallback` instead of being refused. A value `known` defines is checked by
 * `known` alone, with the same issues as on its own, so a known kind with a bad field is still refused as such.
 */
function withFallback<
  Known extends z.ZodMiniDiscriminatedUnion<readonly z.core.SomeType[], string>,
  Fallback extends z.ZodMiniType,
>(known: Known, key: string, fallback: Fallback) {
  return z.transform((input: unknown, payload): z.output<Known> | z.output<Fallback> => {
    const value =
      typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : undefined;
    const isOther =
      typeof value === 'string' && z.getDiscriminatedOption(known, value as never) === undefined;
    const checked = (isOther ? fallback : known).safeParse(input);
    if (checked.success) return checked.data as z.output<Known> | z.output<Fallback>;
    // Finished issues (path from the event or frame, message set): the parent object prefixes its own path.
    for (const issue of checked.error.issues) payload.issues.push(issue as z.core.$ZodRawIssue);
    return z.NEVER;
  });
}

/**
 * How the server-frame schemas treat a frame `type` or event `kind` they do not define: `false` refuses it (the
 * strict copy), `true` takes it as an unknown frame or event (the lenient copy: see `LenientServerFrames`).
 */
type OrUnknown<Open extends boolean, Known, Unknown> = Open extends true ? Unknown : Known;

/** Every server-frame schema, with objects built by `object`: defined once for the strict and lenient copies. */
function serverFrameSchemas<Mode extends z.core.$strict | z.core.$strip, Open extends boolean>(
  object: ObjectOf<Mode>,
  open: Open,
) {
  const ErrorFrame = object({
    type: z.literal('error'),
    v: z.literal(PROTOCOL_VERSION),
    code: ErrorCode,
    message: z.string(),
    /** The clientMessageId of the frame this error answers, when the frame carried a readable one. */
    clientMessageId: z.optional(z.string()),
    /** The requestId of the query this error answers. */
    requestId: z.optional(z.string()),
    /** Field-level problems for INVALID_FRAME: `path` is dotted, `problem` is human text. */
    details: z.optional(z.array(object({ path: z.string(), problem: z.string() }))),
  });

  const eventBase = {
    conversationId: ConversationId,
    /** Gap-free, per-conversation, starting at 1: the order every client shows. */
    seq: Seq,
    /** When the command was accepted, ms since the epoch. */
    at: Integer,
    /** Who did it. */
    actorId: UserId,
    /** The actor's idempotency key for the command. */
    clientMessageId: ClientMessageId,
  };
  const event = <K extends string, S extends z.core.$ZodLooseShape>(kind: K, shape: S) =>
    object({ kind: z.literal(kind), ...eventBase, ...shape });

  /** A chat message. In history and sync it shows its current state: edited text, or recalled (text empty). */
  const MessageEvent = event('message', {
    text: z.string(),
    editedAt: z.optional(Integer),
    recalled: z.optional(z.literal(true)),
  });
  /** In history and sync, an edit of a message that was later recalled shows `recalled: true` and no text. */
  const EditEvent = event('edit', {
    targetSeq: Seq,
    text: z.string(),
    recalled: z.optional(z.literal(true)),
  });
  const RecallEvent = event('recall', { targetSeq: Seq });
  const GroupCreatedEvent = event('group.created', { name: z.string(), members: z.array(UserId) });
  const MembersAddedEvent = event('members.added', {
    userIds: z.array(UserId),
    role: z.enum(['admin', 'member']),
  });
  const MembersRemovedEvent = event('members.removed', { userIds: z.array(UserId) });
  const MemberLeftEvent = event('member.left', {});
  const GroupRenamedEvent = event('group.renamed', { name: z.string() });

  const KnownConversationEvent = z.discriminatedUnion('kind', [
    MessageEvent,
    EditEvent,
    RecallEvent,
    GroupCreatedEvent,
    MembersAddedEvent,
    MembersRemovedEvent,
    MemberLeftEvent,
    GroupRenamedEvent,
  ]);
  /**
   * An event of a kind this protocol version does not define, which a later server may add within v1: its common
   * fields are checked, the rest is dropped. Only the lenient copy takes it (and builds it).
   */
  const unknownEvent = () =>
    withFallback(KnownConversationEvent, 'kind', object({ kind: z.string(), ...eventBase }));
  const ConversationEvent = (open ? unknownEvent() : KnownConversationEvent) as OrUnknown<
    Open,
    typeof KnownConversationEvent,
    ReturnType<typeof unknownEvent>
  >;

  /** A new event in one of your conversations: to every connection of every member but the one that caused it. */
  const EventFrame = object({
    type: z.literal('event'),
    v: z.literal(PROTOCOL_VERSION),
    event: ConversationEvent,
  });

  /** Your command is stored: to the connection it came from. */
  const AckFrame = object({
    type: z.literal('ack'),
    v: z.literal(PROTOCOL_VERSION),
    conversationId: ConversationId,
    clientMessageId: ClientMessageId,
    seq: Seq,
    at: Integer,
  });

  /** A member's read position moved: to the other members, and the reader's other connections. */
  const ReceiptFrame = object({
    type: z.literal('receipt'),
    v: z.literal(PROTOCOL_VERSION),
    conversationId: ConversationId,
    userId: UserId,
    readSeq: SeqOrZero,
  });

  /** A contact (someone you share a conversation with) came online or went offline. */
  const PresenceFrame = object({
    type: z.literal('presence'),
    v: z.literal(PROTOCOL_VERSION),
    userId: UserId,
    online: z.boolean(),
    at: Integer,
  });

  const TypingEventFrame = object({
    type: z.literal('typing'),
    v: z.literal(PROTOCOL_VERSION),
    conversationId: ConversationId,
    userId: UserId,
    state: z.enum(['start', 'stop']),
  });

  const HistoryPageFrame = object({
    type: z.literal('history'),
    v: z.literal(PROTOCOL_VERSION),
    requestId: RequestId,
    conversationId: ConversationId,
    /** Ascending by seq. */
    events: z.array(ConversationEvent),
    /** More events exist in the direction asked (older for beforeSeq, newer for afterSeq). */
    hasMore: z.boolean(),
    lastSeq: SeqOrZero,
  });

  const SyncResult = z.union([
    object({
      conversationId: ConversationId,
      events: z.array(ConversationEvent),
      /** Send another sync from the last event's seq to get the rest. */
      hasMore: z.boolean(),
      lastSeq: SeqOrZero,
    }),
    object({
      conversationId: ConversationId,
      /** More than LIMITS.maxReplayEvents were missed: page history instead. */
      gap: z.literal(true),
      lastSeq: SeqOrZero,
    }),
  ]);
  const SyncPageFrame = object({
    type: z.literal('sync'),
    v: z.literal(PROTOCOL_VERSION),
    requestId: RequestId,
    results: z.array(SyncResult),
  });

  const ConversationSummary = object({
    conversationId: ConversationId,
    kind: z.enum(['direct', 'group']),
    name: z.optional(z.string()),
    lastSeq: SeqOrZero,
    lastEvent: z.optional(ConversationEvent),
    readSeq: SeqOrZero,
    /** Events after your read position that others caused. */
    unread: SeqOrZero,
  });
  const ConversationsPageFrame = object({
    type: z.literal('conversations'),
    v: z.literal(PROTOCOL_VERSION),
    requestId: RequestId,
    /** Newest activity first. */
    items: z.array(ConversationSummary),
    nextCursor: z.optional(z.string()),
  });

  const MemberSummary = object({
    userId: UserId,
    role: z.enum(['owner', 'admin', 'member']),
    joinedAt: Integer,
    readSeq: SeqOrZero,
  });
  const MembersFrame = object({
    type: z.literal('members'),
    v: z.literal(PROTOCOL_VERSION),
    requestId: RequestId,
    conversationId: ConversationId,
    /** Ascending by user id. */
    members: z.array(MemberSummary),
    /** Pass as `cursor` for the next page; absent on the last page. */
    nextCursor: z.optional(z.string()),
  });

  /** The answer to `ping`, on the same connection. */
  const PongFrame = object({
    type: z.literal('pong'),
    v: z.literal(PROTOCOL_VERSION),
    requestId: z.optional(RequestId),
    /** Server time, ms since the epoch. */
    at: Integer,
  });

  const KnownServerFrame = z.discriminatedUnion('type', [
    EventFrame,
    AckFrame,
    ReceiptFrame,
    PresenceFrame,
    TypingEventFrame,
    HistoryPageFrame,
    SyncPageFrame,
    ConversationsPageFrame,
    MembersFrame,
    PongFrame,
    ErrorFrame,
  ]);
  /** A frame of a type this protocol version does not define: only `type` and `v` are checked. Lenient copy only. */
  const unknownFrame = () =>
    withFallback(KnownServerFrame, 'type', object({ type: z.string(), v: z.literal(PROTOCOL_VERSION) }));
  const ServerFrame = (open ? unknownFrame() : KnownServerFrame) as OrUnknown<
    Open,
    typeof KnownServerFrame,
    ReturnType<typeof unknownFrame>
  >;

  return {
    ErrorFrame,
    MessageEvent,
    EditEvent,
    RecallEvent,
    GroupCreatedEvent,
    MembersAddedEvent,
    MembersRemovedEvent,
    MemberLeftEvent,
    GroupRenamedEvent,
    ConversationEvent,
    EventFrame,
    AckFrame,
    ReceiptFrame,
    PresenceFrame,
    TypingEventFrame,
    HistoryPageFrame,
    SyncResult,
    SyncPageFrame,
    ConversationSummary,
    ConversationsPageFrame,
    MemberSummary,
    MembersFrame,
    PongFrame,
    ServerFrame,
  };
}

/**
 * The server frames as the server writes them: strict, a field the protocol does not define is an error. What
 * the server's tests, the fan-out queue's jobs and the docs hold the server to.
 */
export const {
  ErrorFrame,
  MessageEvent,
  EditEvent,
  RecallEvent,
  GroupCreatedEvent,
  MembersAddedEvent,
  MembersRemovedEvent,
  MemberLeftEvent,
  GroupRenamedEvent,
  ConversationEvent,
  EventFrame,
  AckFrame,
  ReceiptFrame,
  PresenceFrame,
  TypingEventFrame,
  HistoryPageFrame,
  SyncResult,
  SyncPageFrame,
  ConversationSummary,
  ConversationsPageFrame,
  MemberSummary,
  MembersFrame,
  PongFrame,
  ServerFrame,
} = serverFrameSchemas(z.strictObject, false);

/**
 * The same server frames for clients, open to what a later server may add within protocol v1 (docs/protocol.md,
 * "Forward compatibility"): an object field the protocol does not define is dropped, not an error; an event of a
 * kind it does not define is taken as an `UnknownEvent` (its common fields checked), so the sync or history page
 * holding it is kept; a frame of a type it does not define is taken as an `UnknownServerFrame` (`type` and `v`
 * checked). A known kind or type with a bad field, and unknown enum values (error codes, roles), are still
 * refused. Only the client SDK builds them.
 */
export const LenientServerFrames = /* @__PURE__ */ serverFrameSchemas(z.object, true);

/** The members of a union whose `key` is any string: the unknown variants the lenient schemas add. */
type Open<U, K extends keyof U> = U extends unknown ? (string extends U[K] ? U : never) : never;
/** The members of a union whose `key` is a literal: what this protocol version defines. */
type Defined<U, K extends keyof U> = U extends unknown ? (string extends U[K] ? never : U) : never;

/** What the lenient schemas give: a frame this protocol version defines (its events may be unknown), or not. */
export type LenientServerFrame = z.infer<typeof LenientServerFrames.ServerFrame>;
/** A frame of a type this protocol version does not define, as the lenient schemas take it: `type` and `v`. */
export type UnknownServerFrame = Open<LenientServerFrame, 'type'>;
/** A frame of a type this protocol version defines, as the lenient schemas give it. */
export type KnownLenientServerFrame = Defined<LenientServerFrame, 'type'>;
/** An event of any kind: one this protocol version defines (a `ConversationEvent`), or an `UnknownEvent`. */
export type LenientConversationEvent = z.infer<typeof LenientServerFrames.ConversationEvent>;
/** An event of a kind this protocol version does not define, as the lenient schemas take it: common fields only. */
export type UnknownEvent = Open<LenientConversationEvent, 'kind'>;
export type LenientSyncPageFrame = z.infer<typeof LenientServerFrames.SyncPageFrame>;
export type LenientHistoryPageFrame = z.infer<typeof LenientServerFrames.HistoryPageFrame>;
export type LenientConversationsPageFrame = z.infer<typeof LenientServerFrames.ConversationsPageFrame>;

/** Whether an event parsed with the lenient schemas is of a kind this protocol version defines. */
export function isKnownEvent(event: LenientConversationEvent): event is ConversationEvent {
  return z.getDiscriminatedOption(ConversationEvent, event.kind as never) !== undefined;
}

/** Whether a frame parsed with the lenient schemas is of a type this protocol version defines. */
export function isKnownServerFrame(frame: LenientServerFrame): frame is KnownLenientServerFrame {
  return z.getDiscriminatedOption(ServerFrame, frame.type as never) !== undefined;
}

export type ErrorFrame = z.infer<typeof ErrorFrame>;
export type ConversationEvent = z.infer<typeof ConversationEvent>;
export type EventKind = ConversationEvent['kind'];
export type EventFrame = z.infer<typeof EventFrame>;
export type AckFrame = z.infer<typeof AckFrame>;
export type ReceiptFrame = z.infer<typeof ReceiptFrame>;
export type PresenceFrame = z.infer<typeof PresenceFrame>;
export type TypingEventFrame = z.infer<typeof TypingEventFrame>;
export type HistoryPageFrame = z.infer<typeof HistoryPageFrame>;
export type SyncPageFrame = z.infer<typeof SyncPageFrame>;
export type ConversationsPageFrame = z.infer<typeof ConversationsPageFrame>;
export type MembersFrame = z.infer<typeof MembersFrame>;
export type PongFrame = z.infer<typeof PongFrame>;
export type ServerFrame = z.infer<typeof ServerFrame>;

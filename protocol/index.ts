/**
 * Herald's wire contract: every frame a client may send and every frame the server may push, defined once.
 * Imported by the Lambdas, the CDK code (route names), the local runtime, the client SDK and the docs.
 * Pure zod: no AWS, no Node-only APIs, so it also runs in browsers.
 */
import { z } from 'zod';

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
} as const;

/** User ids come from the token's `sub` (Cognito UUIDs, OIDC subjects such as `auth0|123`). No `:` allowed. */
export const UserId = z
  .string()
  .min(1)
  .max(LIMITS.maxUserIdLength)
  .regex(/^[A-Za-z0-9_.@|+=-]+$/, 'user ids use letters, digits and _ . @ | + = - only');
export type UserId = z.infer<typeof UserId>;

export const ConversationId = z
  .string()
  .min(1)
  .max(LIMITS.maxConversationIdLength)
  .regex(/^[A-Za-z0-9_.@|+=:-]+$/, 'conversation ids use letters, digits and _ . @ | + = : - only');
export type ConversationId = z.infer<typeof ConversationId>;

/** Chosen by the client, unique per sender: it makes a retried send idempotent. */
export const ClientMessageId = z
  .string()
  .min(1)
  .max(LIMITS.maxClientMessageIdLength)
  .regex(/^[A-Za-z0-9_-]+$/, 'client message ids use letters, digits, _ and - only');
export type ClientMessageId = z.infer<typeof ClientMessageId>;

const DIRECT_PREFIX = 'dm';

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

export const SendFrame = z.strictObject({
  action: z.literal('send'),
  v: z.literal(PROTOCOL_VERSION),
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  text: z.string().min(1).max(LIMITS.maxTextLength),
});
export type SendFrame = z.infer<typeof SendFrame>;

export const ClientFrame = z.discriminatedUnion('action', [SendFrame]);
export type ClientFrame = z.infer<typeof ClientFrame>;

/** Route keys of the WebSocket API, derived from the contract so CDK and handlers cannot drift. */
export const CLIENT_ACTIONS = ClientFrame.options.map((o) => o.shape.action.value);
export type ClientAction = ClientFrame['action'];

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
  /** The server could not take the frame; nothing was accepted, retry with the same clientMessageId. */
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const ErrorFrame = z.strictObject({
  type: z.literal('error'),
  v: z.literal(PROTOCOL_VERSION),
  code: ErrorCode,
  message: z.string(),
  /** The clientMessageId of the frame this error answers, when the frame carried a readable one. */
  clientMessageId: z.string().optional(),
  /** Field-level problems for INVALID_FRAME: `path` is dotted, `problem` is human text. */
  details: z.array(z.strictObject({ path: z.string(), problem: z.string() })).optional(),
});
export type ErrorFrame = z.infer<typeof ErrorFrame>;

export const ChatMessage = z.strictObject({
  conversationId: ConversationId,
  /** Gap-free, per-conversation, starting at 1: the order every client shows. */
  seq: z.number().int().positive(),
  senderId: UserId,
  clientMessageId: ClientMessageId,
  text: z.string(),
  /** When the send route accepted the frame, ms since the epoch. */
  sentAt: z.number().int(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

/** Pushed to every connection of every member, except the connection the message was sent from. */
export const MessageFrame = z.strictObject({
  type: z.literal('message'),
  v: z.literal(PROTOCOL_VERSION),
  message: ChatMessage,
});
export type MessageFrame = z.infer<typeof MessageFrame>;

/** Pushed to the sending connection once the message is stored and has its sequence number. */
export const AckFrame = z.strictObject({
  type: z.literal('ack'),
  v: z.literal(PROTOCOL_VERSION),
  conversationId: ConversationId,
  clientMessageId: ClientMessageId,
  seq: z.number().int().positive(),
  sentAt: z.number().int(),
});
export type AckFrame = z.infer<typeof AckFrame>;

export const ServerFrame = z.discriminatedUnion('type', [MessageFrame, AckFrame, ErrorFrame]);
export type ServerFrame = z.infer<typeof ServerFrame>;

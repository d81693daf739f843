/**
 * How events are stored in the Messages (events) table, and read back. One place, shared by the writer
 * (DynamoEventStore) and the readers (queries).
 *
 * Messages table item: { conversationId, seq, kind, at, actorId, clientMessageId, ...the kind's fields,
 *   storedAt, editedAt? and editSeqs? (messages that were edited: when, and the seqs of their edit events),
 *   recalled? (true, on a recalled message and on each of its edits; their text is then emptied) }
 * Conversations table items (sort key `sk`):
 *   meta:              { kind, name?, createdBy?, lastSeq, memberCount, createdAt, lastEventAt, lastEvent,
 *                        fanout? (true once its frames fan out: they always will) }
 *                      (lastEvent: the newest event, text and user lists cut: see lastEventSummary)
 *   member#<userId>:   { memberId, role, joinedAt, readSeq }     (memberId feeds the byMember index)
 *   send#<actor>/<id>: { seq }                                     (idempotency record)
 */
import { type ConversationEvent, ConversationEvent as ConversationEventSchema } from '../../protocol';

export const LAST_EVENT_TEXT = 200;
/** User lists in a summary are cut too: a listing of 50 conversations must fit one WebSocket message. */
export const LAST_EVENT_USERS = 20;
const STORAGE_ONLY = ['storedAt', 'sk', 'editSeqs'] as const;

export function eventToItem(event: ConversationEvent, storedAt: number): Record<string, unknown> {
  return { ...event, storedAt };
}

/** The event an item holds, in its current state; undefined when the item is not a valid event. */
export function eventFromItem(item: Record<string, unknown> | undefined): ConversationEvent | undefined {
  if (!item) return undefined;
  const copy: Record<string, unknown> = { ...item };
  for (const key of STORAGE_ONLY) delete copy[key];
  const parsed = ConversationEventSchema.safeParse(copy);
  return parsed.success ? parsed.data : undefined;
}

/** The summary kept on the conversation's meta row for listings: message text cut short. */
export function lastEventSummary(event: ConversationEvent): ConversationEvent {
  switch (event.kind) {
    case 'message':
    case 'edit':
      return { ...event, text: event.text.slice(0, LAST_EVENT_TEXT) };
    case 'group.created':
      return { ...event, members: event.members.slice(0, LAST_EVENT_USERS) };
    case 'members.added':
    case 'members.removed':
      return { ...event, userIds: event.userIds.slice(0, LAST_EVENT_USERS) };
    default:
      return event;
  }
}

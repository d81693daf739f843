/**
 * What the components show of the store's state, as plain functions (no Preact, no DOM): the lines of a
 * conversation, its "Seen" marker, the list's previews and the typing line. app.tsx renders them.
 */
import type { ConversationEvent } from '../client/index';
import type { ConversationItem, Thread } from './chat-store';

/** The lines of a conversation in seq order: edits and recalls show in the message they change, not alone. */
export function timeline(thread: Thread): ConversationEvent[] {
  return [...thread.events.values()]
    .filter((e) => e.kind !== 'edit' && e.kind !== 'recall')
    .sort((a, b) => a.seq - b.seq);
}

/** The newest message of mine that the others have read, and who read it. */
export function seenMarker(
  events: readonly ConversationEvent[],
  thread: Thread,
  me: string,
): { seq: number; by: string[] } | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (event?.kind !== 'message' || event.actorId !== me) continue;
    const by = [...thread.readBy].filter(([, readSeq]) => readSeq >= event.seq).map(([user]) => user);
    if (by.length > 0) return { seq: event.seq, by: by.sort() };
  }
  return undefined;
}

export function seenText(by: readonly string[], kind: ConversationItem['kind']): string {
  return kind === 'direct' ? 'Seen' : `Seen by ${by.join(', ')}`;
}

/** The list's second line for a conversation: who did what last. */
export function preview(item: ConversationItem, me: string): string {
  const event = item.lastEvent;
  if (!event) return 'No messages yet';
  const who = event.actorId === me ? 'You' : event.actorId;
  return `${who}: ${describe(event, me)}`;
}

/** One line for an event that is not a message (membership, names). */
export function describe(event: ConversationEvent, me: string): string {
  const name = (id: string) => (id === me ? 'you' : id);
  switch (event.kind) {
    case 'message':
      return event.recalled ? 'message recalled' : event.text;
    case 'edit':
      return 'edited a message';
    case 'recall':
      return 'recalled a message';
    case 'group.created':
      return `created "${event.name}" with ${event.members.map(name).join(', ')}`;
    case 'members.added':
      return `added ${event.userIds.map(name).join(', ')}`;
    case 'members.removed':
      return `removed ${event.userIds.map(name).join(', ')}`;
    case 'member.left':
      return 'left';
    case 'group.renamed':
      return `renamed the group to "${event.name}"`;
    default: {
      const unknown: never = event;
      return String(unknown);
    }
  }
}

/** The line under the messages: who is typing, or empty. */
export function typingText(thread: Thread): string {
  const typing = [...thread.typing.keys()];
  if (typing.length === 0) return '';
  return `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`;
}

/** Pure text formatting of what the chat shows: events, conversation lists, titles. No I/O. */
import { styleText } from 'node:util';
import type { ConversationEvent, ConversationsPage } from '../client/index';

export type Summary = ConversationsPage['items'][number];

export interface Style {
  readonly dim: (s: string) => string;
  readonly bold: (s: string) => string;
  readonly me: (s: string) => string;
  readonly other: (s: string) => string;
  readonly notice: (s: string) => string;
  readonly error: (s: string) => string;
}

export function makeStyle(color: boolean): Style {
  const paint =
    (format: Parameters<typeof styleText>[0]) =>
    (s: string): string =>
      color ? styleText(format, s, { validateStream: false }) : s;
  return {
    dim: paint('dim'),
    bold: paint('bold'),
    me: paint('green'),
    other: paint('cyan'),
    notice: paint('yellow'),
    error: paint('red'),
  };
}

/**
 * Text from other users is shown as text, never as terminal commands: control characters (escape sequences,
 * carriage returns, bells) become visible placeholders, and line breaks become ⏎.
 */
export function sanitize(text: string): string {
  return text.replace(/\r?\n/g, ' ⏎ ').replace(/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, '�');
}

export function clock(at: number): string {
  const d = new Date(at);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** A conversation's name for people: the other user of a direct conversation, a group's name. */
export function titleOf(conversationId: string, me: string, name?: string): string {
  if (conversationId.startsWith('dm:')) {
    const [, a, b] = conversationId.split(':');
    return (a === me ? b : a) ?? conversationId;
  }
  return name ? sanitize(name) : conversationId;
}

const listUsers = (users: readonly string[]) => users.join(', ');

/** One line for an event in the open conversation; undefined for events shown elsewhere (edits in history). */
export function formatEvent(event: ConversationEvent, me: string, style: Style): string {
  const head = style.dim(`#${event.seq} ${clock(event.at)}`);
  const who = (user: string) => (user === me ? style.me(user) : style.other(user));
  switch (event.kind) {
    case 'message': {
      if (event.recalled) return `${head} ${who(event.actorId)}: ${style.dim('(message recalled)')}`;
      const edited = event.editedAt === undefined ? '' : style.dim(' (edited)');
      return `${head} ${who(event.actorId)}: ${sanitize(event.text)}${edited}`;
    }
    case 'edit':
      return event.recalled
        ? `${head} ${style.dim(`${event.actorId} edited #${event.targetSeq} (since recalled)`)}`
        : `${head} ${style.dim(`${event.actorId} edited #${event.targetSeq}:`)} ${sanitize(event.text)}`;
    case 'recall':
      return `${head} ${style.dim(`${event.actorId} recalled #${event.targetSeq}`)}`;
    case 'group.created':
      return `${head} ${style.notice(`${event.actorId} created the group "${sanitize(event.name)}" with ${listUsers(event.members)}`)}`;
    case 'members.added':
      return `${head} ${style.notice(`${event.actorId} added ${listUsers(event.userIds)}${event.role === 'admin' ? ' as admins' : ''}`)}`;
    case 'members.removed':
      return `${head} ${style.notice(`${event.actorId} removed ${listUsers(event.userIds)}`)}`;
    case 'member.left':
      return `${head} ${style.notice(`${event.actorId} left`)}`;
    case 'group.renamed':
      return `${head} ${style.notice(`${event.actorId} renamed the group "${sanitize(event.name)}"`)}`;
    default: {
      const unhandled: never = event;
      throw new Error(`no case for event ${JSON.stringify(unhandled)}`);
    }
  }
}

/** A short preview of an event, for lists and notices about other conversations. */
export function preview(event: ConversationEvent | undefined, me: string): string {
  if (!event) return '';
  const text =
    event.kind === 'message'
      ? event.recalled
        ? '(recalled)'
        : sanitize(event.text)
      : event.kind === 'edit'
        ? `(edit) ${sanitize(event.text)}`
        : `(${event.kind})`;
  const line = `${event.actorId === me ? 'you' : event.actorId}: ${text}`;
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}

export interface ListEntry {
  readonly summary: Summary;
  readonly online?: boolean;
}

/** The numbered conversation list that `/open <n>` refers to. */
export function formatList(entries: readonly ListEntry[], me: string, style: Style): string[] {
  if (entries.length === 0)
    return [
      style.dim('No conversations yet: /dm <user> starts one, /group <name> <user...> creates a group.'),
    ];
  const rows = entries.map(({ summary: s, online }, i) => {
    const number = String(i + 1).padStart(3);
    const dot = online === undefined ? ' ' : online ? style.me('●') : style.dim('○');
    const kind = s.kind === 'group' ? '#' : '@';
    const title = `${kind}${titleOf(s.conversationId, me, s.name)}`.padEnd(24);
    const unread = s.unread > 0 ? style.bold(`${s.unread} unread`.padEnd(10)) : style.dim('—'.padEnd(10));
    return `${number} ${dot} ${title} ${unread} ${style.dim(preview(s.lastEvent, me))}`;
  });
  return [style.bold(`Conversations (${entries.length}):`), ...rows];
}

export const HELP = [
  '/list                 your conversations, with unread counts (/ls)',
  '/open <n|id>          open conversation n of the list, or by id: recent history, then live messages',
  '/dm <user>            open the direct conversation with a user',
  '/group <name> <user...>  create a group (quote a name with spaces: /group "Team Rocket" bob carol)',
  '/more                 older messages of the open conversation',
  '/members              members of the open conversation and how far each has read',
  '/close                close the open conversation',
  '/quit                 leave (also Ctrl-C, Ctrl-D)',
  'anything else         is sent to the open conversation',
];

/** Splits a command line into words; double or single quotes keep spaces inside a word. */
export function words(line: string): string[] {
  const out: string[] = [];
  for (const match of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g))
    out.push(match[1] ?? match[2] ?? match[3] ?? '');
  return out;
}

/**
 * The page's state, kept apart from rendering: conversations with unread counts, each open conversation's
 * events (by seq, so a history page and a live event never show one message twice), pending sends, read
 * positions, presence and typing. It listens to the SDK and calls it; the components only read it.
 */
import {
  type ConversationEvent,
  directConversationId,
  type EventOf,
  type HeraldClient,
  HeraldError,
  isGroupConversationId,
  LIMITS,
  type PresenceFrame,
  type ReceiptFrame,
  type TypingEventFrame,
} from '../client/index';

export interface ConversationItem {
  readonly id: string;
  readonly kind: 'direct' | 'group';
  /** A group's name; for a direct conversation, the other user. */
  title: string;
  /** The other user of a direct conversation. */
  readonly peer?: string;
  lastSeq: number;
  lastEvent?: ConversationEvent;
  readSeq: number;
  unread: number;
}

export interface PendingMessage {
  readonly clientMessageId: string;
  readonly text: string;
  failed?: string;
}

export interface Thread {
  /** Events by seq: history pages and live events land in the same map. */
  readonly events: Map<number, ConversationEvent>;
  loaded: boolean;
  loading: boolean;
  hasOlder: boolean;
  /** The lowest seq a history page returned: the next older page ends before it. */
  oldest?: number;
  readonly pending: PendingMessage[];
  /** How far each other member has read. */
  readonly readBy: Map<string, number>;
  /** Who is typing, until when (ms). */
  readonly typing: Map<string, number>;
}

const PAGE = 30;
/** A typing indicator goes away this long after its last `start` (senders repeat it every 2 s). */
const TYPING_SHOWN_MS = 6_000;
/** Send `stop` after this long without a keystroke. */
const TYPING_IDLE_MS = 3_000;

export type ConnectionLabel = 'connecting' | 'online' | 'reconnecting' | 'closed';

/** The part of the SDK the store uses: a {@link HeraldClient}, or a fake in the unit tests. */
export type ChatClient = Pick<
  HeraldClient,
  | 'on'
  | 'close'
  | 'history'
  | 'listMembers'
  | 'listConversations'
  | 'track'
  | 'send'
  | 'typing'
  | 'markRead'
  | 'createGroup'
>;

export class ChatStore {
  readonly conversations = new Map<string, ConversationItem>();
  readonly threads = new Map<string, Thread>();
  readonly presence = new Map<string, { online: boolean; at: number }>();
  activeId: string | undefined;
  connection: ConnectionLabel = 'connecting';
  /** The last problem worth telling the user about. */
  notice: string | undefined;
  /** Whether `notice` says the SDK could not connect (cleared when the connection opens). */
  private noticeIsConnectFailure = false;
  /** Counts every change; components re-render when it moves. */
  version = 0;

  private readonly listeners = new Set<() => void>();
  private readonly unsubscribe: (() => void)[] = [];
  /** Per conversation, the events its unread count holds already: a copy that arrives again is not counted. */
  private readonly counted = new Map<string, Counted>();
  /** Per group, the seq of the event that gave it its title: an older list or a late rename does not undo it. */
  private readonly titleSeq = new Map<string, number>();
  /** Conversations I was removed from or left, and at which seq: a late event from before does not bring them back. */
  private readonly leftAt = new Map<string, number>();
  /** The conversation my last typing `start` went to, until its `stop`. */
  private typingIn: string | undefined;
  private typingSentAt = 0;
  private typingStopTimer: ReturnType<typeof setTimeout> | undefined;
  private typingSweep: ReturnType<typeof setInterval> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly client: ChatClient,
    readonly me: string,
    /** Whether the user can see the page (markRead only then). */
    private readonly isVisible: () => boolean = () => true,
  ) {
    this.unsubscribe.push(
      client.on('conversations', (items) => this.onConversations(items)),
      client.on('event', (event) => this.onEvent(event)),
      client.on('receipt', (receipt) => this.onReceipt(receipt)),
      client.on('presence', (presence) => this.onPresence(presence)),
      client.on('typing', (typing) => this.onTyping(typing)),
      client.on('state', ({ state }) => {
        this.connection =
          state === 'open'
            ? 'online'
            : state === 'closed'
              ? 'closed'
              : state === 'idle'
                ? 'connecting'
                : state;
        // A failure to connect is over once the connection is open again; any other notice stays.
        if (state === 'open' && this.noticeIsConnectFailure) this.notice = undefined;
        this.changed();
      }),
      client.on('error', (error) => this.tell(error.message, error.code === 'CONNECT_FAILED')),
    );
    this.typingSweep = setInterval(() => this.sweepTyping(), 1_000);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  dispose(): void {
    for (const off of this.unsubscribe) off();
    clearInterval(this.typingSweep);
    clearTimeout(this.typingStopTimer);
    clearTimeout(this.refreshTimer);
    this.client.close();
  }

  /** Conversations, newest activity first; those without events (a new direct chat) on top. */
  sortedConversations(): ConversationItem[] {
    const at = (c: ConversationItem) => c.lastEvent?.at ?? Number.MAX_SAFE_INTEGER;
    return [...this.conversations.values()].sort((a, b) => at(b) - at(a) || a.id.localeCompare(b.id));
  }

  thread(id: string): Thread {
    let thread = this.threads.get(id);
    if (!thread) {
      thread = {
        events: new Map(),
        loaded: false,
        loading: false,
        hasOlder: false,
        pending: [],
        readBy: new Map(),
        typing: new Map(),
      };
      this.threads.set(id, thread);
    }
    return thread;
  }

  // -- actions -------------------------------------------------------------------------------------------------

  /** Shows a conversation: loads its newest page and its members' read positions the first time. */
  async open(id: string): Promise<void> {
    if (this.typingIn !== undefined && this.typingIn !== id) this.stopTyping();
    this.ensureConversation(id);
    this.activeId = id;
    this.changed();
    const thread = this.thread(id);
    if (!thread.loaded && !thread.loading) {
      thread.loading = true;
      this.changed();
      try {
        const [page] = await Promise.all([
          this.client.history(id, { limit: PAGE }),
          this.loadReadPositions(id),
        ]);
        for (const event of page.events) this.store(thread, event);
        thread.oldest = page.events[0]?.seq ?? thread.oldest;
        thread.hasOlder = page.hasMore;
        thread.loaded = true;
        // Follow it from here on (no effect when the SDK follows it already).
        this.client.track(id, page.lastSeq);
        const item = this.conversations.get(id);
        if (item && page.lastSeq > item.lastSeq) item.lastSeq = page.lastSeq;
      } catch (error) {
        this.tell(`Could not load the conversation: ${messageOf(error)}`);
      } finally {
        thread.loading = false;
      }
    }
    this.markVisibleRead();
    this.changed();
  }

  close(): void {
    this.stopTyping();
    this.activeId = undefined;
    this.changed();
  }

  dismissNotice(): void {
    this.notice = undefined;
    this.changed();
  }

  /** One older page of the open conversation. */
  async loadOlder(): Promise<number> {
    const id = this.activeId;
    if (!id) return 0;
    const thread = this.thread(id);
    if (thread.loading || !thread.hasOlder || thread.oldest === undefined) return 0;
    thread.loading = true;
    this.changed();
    try {
      const page = await this.client.history(id, { beforeSeq: thread.oldest, limit: PAGE });
      for (const event of page.events) this.store(thread, event);
      thread.oldest = page.events[0]?.seq ?? thread.oldest;
      thread.hasOlder = page.hasMore && page.events.length > 0;
      return page.events.length;
    } catch (error) {
      this.tell(`Could not load older messages: ${messageOf(error)}`);
      return 0;
    } finally {
      thread.loading = false;
      this.changed();
    }
  }

  /** Sends to the open conversation; the message shows as "sending" until its event arrives. */
  send(text: string): void {
    const id = this.activeId;
    const trimmed = text.trim();
    if (!id || trimmed === '') return;
    const thread = this.thread(id);
    const clientMessageId = crypto.randomUUID();
    const pending: PendingMessage = { clientMessageId, text: trimmed.slice(0, LIMITS.maxTextLength) };
    thread.pending.push(pending);
    this.stopTyping();
    this.changed();
    this.client.send(id, pending.text, { clientMessageId }).catch((error: unknown) => {
      pending.failed = messageOf(error);
      this.changed();
    });
  }

  /** Call on every keystroke in the composer: `start` at most every 2 s, `stop` after 3 s of quiet. */
  typed(): void {
    const id = this.activeId;
    if (!id) return;
    const now = Date.now();
    if (now - this.typingSentAt >= LIMITS.typingIntervalMs) {
      this.typingIn = id;
      this.typingSentAt = now;
      this.client.typing(id, 'start');
    }
    clearTimeout(this.typingStopTimer);
    this.typingStopTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  /** Opens (creating locally) the direct conversation with `userId`. */
  startDirect(userId: string): Promise<void> {
    return this.open(directConversationId(this.me, userId));
  }

  /** Creates a group and opens it once the server acknowledged it. */
  async createGroup(name: string, members: readonly string[]): Promise<void> {
    const ack = await this.client.createGroup(name, members);
    const item = this.ensureConversation(ack.conversationId);
    item.title = name.trim();
    await this.open(ack.conversationId);
  }

  /** Marks the open conversation read up to its newest event, if the page is visible. */
  markVisibleRead(): void {
    const id = this.activeId;
    if (!id || !this.isVisible()) return;
    const item = this.conversations.get(id);
    const thread = this.threads.get(id);
    const newest = Math.max(item?.lastSeq ?? 0, ...(thread ? thread.events.keys() : []));
    if (!item || newest === 0) return;
    if (newest > item.readSeq || item.unread > 0) {
      this.client.markRead(id, newest);
      item.readSeq = Math.max(item.readSeq, newest);
      item.unread = 0;
      this.forgetCountedUpTo(id, item.readSeq);
      this.changed();
    }
  }

  // -- what the SDK reports ------------------------------------------------------------------------------------

  /**
   * A list of my conversations (after each connection, or asked for). It may be older than what arrived live
   * meanwhile, and older than a read position this page sent (the SDK sends reads once the list is in): it moves
   * nothing backwards, and adds to its unread count what arrived live after it was taken.
   */
  private onConversations(items: readonly ConversationSnapshot[]): void {
    for (const summary of items) {
      const id = summary.conversationId;
      const left = this.leftAt.get(id);
      if (left !== undefined) {
        if (summary.lastSeq <= left) continue; // taken before I was removed
        this.leftAt.delete(id);
      }
      const item = this.ensureConversation(id);
      if (summary.name && summary.lastSeq >= (this.titleSeq.get(id) ?? 0)) item.title = summary.name;
      item.lastSeq = Math.max(item.lastSeq, summary.lastSeq);
      if (summary.lastEvent && (!item.lastEvent || summary.lastEvent.seq >= item.lastEvent.seq))
        item.lastEvent = summary.lastEvent;
      item.readSeq = Math.max(item.readSeq, summary.readSeq);
      const counted = this.countedIn(id);
      if (summary.lastSeq >= counted.upTo) {
        // What the list counts, less what I read since; then what came live after it.
        const listed = Math.min(summary.unread, Math.max(0, summary.lastSeq - item.readSeq));
        counted.upTo = summary.lastSeq;
        let later = 0;
        for (const seq of counted.seqs) {
          if (seq <= counted.upTo) counted.seqs.delete(seq);
          else if (seq > item.readSeq) later++;
        }
        item.unread = listed + later;
      } else {
        // An older list than one already taken: it can only say I read more.
        item.unread = Math.max(0, Math.min(item.unread, item.lastSeq - item.readSeq));
      }
    }
    this.markVisibleRead();
    this.changed();
  }

  private onEvent(event: ConversationEvent): void {
    const id = event.conversationId;
    const left = this.leftAt.get(id);
    if (left !== undefined) {
      if (event.seq <= left) return; // from before I was removed, arriving late
      this.leftAt.delete(id); // added again
    }
    const known = this.conversations.has(id);
    const item = this.ensureConversation(id);
    if (!known && event.kind !== 'group.created' && item.kind === 'group') this.refreshListSoon();
    if (event.seq >= item.lastSeq) {
      item.lastSeq = event.seq;
      item.lastEvent = event;
    }
    if (
      (event.kind === 'group.created' || event.kind === 'group.renamed') &&
      event.seq >= (this.titleSeq.get(id) ?? 0)
    ) {
      item.title = event.name;
      this.titleSeq.set(id, event.seq);
    }
    if (event.actorId === this.me) {
      item.readSeq = Math.max(item.readSeq, event.seq);
      item.unread = 0;
      this.forgetCountedUpTo(id, item.readSeq);
    } else if (event.seq > item.readSeq && this.countOnce(id, event.seq)) {
      item.unread += 1;
    }
    const thread = this.thread(id);
    // A conversation not opened yet shows its newest page when it is: "Load older" pages back from there.
    if (thread.loaded || thread.loading) this.store(thread, event);
    if (event.actorId === this.me) {
      const index = thread.pending.findIndex((p) => p.clientMessageId === event.clientMessageId);
      if (index >= 0) thread.pending.splice(index, 1);
    } else {
      thread.typing.delete(event.actorId);
    }
    if (event.kind === 'members.removed') for (const user of event.userIds) thread.typing.delete(user);
    const gone =
      (event.kind === 'member.left' && event.actorId === this.me) ||
      (event.kind === 'members.removed' && event.userIds.includes(this.me));
    if (gone) {
      this.conversations.delete(id);
      this.threads.delete(id);
      this.counted.delete(id);
      this.titleSeq.delete(id);
      this.leftAt.set(id, event.seq);
      if (this.typingIn === id) {
        // No `stop` to a conversation I am no longer in: the server would refuse it.
        clearTimeout(this.typingStopTimer);
        this.typingIn = undefined;
        this.typingSentAt = 0;
      }
      if (this.activeId === id) this.activeId = undefined;
      this.tell(`You are no longer in ${item.title}.`);
    }
    if (id === this.activeId) this.markVisibleRead();
    this.changed();
  }

  private onReceipt(receipt: ReceiptFrame): void {
    const item = this.conversations.get(receipt.conversationId);
    if (receipt.userId === this.me) {
      // Read on another device of mine.
      if (item && receipt.readSeq > item.readSeq) {
        item.readSeq = receipt.readSeq;
        item.unread = Math.max(0, Math.min(item.unread, item.lastSeq - item.readSeq));
      }
    } else {
      const readBy = this.thread(receipt.conversationId).readBy;
      readBy.set(receipt.userId, Math.max(readBy.get(receipt.userId) ?? 0, receipt.readSeq));
    }
    this.changed();
  }

  private onPresence(frame: PresenceFrame): void {
    const known = this.presence.get(frame.userId);
    if (known && known.at > frame.at) return; // an older frame that arrived late
    this.presence.set(frame.userId, { online: frame.online, at: frame.at });
    this.changed();
  }

  private onTyping(frame: TypingEventFrame): void {
    if (frame.userId === this.me) return;
    const typing = this.thread(frame.conversationId).typing;
    if (frame.state === 'start') typing.set(frame.userId, Date.now() + TYPING_SHOWN_MS);
    else typing.delete(frame.userId);
    this.changed();
  }

  // -- helpers -------------------------------------------------------------------------------------------------

  private ensureConversation(id: string): ConversationItem {
    let item = this.conversations.get(id);
    if (!item) {
      const group = isGroupConversationId(id);
      const peer = group ? undefined : id.split(':').find((part, i) => i > 0 && part !== this.me);
      item = {
        id,
        kind: group ? 'group' : 'direct',
        title: group ? 'Group' : (peer ?? id),
        ...(peer ? { peer } : {}),
        lastSeq: 0,
        readSeq: 0,
        unread: 0,
      };
      this.conversations.set(id, item);
    }
    return item;
  }

  /** Stores an event in a thread: edits and recalls change their message; an author has read what they wrote. */
  private store(thread: Thread, event: ConversationEvent): void {
    thread.events.set(event.seq, event);
    if (event.kind === 'message') this.amend(thread, event.seq);
    else if (event.kind === 'edit' || event.kind === 'recall') this.amend(thread, event.targetSeq);
    if (event.actorId !== this.me)
      thread.readBy.set(event.actorId, Math.max(thread.readBy.get(event.actorId) ?? 0, event.seq));
  }

  /**
   * Gives the message at `seq` the state its edits and recalls in the thread make, in seq order, whichever came
   * first: an edit before its message (out of order), a copy of the message after its recall, a history page
   * read before an edit that arrived live while the page was on its way.
   */
  private amend(thread: Thread, seq: number): void {
    let message = thread.events.get(seq);
    if (message?.kind !== 'message') return;
    const changes = [...thread.events.values()]
      .filter(
        (e): e is EventOf<'edit' | 'recall'> =>
          (e.kind === 'edit' || e.kind === 'recall') && e.targetSeq === seq,
      )
      .sort((a, b) => a.seq - b.seq);
    if (changes.length === 0) return;
    for (const change of changes) {
      if (message.recalled) break;
      // In history, an edit of a message recalled later says so.
      message =
        change.kind === 'edit' && !change.recalled
          ? { ...message, text: change.text, editedAt: change.at }
          : { ...message, text: '', recalled: true };
    }
    thread.events.set(seq, message);
  }

  /** Whether an event of another member is new to the unread count of its conversation (and now counted). */
  private countOnce(id: string, seq: number): boolean {
    const counted = this.countedIn(id);
    if (seq <= counted.upTo || counted.seqs.has(seq)) return false;
    counted.seqs.add(seq);
    return true;
  }

  /** What is read is never counted again: no need to remember it. */
  private forgetCountedUpTo(id: string, readSeq: number): void {
    const seqs = this.counted.get(id)?.seqs;
    if (seqs) for (const seq of seqs) if (seq <= readSeq) seqs.delete(seq);
  }

  private countedIn(id: string): Counted {
    let counted = this.counted.get(id);
    if (!counted) {
      counted = { upTo: 0, seqs: new Set() };
      this.counted.set(id, counted);
    }
    return counted;
  }

  private async loadReadPositions(id: string): Promise<void> {
    const thread = this.thread(id);
    let cursor: string | undefined;
    for (let pages = 0; pages < 5; pages++) {
      const page = await this.client.listMembers(id, cursor === undefined ? {} : { cursor });
      for (const member of page.members) {
        if (member.userId === this.me) continue;
        thread.readBy.set(member.userId, Math.max(thread.readBy.get(member.userId) ?? 0, member.readSeq));
      }
      cursor = page.nextCursor;
      if (cursor === undefined) return;
    }
  }

  /** A conversation we learnt of from an event we cannot name (added to a group): ask the server. */
  private refreshListSoon(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(async () => {
      try {
        const page = await this.client.listConversations();
        this.onConversations(page.items);
      } catch (error) {
        this.tell(messageOf(error));
      }
    }, 300);
  }

  /** Sends `stop` where my last `start` went, if it is not stopped yet. */
  private stopTyping(): void {
    clearTimeout(this.typingStopTimer);
    this.typingStopTimer = undefined;
    const id = this.typingIn;
    if (id === undefined) return;
    this.typingIn = undefined;
    this.typingSentAt = 0;
    this.client.typing(id, 'stop');
  }

  private sweepTyping(): void {
    const now = Date.now();
    let changed = false;
    for (const thread of this.threads.values()) {
      for (const [user, until] of thread.typing) {
        if (until <= now) {
          thread.typing.delete(user);
          changed = true;
        }
      }
    }
    if (changed) this.changed();
  }

  private tell(notice: string, isConnectFailure = false): void {
    this.notice = notice;
    this.noticeIsConnectFailure = isConnectFailure;
    this.changed();
  }

  private changed(): void {
    this.version++;
    for (const listener of this.listeners) listener();
  }
}

/** The events an unread count holds: every one up to `upTo` (the last list's lastSeq), and `seqs` after it. */
interface Counted {
  upTo: number;
  readonly seqs: Set<number>;
}

type ConversationSnapshot = {
  readonly conversationId: string;
  readonly name?: string | undefined;
  readonly lastSeq: number;
  readonly lastEvent?: ConversationEvent | undefined;
  readonly readSeq: number;
  readonly unread: number;
};

export function messageOf(error: unknown): string {
  if (error instanceof HeraldError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

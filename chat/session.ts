/**
 * The chat itself: what is shown and what the commands do, on the SDK's public API. One conversation is open at a
 * time: its history, then its live events (marked read as they are shown), typing and read state; the others
 * raise a one-line notice and count unread.
 */
import {
  type ConversationEvent,
  directConversationId,
  type HeraldClient,
  HeraldError,
  LIMITS,
  newId,
  type PresenceFrame,
  type ReceiptFrame,
  type TypingEventFrame,
} from '../client/index';
import { ConversationId, UserId } from '../protocol';
import {
  clock,
  formatEvent,
  formatList,
  HELP,
  preview,
  type Style,
  type Summary,
  sanitize,
  titleOf,
  words,
} from './format';
import { Screen } from './screen';

/** How long a typing indicator shows without a new `start` (senders repeat it every few seconds). */
const TYPING_SHOWN_MS = 6_000;
/** Send `typing` at most this often while the user types (the server drops them within 2 s anyway). */
const TYPING_REPEAT_MS = 3_000;
/** Read positions are sent once things settle, not once per message. */
const MARK_READ_DELAY_MS = 300;

interface OpenConversation {
  readonly id: string;
  title: string;
  /** History is loading: live events wait in `buffered`. */
  loading: boolean;
  readonly buffered: ConversationEvent[];
  /** The highest seq shown (history or live): anything at or below is a duplicate. */
  shownMax: number;
  /** The lowest seq loaded, for /more. */
  oldest: number;
  hasOlder: boolean;
  /** Each member's read position, from listMembers and then receipts. */
  readonly readSeqs: Map<string, number>;
  /** The seq of your last message here, for "seen by". */
  myLastSeq: number;
  readonly typers: Map<string, ReturnType<typeof setTimeout>>;
}

interface Pending {
  readonly conversationId: string;
  readonly text: string;
}

export interface SessionOptions {
  readonly client: HeraldClient;
  /** The user id given on the command line; otherwise the token's, as the SDK reads it. */
  readonly user?: string;
  readonly url: string;
  readonly style: Style;
  readonly pageSize: number;
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Called once the chat has closed the client: the process may exit. */
  readonly onExit: () => void;
}

export class ChatSession {
  private readonly client: HeraldClient;
  private readonly style: Style;
  private readonly screen: Screen;
  private readonly conversations = new Map<string, Summary>();
  /** The numbering of the last list shown: `/open <n>` refers to it. New conversations are appended. */
  private order: string[] = [];
  private readonly presence = new Map<string, PresenceFrame>();
  private readonly pending = new Map<string, Pending>();
  private open: OpenConversation | undefined;
  private lines: Promise<void> = Promise.resolve();
  private lastTypingSent = 0;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  private connectedOnce = false;
  private exiting = false;

  constructor(private readonly options: SessionOptions) {
    this.client = options.client;
    this.style = options.style;
    this.screen = new Screen({
      input: options.input,
      output: options.output,
      onLine: (line) => {
        // Leaving does not wait for anything typed before it (nor for the connection).
        if (/^\/(quit|exit|q)\s*$/i.test(line.trim())) return this.quit();
        this.lines = this.lines.then(() => this.handleLine(line)).catch((error) => this.fail(error));
      },
      // End of input (Ctrl-D, or the end of piped commands): what was typed is done first (Ctrl-C leaves at once).
      onClose: () =>
        void this.lines
          .catch(() => undefined)
          .then(() => this.sendsSettled())
          .finally(() => this.quit()),
      onInterrupt: () => this.quit(),
      // A message is shown as pending right away: its echo would only repeat it.
      eraseSubmitted: (line) => this.open !== undefined && isText(line.trim()),
      onKey: (line) => this.onKey(line),
    });
    this.client.on('event', (event) => this.onEvent(event));
    this.client.on('receipt', (receipt) => this.onReceipt(receipt));
    this.client.on('typing', (typing) => this.onTyping(typing));
    this.client.on('presence', (frame) => this.onPresence(frame));
    this.client.on('conversations', (items) => {
      for (const item of items) this.remember(item);
    });
    this.client.on('state', ({ state, previous }) => {
      if (state === 'reconnecting' && previous === 'open')
        this.notice(this.style.notice('Connection lost: reconnecting…'));
      if (state === 'reconnecting' && previous === 'connecting')
        this.notice(
          this.style.error('Could not connect; retrying. Is Herald running there, and is the token valid?'),
        );
      if (state === 'open' && previous === 'reconnecting' && this.connectedOnce)
        this.notice(this.style.notice('Reconnected.'));
      this.updatePrompt();
    });
    this.client.on('error', (error) => this.notice(this.style.error(`! ${error.code}: ${error.message}`)));
  }

  private get me(): string {
    return this.client.userId ?? this.options.user ?? '?';
  }

  /** Connects, then lists the conversations. Typed lines wait until the connection is up. */
  async start(): Promise<void> {
    this.updatePrompt();
    this.screen.print(
      this.style.dim(`Connecting to ${this.options.url} as ${this.options.user ?? "the token's user"}…`),
    );
    this.screen.start();
    const connected = this.client.connect();
    // Lines typed meanwhile wait for the connection and the list.
    this.lines = this.lines.then(async () => {
      await connected;
      this.connectedOnce = true;
      this.screen.print(
        `Connected as ${this.style.bold(this.me)}. ${this.style.dim('/help lists the commands.')}`,
      );
      this.updatePrompt();
      await this.list();
    });
    try {
      await this.lines;
    } catch (error) {
      if (this.exiting) return; // left before the connection was up
      throw error;
    }
  }

  // -- commands ------------------------------------------------------------------------------------------------

  private async handleLine(raw: string): Promise<void> {
    const line = raw.trim();
    if (this.exiting || line === '') return;
    if (isText(line)) {
      this.sendText(line.startsWith('//') ? line.slice(1) : line);
      return;
    }
    const [command = '', ...args] = words(line.slice(1));
    switch (command.toLowerCase()) {
      case 'list':
      case 'ls':
        return this.list();
      case 'open':
      case 'o':
        return this.openArg(args[0]);
      case 'dm':
        return this.dm(args[0]);
      case 'group':
        return this.group(args);
      case 'more':
        return this.more();
      case 'members':
        return this.members();
      case 'close':
        this.close();
        return;
      case 'help':
      case '?':
        this.screen.print(HELP.map((h) => this.style.dim(h)));
        return;
      case 'quit':
      case 'exit':
      case 'q':
        this.quit();
        return;
      default:
        this.notice(this.style.error(`Unknown command /${command}: /help lists them.`));
    }
  }

  private async list(): Promise<void> {
    const page = await this.client.listConversations({ limit: LIMITS.maxConversationsPage });
    for (const item of page.items) this.remember(item);
    const listed = page.items.map((item) => item.conversationId);
    // Conversations known from live events but not on this page keep their place after it.
    this.order = [...listed, ...this.order.filter((id) => !listed.includes(id))];
    const entries = this.order.flatMap((id) => {
      const summary = this.conversations.get(id);
      if (!summary) return [];
      const other = summary.kind === 'direct' ? titleOf(id, this.me) : undefined;
      const seen = other === undefined ? undefined : this.presence.get(other);
      return [{ summary, ...(seen ? { online: seen.online } : {}) }];
    });
    this.screen.print(formatList(entries, this.me, this.style));
    if (page.nextCursor)
      this.screen.print(this.style.dim('(only your 50 most recent conversations are listed)'));
  }

  private async openArg(arg: string | undefined): Promise<void> {
    if (!arg) return this.notice(this.style.error('Usage: /open <n|conversationId>'));
    if (/^\d+$/.test(arg)) {
      const id = this.order[Number(arg) - 1];
      if (!id) return this.notice(this.style.error(`No conversation ${arg}: /list shows them.`));
      return this.openConversation(id);
    }
    const id = ConversationId.safeParse(arg);
    if (!id.success) return this.notice(this.style.error(`Not a conversation id: ${sanitize(arg)}`));
    return this.openConversation(id.data);
  }

  private async dm(arg: string | undefined): Promise<void> {
    const user = UserId.safeParse(arg);
    if (!user.success) return this.notice(this.style.error('Usage: /dm <user>'));
    if (user.data === this.me)
      return this.notice(this.style.error('There is no direct conversation with yourself.'));
    return this.openConversation(directConversationId(this.me, user.data));
  }

  private async group(args: readonly string[]): Promise<void> {
    const [name, ...members] = args;
    const users = members.map((m) => UserId.safeParse(m));
    if (!name?.trim() || members.length === 0 || users.some((u) => !u.success))
      return this.notice(this.style.error('Usage: /group <name> <user...> (quote a name with spaces)'));
    const others = [...new Set(users.flatMap((u) => (u.success && u.data !== this.me ? [u.data] : [])))];
    this.notice(this.style.dim(`Creating the group "${sanitize(name)}" with ${others.join(', ')}…`));
    try {
      const ack = await this.client.createGroup(name.trim(), others);
      this.remember({
        conversationId: ack.conversationId,
        kind: 'group',
        name: name.trim(),
        lastSeq: ack.seq,
        readSeq: 0,
        unread: 0,
      });
      if (!this.order.includes(ack.conversationId)) this.order.push(ack.conversationId);
      await this.openConversation(ack.conversationId);
    } catch (error) {
      this.notice(this.style.error(`The group was not created: ${describe(error)}`));
    }
  }

  private async openConversation(id: string): Promise<void> {
    this.close();
    const summary = this.conversations.get(id);
    const open: OpenConversation = {
      id,
      title: titleOf(id, this.me, summary?.name),
      loading: true,
      buffered: [],
      shownMax: 0,
      oldest: 1,
      hasOlder: false,
      readSeqs: new Map(),
      myLastSeq: 0,
      typers: new Map(),
    };
    this.open = open;
    this.updatePrompt();
    const kind = id.startsWith('dm:') ? 'direct conversation' : 'group';
    this.screen.print(this.style.bold(`── ${open.title} (${kind} ${id}) ──`));
    let page: Awaited<ReturnType<HeraldClient['history']>>;
    let members: Awaited<ReturnType<HeraldClient['listMembers']>> | undefined;
    try {
      [page, members] = await Promise.all([
        this.client.history(id, { limit: this.options.pageSize }),
        this.client.listMembers(id).catch(() => undefined),
      ]);
    } catch (error) {
      if (this.open === open) this.open = undefined;
      this.updatePrompt();
      this.notice(this.style.error(`Cannot open ${open.title}: ${describe(error)}`));
      return;
    }
    if (this.open !== open) return; // another conversation was opened meanwhile
    for (const member of members?.members ?? []) open.readSeqs.set(member.userId, member.readSeq);
    const shown = page.events.filter(inHistory);
    if (page.events.length === 0)
      this.screen.print(this.style.dim('No messages yet: type to send the first.'));
    else if (page.hasMore) this.screen.print(this.style.dim('… older messages: /more'));
    this.screen.print(shown.map((event) => formatEvent(event, this.me, this.style)));
    for (const event of page.events) if (isMine(event, this.me)) open.myLastSeq = event.seq;
    open.shownMax = Math.max(page.lastSeq, page.events.at(-1)?.seq ?? 0);
    open.oldest = page.events[0]?.seq ?? open.shownMax + 1;
    open.hasOlder = page.hasMore;
    if (open.myLastSeq > 0 && open.myLastSeq === page.events.at(-1)?.seq) this.reportSeen(open);
    // Follow it from here (no effect if the SDK already does): later events arrive live.
    this.client.track(id, open.shownMax);
    open.loading = false;
    for (const event of open.buffered.splice(0).sort((a, b) => a.seq - b.seq)) this.show(open, event);
    if (summary) summary.unread = 0;
    this.markRead(open);
    this.updatePrompt();
  }

  private async more(): Promise<void> {
    const open = this.open;
    if (!open || open.loading) return this.notice(this.style.error('Open a conversation first.'));
    if (!open.hasOlder || open.oldest <= 1)
      return this.notice(this.style.dim('(this is the beginning of the conversation)'));
    const page = await this.client.history(open.id, { beforeSeq: open.oldest, limit: this.options.pageSize });
    if (this.open !== open) return;
    const first = page.events[0]?.seq;
    const last = page.events.at(-1)?.seq;
    this.screen.print(
      this.style.bold(
        first === undefined
          ? '── no older messages ──'
          : `── older messages of ${open.title}: #${first}–#${last} ──`,
      ),
    );
    this.screen.print(page.events.filter(inHistory).map((event) => formatEvent(event, this.me, this.style)));
    open.oldest = first ?? 1;
    open.hasOlder = page.hasMore && first !== undefined;
    this.screen.print(
      this.style.dim(open.hasOlder ? '── /more for older ──' : '── the beginning of the conversation ──'),
    );
  }

  private async members(): Promise<void> {
    const open = this.open;
    if (!open) return this.notice(this.style.error('Open a conversation first.'));
    const lines: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.client.listMembers(open.id, cursor === undefined ? {} : { cursor });
      for (const m of page.members) {
        open.readSeqs.set(m.userId, Math.max(m.readSeq, open.readSeqs.get(m.userId) ?? 0));
        const online = this.presence.get(m.userId)?.online ? this.style.me(' ●') : '';
        lines.push(`  ${m.userId}${online} ${this.style.dim(`${m.role}, read up to #${m.readSeq}`)}`);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined && lines.length < 1_000);
    this.screen.print([this.style.bold(`Members of ${open.title} (${lines.length}):`), ...lines]);
  }

  private close(): void {
    const open = this.open;
    if (!open) return;
    for (const timer of open.typers.values()) clearTimeout(timer);
    this.flushRead();
    this.open = undefined;
    this.updatePrompt();
  }

  private sendText(text: string): void {
    const open = this.open;
    if (!open) {
      this.notice(this.style.error('No conversation is open: /list, then /open <n>, or /dm <user>.'));
      return;
    }
    if (text.length > LIMITS.maxTextLength) {
      this.notice(this.style.error(`Too long: at most ${LIMITS.maxTextLength} characters.`));
      return;
    }
    const clientMessageId = newId();
    this.pending.set(clientMessageId, { conversationId: open.id, text });
    this.screen.print(this.pendingLine(text), clientMessageId);
    this.lastTypingSent = 0;
    this.client.send(open.id, text, { clientMessageId }).then(
      (ack) => {
        // Normally the SDK's own message event settles it first; this covers an ack without one.
        if (this.pending.delete(clientMessageId))
          this.notice(
            this.style.dim(`✓ #${ack.seq} sent: ${preview({ ...ackAsEvent(ack, this.me), text }, this.me)}`),
          );
      },
      (error: unknown) => {
        this.pending.delete(clientMessageId);
        if (error instanceof HeraldError && error.code === 'CLOSED') return;
        this.notice(this.style.error(`✗ not sent (${describe(error)}): ${sanitize(text).slice(0, 40)}`));
      },
    );
  }

  /** Waits (a while) for the messages still pending: leaving at the end of piped input must not drop them. */
  private async sendsSettled(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline && !this.exiting)
      await new Promise((resolve) => setTimeout(resolve, 100));
  }

  private quit(): void {
    if (this.exiting) return;
    this.exiting = true;
    this.close();
    this.client.close();
    this.screen.print(this.style.dim('Bye.'));
    this.screen.close();
    this.options.onExit();
  }

  // -- what arrives --------------------------------------------------------------------------------------------

  private onEvent(event: ConversationEvent): void {
    const summary = this.summaryFor(event);
    const open = this.open;
    const mineSent = this.pending.get(event.clientMessageId);
    if (mineSent && isMine(event, this.me)) {
      this.pending.delete(event.clientMessageId);
      if (open?.id === event.conversationId && !open.loading) {
        const line = `${formatEvent(event, this.me, this.style)} ${this.style.me('✓')}`;
        if (!this.screen.replace(event.clientMessageId, line))
          this.screen.print(this.style.dim(`✓ #${event.seq} sent: ${preview(event, this.me)}`));
        open.shownMax = Math.max(open.shownMax, event.seq);
        open.myLastSeq = Math.max(open.myLastSeq, event.seq);
        this.reportSeen(open);
        this.markRead(open);
        return;
      }
      if (open?.id !== event.conversationId) {
        const where = titleOf(event.conversationId, this.me, summary.name);
        this.notice(this.style.dim(`✓ #${event.seq} sent to ${where}: ${preview(event, this.me)}`));
        return;
      }
    }
    if (open?.id === event.conversationId) {
      if (open.loading) open.buffered.push(event);
      else this.show(open, event);
      return;
    }
    if (event.actorId === this.me) return;
    summary.unread += 1;
    if (!this.order.includes(event.conversationId)) this.order.push(event.conversationId);
    const n = this.order.indexOf(event.conversationId) + 1;
    const where =
      summary.kind === 'group'
        ? `${this.style.bold(`[${titleOf(event.conversationId, this.me, summary.name)}]`)} `
        : '';
    this.notice(
      `${this.style.notice('•')} ${where}${preview(event, this.me)} ${this.style.dim(`(${summary.unread} unread: /open ${n})`)}`,
    );
  }

  /** Shows one live event of the open conversation, once, and marks it read. */
  private show(open: OpenConversation, event: ConversationEvent): void {
    if (event.seq <= open.shownMax) return;
    open.shownMax = event.seq;
    const typer = open.typers.get(event.actorId);
    if (typer) {
      clearTimeout(typer);
      open.typers.delete(event.actorId);
      this.updatePrompt();
    }
    if (event.kind === 'group.renamed') open.title = sanitize(event.name);
    this.screen.print(formatEvent(event, this.me, this.style));
    if (isMine(event, this.me)) open.myLastSeq = event.seq;
    this.markRead(open);
  }

  private onReceipt(receipt: ReceiptFrame): void {
    const summary = this.conversations.get(receipt.conversationId);
    if (receipt.userId === this.me) {
      // Read on another device.
      if (summary && receipt.readSeq >= summary.lastSeq) summary.unread = 0;
      return;
    }
    const open = this.open;
    if (open?.id !== receipt.conversationId) return;
    const before = open.readSeqs.get(receipt.userId) ?? 0;
    if (receipt.readSeq <= before) return;
    open.readSeqs.set(receipt.userId, receipt.readSeq);
    if (open.myLastSeq > 0 && before < open.myLastSeq && receipt.readSeq >= open.myLastSeq)
      this.screen.print(this.style.dim(`  ✓ seen by ${receipt.userId}`));
  }

  /** "seen by" under your last message: the members whose read position is at or past it. */
  private reportSeen(open: OpenConversation): void {
    if (open.myLastSeq === 0) return;
    const readers = [...open.readSeqs]
      .filter(([user, seq]) => user !== this.me && seq >= open.myLastSeq)
      .map(([user]) => user);
    if (readers.length > 0) this.screen.print(this.style.dim(`  ✓ seen by ${readers.join(', ')}`));
  }

  private onTyping(typing: TypingEventFrame): void {
    const open = this.open;
    if (open?.id !== typing.conversationId || typing.userId === this.me) return;
    clearTimeout(open.typers.get(typing.userId));
    open.typers.delete(typing.userId);
    if (typing.state === 'start') {
      open.typers.set(
        typing.userId,
        setTimeout(() => {
          open.typers.delete(typing.userId);
          this.updatePrompt();
        }, TYPING_SHOWN_MS),
      );
    }
    this.updatePrompt();
  }

  private onPresence(frame: PresenceFrame): void {
    const known = this.presence.get(frame.userId);
    if (known && known.at > frame.at) return;
    this.presence.set(frame.userId, frame);
    const open = this.open;
    if (open?.id.startsWith('dm:') && titleOf(open.id, this.me) === frame.userId)
      this.notice(this.style.dim(`${frame.userId} is ${frame.online ? 'online' : 'offline'}`));
  }

  /** Tells the others you are typing, at most every few seconds, while a message is being written. */
  private onKey(line: string): void {
    const open = this.open;
    if (!open || line.length === 0 || line.startsWith('/')) return;
    const now = Date.now();
    if (now - this.lastTypingSent < TYPING_REPEAT_MS) return;
    this.lastTypingSent = now;
    this.client.typing(open.id, 'start');
  }

  // -- plumbing ------------------------------------------------------------------------------------------------

  private remember(item: Summary): void {
    const known = this.conversations.get(item.conversationId);
    if (known && known.lastSeq > item.lastSeq) return;
    this.conversations.set(item.conversationId, { ...item });
    if (!this.order.includes(item.conversationId)) this.order.push(item.conversationId);
  }

  private summaryFor(event: ConversationEvent): Summary {
    let summary = this.conversations.get(event.conversationId);
    if (!summary) {
      summary = {
        conversationId: event.conversationId,
        kind: event.conversationId.startsWith('dm:') ? 'direct' : 'group',
        lastSeq: 0,
        readSeq: 0,
        unread: 0,
      };
      this.conversations.set(event.conversationId, summary);
    }
    summary.lastSeq = Math.max(summary.lastSeq, event.seq);
    summary.lastEvent = event;
    if (event.kind === 'group.created' || event.kind === 'group.renamed') summary.name = event.name;
    return summary;
  }

  /** Marks what the open conversation shows as read, a moment later (one frame for a burst). */
  private markRead(open: OpenConversation): void {
    const summary = this.conversations.get(open.id);
    if (summary) {
      summary.readSeq = Math.max(summary.readSeq, open.shownMax);
      summary.unread = 0;
    }
    if (this.readTimer) return;
    this.readTimer = setTimeout(() => this.flushRead(), MARK_READ_DELAY_MS);
  }

  private flushRead(): void {
    clearTimeout(this.readTimer);
    this.readTimer = undefined;
    const open = this.open;
    if (open && open.shownMax > 0) this.client.markRead(open.id, open.shownMax);
  }

  private updatePrompt(): void {
    const offline = this.client.state === 'open' ? '' : this.style.dim(` (${this.client.state})`);
    const open = this.open;
    if (!open) {
      this.screen.setPrompt(`herald${offline}> `);
      return;
    }
    const typers = [...open.typers.keys()];
    const typing =
      typers.length === 0
        ? ''
        : this.style.dim(
            `[${typers.slice(0, 3).join(', ')}${typers.length > 3 ? '…' : ''} ${typers.length === 1 ? 'is' : 'are'} typing…] `,
          );
    this.screen.setPrompt(`${typing}${open.title}${offline}> `);
  }

  private pendingLine(text: string): string {
    return `${this.style.dim(`…  ${clock(Date.now())}`)} ${this.style.me(this.me)}: ${sanitize(text)} ${this.style.dim('(sending)')}`;
  }

  private notice(line: string): void {
    this.screen.print(line);
  }

  private fail(error: unknown): void {
    if (this.exiting) return;
    this.notice(this.style.error(`! ${describe(error)}`));
  }
}

/** A line that is a message rather than a command; `//` starts a message with a slash. */
const isText = (line: string) => line !== '' && (!line.startsWith('/') || line.startsWith('//'));

/** Edits and recalls are already reflected in the messages a history page returns. */
const inHistory = (event: ConversationEvent) => event.kind !== 'edit' && event.kind !== 'recall';

const isMine = (event: ConversationEvent, me: string) => event.kind === 'message' && event.actorId === me;

function ackAsEvent(
  ack: { conversationId: string; seq: number; at: number; clientMessageId: string },
  me: string,
) {
  return { kind: 'message' as const, ...ack, actorId: me };
}

function describe(error: unknown): string {
  if (error instanceof HeraldError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

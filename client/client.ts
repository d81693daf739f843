import {
  type AckFrame,
  CLIENT_FRAMES,
  type ClientFrame,
  type ConversationEvent,
  type ConversationsPageFrame,
  type ErrorFrame,
  type HistoryFrame,
  type HistoryPageFrame,
  isKnownEvent,
  isKnownServerFrame,
  type KnownLenientServerFrame,
  type LenientConversationEvent,
  type LenientConversationsPageFrame,
  type LenientHistoryPageFrame,
  LenientServerFrames,
  type LenientSyncPageFrame,
  LIMITS,
  type ListConversationsFrame,
  type ListMembersFrame,
  type MembersFrame,
  type ServerFrame,
  type SyncFrame,
} from '../protocol';
import { type BackoffOptions, backoffDelay } from './backoff';
import { CatchUp } from './catch-up';
import { Emitter } from './emitter';
import { HeraldError, isRetryable } from './errors';
import type { CommandAck, ConnectionState, HeraldEventMap, Unsupported } from './events';
import { newId, tokenSubject } from './ids';
import { type CommandFrame, laneOf, Outbox, type PendingCommand } from './outbox';
import { RateLimiter } from './rate-limiter';
import { Sequencer } from './sequencer';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from './socket';
import { type HeraldStore, MemoryStore } from './store';

export interface HeraldClientOptions {
  /** The WebSocket API's URL, `wss://<api-id>.execute-api.<region>.amazonaws.com/<stage>`. */
  readonly url: string;
  /** Returns a fresh token; called before every connection (first, reconnects, renewals). */
  readonly token: () => string | Promise<string>;
  /**
   * Your user id, to recognise your own events. @default the token's `sub`, read (not verified) from the JWT
   */
  readonly userId?: string;
  /** A WebSocket constructor, e.g. `ws`'s in older Node versions. @default globalThis.WebSocket */
  readonly WebSocket?: WebSocketConstructor;
  /** Where positions and pending commands are kept. @default new MemoryStore() */
  readonly store?: HeraldStore;
  /** Reconnect delays: full jitter up to min(maxMs, baseMs * 2^attempt). @default { baseMs: 500, maxMs: 30000 } */
  readonly backoff?: BackoffOptions;
  /** Send a `ping` after this long without sending anything. @default 240000 (4 min; API Gateway idles out at 10) */
  readonly pingIntervalMs?: number;
  /** A connection whose `pong` does not come within this is dead: it is dropped and replaced. @default 20000 */
  readonly pongTimeoutMs?: number;
  /** Renew the connection after this long (API Gateway closes it at 2 h). @default 6600000 (1 h 50 min) */
  readonly renewAfterMs?: number;
  /** Up to this much is taken off `renewAfterMs` at random, so clients do not renew together. @default 300000 */
  readonly renewJitterMs?: number;
  /** Send a command again (same clientMessageId) when it is not answered within this; doubles up to 8x. @default 10000 */
  readonly commandTimeoutMs?: number;
  /** A query not answered within this rejects with `TIMEOUT`. @default 30000 */
  readonly queryTimeoutMs?: number;
  /** A gap in a conversation still open after this is filled with `sync`. @default 2000 */
  readonly gapTimeoutMs?: number;
  /** After `RATE_LIMITED` or `INTERNAL`, send again after this. @default 2000 */
  readonly retryDelayMs?: number;
  /** Frames per window the SDK allows itself, below the server's 20 in 2 s. @default { frames: 18, windowMs: 2100 } */
  readonly rateLimit?: { readonly frames: number; readonly windowMs: number };
  /**
   * Commands in flight per conversation. 1 keeps your commands in the order you issued them: the server may
   * number two commands sent close together in either order. @default 1
   */
  readonly pipeline?: number;
  /**
   * After each connection and reconnection (not renewals), page `listConversations`, follow the conversations the
   * SDK did not know from their current `lastSeq`, and emit `conversations`. @default true
   */
  readonly discoverConversations?: boolean;
  /** Random numbers in [0, 1) for jitter; injectable for tests. @default Math.random */
  readonly random?: () => number;
}

interface Link {
  readonly id: number;
  readonly ws: WebSocketLike;
  open: boolean;
  closed: boolean;
  pingTimer?: ReturnType<typeof setTimeout>;
  pongTimer?: ReturnType<typeof setTimeout>;
  renewTimer?: ReturnType<typeof setTimeout>;
}

type QueryFrame = HistoryFrame | SyncFrame | ListConversationsFrame | ListMembersFrame;
/** As the lenient schemas give them: events of kinds this SDK does not know included, to be filtered out. */
interface QueryAnswers {
  history: LenientHistoryPageFrame;
  sync: LenientSyncPageFrame;
  listConversations: LenientConversationsPageFrame;
  listMembers: MembersFrame;
}
const ANSWER_TYPE = {
  history: 'history',
  sync: 'sync',
  listConversations: 'conversations',
  listMembers: 'members',
} as const satisfies Record<keyof QueryAnswers, ServerFrame['type']>;

interface PendingQuery {
  readonly frame: QueryFrame;
  queued: boolean;
  /** The connection it went out on. */
  sentOn?: number;
  readonly resolve: (frame: KnownLenientServerFrame) => void;
  readonly reject: (error: HeraldError) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** A page of a conversation's events. */
export type HistoryPage = Omit<HistoryPageFrame, 'type' | 'v' | 'requestId'>;
/** A page of your conversations, newest activity first. */
export type ConversationsPage = Omit<ConversationsPageFrame, 'type' | 'v' | 'requestId'>;
/** A page of a conversation's members, by user id. */
export type MembersPage = Omit<MembersFrame, 'type' | 'v' | 'requestId'>;

/** Options of every command helper. */
export interface CommandOptions {
  /** The command's idempotency key, e.g. to show the message before its ack. @default a fresh UUID */
  readonly clientMessageId?: string;
}

type OutItem = { readonly frame: ClientFrame; readonly onSent?: (link: Link) => void };

/**
 * A Herald client: one logical connection that stays open (keepalive, renewal before API Gateway's 2-hour limit,
 * reconnection with backoff), delivers each conversation's events once and in order, and sends commands that
 * survive disconnections.
 *
 * ```ts
 * const client = new HeraldClient({ url, token: () => fetchToken() });
 * client.on('message', (m) => console.log(m.actorId, m.text));
 * await client.connect();
 * const { seq } = await client.send('dm:alice:bob', 'Hi Bob');
 * ```
 */
export class HeraldClient {
  private readonly emitter = new Emitter<HeraldEventMap>((error, type) => {
    if (type !== 'error')
      this.report(new HeraldError('HANDLER_FAILED', `a '${String(type)}' handler threw`, { cause: error }));
  });
  /** Events of kinds this SDK does not know go through it too: they take their seq, and are not emitted. */
  private readonly sequencer = new Sequencer<LenientConversationEvent>();
  /** The event kinds and frame types this SDK does not know that it reported already (`unsupported`). */
  private readonly unsupportedSeen = new Set<string>();
  private readonly outbox: Outbox;
  private readonly store: HeraldStore;
  private readonly limiter: RateLimiter;
  private readonly random: () => number;
  private connectionState: ConnectionState = 'idle';
  private me: string | undefined;
  private active: Link | undefined;
  private standby: Link | undefined;
  private readonly retiring = new Set<Link>();
  private linkCount = 0;
  private attempt = 0;
  /** Commands may go out: false from a connection's loss until the next one has caught up. */
  private ready = false;
  private loaded: Promise<void> | undefined;
  private connected: { resolve: () => void; reject: (e: HeraldError) => void } | undefined;
  private readonly out: OutItem[] = [];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly queries = new Map<string, PendingQuery>();
  private readonly waiters = new Map<
    string,
    { resolve: (a: CommandAck) => void; reject: (e: HeraldError) => void }
  >();
  private readonly commandTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly sentOn = new Map<string, number>();
  private readonly gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly reads = new Map<string, number>();
  private readonly catchUp = new CatchUp({
    sync: (positions) => this.request({ action: 'sync', v: 1, requestId: newId(), positions }),
    historyAfter: (conversationId, afterSeq) =>
      this.request({
        action: 'history',
        v: 1,
        requestId: newId(),
        conversationId,
        afterSeq,
        limit: LIMITS.maxHistoryPage,
      }),
    lastSeq: (conversationId) => this.sequencer.lastSeq(conversationId),
    accept: (event) => this.acceptCaughtUp(event),
    forget: (conversationId) => this.forget(conversationId),
    failed: (conversationIds, error) => {
      if (!(error instanceof HeraldError && error.code === 'CLOSED')) this.report(toHeraldError(error));
      for (const id of conversationIds) this.release(id, []); // a known gap tries again later
    },
    pause: (ms) => new Promise<void>((resolve) => this.later(ms, resolve)),
    stopped: () => this.connectionState === 'closed',
  });

  constructor(private readonly options: HeraldClientOptions) {
    this.store = options.store ?? new MemoryStore();
    this.outbox = new Outbox(options.pipeline ?? 1);
    this.limiter = new RateLimiter(options.rateLimit?.frames ?? 18, options.rateLimit?.windowMs ?? 2_100);
    this.random = options.random ?? Math.random;
    this.me = options.userId;
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof HeraldEventMap>(type: K, handler: (payload: HeraldEventMap[K]) => void): () => void {
    return this.emitter.on(type, handler);
  }

  get state(): ConnectionState {
    return this.connectionState;
  }

  /** Your user id: the option, or the `sub` of the last token. */
  get userId(): string | undefined {
    return this.me;
  }

  /** Commands not answered yet (queued offline, or in flight). */
  get pendingCommands(): number {
    return this.outbox.size;
  }

  /** The conversations the SDK follows, and the last seq it emitted in each. */
  positions(): Record<string, number> {
    return this.sequencer.positions();
  }

  /**
   * Follows a conversation from `lastSeq`: events after it will be emitted, in order (for example after showing
   * its history). No effect on a conversation already followed.
   */
  track(conversationId: string, lastSeq: number): void {
    if (this.sequencer.isTracked(conversationId)) return;
    this.sequencer.track(conversationId, lastSeq);
    this.persist(() => this.store.setPosition(conversationId, lastSeq));
    if (this.ready) void this.catchUp.request([conversationId]);
  }

  /**
   * Loads the store and opens the connection. Resolves once connected and caught up; the client keeps
   * reconnecting on its own whatever happens, until `close()`.
   */
  connect(): Promise<void> {
    if (this.connectionState === 'closed')
      return Promise.reject(new HeraldError('CLOSED', 'the client is closed'));
    if (this.loaded) return this.loaded;
    this.loaded = new Promise<void>((resolve, reject) => {
      this.connected = { resolve, reject };
    });
    this.loaded.catch(() => undefined); // awaiting callers still see the rejection
    void this.start();
    return this.loaded;
  }

  /** Closes the connection for good. Unanswered commands reject with `CLOSED` and stay in the store. */
  close(): void {
    if (this.connectionState === 'closed') return;
    this.setState('closed');
    for (const timer of [...this.timers, ...this.commandTimers.values(), ...this.gapTimers.values()]) {
      clearTimeout(timer);
    }
    clearTimeout(this.drainTimer);
    clearTimeout(this.pumpTimer);
    for (const link of [this.active, this.standby, ...this.retiring])
      if (link) this.dropLink(link, 1000, 'client closed');
    const closed = new HeraldError('CLOSED', 'the client was closed');
    for (const query of this.queries.values()) {
      clearTimeout(query.timer);
      query.reject(closed);
    }
    this.queries.clear();
    for (const waiter of this.waiters.values()) waiter.reject(closed);
    this.waiters.clear();
    this.connected?.reject(closed);
  }

  // -- commands ------------------------------------------------------------------------------------------------

  /** Posts a message. Resolves with its `seq` and `at` once stored; offline, it waits in the store. */
  send(conversationId: string, text: string, options?: CommandOptions): Promise<CommandAck> {
    return this.command({ action: 'send', v: 1, conversationId, clientMessageId: this.id(options), text });
  }

  /** Replaces the text of your message at `targetSeq`. */
  edit(
    conversationId: string,
    targetSeq: number,
    text: string,
    options?: CommandOptions,
  ): Promise<CommandAck> {
    return this.command({
      action: 'edit',
      v: 1,
      conversationId,
      clientMessageId: this.id(options),
      targetSeq,
      text,
    });
  }

  /** Withdraws a message (yours within the recall window; any, for a group's owner and admins). */
  recall(conversationId: string, targetSeq: number, options?: CommandOptions): Promise<CommandAck> {
    return this.command({
      action: 'recall',
      v: 1,
      conversationId,
      clientMessageId: this.id(options),
      targetSeq,
    });
  }

  /** Creates a group; the ack's `conversationId` is its id. */
  createGroup(name: string, members: readonly string[], options?: CommandOptions): Promise<CommandAck> {
    return this.command({
      action: 'createGroup',
      v: 1,
      clientMessageId: this.id(options),
      name,
      members: [...members],
    });
  }

  addMembers(
    conversationId: string,
    userIds: readonly string[],
    role?: 'admin' | 'member',
    options?: CommandOptions,
  ): Promise<CommandAck> {
    const frame: CommandFrame = {
      action: 'addMembers',
      v: 1,
      conversationId,
      clientMessageId: this.id(options),
      userIds: [...userIds],
      ...(role ? { role } : {}),
    };
    return this.command(frame);
  }

  removeMembers(
    conversationId: string,
    userIds: readonly string[],
    options?: CommandOptions,
  ): Promise<CommandAck> {
    return this.command({
      action: 'removeMembers',
      v: 1,
      conversationId,
      clientMessageId: this.id(options),
      userIds: [...userIds],
    });
  }

  leave(conversationId: string, options?: CommandOptions): Promise<CommandAck> {
    return this.command({ action: 'leave', v: 1, conversationId, clientMessageId: this.id(options) });
  }

  rename(conversationId: string, name: string, options?: CommandOptions): Promise<CommandAck> {
    return this.command({ action: 'rename', v: 1, conversationId, clientMessageId: this.id(options), name });
  }

  /**
   * Moves your read position to `seq`. The server answers nothing on success, so neither does this; offline, the
   * highest position per conversation is sent on reconnect. A refusal comes as an `error` event.
   */
  markRead(conversationId: string, seq: number): void {
    this.reads.set(conversationId, Math.max(seq, this.reads.get(conversationId) ?? 0));
    if (this.ready) this.flushReads();
  }

  /** Shows or clears your typing indicator; best effort, dropped while disconnected. */
  typing(conversationId: string, state: 'start' | 'stop'): void {
    if (this.active?.open) this.enqueue({ frame: { action: 'typing', v: 1, conversationId, state } });
  }

  // -- queries -------------------------------------------------------------------------------------------------

  /**
   * One page of a conversation's events, ascending by seq: backwards from `beforeSeq` (default: the newest), or
   * forwards from `afterSeq`.
   */
  async history(
    conversationId: string,
    page: { readonly beforeSeq?: number; readonly afterSeq?: number; readonly limit?: number } = {},
  ): Promise<HistoryPage> {
    let query = page;
    for (let round = 1; ; round++) {
      const answer = answerOf(
        await this.request({ action: 'history', v: 1, requestId: newId(), conversationId, ...query }),
      );
      // Events of kinds this SDK does not know are left out (their seqs stay taken: the page's range is the same).
      const events = this.knownOnly(answer.events);
      const first = answer.events[0];
      const last = answer.events.at(-1);
      // A page of nothing but unknown kinds would read as the end to a caller paging by the first or last seq:
      // the next page in the same direction is fetched instead (a few at most).
      if (events.length > 0 || !answer.hasMore || !first || !last || round >= 10)
        return { ...answer, events };
      query =
        page.afterSeq !== undefined ? { ...page, afterSeq: last.seq } : { ...page, beforeSeq: first.seq };
    }
  }

  /** One page of your conversations, newest activity first; pass the previous page's `nextCursor` for the next. */
  async listConversations(
    page: { readonly cursor?: string; readonly limit?: number } = {},
  ): Promise<ConversationsPage> {
    const answer = answerOf(
      await this.request({
        action: 'listConversations',
        v: 1,
        requestId: newId(),
        ...page,
      }),
    );
    // A last event of a kind this SDK does not know is left out, as if the conversation listed none.
    const items = answer.items.map(({ lastEvent, ...item }) => {
      const [known] = lastEvent ? this.knownOnly([lastEvent]) : [];
      return known ? { ...item, lastEvent: known } : item;
    });
    return { ...answer, items };
  }

  /** One page of a conversation's members, ascending by user id. */
  async listMembers(
    conversationId: string,
    page: { readonly cursor?: string; readonly limit?: number } = {},
  ): Promise<MembersPage> {
    return answerOf(
      await this.request({
        action: 'listMembers',
        v: 1,
        requestId: newId(),
        conversationId,
        ...page,
      }),
    );
  }

  // -- connection ----------------------------------------------------------------------------------------------

  private async start(): Promise<void> {
    try {
      const snapshot = await this.store.load();
      for (const [id, seq] of Object.entries(snapshot.positions)) this.sequencer.track(id, seq);
      for (const command of snapshot.pending) this.outbox.add(command);
    } catch (error) {
      this.report(new HeraldError('STORE_FAILED', 'the store failed to load', { cause: error }));
    }
    if (this.connectionState === 'closed') return;
    this.setState('connecting');
    await this.openLink();
  }

  /** Opens a connection: the first or a reconnection, or (with `renewing`) the successor of that connection. */
  private async openLink(renewing?: Link): Promise<void> {
    const renewal = renewing !== undefined;
    let token: string;
    try {
      token = await this.options.token();
    } catch (error) {
      this.report(new HeraldError('CONNECT_FAILED', 'the token function failed', { cause: error }));
      if (renewal) this.scheduleRenewal(this.active, this.retryAfter());
      else this.scheduleReconnect();
      return;
    }
    if (this.connectionState === 'closed') return;
    if (renewing && (renewing !== this.active || !renewing.open || this.standby)) return; // replaced meanwhile
    this.me = this.options.userId ?? tokenSubject(token) ?? this.me;
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) {
      this.report(
        new HeraldError('CONNECT_FAILED', 'no WebSocket implementation: pass the WebSocket option'),
      );
      return;
    }
    const separator = this.options.url.includes('?') ? '&' : '?';
    let ws: WebSocketLike;
    try {
      ws = new Ctor(`${this.options.url}${separator}token=${encodeURIComponent(token)}`);
    } catch (error) {
      this.report(new HeraldError('CONNECT_FAILED', 'the WebSocket could not be created', { cause: error }));
      if (!renewal) this.scheduleReconnect();
      return;
    }
    const link: Link = { id: ++this.linkCount, ws, open: false, closed: false };
    if (renewal) this.standby = link;
    else this.active = link;
    ws.addEventListener('open', () => this.onOpen(link));
    ws.addEventListener('message', (event) => this.onMessage(link, event.data));
    ws.addEventListener('close', () => this.onClose(link));
    // A close event follows an error, except in Node's built-in WebSocket when the handshake is refused (a 401
    // from the authorizer): it fires `error` and then stays CONNECTING for good. An error before `open` is
    // therefore taken as the close; the close event, if it comes after all, finds the link closed already.
    ws.addEventListener('error', () => {
      if (link.open || link.closed) return;
      try {
        ws.close();
      } catch {
        // closing a socket that never opened may throw; it is being dropped anyway
      }
      this.onClose(link);
    });
  }

  private onOpen(link: Link): void {
    if (link.closed || this.connectionState === 'closed') return;
    link.open = true;
    const renewal = link === this.standby;
    if (renewal) {
      // The new connection takes over sending at once; the old one keeps receiving until this one caught up.
      const old = this.active;
      this.standby = undefined;
      this.active = link;
      if (old) {
        this.retiring.add(old);
        this.stopTimers(old);
      }
    }
    this.setState('open');
    this.armPing(link);
    this.scheduleRenewal(link, this.renewDelay());
    for (const query of this.queries.values()) this.sendQuery(query);
    void this.afterOpen(link, renewal);
  }

  /** Catches up every followed conversation, then lets commands out: `sync` first finds those already stored. */
  private async afterOpen(link: Link, renewal: boolean): Promise<void> {
    await this.catchUp.request(this.sequencer.tracked());
    // A renewal missed nothing (the old connection kept receiving): listing again is for reconnections.
    if (!renewal && (this.options.discoverConversations ?? true)) await this.discover();
    if (link !== this.active || this.connectionState === 'closed') return;
    this.ready = true;
    this.attempt = 0;
    this.flushReads();
    this.pump();
    if (renewal) this.retireWhenDrained();
    this.emitter.emit('synced', { conversations: this.sequencer.tracked().length });
    this.connected?.resolve();
  }

  private onClose(link: Link): void {
    if (link.closed) return;
    link.closed = true;
    link.open = false;
    this.stopTimers(link);
    if (this.connectionState === 'closed') return;
    if (this.retiring.delete(link)) {
      this.resendCommandsOf(link);
      for (const query of this.queries.values()) {
        if (query.sentOn !== link.id) continue;
        query.queued = false;
        this.sendQuery(query);
      }
      return;
    }
    if (link === this.standby) {
      this.standby = undefined;
      this.scheduleRenewal(this.active, this.retryAfter());
      return;
    }
    if (link !== this.active) return;
    this.active = undefined;
    this.ready = false;
    this.out.length = 0;
    for (const query of this.queries.values()) query.queued = false;
    for (const timer of this.commandTimers.values()) clearTimeout(timer);
    this.commandTimers.clear();
    this.sentOn.clear();
    this.outbox.resetInFlight();
    this.setState('reconnecting');
    if (this.standby) {
      // A renewal was opening: it becomes the reconnection (its open or its close takes it from here).
      this.active = this.standby;
      this.standby = undefined;
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.connectionState === 'closed') return;
    this.setState('reconnecting');
    const delay = backoffDelay(this.attempt++, this.options.backoff, this.random);
    this.later(delay, () => void this.openLink());
  }

  private renewDelay(): number {
    const after = this.options.renewAfterMs ?? 110 * 60_000;
    return Math.max(0, after - this.random() * (this.options.renewJitterMs ?? 5 * 60_000));
  }

  private retryAfter(): number {
    return Math.max(1_000, backoffDelay(5, this.options.backoff, this.random));
  }

  private scheduleRenewal(link: Link | undefined, delay: number): void {
    if (!link) return;
    clearTimeout(link.renewTimer);
    link.renewTimer = setTimeout(() => {
      if (link === this.active && !this.standby && this.connectionState !== 'closed')
        void this.openLink(link);
    }, delay);
  }

  /** Closes the renewed connection once the commands sent on it are answered (or after one command timeout). */
  private retireWhenDrained(): void {
    const deadline = Date.now() + (this.options.commandTimeoutMs ?? 10_000);
    const check = () => {
      for (const old of [...this.retiring]) {
        const busy = [...this.sentOn.values()].includes(old.id);
        if (!busy || Date.now() >= deadline) this.dropLink(old, 1000, 'renewed');
        else this.later(250, check);
      }
    };
    check();
  }

  private dropLink(link: Link, code: number, reason: string): void {
    this.stopTimers(link);
    try {
      link.ws.close(code, reason);
    } catch {
      // already closing
    }
    this.onClose(link);
  }

  private stopTimers(link: Link): void {
    clearTimeout(link.pingTimer);
    clearTimeout(link.pongTimer);
    clearTimeout(link.renewTimer);
    link.pongTimer = undefined;
  }

  private armPing(link: Link): void {
    clearTimeout(link.pingTimer);
    link.pingTimer = setTimeout(() => this.ping(link), this.options.pingIntervalMs ?? 240_000);
  }

  /** Sends a `ping` and drops the connection when its `pong` does not come in time. */
  private ping(link: Link): void {
    if (link !== this.active || !link.open || link.pongTimer) return;
    this.enqueue({
      frame: { action: 'ping', v: 1, requestId: newId() },
      onSent: (sentOn) => {
        if (sentOn !== link || link.pongTimer) return;
        link.pongTimer = setTimeout(() => {
          link.pongTimer = undefined;
          this.dropLink(link, 4000, 'no pong');
        }, this.options.pongTimeoutMs ?? 20_000);
      },
    });
  }

  // -- sending -------------------------------------------------------------------------------------------------

  private enqueue(item: OutItem): void {
    this.out.push(item);
    this.drain();
  }

  /** Sends queued frames on the active connection, as fast as the rate limiter allows. */
  private drain(): void {
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    while (this.out.length > 0) {
      const link = this.active;
      if (!link?.open || link.ws.readyState !== OPEN) return;
      const wait = this.limiter.delay(Date.now());
      if (wait > 0) {
        this.drainTimer = setTimeout(() => this.drain(), wait);
        return;
      }
      const item = this.out.shift();
      if (!item) return;
      this.limiter.take(Date.now());
      try {
        link.ws.send(JSON.stringify(item.frame));
      } catch {
        continue; // the close event follows; what was lost is resent on the next connection
      }
      item.onSent?.(link);
      this.armPing(link);
    }
  }

  private command(frame: CommandFrame): Promise<CommandAck> {
    if (this.connectionState === 'closed')
      return Promise.reject(new HeraldError('CLOSED', 'the client is closed'));
    const checked = CLIENT_FRAMES[frame.action].safeParse(frame);
    if (!checked.success) {
      const fields = checked.error.issues.map((i) => ({ path: i.path.join('.'), problem: i.message }));
      return Promise.reject(new HeraldError('INVALID_FRAME', 'the command is not valid', { fields }));
    }
    const command: PendingCommand = { frame, createdAt: Date.now() };
    return new Promise<CommandAck>((resolve, reject) => {
      this.waiters.set(frame.clientMessageId, { resolve, reject });
      this.outbox.add(command);
      this.persist(() => this.store.putPending(command));
      this.pump();
    });
  }

  /** Moves due commands to the send queue, in order, per conversation as the pipeline allows. */
  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    if (!this.ready || !this.active?.open) return;
    const now = Date.now();
    for (const command of this.outbox.due(now)) {
      const id = command.frame.clientMessageId;
      this.outbox.markSent(id);
      this.enqueue({ frame: command.frame, onSent: (link) => this.onCommandSent(id, link) });
    }
    const next = this.outbox.nextDueAt();
    if (next !== undefined && next > now) this.pumpTimer = setTimeout(() => this.pump(), next - now);
  }

  private onCommandSent(clientMessageId: string, link: Link): void {
    this.sentOn.set(clientMessageId, link.id);
    clearTimeout(this.commandTimers.get(clientMessageId));
    const base = this.options.commandTimeoutMs ?? 10_000;
    const timeout = base * 2 ** Math.min(this.outbox.attempts(clientMessageId) - 1, 3);
    this.commandTimers.set(
      clientMessageId,
      setTimeout(() => this.onCommandTimeout(clientMessageId), timeout),
    );
  }

  /**
   * No answer: the ack may be lost (the server drops a resend within 5 minutes without answering), so look for the
   * command's event with `sync`, check the connection with a ping, and send again with the same clientMessageId.
   */
  private onCommandTimeout(clientMessageId: string): void {
    this.commandTimers.delete(clientMessageId);
    this.sentOn.delete(clientMessageId);
    const command = this.outbox.get(clientMessageId);
    if (!command) return;
    if ('conversationId' in command.frame) {
      const { conversationId } = command.frame;
      if (this.sequencer.isTracked(conversationId)) void this.catchUp.request([conversationId]);
      else void this.findInHistory(conversationId);
    }
    if (this.active) this.ping(this.active);
    this.outbox.retryAt(clientMessageId, Date.now());
    this.pump();
  }

  /** In a conversation the SDK does not follow, a lost ack's event is looked for in the newest history page. */
  private async findInHistory(conversationId: string): Promise<void> {
    try {
      const page = await this.history(conversationId, { limit: LIMITS.maxHistoryPage });
      for (const event of page.events) this.settleByEvent(event);
    } catch (error) {
      if (!(error instanceof HeraldError && error.code === 'CLOSED')) this.report(toHeraldError(error));
    }
  }

  private resendCommandsOf(link: Link): void {
    for (const [id, linkId] of [...this.sentOn]) {
      if (linkId !== link.id) continue;
      this.sentOn.delete(id);
      clearTimeout(this.commandTimers.get(id));
      this.commandTimers.delete(id);
      this.outbox.retryAt(id, Date.now());
    }
    this.pump();
  }

  private settleCommand(clientMessageId: string, outcome: CommandAck | HeraldError): void {
    const command = this.outbox.settle(clientMessageId);
    if (!command) return;
    clearTimeout(this.commandTimers.get(clientMessageId));
    this.commandTimers.delete(clientMessageId);
    this.sentOn.delete(clientMessageId);
    this.persist(() => this.store.removePending(clientMessageId));
    const waiter = this.waiters.get(clientMessageId);
    this.waiters.delete(clientMessageId);
    if (outcome instanceof HeraldError) {
      waiter?.reject(outcome);
      this.emitter.emit('rejected', { frame: command.frame, error: outcome });
    } else {
      waiter?.resolve(outcome);
      this.emitter.emit('ack', { ...outcome, frame: command.frame });
    }
    this.pump();
  }

  private flushReads(): void {
    if (!this.active?.open) return;
    for (const [conversationId, seq] of this.reads) {
      this.enqueue({ frame: { action: 'markRead', v: 1, conversationId, seq, requestId: newId() } });
    }
    this.reads.clear();
  }

  private request<A extends keyof QueryAnswers>(
    frame: Extract<QueryFrame, { action: A }>,
  ): Promise<QueryAnswers[A]> {
    if (this.connectionState === 'closed')
      return Promise.reject(new HeraldError('CLOSED', 'the client is closed'));
    const checked = CLIENT_FRAMES[frame.action].safeParse(frame);
    if (!checked.success) {
      const fields = checked.error.issues.map((i) => ({ path: i.path.join('.'), problem: i.message }));
      return Promise.reject(new HeraldError('INVALID_FRAME', 'the query is not valid', { fields }));
    }
    return new Promise((resolve, reject) => {
      const requestId = frame.requestId;
      const query: PendingQuery = {
        frame,
        queued: false,
        resolve: (answer) => resolve(answer as QueryAnswers[A]),
        reject,
        timer: setTimeout(() => {
          this.queries.delete(requestId);
          reject(new HeraldError('TIMEOUT', `no answer to ${frame.action} in time`, { requestId }));
        }, this.options.queryTimeoutMs ?? 30_000),
      };
      this.queries.set(requestId, query);
      this.sendQuery(query);
    });
  }

  private sendQuery(query: PendingQuery): void {
    if (query.queued || !this.active?.open) return;
    query.queued = true;
    this.enqueue({
      frame: query.frame,
      onSent: (link) => {
        query.sentOn = link.id;
      },
    });
  }

  // -- receiving -----------------------------------------------------------------------------------------------

  private onMessage(link: Link, data: unknown): void {
    if (link.closed) return;
    let json: unknown;
    try {
      json = JSON.parse(typeof data === 'string' ? data : '');
    } catch {
      this.report(new HeraldError('INVALID_SERVER_FRAME', 'the server sent a frame that is not JSON text'));
      return;
    }
    // Lenient: a field a later server adds to a frame is dropped, not a reason to drop the frame; a new frame type
    // is ignored; an event of a new kind is passed (its seq taken) and not emitted.
    const parsed = LenientServerFrames.ServerFrame.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => ({ path: i.path.join('.'), problem: i.message }));
      this.report(
        new HeraldError('INVALID_SERVER_FRAME', 'the server sent an unknown or invalid frame', { fields }),
      );
      return;
    }
    const frame = parsed.data;
    if (!isKnownServerFrame(frame)) {
      this.unsupported({ what: 'frame', type: frame.type });
      return;
    }
    switch (frame.type) {
      case 'event':
        if (isKnownEvent(frame.event)) this.settleByEvent(frame.event);
        this.release(frame.event.conversationId, this.sequencer.accept(frame.event));
        return;
      case 'ack':
        this.onAck(frame);
        return;
      case 'error':
        this.onError(frame);
        return;
      case 'pong':
        clearTimeout(link.pongTimer);
        link.pongTimer = undefined;
        return;
      case 'receipt':
        this.emitter.emit('receipt', frame);
        return;
      case 'presence':
        this.emitter.emit('presence', frame);
        return;
      case 'typing':
        this.emitter.emit('typing', frame);
        return;
      case 'history':
      case 'sync':
      case 'conversations':
      case 'members':
        this.onAnswer(frame);
        return;
      default: {
        const unhandled: never = frame;
        throw new Error(`no case for frame ${JSON.stringify(unhandled)}`);
      }
    }
  }

  private onAnswer(
    frame: LenientHistoryPageFrame | LenientSyncPageFrame | LenientConversationsPageFrame | MembersFrame,
  ): void {
    const query = this.queries.get(frame.requestId);
    if (!query) return; // answered already (a resend after a reconnect), or timed out
    if (ANSWER_TYPE[query.frame.action] !== frame.type) {
      this.report(
        new HeraldError('INVALID_SERVER_FRAME', `a ${frame.type} frame answered a ${query.frame.action}`, {
          requestId: frame.requestId,
        }),
      );
      return;
    }
    this.queries.delete(frame.requestId);
    clearTimeout(query.timer);
    query.resolve(frame);
  }

  private onAck(ack: AckFrame): void {
    const command = this.outbox.get(ack.clientMessageId);
    const { type: _t, v: _v, ...result } = ack;
    this.settleCommand(ack.clientMessageId, result);
    const own = command && this.ownEvent(command.frame, ack);
    if (own) {
      this.release(ack.conversationId, this.sequencer.accept(own));
      return;
    }
    // Our connection never gets our own event: fetch it, so the conversation has no hole.
    this.sequencer.noteExists(ack.conversationId, ack.seq);
    if (this.sequencer.hasGap(ack.conversationId)) void this.catchUp.request([ack.conversationId]);
  }

  /** The event an ack stands for, when the command says all of it (messages, edits, recalls). */
  private ownEvent(frame: CommandFrame, ack: AckFrame): ConversationEvent | undefined {
    if (!this.me) return undefined;
    const base = {
      conversationId: ack.conversationId,
      seq: ack.seq,
      at: ack.at,
      actorId: this.me,
      clientMessageId: ack.clientMessageId,
    };
    switch (frame.action) {
      case 'send':
        return { kind: 'message', ...base, text: frame.text };
      case 'edit':
        return { kind: 'edit', ...base, targetSeq: frame.targetSeq, text: frame.text };
      case 'recall':
        return { kind: 'recall', ...base, targetSeq: frame.targetSeq };
      default:
        return undefined; // the server decides the membership lists: sync fetches the stored event
    }
  }

  private onError(frame: ErrorFrame): void {
    const error = new HeraldError(frame.code, frame.message, {
      ...(frame.clientMessageId ? { clientMessageId: frame.clientMessageId } : {}),
      ...(frame.requestId ? { requestId: frame.requestId } : {}),
      ...(frame.details ? { fields: frame.details } : {}),
    });
    const delay = this.options.retryDelayMs ?? 2_000;
    if (frame.clientMessageId && this.outbox.get(frame.clientMessageId)) {
      if (!isRetryable(frame.code)) {
        this.settleCommand(frame.clientMessageId, error);
        return;
      }
      clearTimeout(this.commandTimers.get(frame.clientMessageId));
      this.commandTimers.delete(frame.clientMessageId);
      this.sentOn.delete(frame.clientMessageId);
      this.outbox.retryAt(frame.clientMessageId, Date.now() + delay);
      this.pump();
      return;
    }
    const query = frame.requestId ? this.queries.get(frame.requestId) : undefined;
    if (frame.requestId && query) {
      if (!isRetryable(frame.code)) {
        this.queries.delete(frame.requestId);
        clearTimeout(query.timer);
        query.reject(error);
        return;
      }
      this.later(delay, () => {
        query.queued = false;
        if (this.queries.has(query.frame.requestId)) this.sendQuery(query);
      });
      return;
    }
    this.report(error);
  }

  /** A command whose ack was lost shows up as our own event (on another connection, or in sync): it is answered. */
  private settleByEvent(event: ConversationEvent): void {
    const command = this.outbox.get(event.clientMessageId);
    if (!command || (this.me !== undefined && event.actorId !== this.me)) return;
    const sameTarget =
      command.frame.action === 'createGroup'
        ? event.kind === 'group.created'
        : laneOf(command.frame) === event.conversationId;
    if (!sameTarget) return;
    this.settleCommand(event.clientMessageId, {
      conversationId: event.conversationId,
      clientMessageId: event.clientMessageId,
      seq: event.seq,
      at: event.at,
    });
  }

  /**
   * Emits released events, saves the position, and watches for a gap. An event of a kind this SDK does not know
   * is not emitted: its seq is passed (the position moves past it) and its kind reported once.
   */
  private release(conversationId: string, events: readonly LenientConversationEvent[]): void {
    for (const event of this.knownOnly(events)) this.emitEvent(event);
    const last = this.sequencer.lastSeq(conversationId);
    if (events.length > 0 && last !== undefined)
      this.persist(() => this.store.setPosition(conversationId, last));
    const timer = this.gapTimers.get(conversationId);
    if (!this.sequencer.hasGap(conversationId)) {
      clearTimeout(timer);
      this.gapTimers.delete(conversationId);
      return;
    }
    if (timer) return;
    this.gapTimers.set(
      conversationId,
      setTimeout(() => {
        this.gapTimers.delete(conversationId);
        if (this.sequencer.hasGap(conversationId)) void this.catchUp.request([conversationId]);
      }, this.options.gapTimeoutMs ?? 2_000),
    );
  }

  private emitEvent(event: ConversationEvent): void {
    this.emitter.emit('event', event);
    // Every kind has an event of its own name whose payload is that kind (HeraldEventMap): TypeScript cannot
    // follow the union through the key, hence the one cast.
    (this.emitter as Emitter<Record<ConversationEvent['kind'], ConversationEvent>>).emit(event.kind, event);
  }

  // -- catching up ---------------------------------------------------------------------------------------------

  private acceptCaughtUp(event: LenientConversationEvent): void {
    if (!this.sequencer.isTracked(event.conversationId)) return;
    if (isKnownEvent(event)) this.settleByEvent(event);
    this.release(event.conversationId, this.sequencer.accept(event));
  }

  private forget(conversationId: string): void {
    this.sequencer.forget(conversationId);
    clearTimeout(this.gapTimers.get(conversationId));
    this.gapTimers.delete(conversationId);
    this.persist(() => this.store.removePosition(conversationId));
  }

  /** Follows the conversations the SDK did not know (new groups, new direct conversations) from their lastSeq. */
  private async discover(): Promise<void> {
    const items: ConversationsPage['items'] = [];
    let cursor: string | undefined;
    try {
      for (let pages = 0; pages < 40; pages++) {
        const page = await this.listConversations(cursor === undefined ? {} : { cursor });
        items.push(...page.items);
        cursor = page.nextCursor;
        if (cursor === undefined) break;
      }
    } catch (error) {
      if (!(error instanceof HeraldError && error.code === 'CLOSED')) this.report(toHeraldError(error));
      return;
    }
    for (const item of items) this.track(item.conversationId, item.lastSeq);
    this.emitter.emit('conversations', items);
  }

  // -- plumbing ------------------------------------------------------------------------------------------------

  private id(options: CommandOptions | undefined): string {
    return options?.clientMessageId ?? newId();
  }

  private setState(state: ConnectionState): void {
    const previous = this.connectionState;
    if (previous === state) return;
    this.connectionState = state;
    this.emitter.emit('state', { state, previous });
  }

  private later(delay: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, delay);
    this.timers.add(timer);
  }

  private persist(write: () => void | Promise<void>): void {
    const failed = (error: unknown) =>
      this.report(new HeraldError('STORE_FAILED', 'the store failed to save', { cause: error }));
    try {
      const result = write();
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  private report(error: HeraldError): void {
    this.emitter.emit('error', error);
  }

  /** The events of kinds this SDK knows; the others are reported (once per kind) and left out. */
  private knownOnly(events: readonly LenientConversationEvent[]): ConversationEvent[] {
    const known: ConversationEvent[] = [];
    for (const event of events) {
      if (isKnownEvent(event)) known.push(event);
      else
        this.unsupported({
          what: 'event',
          kind: event.kind,
          conversationId: event.conversationId,
          seq: event.seq,
        });
    }
    return known;
  }

  /** Reports an event kind or frame type this SDK does not know, once per kind or type: it is not an error. */
  private unsupported(what: Unsupported): void {
    const key = what.what === 'event' ? `event ${what.kind}` : `frame ${what.type}`;
    if (this.unsupportedSeen.has(key)) return;
    this.unsupportedSeen.add(key);
    this.emitter.emit('unsupported', what);
  }
}

function toHeraldError(error: unknown): HeraldError {
  return error instanceof HeraldError ? error : new HeraldError('INTERNAL', String(error), { cause: error });
}

/** A query's answer without its envelope (`type`, `v`, and the `requestId` that matched it). */
function answerOf<F extends { readonly type: string; readonly v: number; readonly requestId: string }>(
  frame: F,
): Omit<F, 'type' | 'v' | 'requestId'> {
  const { type: _type, v: _v, requestId: _requestId, ...answer } = frame;
  return answer;
}

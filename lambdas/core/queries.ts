/**
 * The read side: history pages, catch-up after a reconnect, the conversation list and the member list. Pure
 * use cases over ConversationReader; each answers one query frame with one response frame, which the query
 * route returns as its two-way answer. Every response is kept inside one WebSocket message (128 KB) by a byte
 * budget (LIMITS.maxPageBytes) on top of the count limits; a member page, whose items have a bounded size, by
 * its count alone (LIMITS.maxMembersPage: its worst case is computed in the unit tests).
 *
 * A direct conversation's members are in its id (`dm:<a>:<b>`), as the command route decides it too
 * (conversations.ts): its queries need no member row, which exists only from its first message on.
 */
import * as z from 'zod/mini';
import {
  type ConversationEvent,
  type ConversationId,
  ConversationId as ConversationIdSchema,
  type ConversationsPageFrame,
  type HistoryFrame,
  type HistoryPageFrame,
  LIMITS,
  type ListConversationsFrame,
  type ListMembersFrame,
  type MembersFrame,
  PROTOCOL_VERSION,
  parseDirectConversationId,
  type SyncFrame,
  type SyncPageFrame,
  type UserId,
  UserId as UserIdSchema,
} from '../../protocol';
import { InvalidFrameError, NotAMemberError } from './errors';
import type { MemberRecord } from './ports';
import type { ConversationMeta, ConversationReader, MemberPage, Membership } from './query-ports';

export interface QueryDeps {
  readonly reader: ConversationReader;
}

/** Events in a history page when the frame names no limit. */
export const DEFAULT_HISTORY_PAGE = 50;
/** Conversations in a listConversations page when the frame names no limit. */
export const DEFAULT_CONVERSATIONS_PAGE = LIMITS.maxConversationsPage;
/** Members in a listMembers page when the frame names no limit. */
export const DEFAULT_MEMBERS_PAGE = LIMITS.maxMembersPage;
/**
 * Conversations a listing considers. The listing sorts by activity, which the byMember index cannot do, so
 * it reads all of a user's member rows and their meta rows: this cap bounds that work (20 BatchGets). A user
 * in more conversations sees the first MAX_LISTED_CONVERSATIONS by conversation id, not by activity.
 */
export const MAX_LISTED_CONVERSATIONS = 2000;
/** Member rows per byMember read while listing. */
const MEMBERSHIP_READ_PAGE = 1000;
/** Events per read during sync. */
const SYNC_READ_PAGE = LIMITS.maxHistoryPage;
/**
 * Conversations whose first events sync reads in parallel. Reading wave by wave, and stopping when the
 * frame is full, bounds the reads wasted on events that no longer fit.
 */
const SYNC_READ_WAVE = 10;

const utf8 = new TextEncoder();
/** UTF-8 bytes of the JSON text, plus one for the separating comma. */
const jsonBytes = (value: unknown): number => utf8.encode(JSON.stringify(value)).byteLength + 1;

/**
 * The bytes left in one response. Envelopes are always charged; an item is admitted only while it fits,
 * except the first one, so every page makes progress even past an oversized item.
 */
class ByteBudget {
  private used = 0;
  private admitted = 0;
  exhausted = false;
  constructor(private readonly limit: number) {}
  charge(bytes: number): void {
    this.used += bytes;
  }
  admit(bytes: number): boolean {
    if (this.exhausted || (this.admitted > 0 && this.used + bytes > this.limit)) {
      this.exhausted = true;
      return false;
    }
    this.used += bytes;
    this.admitted++;
    return true;
  }
}

const notAMember = (conversationId: ConversationId, requestId: string) =>
  new NotAMemberError(`You are not a member of ${conversationId}.`, { requestId });

/**
 * Membership that the id alone decides: a direct conversation has exactly the two users its id names, before
 * its first message too; a malformed direct id names nobody. Undefined for a group: its member rows decide.
 */
function membershipById(conversationId: ConversationId, userId: UserId): boolean | undefined {
  const direct = parseDirectConversationId(conversationId);
  if (direct) return direct.includes(userId);
  if (conversationId.startsWith('dm:')) return false;
  return undefined;
}

async function isMember(
  reader: ConversationReader,
  conversationId: ConversationId,
  userId: UserId,
): Promise<boolean> {
  return (
    membershipById(conversationId, userId) ?? (await reader.getMember(conversationId, userId)) !== undefined
  );
}

// ---------------------------------------------------------------------------------------------------------

/**
 * One page of a conversation's events: backwards from `beforeSeq` (default: the newest) or forwards from
 * `afterSeq`, ascending either way.
 */
export async function readHistory(
  deps: QueryDeps,
  userId: UserId,
  frame: HistoryFrame,
): Promise<HistoryPageFrame> {
  const { requestId, conversationId } = frame;
  const limit = Math.min(frame.limit ?? DEFAULT_HISTORY_PAGE, LIMITS.maxHistoryPage);
  const [member, metas] = await Promise.all([
    isMember(deps.reader, conversationId, userId),
    deps.reader.getMetas([conversationId]),
  ]);
  if (!member) throw notAMember(conversationId, requestId);
  const metaLastSeq = metas.get(conversationId)?.lastSeq ?? 0;
  const forwards = frame.afterSeq !== undefined;
  // One more than asked tells whether more exist in that direction, without a second read.
  const fetched = await deps.reader.readEvents(conversationId, {
    ...(forwards ? { afterSeq: frame.afterSeq } : {}),
    ...(frame.beforeSeq === undefined ? {} : { beforeSeq: frame.beforeSeq }),
    order: forwards ? 'ascending' : 'descending',
    limit: limit + 1,
  });
  const budget = new ByteBudget(LIMITS.maxPageBytes);
  const taken: ConversationEvent[] = [];
  for (const event of fetched.slice(0, limit)) {
    if (!budget.admit(jsonBytes(event))) break;
    taken.push(event);
  }
  const events = forwards ? taken : taken.reverse();
  // The meta row names the newest seq; an event it does not know of yet (a lagging replica) still exists.
  const lastSeq = Math.max(metaLastSeq, events.at(-1)?.seq ?? 0);
  // Forwards, where this page ends (its last event, or afterSeq itself when empty) against the newest seq:
  // events the meta row reports that a lagging replica did not return yet exist too.
  const reached = events.at(-1)?.seq ?? frame.afterSeq ?? 0;
  const hasMore = fetched.length > taken.length || (forwards && reached < lastSeq);
  return {
    type: 'history',
    v: PROTOCOL_VERSION,
    requestId,
    conversationId,
    events,
    hasMore,
    lastSeq,
  };
}

// ---------------------------------------------------------------------------------------------------------

type SyncResult = SyncPageFrame['results'][number];
type ReplayResult = Extract<SyncResult, { events: unknown }>;

/**
 * Catch-up after a reconnect: per position, the events after `afterSeq` (ascending), or `gap: true` when more
 * than LIMITS.maxReplayEvents were missed. One byte budget covers the whole frame, results included, so a
 * conversation that does not fit answers `hasMore: true` and the client syncs again from its last event:
 * repeated syncs deliver every event exactly once, in order.
 *
 * Positions in conversations the caller is not a member of (left, removed, or never joined) are skipped
 * silently: one revoked membership must not block the catch-up of all the others, and the client learns
 * which conversations it still has from listConversations. A direct conversation the caller is one of the two
 * users of is theirs before its first message too (lastSeq 0). A frame in which *every* position is foreign
 * reads nothing at all and is almost surely a client bug: it is refused with NOT_A_MEMBER. Repeated positions
 * of one conversation are answered once, for the first.
 */
export async function sync(deps: QueryDeps, userId: UserId, frame: SyncFrame): Promise<SyncPageFrame> {
  const { requestId } = frame;
  const firstPositions = new Map<ConversationId, SyncFrame['positions'][number]>();
  for (const p of frame.positions) {
    if (!firstPositions.has(p.conversationId)) firstPositions.set(p.conversationId, p);
  }
  const positions = [...firstPositions.values()];
  const ids = positions.map((p) => p.conversationId);
  const groupIds = ids.filter((id) => membershipById(id, userId) === undefined);
  const [memberships, metas] = await Promise.all([
    groupIds.length === 0
      ? new Map<ConversationId, MemberRecord>()
      : deps.reader.getMemberships(userId, groupIds),
    deps.reader.getMetas(ids),
  ]);
  const mine = positions.filter(
    (p) => membershipById(p.conversationId, userId) ?? memberships.has(p.conversationId),
  );
  if (mine.length === 0) {
    throw new NotAMemberError('You are not a member of any conversation in this sync.', { requestId });
  }

  const budget = new ByteBudget(LIMITS.maxPageBytes);
  const plans = mine.map(({ conversationId, afterSeq }) => {
    const lastSeq = metas.get(conversationId)?.lastSeq ?? 0;
    const result: SyncResult =
      lastSeq - afterSeq > LIMITS.maxReplayEvents
        ? { conversationId, gap: true, lastSeq }
        : { conversationId, events: [], hasMore: afterSeq < lastSeq, lastSeq };
    // Charged with hasMore false, the longer literal: the envelope can only shrink.
    budget.charge(jsonBytes('gap' in result ? result : { ...result, hasMore: false }));
    return { conversationId, afterSeq, lastSeq, result };
  });

  const toReplay = plans.filter((plan) => !('gap' in plan.result) && plan.afterSeq < plan.lastSeq);
  for (let start = 0; start < toReplay.length && !budget.exhausted; start += SYNC_READ_WAVE) {
    const wave = toReplay.slice(start, start + SYNC_READ_WAVE);
    const firstPages = await Promise.all(
      wave.map((plan) => readAfter(deps.reader, plan.conversationId, plan.afterSeq, plan.lastSeq)),
    );
    for (const [index, plan] of wave.entries()) {
      if (budget.exhausted) break; // its result keeps hasMore: true and no events
      plan.result = await replay(deps.reader, plan, firstPages[index] ?? [], budget);
    }
  }
  return {
    type: 'sync',
    v: PROTOCOL_VERSION,
    requestId,
    results: plans.map((plan) => plan.result),
  };
}

/** Events after `afterSeq` up to `lastSeq`, in order, until the budget is spent. */
async function replay(
  reader: ConversationReader,
  plan: { conversationId: ConversationId; afterSeq: number; lastSeq: number },
  firstPage: readonly ConversationEvent[],
  budget: ByteBudget,
): Promise<ReplayResult> {
  const { conversationId, lastSeq } = plan;
  const events: ConversationEvent[] = [];
  let seq = plan.afterSeq;
  let page = firstPage;
  const result = (): ReplayResult => ({ conversationId, events, hasMore: seq < lastSeq, lastSeq });
  for (;;) {
    for (const event of page) {
      // A hole means a replica has not caught up yet: stop before it, so nothing is ever skipped.
      if (event.seq !== seq + 1) return result();
      if (!budget.admit(jsonBytes(event))) return result();
      events.push(event);
      seq = event.seq;
    }
    if (seq >= lastSeq || page.length === 0) return result();
    page = await readAfter(reader, conversationId, seq, lastSeq);
  }
}

function readAfter(
  reader: ConversationReader,
  conversationId: ConversationId,
  afterSeq: number,
  lastSeq: number,
): Promise<ConversationEvent[]> {
  return reader.readEvents(conversationId, {
    afterSeq,
    beforeSeq: lastSeq + 1,
    order: 'ascending',
    limit: Math.min(lastSeq - afterSeq, SYNC_READ_PAGE),
  });
}

// ---------------------------------------------------------------------------------------------------------

/** The opaque listing cursor: the sort key (lastEventAt, conversationId) of the last item returned. */
const Cursor = z.strictObject({ t: z.number().check(z.int(), z.gte(0)), c: ConversationIdSchema });
type Cursor = z.infer<typeof Cursor>;
/** The opaque member cursor: the user id (the sort key) of the last member returned. */
const MembersCursor = z.strictObject({ u: UserIdSchema });

const encodeOpaque = (value: unknown): string =>
  Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');

export function encodeCursor(cursor: Cursor): string {
  return encodeOpaque(cursor);
}

export function encodeMembersCursor(after: UserId): string {
  return encodeOpaque({ u: after });
}

/** A cursor this server issued, back from base64url JSON; anything else is refused as INVALID_FRAME. */
function decodeCursor<T>(
  schema: z.ZodMiniType<T>,
  text: string,
  frame: { action: string; requestId: string },
): T {
  const problem = 'not a cursor this server issued';
  const refuse = () =>
    new InvalidFrameError(
      'INVALID_FRAME',
      `The ${frame.action} frame is invalid: cursor: ${problem}`,
      { requestId: frame.requestId },
      [{ path: 'cursor', problem }],
    );
  if (!/^[A-Za-z0-9_-]+$/.test(text)) throw refuse();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw refuse();
  return parsed.data;
}

interface Listed {
  readonly membership: Membership;
  readonly meta: ConversationMeta;
}

/** Newest activity first; conversation id breaks ties, so the order (and the cursor) is total. */
function byActivity(a: Listed, b: Listed): number {
  return (
    b.meta.lastEventAt - a.meta.lastEventAt ||
    (a.meta.conversationId < b.meta.conversationId
      ? -1
      : a.meta.conversationId > b.meta.conversationId
        ? 1
        : 0)
  );
}

function isAfter(item: Listed, cursor: Cursor): boolean {
  const t = item.meta.lastEventAt;
  return t < cursor.t || (t === cursor.t && item.meta.conversationId > cursor.c);
}

/**
 * The caller's conversations, newest activity first, a page at a time. The cursor is a position in that
 * order (not an offset), so a conversation that gets a new event between two pages moves to the top and may
 * be missed by a listing in progress: it reaches the client as a pushed event anyway. Conversations with
 * member rows but no meta row yet (a group being created) are left out until their first event is stored.
 */
export async function listConversations(
  deps: QueryDeps,
  userId: UserId,
  frame: ListConversationsFrame,
): Promise<ConversationsPageFrame> {
  const { requestId } = frame;
  const cursor = frame.cursor === undefined ? undefined : decodeCursor(Cursor, frame.cursor, frame);
  const limit = Math.min(frame.limit ?? DEFAULT_CONVERSATIONS_PAGE, LIMITS.maxConversationsPage);

  const memberships = await allMemberships(deps.reader, userId);
  const metas = await deps.reader.getMetas(memberships.map((m) => m.conversationId));
  const listed: Listed[] = memberships.flatMap((membership) => {
    const meta = metas.get(membership.conversationId);
    return meta ? [{ membership, meta }] : [];
  });
  listed.sort(byActivity);

  const found = cursor === undefined ? 0 : listed.findIndex((item) => isAfter(item, cursor));
  const start = found === -1 ? listed.length : found;
  const budget = new ByteBudget(LIMITS.maxPageBytes);
  const items: ConversationsPageFrame['items'] = [];
  for (const { membership, meta } of listed.slice(start, start + limit)) {
    const item = {
      conversationId: meta.conversationId,
      kind: meta.kind,
      ...(meta.kind === 'group' && meta.name !== undefined ? { name: meta.name } : {}),
      lastSeq: meta.lastSeq,
      ...(meta.lastEvent === undefined ? {} : { lastEvent: meta.lastEvent }),
      readSeq: membership.readSeq,
      unread: Math.max(0, meta.lastSeq - membership.readSeq),
    };
    if (!budget.admit(jsonBytes(item))) break;
    items.push(item);
  }
  const last = listed[start + items.length - 1];
  const more = start + items.length < listed.length;
  return {
    type: 'conversations',
    v: PROTOCOL_VERSION,
    requestId,
    items,
    ...(more && last
      ? { nextCursor: encodeCursor({ t: last.meta.lastEventAt, c: last.meta.conversationId }) }
      : {}),
  };
}

async function allMemberships(reader: ConversationReader, userId: UserId): Promise<Membership[]> {
  const all: Membership[] = [];
  let after: ConversationId | undefined;
  do {
    const page = await reader.listMemberships(userId, {
      ...(after === undefined ? {} : { after }),
      limit: Math.min(MEMBERSHIP_READ_PAGE, MAX_LISTED_CONVERSATIONS - all.length),
    });
    all.push(...page.items);
    after = page.next;
  } while (after !== undefined && all.length < MAX_LISTED_CONVERSATIONS);
  return all.slice(0, MAX_LISTED_CONVERSATIONS);
}

// ---------------------------------------------------------------------------------------------------------

/**
 * One page of a conversation's members, ascending by user id, for a member of it. The cursor is the last
 * user id returned (a position, not an offset): a member added or removed while a client pages is seen or
 * not according to where their id falls. Groups check the caller's member row before reading the page.
 *
 * A direct conversation lists its two users, from its id, before its first message too: a user with no
 * member row yet shows as role `member`, `joinedAt` 0 and `readSeq` 0.
 */
export async function listMembers(
  deps: QueryDeps,
  userId: UserId,
  frame: ListMembersFrame,
): Promise<MembersFrame> {
  const { requestId, conversationId } = frame;
  const after = frame.cursor === undefined ? undefined : decodeCursor(MembersCursor, frame.cursor, frame).u;
  const limit = Math.min(frame.limit ?? DEFAULT_MEMBERS_PAGE, LIMITS.maxMembersPage);
  if (!(await isMember(deps.reader, conversationId, userId))) throw notAMember(conversationId, requestId);
  const direct = parseDirectConversationId(conversationId);
  const page = direct
    ? await directMembers(deps.reader, conversationId, direct, { after, limit })
    : await deps.reader.readMembers(conversationId, { ...(after === undefined ? {} : { after }), limit });
  return {
    type: 'members',
    v: PROTOCOL_VERSION,
    requestId,
    conversationId,
    members: page.items.map(({ userId: id, role, joinedAt, readSeq }) => ({
      userId: id,
      role,
      joinedAt,
      readSeq,
    })),
    ...(page.next === undefined ? {} : { nextCursor: encodeMembersCursor(page.next) }),
  };
}

/** The two users of a direct conversation, each from their member row when it exists yet. */
async function directMembers(
  reader: ConversationReader,
  conversationId: ConversationId,
  users: readonly [UserId, UserId],
  page: { after: UserId | undefined; limit: number },
): Promise<MemberPage> {
  const stored = await reader.readMembers(conversationId, { limit: users.length });
  const all = users.map(
    (id): MemberRecord =>
      stored.items.find((r) => r.userId === id) ?? { userId: id, role: 'member', joinedAt: 0, readSeq: 0 },
  );
  // The id orders its users (a < b), so `all` is already by user id.
  const rest = all.filter((m) => page.after === undefined || m.userId > page.after);
  const items = rest.slice(0, page.limit);
  const last = items.at(-1);
  return { items, ...(rest.length > items.length && last ? { next: last.userId } : {}) };
}

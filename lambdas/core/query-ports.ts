/**
 * The read side's one port: what the query use cases (queries.ts) need from storage. Reads only; every
 * method is a key lookup or a key-range query, so no implementation needs a Scan.
 */
import type { ConversationEvent, ConversationId, UserId } from '../../protocol';
import type { MemberRecord } from './ports';

/** A conversation's meta row, as listings and catch-up need it. */
export interface ConversationMeta {
  readonly conversationId: ConversationId;
  readonly kind: 'direct' | 'group';
  /** Groups only. */
  readonly name?: string;
  /** The newest sequence number (0: no event yet). */
  readonly lastSeq: number;
  /** When the newest event was accepted (its `at`), ms since the epoch: the listing's sort key. */
  readonly lastEventAt: number;
  /** The newest event, message text cut short. */
  readonly lastEvent?: ConversationEvent;
}

/** One of a user's member rows, with the conversation it belongs to. */
export interface Membership extends MemberRecord {
  readonly conversationId: ConversationId;
}

export interface MembershipPage {
  /** Ascending by conversation id. */
  readonly items: readonly Membership[];
  /** Pass as `after` to read the next page; absent on the last page. */
  readonly next?: ConversationId;
}

export interface MemberPage {
  /** Ascending by user id. */
  readonly items: readonly MemberRecord[];
  /** Pass as `after` to read the next page; absent on the last page. */
  readonly next?: UserId;
}

export interface EventRange {
  /** Exclusive lower bound. */
  readonly afterSeq?: number;
  /** Exclusive upper bound. */
  readonly beforeSeq?: number;
  /** Ascending starts at the lower bound, descending at the upper one. */
  readonly order: 'ascending' | 'descending';
  /** At most this many events. */
  readonly limit: number;
}

export interface ConversationReader {
  /** Events within the range, in the order asked, each in its current state (edited text, recalled). */
  readEvents(conversationId: ConversationId, range: EventRange): Promise<ConversationEvent[]>;
  /** The meta rows of the conversations that have one (any number of ids; duplicates allowed). */
  getMetas(
    conversationIds: readonly ConversationId[],
  ): Promise<ReadonlyMap<ConversationId, ConversationMeta>>;
  /** One member row, or undefined when the user is not a member. */
  getMember(conversationId: ConversationId, userId: UserId): Promise<MemberRecord | undefined>;
  /** The user's member rows in the given conversations (absent: not a member). */
  getMemberships(
    userId: UserId,
    conversationIds: readonly ConversationId[],
  ): Promise<ReadonlyMap<ConversationId, MemberRecord>>;
  /** One page of the user's member rows, through the byMember index, after the conversation id `after`. */
  listMemberships(userId: UserId, page: { after?: ConversationId; limit: number }): Promise<MembershipPage>;
  /**
   * One page of a conversation's member rows, ascending by user id, after the user id `after`. `next` is set
   * only when more rows follow, so a last page never leads to an empty one.
   */
  readMembers(conversationId: ConversationId, page: { after?: UserId; limit: number }): Promise<MemberPage>;
}

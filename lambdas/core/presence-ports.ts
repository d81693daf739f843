/**
 * The ports presence needs, next to the core's common ones in `ports.ts`. DynamoDB adapters live in
 * `lambdas/adapters/dynamo-presence.ts`; unit tests use in-memory fakes.
 */
import type { ConversationId, UserId } from '../../protocol';

/** What presence reads from one connection row. */
export interface ConnectionActivityRecord {
  readonly connectionId: string;
  /** Milliseconds since the epoch, as API Gateway reported it on $connect. */
  readonly connectedAt: number;
  /** Milliseconds since the epoch of the connection's last recorded traffic; absent until first recorded. */
  readonly lastSeenAt?: number;
}

export interface ConnectionActivity {
  /**
   * Records traffic on a connection: sets its `lastSeenAt` to `now` when the last recorded traffic (or the
   * connection itself, when none was recorded) is older than `ifLastSeenBefore`. Never creates a row for an
   * unknown connection. True when the row was written.
   */
  touch(connectionId: string, now: number, ifLastSeenBefore: number): Promise<boolean>;
  /**
   * The rows of every connection of the user that still exists, read consistently: a row deleted a moment ago
   * ($disconnect, 410 cleanup) is not returned, even while the user index still lists it.
   */
  connectionsOf(userId: UserId): Promise<ConnectionActivityRecord[]>;
  /**
   * Deletes the row of a connection that answered 410 Gone, unless it connected at or after `connectedBefore`:
   * API Gateway also answers 410 for a connection whose $connect has not finished yet, and that row must stay.
   * True when a row was deleted.
   */
  removeIfConnectedBefore(connectionId: string, connectedBefore: number): Promise<boolean>;
}

export interface ContactDirectory {
  /** At most `limit` of the conversations the user is a member of (any order the store finds cheapest). */
  conversationsOf(userId: UserId, limit: number): Promise<ConversationId[]>;
  /**
   * The members of a group, or undefined when it has more than `max` (reading no more than max + 1 of them):
   * presence goes to the members of small groups only, or a large group would cost members² pushes.
   */
  membersIfAtMost?(conversationId: ConversationId, max: number): Promise<UserId[] | undefined>;
}

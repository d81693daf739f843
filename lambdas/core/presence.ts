/**
 * Presence: a user is online while any of their connections is live, and their contacts (the members of their
 * conversations) are told when that changes. Like typing, presence is ephemeral: not stored as events, not
 * sequenced, pushed straight to the connections instead of through the queue (ADR 8), and best effort.
 */
import {
  type ConversationId,
  isGroupConversationId,
  PROTOCOL_VERSION,
  type PresenceFrame,
  type ServerFrame,
  type UserId,
} from '../../protocol';
import { settleWithLimit } from './concurrency';
import { membersOf } from './conversations';
import type { Clock, ConnectionStore, MembershipDirectory, Notifier } from './ports';
import type { ConnectionActivity, ConnectionActivityRecord, ContactDirectory } from './presence-ports';

/**
 * How long after its last recorded traffic a connection still counts as live. API Gateway closes a connection
 * that carried no frame for 10 minutes, and `$disconnect` may never arrive: a row older than this describes a
 * connection that is almost certainly gone.
 */
export const LIVE_WINDOW_MS = 11 * 60 * 1000;
/** `lastSeenAt` is rewritten at most this often per connection: liveness needs minutes, not milliseconds. */
export const ACTIVITY_REFRESH_MS = 60 * 1000;
/**
 * API Gateway answers 410 Gone for a connection whose $connect is still running (its integration may take up to
 * 29 seconds), so a 410 deletes a row only when the connection is older than this.
 */
export const CONNECT_GRACE_MS = 30 * 1000;

/** Bounds on the work of one presence change; beyond them, contacts miss the frame (documented in ADR 8). */
export const PRESENCE_LIMITS = {
  /** Conversations of the user whose members are told. */
  conversations: 200,
  /** Distinct contacts told. */
  contacts: 2000,
  /** Groups larger than this share no presence (clients can show it for direct contacts and small groups). */
  groupSize: 100,
  /**
   * Users whose connection answered 410 Gone during an ephemeral push, and whose offline state is then checked
   * and announced (one level deep: those announcements do not cascade further).
   */
  goneUsersFollowedUp: 5,
} as const;

export interface PresenceDeps {
  readonly activity: ConnectionActivity;
  readonly contacts: ContactDirectory;
  readonly directory: MembershipDirectory;
  readonly connections: ConnectionStore;
  readonly notifier: Notifier;
  readonly clock: Clock;
  /** Lookups and pushes in flight at once. */
  readonly concurrency: number;
}

/** What an ephemeral push did. It never throws: failures are counted, and the first one kept for the logs. */
export interface EphemeralPushReport {
  /** Connections found for the audience. */
  readonly connections: number;
  readonly delivered: number;
  /** Connections that answered 410 Gone: their rows are deleted unless younger than CONNECT_GRACE_MS. */
  readonly gone: number;
  /** Failed connection lookups and posts (and failed deletions of gone rows). */
  readonly failed: number;
  /** Users whose connection row this push deleted after a 410 Gone. */
  readonly goneUsers: readonly UserId[];
  readonly firstFailure?: unknown;
}

export type PresenceReport =
  | { readonly announced: false }
  | ({
      readonly announced: true;
      readonly online: boolean;
      /** Contacts the frame was addressed to. */
      readonly contacts: number;
      /** Gone users whose offline state was then checked (see PRESENCE_LIMITS.goneUsersFollowedUp). */
      readonly followedUp: number;
    } & EphemeralPushReport);

/** A connection is live when it connected, or last showed traffic, within LIVE_WINDOW_MS. */
export function isLive(record: ConnectionActivityRecord, now: number): boolean {
  return Math.max(record.connectedAt, record.lastSeenAt ?? 0) >= now - LIVE_WINDOW_MS;
}

export async function isOnline(
  deps: Pick<PresenceDeps, 'activity' | 'clock'>,
  userId: UserId,
): Promise<boolean> {
  const now = deps.clock.now();
  return (await deps.activity.connectionsOf(userId)).some((record) => isLive(record, now));
}

/**
 * Records traffic on a connection (at most one write per ACTIVITY_REFRESH_MS). Routes that take a frame from
 * the rate limiter need not call it: taking a frame records the activity in the same write.
 */
export async function recordActivity(
  deps: Pick<PresenceDeps, 'activity' | 'clock'>,
  connectionId: string,
): Promise<boolean> {
  const now = deps.clock.now();
  return deps.activity.touch(connectionId, now, now - ACTIVITY_REFRESH_MS);
}

/**
 * The user's contacts: the members of their first PRESENCE_LIMITS.conversations conversations, without the
 * user, each once, at most PRESENCE_LIMITS.contacts of them. Member lists are read `concurrency` at a time and
 * reading stops once the cap is reached.
 */
export async function contactsOf(
  deps: Pick<PresenceDeps, 'contacts' | 'directory' | 'concurrency'>,
  userId: UserId,
): Promise<UserId[]> {
  const conversations = await deps.contacts.conversationsOf(userId, PRESENCE_LIMITS.conversations);
  const found = new Set<UserId>();
  const step = Math.max(1, deps.concurrency);
  for (let i = 0; i < conversations.length && found.size < PRESENCE_LIMITS.contacts; i += step) {
    const batch: readonly ConversationId[] = conversations.slice(i, i + step);
    const lists = await Promise.all(
      batch.map(async (id) =>
        isGroupConversationId(id) && deps.contacts.membersIfAtMost
          ? ((await deps.contacts.membersIfAtMost(id, PRESENCE_LIMITS.groupSize)) ?? [])
          : membersOf(deps.directory, id),
      ),
    );
    for (const member of lists.flat()) {
      if (found.size >= PRESENCE_LIMITS.contacts) break;
      if (member !== userId) found.add(member);
    }
  }
  return [...found];
}

/**
 * Pushes a frame to every connection of the users, `concurrency` at a time. Best effort: a 410 Gone deletes that
 * connection's row (unless the connection is younger than CONNECT_GRACE_MS); other failures are counted, never
 * retried (an ephemeral signal is stale by the time a retry could deliver it) and never thrown.
 */
export async function pushEphemeral(
  deps: Pick<PresenceDeps, 'connections' | 'activity' | 'notifier' | 'clock' | 'concurrency'>,
  users: readonly UserId[],
  frame: ServerFrame,
): Promise<EphemeralPushReport> {
  const audience = [...new Set(users)];
  let failed = 0;
  let firstFailure: unknown;
  const fail = (reason: unknown) => {
    failed++;
    firstFailure ??= reason;
  };
  const owners = new Map<string, UserId>();
  try {
    for (const c of await deps.connections.listByUsers(audience)) owners.set(c.connectionId, c.userId);
  } catch (error) {
    fail(error);
  }
  const targets = [...owners.keys()];
  const posts = await settleWithLimit(targets, deps.concurrency, async (connectionId) => {
    const outcome = await deps.notifier.post(connectionId, frame);
    if (outcome === 'delivered') return { outcome, removed: false };
    const connectedBefore = deps.clock.now() - CONNECT_GRACE_MS;
    return { outcome, removed: await deps.activity.removeIfConnectedBefore(connectionId, connectedBefore) };
  });
  let delivered = 0;
  let gone = 0;
  const goneUsers = new Set<UserId>();
  for (const [index, post] of posts.entries()) {
    if (post.status === 'rejected') {
      fail(post.reason);
    } else if (post.value.outcome === 'delivered') {
      delivered++;
    } else {
      gone++;
      const owner = owners.get(targets[index] ?? '');
      if (post.value.removed && owner !== undefined) goneUsers.add(owner);
    }
  }
  return {
    connections: targets.length,
    delivered,
    gone,
    failed,
    goneUsers: [...goneUsers],
    ...(failed > 0 ? { firstFailure } : {}),
  };
}

/**
 * On $connect, after the connection's row is written: tells the user's contacts that the user came online,
 * unless another live connection of the user connected before this one (the user was online already).
 * Deciding by "no earlier live connection" instead of "no other live connection" keeps two simultaneous first
 * connections from each seeing the other and both staying silent: the earlier one always announces.
 * The caller must not fail $connect when this throws.
 */
export async function announceOnline(
  deps: PresenceDeps,
  connection: { readonly userId: UserId; readonly connectionId: string; readonly connectedAt: number },
): Promise<PresenceReport> {
  const now = deps.clock.now();
  const records = await deps.activity.connectionsOf(connection.userId);
  const earlier = records.some(
    (record) =>
      record.connectionId !== connection.connectionId && isLive(record, now) && precedes(record, connection),
  );
  if (earlier) return { announced: false };
  return announce(deps, connection.userId, true, now, true);
}

/**
 * When a connection of the user went away ($disconnect, or a push that answered 410 Gone, after its row was
 * deleted): tells the user's contacts that the user went offline, unless a live connection remains.
 * `exceptConnectionId` is left out of the check whatever the store still says about it.
 */
export async function announceOffline(
  deps: PresenceDeps,
  userId: UserId,
  options: { readonly exceptConnectionId?: string; readonly followUpGoneUsers?: boolean } = {},
): Promise<PresenceReport> {
  const now = deps.clock.now();
  const records = await deps.activity.connectionsOf(userId);
  const live = records.some(
    (record) => record.connectionId !== options.exceptConnectionId && isLive(record, now),
  );
  if (live) return { announced: false };
  return announce(deps, userId, false, now, options.followUpGoneUsers ?? true);
}

/**
 * After an ephemeral push: announces, for at most PRESENCE_LIMITS.goneUsersFollowedUp of the users who lost a
 * connection to 410 Gone, that they are offline when no live connection remains. One level only (those
 * announcements follow up nobody), best effort: failures are counted and returned, not thrown.
 */
export async function followUpGoneUsers(
  deps: PresenceDeps,
  users: readonly UserId[],
): Promise<{ readonly checked: number; readonly failed: number; readonly firstFailure?: unknown }> {
  const checked = users.slice(0, PRESENCE_LIMITS.goneUsersFollowedUp);
  let failed = 0;
  let firstFailure: unknown;
  for (const userId of checked) {
    try {
      const report = await announceOffline(deps, userId, { followUpGoneUsers: false });
      if (report.announced && report.failed > 0) {
        failed += report.failed;
        firstFailure ??= report.firstFailure;
      }
    } catch (error) {
      failed++;
      firstFailure ??= error;
    }
  }
  return { checked: checked.length, failed, ...(failed > 0 ? { firstFailure } : {}) };
}

async function announce(
  deps: PresenceDeps,
  userId: UserId,
  online: boolean,
  now: number,
  followUp: boolean,
): Promise<PresenceReport> {
  const contacts = await contactsOf(deps, userId);
  const frame: PresenceFrame = { type: 'presence', v: PROTOCOL_VERSION, userId, online, at: now };
  const report = await pushEphemeral(deps, contacts, frame);
  if (!followUp) return { announced: true, online, contacts: contacts.length, followedUp: 0, ...report };
  const followed = await followUpGoneUsers(
    deps,
    report.goneUsers.filter((u) => u !== userId),
  );
  return { announced: true, online, contacts: contacts.length, ...mergeFollowUp(report, followed) };
}

/** A push report with the failures of its follow-up counted in. */
export function mergeFollowUp<R extends EphemeralPushReport>(
  report: R,
  followed: { readonly checked: number; readonly failed: number; readonly firstFailure?: unknown },
): R & { readonly followedUp: number } {
  const failed = report.failed + followed.failed;
  const firstFailure = report.firstFailure ?? followed.firstFailure;
  return { ...report, failed, ...(failed > 0 ? { firstFailure } : {}), followedUp: followed.checked };
}

/** Connection order: by connection time, then by id so that two connections of the same millisecond are ordered. */
function precedes(
  a: { readonly connectedAt: number; readonly connectionId: string },
  b: { readonly connectedAt: number; readonly connectionId: string },
): boolean {
  return (
    a.connectedAt < b.connectedAt || (a.connectedAt === b.connectedAt && a.connectionId < b.connectionId)
  );
}

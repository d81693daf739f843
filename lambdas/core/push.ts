import { createHash } from 'node:crypto';
import type { ServerFrame, UserId } from '../../protocol';
import { settleWithLimit } from './concurrency';
import { DeliveryIncompleteError } from './errors';
import type { FanoutEntry, FanoutLabel, FanoutQueue } from './fanout';
import type { ConnectionStore, LiveConnection, Notifier } from './ports';

/**
 * An audience of more users than this is not pushed by the delivery invocation itself: its pushes are split
 * into fan-out jobs on the fan-out FIFO queue, so one large group neither holds its conversation's FIFO group
 * for a thousand posts nor starves the other conversations of delivery capacity.
 */
export const FANOUT_THRESHOLD = 100;
/** Most users in one fan-out job: one job is one invocation of the fan-out function (about as many posts). */
export const FANOUT_CHUNK = 100;
/**
 * Message groups per conversation on the fan-out queue. A user's jobs always go to the group
 * `${conversationId}#${fanoutBucket(userId)}`, so every connection of that user gets the conversation's frames
 * in the order they were enqueued, while the conversation's buckets are pushed in parallel.
 *
 * It is also what keeps one hot conversation from starving the others: a FIFO group has at most one batch in
 * flight, so a conversation occupies at most FANOUT_BUCKETS of the fan-out function's invocations, and the
 * FanoutPipeline construct requires maxConcurrency of at least twice that (default 10: at most 4 for one
 * conversation, 6 or more left for the rest).
 *
 * Never change it (or `fanoutBucket`) while jobs are queued: a user whose bucket changes could get a newer
 * frame from the new group before an older one still waiting in the old group. Drain the queue first.
 */
export const FANOUT_BUCKETS = 4;

export interface PushDeps {
  readonly connections: ConnectionStore;
  readonly notifier: Notifier;
  /** Pushes in flight at once. */
  readonly concurrency: number;
  /**
   * Where audiences of more than FANOUT_THRESHOLD users go, as jobs of at most FANOUT_CHUNK users of one bucket.
   * @default - every push is made directly, whatever the audience's size
   */
  readonly fanout?: FanoutQueue;
}

export interface PushReport {
  /** Posts made by this call that reached their connection. */
  readonly delivered: number;
  /** Connections that answered 410 Gone (their rows are deleted). */
  readonly gone: number;
  /** Fan-out jobs enqueued for the audience's other connections (absent when everything was pushed directly). */
  readonly fanoutJobs?: number;
}

export interface Audience {
  /** Users whose every live connection gets `frame`. */
  readonly users: readonly UserId[];
  readonly frame: ServerFrame;
  /**
   * The connection the command came from, and its user: it gets `own` instead (an ack), or nothing when `own`
   * is absent.
   */
  readonly origin?: { readonly connectionId: string; readonly userId?: UserId; readonly own?: ServerFrame };
  /**
   * Whether to fan out (when `deps.fanout` is present). The caller decides per conversation, so that all of a
   * conversation's frames take one path and stay in order (see `applyCommand`).
   * @default - when the audience has more than FANOUT_THRESHOLD users
   */
  readonly viaFanout?: boolean;
  /**
   * The audience's live connections, when the caller already looked them up (`ConnectionStore.listByUsers`
   * of exactly `users`); only the direct path uses them.
   * @default - looked up here
   */
  readonly connections?: readonly LiveConnection[];
}

/**
 * Pushes a frame to every live connection of the audience. 410 Gone removes that connection and counts as
 * success; any other failure throws DeliveryIncompleteError after every connection was tried, so the caller's
 * record is retried (clients drop repeats by sequence number).
 *
 * An audience that fans out (`viaFanout`, by default more than FANOUT_THRESHOLD users), when `deps.fanout` is
 * present, is split into fan-out jobs instead (see `planFanout`), and nothing is posted here: the origin's own
 * frame (the ack) rides in the job of its user's bucket, so it reaches the origin connection after every frame
 * enqueued for that user before it (only when the origin's user is not in the audience is the ack posted
 * directly). Once this resolves, every job is on the queue, whose own retries and DLQ take over; a throw means
 * some may be, and the retried record enqueues them all again: the queue drops the ones it already has (same
 * deduplication id within 5 minutes).
 *
 * Order: the caller pushes a conversation's frames one after the other (the delivery queue is FIFO per
 * conversation) and awaits each call, so all jobs of one frame are on the queue before any job of the next;
 * the fan-out queue keeps that order per (conversation, bucket), and a user is always in the same bucket.
 */
export async function pushToAudience(deps: PushDeps, audience: Audience): Promise<PushReport> {
  const users = [...new Set(audience.users)];
  if (deps.fanout !== undefined && (audience.viaFanout ?? users.length > FANOUT_THRESHOLD)) {
    return fanOut(deps, deps.fanout, users, audience);
  }
  const found = audience.connections ?? (await deps.connections.listByUsers(users));
  const targets = new Set(found.map((c) => c.connectionId));
  const origin = audience.origin;
  if (origin) {
    targets.delete(origin.connectionId);
  }
  const posts: { connectionId: string; frame: ServerFrame }[] = [...targets].map((connectionId) => ({
    connectionId,
    frame: audience.frame,
  }));
  if (origin?.own) posts.push({ connectionId: origin.connectionId, frame: origin.own });
  return postAll(deps, posts);
}

async function fanOut(
  deps: PushDeps,
  queue: FanoutQueue,
  users: readonly UserId[],
  audience: Audience,
): Promise<PushReport> {
  const origin = audience.origin;
  const entries = planFanout(users, audience.frame, origin?.connectionId, {
    ...(origin?.own && origin.userId !== undefined
      ? { own: { userId: origin.userId, frame: origin.own } }
      : {}),
  });
  // The origin's user is not in the audience (or unknown): its own frame has no job to ride in.
  const direct =
    origin?.own && !entries.some((e) => e.job.own !== undefined)
      ? await postAll(deps, [{ connectionId: origin.connectionId, frame: origin.own }])
      : { delivered: 0, gone: 0 };
  await queue.enqueue(entries);
  return { ...direct, fanoutJobs: entries.length };
}

/**
 * A user's bucket: FNV-1a (32 bits) of the user id, modulo `buckets`. Stable across processes and releases by
 * construction (no seed, no platform hash): it must never change while jobs are queued (see FANOUT_BUCKETS).
 */
export function fanoutBucket(userId: UserId, buckets: number = FANOUT_BUCKETS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < userId.length; i++) {
    hash ^= userId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % buckets;
}

export interface FanoutPlanOptions {
  /** Most users in one job. @default FANOUT_CHUNK */
  readonly chunkSize?: number;
  /** Message groups per conversation. @default FANOUT_BUCKETS */
  readonly buckets?: number;
  /**
   * The origin connection's own frame (its ack), carried by the first job holding `userId`, so the origin gets
   * it in order with the other frames of that user's bucket. Needs `exceptConnectionId` (the origin).
   */
  readonly own?: { readonly userId: UserId; readonly frame: ServerFrame };
}

/**
 * Splits an audience into fan-out entries: the users of each bucket (in the given order) in jobs of at most
 * `chunkSize`, buckets in ascending order, every user in exactly one job. `exceptConnectionId` (the origin) is
 * skipped by every job; with `options.own`, the job holding its user posts the own frame to it instead.
 *
 * Each entry names its message group, `${conversationId}#${bucket}`, and a deduplication id that depends only on
 * the frame's identity (conversation and seq for an event; conversation, reader and position for a receipt;
 * the content otherwise), the bucket and the chunk's index in the bucket: planning the same frame for the same
 * audience again, as a retried delivery does, gives the same entries, which the queue drops. The job carrying
 * an own frame also depends on the origin connection: a retry from another connection (a client that
 * reconnected) must reach it, so that job is enqueued again, and its users drop the repeated frame by seq.
 */
export function planFanout(
  users: readonly UserId[],
  frame: ServerFrame,
  exceptConnectionId?: string,
  options: FanoutPlanOptions = {},
): FanoutEntry[] {
  const chunkSize = options.chunkSize ?? FANOUT_CHUNK;
  const buckets = options.buckets ?? FANOUT_BUCKETS;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`fan-out chunk size must be a positive integer, got ${chunkSize}`);
  }
  if (!Number.isInteger(buckets) || buckets < 1) {
    throw new RangeError(`fan-out bucket count must be a positive integer, got ${buckets}`);
  }
  const byBucket = new Map<number, UserId[]>();
  for (const userId of new Set(users)) {
    const bucket = fanoutBucket(userId, buckets);
    const list = byBucket.get(bucket);
    if (list) list.push(userId);
    else byBucket.set(bucket, [userId]);
  }
  const chunked = [...byBucket]
    .sort(([a], [b]) => a - b)
    .flatMap(([bucket, members]) =>
      Array.from({ length: Math.ceil(members.length / chunkSize) }, (_, index) => ({
        bucket,
        index,
        users: members.slice(index * chunkSize, (index + 1) * chunkSize),
      })),
    );
  const base = frameLabel(frame);
  const identity = frameIdentity(frame);
  const conversation = groupKey(base.conversationId ?? `(${frame.type})`);
  const own = exceptConnectionId === undefined ? undefined : options.own;
  const carrier = own ? chunked.findIndex((c) => c.users.includes(own.userId)) : -1;
  return chunked.map(({ bucket, index, users: chunkUsers }, position) => {
    const carries = position === carrier && own !== undefined;
    return {
      job: {
        v: 1 as const,
        users: chunkUsers,
        frame,
        ...(exceptConnectionId === undefined ? {} : { exceptConnectionId }),
        ...(carries ? { own: own.frame } : {}),
        label: { ...base, chunk: position + 1, chunks: chunked.length },
      },
      group: `${conversation}#${bucket}`,
      deduplicationId: sha256(
        JSON.stringify(['herald-fanout', 1, identity, bucket, index, carries ? exceptConnectionId : null]),
      ),
    };
  });
}

/** SQS allows 128 characters in a message group id: a longer conversation id is replaced by its hash. */
function groupKey(conversation: string): string {
  return conversation.length <= 96 ? conversation : `sha256-${sha256(conversation)}`;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** What makes two frames the same frame, whatever their JSON key order (one stored, one just built). */
function frameIdentity(frame: ServerFrame): string {
  switch (frame.type) {
    case 'event':
      return JSON.stringify(['event', frame.event.conversationId, frame.event.seq]);
    case 'receipt':
      return JSON.stringify(['receipt', frame.conversationId, frame.userId, frame.readSeq]);
    default:
      return JSON.stringify([frame.type, sha256(JSON.stringify(frame))]);
  }
}

/** What a log line needs to find a fan-out job's frame: its type, conversation and, where it has one, seq. */
function frameLabel(frame: ServerFrame): Omit<FanoutLabel, 'chunk' | 'chunks'> {
  const kind = frame.type;
  switch (frame.type) {
    case 'event':
      return { kind, conversationId: frame.event.conversationId, seq: frame.event.seq };
    case 'ack':
      return { kind, conversationId: frame.conversationId, seq: frame.seq };
    case 'receipt':
      return { kind, conversationId: frame.conversationId, seq: frame.readSeq };
    case 'typing':
    case 'history':
    case 'members':
      return { kind, conversationId: frame.conversationId };
    case 'presence':
    case 'sync':
    case 'conversations':
    case 'pong':
    case 'error':
      return { kind };
    default:
      return assertNever(frame);
  }
}

function assertNever(value: never): never {
  throw new Error(`unexpected frame ${JSON.stringify(value)}`);
}

/**
 * Posts each frame to its connection, `deps.concurrency` at a time. 410 Gone deletes that connection's row and
 * counts as success; any other failure throws DeliveryIncompleteError once every post was tried.
 */
export async function postAll(
  deps: PushDeps,
  posts: readonly { connectionId: string; frame: ServerFrame }[],
): Promise<PushReport> {
  const results = await settleWithLimit(posts, deps.concurrency, async ({ connectionId, frame }) => {
    const outcome = await deps.notifier.post(connectionId, frame);
    if (outcome === 'gone') await deps.connections.removeGone(connectionId);
    return outcome;
  });
  const failed: string[] = [];
  let firstFailure: unknown;
  let delivered = 0;
  let gone = 0;
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') {
      if (result.value === 'gone') gone++;
      else delivered++;
    } else {
      failed.push(posts[index]?.connectionId ?? '?');
      firstFailure ??= result.reason;
    }
  });
  if (failed.length > 0) throw new DeliveryIncompleteError(failed, firstFailure);
  return { delivered, gone };
}

import type { ServerFrame, UserId } from '../../protocol';
import { settleWithLimit } from './concurrency';
import { DeliveryIncompleteError } from './errors';
import type { FanoutJob, FanoutLabel, FanoutQueue } from './fanout';
import type { ConnectionStore, Notifier } from './ports';

/**
 * An audience of more users than this is not pushed by the delivery invocation itself: its pushes are split
 * into fan-out jobs on a standard queue, so one large group neither holds its conversation's FIFO group for a
 * thousand posts nor starves the other conversations of delivery capacity.
 */
export const FANOUT_THRESHOLD = 100;
/** Users per fan-out job: one job is one invocation of the fan-out function (about as many posts). */
export const FANOUT_CHUNK = 100;

export interface PushDeps {
  readonly connections: ConnectionStore;
  readonly notifier: Notifier;
  /** Pushes in flight at once. */
  readonly concurrency: number;
  /**
   * Where audiences of more than FANOUT_THRESHOLD users go, as jobs of FANOUT_CHUNK users.
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
  /** The connection the command came from: it gets `own` instead (an ack), or nothing when `own` is absent. */
  readonly origin?: { readonly connectionId: string; readonly own?: ServerFrame };
}

/**
 * Pushes a frame to every live connection of the audience. 410 Gone removes that connection and counts as
 * success; any other failure throws DeliveryIncompleteError after every connection was tried, so the caller's
 * record is retried (clients drop repeats by sequence number).
 *
 * An audience of more than FANOUT_THRESHOLD users, when `deps.fanout` is present, is split into fan-out jobs
 * of FANOUT_CHUNK users instead, and only the origin's own frame (the ack) is posted here. The ack is posted
 * before the jobs are enqueued: if either fails the record is retried, and a failed ack then costs one repeated
 * post instead of a repeated fan-out. Once this resolves, every job is on the queue, whose own retries and DLQ
 * take over; a throw means some may be and the retried record enqueues them all again (at-least-once).
 */
export async function pushToAudience(deps: PushDeps, audience: Audience): Promise<PushReport> {
  const users = [...new Set(audience.users)];
  if (deps.fanout !== undefined && users.length > FANOUT_THRESHOLD) {
    return fanOut(deps, deps.fanout, users, audience);
  }
  const lists = await Promise.all(users.map((u) => deps.connections.listByUser(u)));
  const targets = new Set(lists.flat());
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
  const own = origin?.own
    ? await postAll(deps, [{ connectionId: origin.connectionId, frame: origin.own }])
    : { delivered: 0, gone: 0 };
  const jobs = fanoutJobs(users, audience.frame, origin?.connectionId);
  await queue.enqueue(jobs);
  return { ...own, fanoutJobs: jobs.length };
}

/**
 * Splits an audience into fan-out jobs of `chunkSize` users each: every user in exactly one job, in the given
 * order. `exceptConnectionId` (the origin) is skipped by every job.
 */
export function fanoutJobs(
  users: readonly UserId[],
  frame: ServerFrame,
  exceptConnectionId?: string,
  chunkSize: number = FANOUT_CHUNK,
): FanoutJob[] {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`fan-out chunk size must be a positive integer, got ${chunkSize}`);
  }
  const chunks = Math.ceil(users.length / chunkSize);
  const base = frameLabel(frame);
  return Array.from({ length: chunks }, (_, index) => ({
    v: 1 as const,
    users: users.slice(index * chunkSize, (index + 1) * chunkSize),
    frame,
    ...(exceptConnectionId === undefined ? {} : { exceptConnectionId }),
    label: { ...base, chunk: index + 1, chunks },
  }));
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
    if (outcome === 'gone') await deps.connections.remove(connectionId);
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

/**
 * Fan-out of large audiences. The delivery function turns an audience of more than FANOUT_THRESHOLD users into
 * jobs on the fan-out FIFO queue (see `pushToAudience` and `planFanout`): one message group per conversation and
 * bucket of users, so each user's frames stay in order while a conversation's buckets are pushed in parallel.
 * The fan-out function takes the jobs of a group one at a time, finds the live connections of their users and
 * pushes the frame to them. A job is the internal contract between the two functions: versioned, and validated
 * again on the way out of the queue.
 */
import * as z from 'zod/mini';
import { ConversationId, LIMITS, ServerFrame, UserId } from '../../protocol';
import { type PushDeps, type PushReport, postAll } from './push';

/** For logs and metrics only: which frame a job carries, and which of the audience's chunks it is. */
export const FanoutLabel = z.strictObject({
  /** The frame's `type`. */
  kind: z.string().check(z.minLength(1), z.maxLength(32)),
  conversationId: z.optional(ConversationId),
  /** The event's sequence number (the read position for a receipt). */
  seq: z.optional(z.number().check(z.int(), z.gte(0))),
  /** 1-based index of this job among the audience's `chunks`. */
  chunk: z.number().check(z.int(), z.gte(1)),
  chunks: z.number().check(z.int(), z.gte(1)),
});
export type FanoutLabel = z.infer<typeof FanoutLabel>;

export const FanoutJob = z
  .strictObject({
    v: z.literal(1),
    /** The users whose every live connection gets `frame`. */
    users: z.array(UserId).check(z.minLength(1), z.maxLength(LIMITS.maxGroupMembers)),
    frame: ServerFrame,
    /** The connection the command came from: it never gets `frame` (it gets `own`, or nothing). */
    exceptConnectionId: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
    /** The frame for `exceptConnectionId` (its ack), in one job of the origin user's bucket. */
    own: z.optional(ServerFrame),
    label: FanoutLabel,
  })
  .check(
    z.refine((job) => job.own === undefined || job.exceptConnectionId !== undefined, {
      message: 'own needs exceptConnectionId',
      path: ['own'],
    }),
  );
export type FanoutJob = z.infer<typeof FanoutJob>;

/** A job and how the queue must order and deduplicate it. */
export interface FanoutEntry {
  readonly job: FanoutJob;
  /**
   * The message group, `${conversationId}#${bucket}`: jobs of one group are handed to the fan-out function in
   * the order they were enqueued, and never two at once.
   */
  readonly group: string;
  /** An entry whose id the queue took in the last 5 minutes is dropped (it is a retried enqueue). */
  readonly deduplicationId: string;
}

export interface FanoutQueue {
  /**
   * Enqueues every entry, or throws; resolves only once all are enqueued, so whatever a later call enqueues
   * comes after them in their groups. The entries of one call are one frame's jobs, which have no user in
   * common: their order among themselves does not matter, and a resent entry may land after the others. A
   * throw may leave some entries enqueued: the caller's retry enqueues them all again, and the queue drops the
   * ones it already has (within the 5-minute deduplication window; after it, clients drop repeats by seq).
   */
  enqueue(entries: readonly FanoutEntry[]): Promise<void>;
}

/** A fan-out job needs everything a direct push needs, and must never fan out again. */
export type FanoutDeps = Omit<PushDeps, 'fanout'>;

export interface FanoutReport extends PushReport {
  readonly users: number;
  /** Connections posted to: the job users' live ones without the excepted one, plus it when the job has `own`. */
  readonly connections: number;
}

/**
 * Pushes one job's frame to every live connection of its users. 410 Gone removes that connection and counts as
 * success; a failed connection lookup or any other push failure throws (after every connection was tried), so
 * the job is retried (holding back the later jobs of its group) and ends in the fan-out DLQ if it keeps
 * failing. A retried job pushes again to all its connections: clients drop repeats by seq.
 */
export async function deliverFanoutJob(deps: FanoutDeps, job: FanoutJob): Promise<FanoutReport> {
  const targets = new Set((await deps.connections.listByUsers(job.users)).map((c) => c.connectionId));
  if (job.exceptConnectionId !== undefined) targets.delete(job.exceptConnectionId);
  const posts = [...targets].map((connectionId) => ({ connectionId, frame: job.frame }));
  if (job.own !== undefined && job.exceptConnectionId !== undefined) {
    posts.push({ connectionId: job.exceptConnectionId, frame: job.own });
  }
  const report = await postAll(deps, posts);
  return { ...report, users: job.users.length, connections: posts.length };
}

/** Reads a queue body as a fan-out job, or says why it is not one (a poison record). */
export function parseFanoutJob(
  body: string,
):
  | { readonly success: true; readonly job: FanoutJob }
  | { readonly success: false; readonly reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { success: false, reason: 'body is not JSON' };
  }
  const parsed = FanoutJob.safeParse(json);
  if (parsed.success) return { success: true, job: parsed.data };
  return {
    success: false,
    reason: parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
      .join('; '),
  };
}

import { describe, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../../lambdas/adapters/sqs-dead-letter';
import { DeliveryIncompleteError } from '../../../lambdas/core/errors';
import {
  deliverFanoutJob,
  type FanoutEntry,
  FanoutJob,
  type FanoutQueue,
  parseFanoutJob,
} from '../../../lambdas/core/fanout';
import type { ConnectionStore, LiveConnection, Notifier, PostOutcome } from '../../../lambdas/core/ports';
import {
  type Audience,
  FANOUT_BUCKETS,
  FANOUT_CHUNK,
  FANOUT_THRESHOLD,
  fanoutBucket,
  type PushDeps,
  planFanout,
  pushToAudience,
} from '../../../lambdas/core/push';
import { createFanoutHandler, type FanoutHandlerDeps } from '../../../lambdas/handlers/fanout';
import type { AckFrame, EventFrame, ReceiptFrame, ServerFrame, UserId } from '../../../protocol';
import { lambdaContext, sqsEvent, sqsFifoRecord } from '../../helpers/events';

// Local fakes: the shared ones in test/helpers/fakes.ts follow the delivery refactor, and these tests only need
// the two ports a push touches, plus the fan-out queue.

class Connections implements ConnectionStore {
  readonly byId = new Map<string, UserId>();
  failListFor = new Set<UserId>();
  async put(): Promise<void> {}
  async remove(connectionId: string): Promise<void> {
    this.byId.delete(connectionId);
  }
  async removeGone(connectionId: string): Promise<void> {
    this.byId.delete(connectionId);
  }
  async listByUsers(userIds: readonly UserId[]): Promise<LiveConnection[]> {
    const failing = userIds.find((u) => this.failListFor.has(u));
    if (failing !== undefined) throw new Error(`lookup of ${failing} failed`);
    return [...this.byId]
      .filter(([, u]) => userIds.includes(u))
      .map(([connectionId, userId]) => ({ connectionId, userId, connectedAt: 1 }));
  }
  connect(userId: UserId, ...connectionIds: string[]): void {
    for (const c of connectionIds) this.byId.set(c, userId);
  }
}

class Notifications implements Notifier {
  readonly posts: { connectionId: string; frame: ServerFrame }[] = [];
  readonly gone = new Set<string>();
  readonly failing = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;
  async post(connectionId: string, frame: ServerFrame): Promise<PostOutcome> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      if (this.failing.has(connectionId)) throw new Error(`500 from ${connectionId}`);
      if (this.gone.has(connectionId)) return 'gone';
      this.posts.push({ connectionId, frame });
      return 'delivered';
    } finally {
      this.inFlight--;
    }
  }
  to(connectionId: string): ServerFrame[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => p.frame);
  }
}

class Jobs implements FanoutQueue {
  readonly batches: FanoutEntry[][] = [];
  failWith: Error | undefined;
  async enqueue(entries: readonly FanoutEntry[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.batches.push([...entries]);
  }
  get entries(): FanoutEntry[] {
    return this.batches.flat();
  }
  get all(): FanoutJob[] {
    return this.entries.map((e) => e.job);
  }
}

const CONVERSATION = 'grp:team';
const users = (n: number): UserId[] => Array.from({ length: n }, (_, i) => `u${String(i).padStart(4, '0')}`);

const event: EventFrame = {
  type: 'event',
  v: 1,
  event: {
    kind: 'message',
    conversationId: CONVERSATION,
    seq: 7,
    at: 1_760_000_000_000,
    actorId: 'u0000',
    clientMessageId: 'm-7',
    text: 'hello, everyone',
  },
};
const ack: AckFrame = {
  type: 'ack',
  v: 1,
  conversationId: CONVERSATION,
  clientMessageId: 'm-7',
  seq: 7,
  at: 1_760_000_000_000,
};

/** n users, each with one connection `c-<user>`; the first user also has a second device. */
function world(n: number, options: { fanout?: boolean; concurrency?: number } = {}) {
  const connections = new Connections();
  const notifier = new Notifications();
  const queue = new Jobs();
  const members = users(n);
  for (const u of members) connections.connect(u, `c-${u}`);
  connections.connect('u0000', 'c-u0000-laptop');
  const deps: PushDeps = {
    connections,
    notifier,
    concurrency: options.concurrency ?? 8,
    ...(options.fanout === false ? {} : { fanout: queue }),
  };
  const audience: Audience = {
    users: members,
    frame: event,
    origin: { connectionId: 'c-u0000', userId: 'u0000', own: ack },
  };
  return { connections, notifier, queue, members, deps, audience };
}

describe('pushToAudience', () => {
  it(`posts directly to an audience of ${FANOUT_THRESHOLD} users, even with a fan-out queue`, async () => {
    const w = world(FANOUT_THRESHOLD);
    const report = await pushToAudience(w.deps, w.audience);
    expect(w.queue.batches).toEqual([]);
    expect(report).toEqual({ delivered: FANOUT_THRESHOLD + 1, gone: 0 });
    expect(w.notifier.to('c-u0000')).toEqual([ack]);
    expect(w.notifier.to('c-u0000-laptop')).toEqual([event]);
    for (const u of w.members.slice(1)) expect(w.notifier.to(`c-${u}`)).toEqual([event]);
  });

  it('posts directly to any audience when no fan-out queue is wired (existing callers)', async () => {
    const w = world(300, { fanout: false });
    const report = await pushToAudience(w.deps, w.audience);
    expect(report).toEqual({ delivered: 301, gone: 0 });
    expect(w.notifier.maxInFlight).toBeLessThanOrEqual(8);
  });

  it('counts users, not entries: repeated user ids do not tip an audience over the threshold', async () => {
    const w = world(FANOUT_THRESHOLD);
    await pushToAudience(w.deps, { ...w.audience, users: [...w.members, 'u0001', 'u0002'] });
    expect(w.queue.batches).toEqual([]);
    expect(w.notifier.to('c-u0001')).toEqual([event]);
  });

  /** The jobs an audience of these users needs: one per bucket, more where a bucket exceeds FANOUT_CHUNK. */
  const expectedJobs = (members: readonly UserId[]) => {
    const sizes = new Map<number, number>();
    for (const u of members) sizes.set(fanoutBucket(u), (sizes.get(fanoutBucket(u)) ?? 0) + 1);
    return [...sizes.values()].reduce((n, size) => n + Math.ceil(size / FANOUT_CHUNK), 0);
  };

  it.each([FANOUT_THRESHOLD + 1, 250, 1000])(
    'splits %i users by bucket, every user exactly once, the ack riding in the job of its user',
    async (n) => {
      const w = world(n);
      const report = await pushToAudience(w.deps, w.audience);
      const chunks = expectedJobs(w.members);
      expect(chunks).toBeGreaterThanOrEqual(FANOUT_BUCKETS);

      expect(report).toEqual({ delivered: 0, gone: 0, fanoutJobs: chunks });
      expect(w.notifier.posts).toEqual([]);
      expect(w.queue.batches).toHaveLength(1);
      // Exactly one job carries the ack: the one holding the origin's user, so the origin connection gets it
      // after every frame enqueued before it for that user's bucket.
      const carriers = w.queue.all.filter((j) => j.own !== undefined);
      expect(carriers).toHaveLength(1);
      expect(carriers[0]?.own).toEqual(ack);
      expect(carriers[0]?.users).toContain('u0000');
      const entries = w.queue.entries;
      expect(entries).toHaveLength(chunks);
      expect(
        entries
          .flatMap((e) => e.job.users)
          .slice()
          .sort(),
      ).toEqual(w.members);
      const buckets: number[] = [];
      for (const [index, { job, group, deduplicationId }] of entries.entries()) {
        expect(FanoutJob.parse(JSON.parse(JSON.stringify(job)))).toEqual(job);
        expect(job.users.length).toBeLessThanOrEqual(FANOUT_CHUNK);
        const bucket = fanoutBucket(job.users[0] ?? '');
        expect(job.users.every((u) => fanoutBucket(u) === bucket)).toBe(true);
        expect(group).toBe(`${CONVERSATION}#${bucket}`);
        expect(deduplicationId).toMatch(/^[0-9a-f]{64}$/);
        buckets.push(bucket);
        expect(job).toMatchObject({
          v: 1,
          frame: event,
          exceptConnectionId: 'c-u0000',
          label: { kind: 'event', conversationId: CONVERSATION, seq: 7, chunk: index + 1, chunks },
        });
      }
      expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
      expect(new Set(entries.map((e) => e.deduplicationId)).size).toBe(chunks);
    },
  );

  it('fans out a smaller audience when told to (a conversation that fanned out before keeps doing so)', async () => {
    const w = world(3);
    const report = await pushToAudience(w.deps, { ...w.audience, viaFanout: true });
    expect(report).toEqual({ delivered: 0, gone: 0, fanoutJobs: expectedJobs(w.members) });
    expect(w.notifier.posts).toEqual([]);
    expect(w.queue.all.flatMap((j) => j.users).sort()).toEqual(w.members);
  });

  it('posts a large audience directly when told not to fan out', async () => {
    const w = world(150);
    const report = await pushToAudience(w.deps, { ...w.audience, viaFanout: false });
    expect(w.queue.batches).toEqual([]);
    expect(report).toEqual({ delivered: 151, gone: 0 });
  });

  it('fans out a frame without an own frame (a receipt), skipping the origin and posting nothing directly', async () => {
    const w = world(150);
    const receipt: ReceiptFrame = {
      type: 'receipt',
      v: 1,
      conversationId: CONVERSATION,
      userId: 'u0000',
      readSeq: 7,
    };
    const report = await pushToAudience(w.deps, {
      users: w.members,
      frame: receipt,
      origin: { connectionId: 'c-u0000' },
    });
    expect(report).toEqual({ delivered: 0, gone: 0, fanoutJobs: FANOUT_BUCKETS });
    expect(w.notifier.posts).toEqual([]);
    expect(w.queue.all.map((j) => [j.exceptConnectionId, j.label])).toEqual(
      Array.from({ length: FANOUT_BUCKETS }, (_, i) => [
        'c-u0000',
        { kind: 'receipt', conversationId: CONVERSATION, seq: 7, chunk: i + 1, chunks: FANOUT_BUCKETS },
      ]),
    );
  });

  // The origin's user outside the audience (or not named): the ack has no job to ride in and is posted here.
  const outsider = (w: ReturnType<typeof world>): Audience => ({
    ...w.audience,
    origin: { connectionId: 'c-u0000', userId: 'someone-else', own: ack },
  });

  it('posts the ack directly when its user is not in the audience, before enqueueing', async () => {
    const w = world(500);
    expect(await pushToAudience(w.deps, outsider(w))).toEqual({
      delivered: 1,
      gone: 0,
      fanoutJobs: expectedJobs(w.members),
    });
    expect(w.notifier.posts).toEqual([{ connectionId: 'c-u0000', frame: ack }]);
    expect(w.queue.all.some((j) => j.own !== undefined)).toBe(false);
    const anonymous = world(500);
    await pushToAudience(anonymous.deps, {
      ...anonymous.audience,
      origin: { connectionId: 'c-u0000', own: ack },
    });
    expect(anonymous.notifier.posts).toEqual([{ connectionId: 'c-u0000', frame: ack }]);
  });

  it('a failed direct ack enqueues nothing and the record is retried', async () => {
    const w = world(500);
    w.notifier.failing.add('c-u0000');
    await expect(pushToAudience(w.deps, outsider(w))).rejects.toBeInstanceOf(DeliveryIncompleteError);
    expect(w.queue.batches).toEqual([]);
  });

  it('throws when the jobs cannot be enqueued, so the delivery record is retried', async () => {
    const w = world(500);
    w.queue.failWith = new Error('SQS is down');
    await expect(pushToAudience(w.deps, w.audience)).rejects.toThrow('SQS is down');
  });

  it('removes the origin connection when its direct ack answers 410, and still fans out', async () => {
    const w = world(500);
    w.notifier.gone.add('c-u0000');
    expect(await pushToAudience(w.deps, outsider(w))).toEqual({
      delivered: 0,
      gone: 1,
      fanoutJobs: expectedJobs(w.members),
    });
    expect(w.connections.byId.has('c-u0000')).toBe(false);
  });
});

describe('fanoutBucket', () => {
  it('is stable: these values must never change while jobs are queued (a user would switch groups)', () => {
    expect(['alice', 'bob', 'carol', 'auth0|123', 'u0000'].map((u) => fanoutBucket(u, 16))).toEqual([
      7, 4, 2, 13, 0,
    ]);
    expect(['alice', 'bob', 'carol', 'auth0|123', 'u0000'].map((u) => fanoutBucket(u))).toEqual([
      3, 0, 2, 1, 0,
    ]);
  });

  it('spreads users over every bucket', () => {
    const sizes = new Array<number>(FANOUT_BUCKETS).fill(0);
    for (const u of users(1000)) sizes[fanoutBucket(u)] = (sizes[fanoutBucket(u)] ?? 0) + 1;
    expect(Math.min(...sizes)).toBeGreaterThan((1000 / FANOUT_BUCKETS) * 0.8);
    expect(Math.max(...sizes)).toBeLessThan((1000 / FANOUT_BUCKETS) * 1.2);
  });
});

describe('planFanout', () => {
  const receipt = (userId: UserId, readSeq: number): ReceiptFrame => ({
    type: 'receipt',
    v: 1,
    conversationId: CONVERSATION,
    userId,
    readSeq,
  });
  const ids = (entries: readonly FanoutEntry[]) => entries.map((e) => e.deduplicationId);

  it('refuses a chunk size or bucket count that is not a positive integer', () => {
    expect(() => planFanout(users(3), event, undefined, { chunkSize: 0 })).toThrow(RangeError);
    expect(() => planFanout(users(3), event, undefined, { chunkSize: 1.5 })).toThrow(RangeError);
    expect(() => planFanout(users(3), event, undefined, { buckets: 0 })).toThrow(RangeError);
  });

  it('leaves exceptConnectionId out when there is no origin', () => {
    const [entry] = planFanout(['u0000'], event);
    expect(entry?.job).not.toHaveProperty('exceptConnectionId');
    expect(entry?.job.label).toEqual({
      kind: 'event',
      conversationId: CONVERSATION,
      seq: 7,
      chunk: 1,
      chunks: 1,
    });
    expect(entry?.group).toBe(`${CONVERSATION}#0`);
  });

  it("splits a bucket larger than the chunk size into chunks, in the audience's order", () => {
    const members = users(20);
    const entries = planFanout(members, event, undefined, { chunkSize: 3, buckets: 2 });
    for (const bucket of [0, 1]) {
      const mine = entries.filter((e) => e.group === `${CONVERSATION}#${bucket}`);
      expect(mine.flatMap((e) => e.job.users)).toEqual(members.filter((u) => fanoutBucket(u, 2) === bucket));
      expect(mine.slice(0, -1).every((e) => e.job.users.length === 3)).toBe(true);
    }
    // Bucket 0 first, then bucket 1; chunks numbered across the whole audience.
    expect(entries.map((e) => e.group)).toEqual([...entries.map((e) => e.group)].sort());
    expect(entries.map((e) => e.job.label.chunk)).toEqual(entries.map((_, i) => i + 1));
    expect(new Set(ids(entries)).size).toBe(entries.length);
  });

  it('counts each user once, even when the audience repeats them', () => {
    const entries = planFanout([...users(5), 'u0001', 'u0003'], event);
    expect(
      entries
        .flatMap((e) => e.job.users)
        .slice()
        .sort(),
    ).toEqual(users(5));
  });

  it('plans a retried frame with the same groups and deduplication ids, whatever its JSON key order', () => {
    const first = planFanout(users(300), event, 'c-u0000');
    // The same event as read back from the store: same values, other key order; another origin connection.
    const { text, clientMessageId, actorId, at, seq, conversationId, kind } = event.event as Extract<
      EventFrame['event'],
      { kind: 'message' }
    >;
    const stored: EventFrame = {
      v: 1,
      type: 'event',
      event: { text, clientMessageId, actorId, at, seq, conversationId, kind },
    };
    const again = planFanout(users(300), stored, 'c-u0000-laptop');
    expect(again.map((e) => [e.group, e.deduplicationId])).toEqual(
      first.map((e) => [e.group, e.deduplicationId]),
    );
  });

  it('puts the own frame in the first job holding its user, and ties only that job to the origin connection', () => {
    const own = { userId: 'u0042', frame: ack };
    const entries = planFanout(users(300), event, 'c-u0042', { own });
    const carriers = entries.filter((e) => e.job.own !== undefined);
    expect(carriers).toHaveLength(1);
    expect(carriers[0]?.job.users).toContain('u0042');
    expect(carriers[0]?.group).toBe(`${CONVERSATION}#${fanoutBucket('u0042')}`);
    // A retry from the same connection is deduplicated whole; from another one (a reconnected client), the job
    // with the ack is new, so the new connection gets its ack; the other jobs are still dropped by the queue.
    const same = planFanout(users(300), event, 'c-u0042', { own });
    expect(same.map((e) => e.deduplicationId)).toEqual(entries.map((e) => e.deduplicationId));
    const other = planFanout(users(300), event, 'c-u0042-phone', { own });
    const changed = other.filter((e, i) => e.deduplicationId !== entries[i]?.deduplicationId);
    expect(changed.map((e) => e.job.own)).toEqual([ack]);
    // Without an origin connection there is no one to give it to.
    expect(planFanout(users(300), event, undefined, { own }).some((e) => e.job.own)).toBe(false);
  });

  it('gives different frames different deduplication ids', () => {
    const next: EventFrame = { ...event, event: { ...event.event, seq: 8 } };
    const plans = [
      planFanout(users(150), event),
      planFanout(users(150), next),
      planFanout(users(150), receipt('u0001', 7)),
      planFanout(users(150), receipt('u0002', 7)),
      planFanout(users(150), receipt('u0001', 8)),
    ];
    const all = plans.flatMap(ids);
    expect(new Set(all).size).toBe(all.length);
  });

  it('keeps the message group id within SQS’s 128 characters for the longest conversation ids', () => {
    const direct = `dm:${'a'.repeat(128)}:${'b'.repeat(128)}`;
    const frame: ReceiptFrame = { ...receipt('u0001', 1), conversationId: direct };
    const entries = planFanout(users(40), frame);
    for (const { group } of entries) {
      expect(group.length).toBeLessThanOrEqual(128);
      expect(group).toMatch(/^sha256-[0-9a-f]{64}#\d+$/);
    }
    expect(new Set(entries.map((e) => e.group.split('#')[0])).size).toBe(1);
  });
});

describe('deliverFanoutJob', () => {
  const job = (members: UserId[], except?: string): FanoutJob => ({
    v: 1,
    users: members,
    frame: event,
    ...(except === undefined ? {} : { exceptConnectionId: except }),
    label: { kind: 'event', conversationId: CONVERSATION, seq: 7, chunk: 1, chunks: 1 },
  });

  it("pushes the frame to every connection of the chunk's users but the excepted one", async () => {
    const w = world(100);
    const report = await deliverFanoutJob(w.deps, job(w.members, 'c-u0000'));
    expect(report).toEqual({ delivered: 100, gone: 0, users: 100, connections: 100 });
    expect(w.notifier.to('c-u0000')).toEqual([]);
    expect(w.notifier.to('c-u0000-laptop')).toEqual([event]);
    for (const u of w.members.slice(1)) expect(w.notifier.to(`c-${u}`)).toEqual([event]);
    expect(w.notifier.maxInFlight).toBeLessThanOrEqual(8);
  });

  it('posts the own frame to the excepted connection, and only it', async () => {
    const w = world(10);
    const report = await deliverFanoutJob(w.deps, { ...job(w.members, 'c-u0000'), own: ack });
    expect(report).toEqual({ delivered: 11, gone: 0, users: 10, connections: 11 });
    expect(w.notifier.to('c-u0000')).toEqual([ack]);
    expect(w.notifier.to('c-u0000-laptop')).toEqual([event]);
    expect(FanoutJob.safeParse({ ...job(w.members), own: ack }).success).toBe(false);
  });

  it('deletes a connection that answers 410 Gone and counts it as done', async () => {
    const w = world(10);
    w.notifier.gone.add('c-u0003');
    const report = await deliverFanoutJob(w.deps, job(w.members));
    expect(report).toEqual({ delivered: 10, gone: 1, users: 10, connections: 11 });
    expect(w.connections.byId.has('c-u0003')).toBe(false);
    expect(w.connections.byId.has('c-u0004')).toBe(true);
  });

  it('throws DeliveryIncompleteError on any other failure, after trying every connection', async () => {
    const w = world(10);
    w.notifier.failing.add('c-u0005');
    const failure = await deliverFanoutJob(w.deps, job(w.members)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DeliveryIncompleteError);
    expect((failure as DeliveryIncompleteError).failedConnections).toEqual(['c-u0005']);
    expect(w.notifier.posts).toHaveLength(10);
    expect(w.connections.byId.has('c-u0005')).toBe(true);
  });

  it('throws when a connection lookup fails, before pushing anything', async () => {
    const w = world(10);
    w.connections.failListFor.add('u0007');
    await expect(deliverFanoutJob(w.deps, job(w.members))).rejects.toThrow('lookup of u0007 failed');
    expect(w.notifier.posts).toEqual([]);
  });
});

describe('parseFanoutJob', () => {
  it('reads back what planFanout produced', () => {
    const [original] = planFanout(users(5), event, 'c-x');
    expect(parseFanoutJob(JSON.stringify(original?.job))).toEqual({ success: true, job: original?.job });
  });

  it.each([
    ['not JSON', '{', 'body is not JSON'],
    ['another version', JSON.stringify({ ...planFanout(users(1), event)[0]?.job, v: 2 }), 'v:'],
    ['no users', JSON.stringify({ ...planFanout(users(1), event)[0]?.job, users: [] }), 'users:'],
    [
      'not a server frame',
      JSON.stringify({ ...planFanout(users(1), event)[0]?.job, frame: { type: 'x' } }),
      'frame',
    ],
  ])('names why a body is poison: %s', (_name, body, reason) => {
    const parsed = parseFanoutJob(body);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(parsed.reason).toContain(reason);
  });
});

describe('fan-out handler', () => {
  const GROUP_A = `${CONVERSATION}#1`;
  const GROUP_B = `${CONVERSATION}#2`;
  const jobOf = (seq: number, members: UserId[]): FanoutJob => ({
    v: 1,
    users: members,
    frame: { ...event, event: { ...event.event, seq } },
    label: { kind: 'event', conversationId: CONVERSATION, seq, chunk: 1, chunks: 1 },
  });
  const record = (group: string, seq: number, members: UserId[]) =>
    sqsFifoRecord(JSON.stringify(jobOf(seq, members)), group);

  function setup(options: { deadLetter?: boolean } = {}) {
    const w = world(4, { fanout: false });
    const deadLetters: DeadLetterRecord[] = [];
    const deps: FanoutHandlerDeps = {
      connections: w.connections,
      notifier: w.notifier,
      concurrency: 4,
      ...(options.deadLetter === false
        ? {}
        : { deadLetter: { forward: async (r: DeadLetterRecord) => void deadLetters.push(r) } }),
    };
    const seqs = (connectionId: string) =>
      w.notifier.to(connectionId).map((f) => (f.type === 'event' ? f.event.seq : -1));
    return { ...w, deadLetters, seqs, handler: createFanoutHandler(() => deps) };
  }

  it('pushes the jobs of a batch in order, group by group', async () => {
    const { handler, seqs } = setup();
    const response = await handler(
      sqsEvent(
        record(GROUP_A, 1, ['u0001']),
        record(GROUP_B, 1, ['u0002']),
        record(GROUP_A, 2, ['u0001']),
        record(GROUP_B, 2, ['u0002']),
      ),
      lambdaContext(),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(seqs('c-u0001')).toEqual([1, 2]);
    expect(seqs('c-u0002')).toEqual([1, 2]);
  });

  it('reports a failed chunk and the rest of its group, untried; other groups go on', async () => {
    const { handler, notifier, seqs } = setup();
    notifier.failing.add('c-u0001');
    const a1 = record(GROUP_A, 1, ['u0001', 'u0003']);
    const a2 = record(GROUP_A, 2, ['u0001', 'u0003']);
    const b1 = record(GROUP_B, 1, ['u0002']);
    const b2 = record(GROUP_B, 2, ['u0002']);
    const response = await handler(sqsEvent(a1, b1, a2, b2), lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([a1.messageId, a2.messageId]);
    // Seq 2 never reached bucket A's connections ahead of seq 1.
    expect(seqs('c-u0003')).toEqual([1]);
    expect(seqs('c-u0002')).toEqual([1, 2]);
  });

  it('keeps overlapping invocations apart (one processor per invocation)', async () => {
    const { handler, notifier } = setup();
    notifier.failing.add('c-u0001');
    const failing = record(GROUP_A, 1, ['u0001']);
    const healthy = [record(GROUP_B, 1, ['u0002']), record(GROUP_B, 2, ['u0002'])];
    const [first, second] = await Promise.all([
      handler(sqsEvent(failing), lambdaContext()).catch(() => 'all failed'),
      handler(sqsEvent(...healthy), lambdaContext()),
    ]);
    expect(first).toBe('all failed');
    expect(second).toEqual({ batchItemFailures: [] });
  });

  it('forwards a poison body to the DLQ at once, and goes on with its group', async () => {
    const { handler, deadLetters, seqs } = setup();
    const poison = sqsFifoRecord('{"v":2,"users":[]}', GROUP_A);
    const next = record(GROUP_A, 2, ['u0001']);
    const response = await handler(sqsEvent(poison, next), lambdaContext());
    expect(response.batchItemFailures).toEqual([]);
    expect(deadLetters).toEqual([
      {
        messageId: poison.messageId,
        body: poison.body,
        messageGroupId: GROUP_A,
        reason: expect.stringContaining('v:'),
      },
    ]);
    expect(seqs('c-u0001')).toEqual([2]);
  });

  it('without a DLQ to forward to, fails a poison body and holds its group for the redrive', async () => {
    const { handler, seqs } = setup({ deadLetter: false });
    const poison = sqsFifoRecord('not json', GROUP_A);
    const next = record(GROUP_A, 2, ['u0001']);
    const other = record(GROUP_B, 2, ['u0002']);
    const response = await handler(sqsEvent(poison, next, other), lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      poison.messageId,
      next.messageId,
    ]);
    expect(seqs('c-u0001')).toEqual([]);
    expect(seqs('c-u0002')).toEqual([2]);
  });

  it('fails a poison body whose forward fails, so it comes back', async () => {
    const { connections, notifier } = setup();
    const deps: FanoutHandlerDeps = {
      connections,
      notifier,
      concurrency: 4,
      deadLetter: {
        forward: async () => {
          throw new Error('SQS is down');
        },
      },
    };
    const poison = sqsFifoRecord('not json', GROUP_A);
    const other = record(GROUP_B, 1, ['u0002']);
    const response = await createFanoutHandler(() => deps)(sqsEvent(poison, other), lambdaContext());
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([poison.messageId]);
  });
});

import { describe, expect, it } from 'vitest';
import { DeliveryIncompleteError } from '../../../lambdas/core/errors';
import { deliverFanoutJob, FanoutJob, type FanoutQueue, parseFanoutJob } from '../../../lambdas/core/fanout';
import type { ConnectionStore, Notifier, PostOutcome } from '../../../lambdas/core/ports';
import {
  type Audience,
  FANOUT_CHUNK,
  FANOUT_THRESHOLD,
  fanoutJobs,
  type PushDeps,
  pushToAudience,
} from '../../../lambdas/core/push';
import type { AckFrame, EventFrame, ReceiptFrame, ServerFrame, UserId } from '../../../protocol';

// Local fakes: the shared ones in test/helpers/fakes.ts follow the delivery refactor, and these tests only need
// the two ports a push touches, plus the fan-out queue.

class Connections implements ConnectionStore {
  readonly byId = new Map<string, UserId>();
  failListFor = new Set<UserId>();
  async put(): Promise<void> {}
  async remove(connectionId: string): Promise<void> {
    this.byId.delete(connectionId);
  }
  async listByUser(userId: UserId): Promise<string[]> {
    if (this.failListFor.has(userId)) throw new Error(`lookup of ${userId} failed`);
    return [...this.byId].filter(([, u]) => u === userId).map(([c]) => c);
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
  readonly batches: FanoutJob[][] = [];
  failWith: Error | undefined;
  async enqueue(jobs: readonly FanoutJob[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.batches.push([...jobs]);
  }
  get all(): FanoutJob[] {
    return this.batches.flat();
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
  const audience: Audience = { users: members, frame: event, origin: { connectionId: 'c-u0000', own: ack } };
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

  it.each([
    [FANOUT_THRESHOLD + 1, 2],
    [250, 3],
    [1000, 10],
  ])(
    'splits %i users into %i jobs, every user exactly once, and posts only the ack directly',
    async (n, chunks) => {
      const w = world(n);
      const report = await pushToAudience(w.deps, w.audience);

      expect(report).toEqual({ delivered: 1, gone: 0, fanoutJobs: chunks });
      expect(w.notifier.posts).toEqual([{ connectionId: 'c-u0000', frame: ack }]);
      expect(w.queue.batches).toHaveLength(1);
      const jobs = w.queue.all;
      expect(jobs).toHaveLength(Math.ceil(n / FANOUT_CHUNK));
      expect(jobs.flatMap((j) => j.users)).toEqual(w.members);
      for (const [index, job] of jobs.entries()) {
        expect(FanoutJob.parse(JSON.parse(JSON.stringify(job)))).toEqual(job);
        expect(job.users.length).toBeLessThanOrEqual(FANOUT_CHUNK);
        expect(job).toMatchObject({
          v: 1,
          frame: event,
          exceptConnectionId: 'c-u0000',
          label: { kind: 'event', conversationId: CONVERSATION, seq: 7, chunk: index + 1, chunks },
        });
      }
    },
  );

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
    expect(report).toEqual({ delivered: 0, gone: 0, fanoutJobs: 2 });
    expect(w.notifier.posts).toEqual([]);
    expect(w.queue.all.map((j) => [j.exceptConnectionId, j.label])).toEqual([
      ['c-u0000', { kind: 'receipt', conversationId: CONVERSATION, seq: 7, chunk: 1, chunks: 2 }],
      ['c-u0000', { kind: 'receipt', conversationId: CONVERSATION, seq: 7, chunk: 2, chunks: 2 }],
    ]);
  });

  it('posts the ack before enqueueing: a failed ack enqueues nothing and the record is retried', async () => {
    const w = world(500);
    w.notifier.failing.add('c-u0000');
    await expect(pushToAudience(w.deps, w.audience)).rejects.toBeInstanceOf(DeliveryIncompleteError);
    expect(w.queue.batches).toEqual([]);
  });

  it('throws when the jobs cannot be enqueued, so the delivery record is retried', async () => {
    const w = world(500);
    w.queue.failWith = new Error('SQS is down');
    await expect(pushToAudience(w.deps, w.audience)).rejects.toThrow('SQS is down');
    expect(w.notifier.to('c-u0000')).toEqual([ack]);
  });

  it('removes the origin connection when its ack answers 410, and still fans out', async () => {
    const w = world(500);
    w.notifier.gone.add('c-u0000');
    expect(await pushToAudience(w.deps, w.audience)).toEqual({ delivered: 0, gone: 1, fanoutJobs: 5 });
    expect(w.connections.byId.has('c-u0000')).toBe(false);
  });
});

describe('fanoutJobs', () => {
  it('refuses a chunk size that is not a positive integer', () => {
    expect(() => fanoutJobs(users(3), event, undefined, 0)).toThrow(RangeError);
    expect(() => fanoutJobs(users(3), event, undefined, 1.5)).toThrow(RangeError);
  });

  it('leaves exceptConnectionId out when there is no origin', () => {
    const [job] = fanoutJobs(users(3), event);
    expect(job).not.toHaveProperty('exceptConnectionId');
    expect(job?.label).toEqual({ kind: 'event', conversationId: CONVERSATION, seq: 7, chunk: 1, chunks: 1 });
  });
});

describe('deliverFanoutJob', () => {
  const job = (members: UserId[], except?: string): FanoutJob => {
    const [first] = fanoutJobs(members, event, except, members.length);
    if (!first) throw new Error('no job');
    return first;
  };

  it("pushes the frame to every connection of the chunk's users but the excepted one", async () => {
    const w = world(100);
    const report = await deliverFanoutJob(w.deps, job(w.members, 'c-u0000'));
    expect(report).toEqual({ delivered: 100, gone: 0, users: 100, connections: 100 });
    expect(w.notifier.to('c-u0000')).toEqual([]);
    expect(w.notifier.to('c-u0000-laptop')).toEqual([event]);
    for (const u of w.members.slice(1)) expect(w.notifier.to(`c-${u}`)).toEqual([event]);
    expect(w.notifier.maxInFlight).toBeLessThanOrEqual(8);
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
  it('reads back what fanoutJobs produced', () => {
    const [original] = fanoutJobs(users(5), event, 'c-x');
    expect(parseFanoutJob(JSON.stringify(original))).toEqual({ success: true, job: original });
  });

  it.each([
    ['not JSON', '{', 'body is not JSON'],
    ['another version', JSON.stringify({ ...fanoutJobs(users(1), event)[0], v: 2 }), 'v:'],
    ['no users', JSON.stringify({ ...fanoutJobs(users(1), event)[0], users: [] }), 'users:'],
    [
      'not a server frame',
      JSON.stringify({ ...fanoutJobs(users(1), event)[0], frame: { type: 'x' } }),
      'frame',
    ],
  ])('names why a body is poison: %s', (_name, body, reason) => {
    const parsed = parseFanoutJob(body);
    expect(parsed.success).toBe(false);
    if (!parsed.success) expect(parsed.reason).toContain(reason);
  });
});

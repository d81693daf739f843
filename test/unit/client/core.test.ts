import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../client/backoff';
import { Emitter } from '../../../client/emitter';
import { newId, tokenSubject } from '../../../client/ids';
import { type CommandFrame, Outbox } from '../../../client/outbox';
import { RateLimiter } from '../../../client/rate-limiter';
import { Sequencer } from '../../../client/sequencer';
import { ClientMessageId, type ConversationEvent } from '../../../protocol';

const conv = 'dm:alice:bob';
const msg = (seq: number, conversationId = conv): ConversationEvent => ({
  kind: 'message',
  conversationId,
  seq,
  at: 1_000 + seq,
  actorId: 'bob',
  clientMessageId: `m${seq}`,
  text: `#${seq}`,
});
const seqs = (events: readonly ConversationEvent[]) => events.map((e) => e.seq);

describe('Sequencer', () => {
  it('releases in order, holds events past a gap and releases them when it is filled', () => {
    const s = new Sequencer({ [conv]: 2 });
    expect(seqs(s.accept(msg(3)))).toEqual([3]);
    expect(seqs(s.accept(msg(6)))).toEqual([]);
    expect(seqs(s.accept(msg(5)))).toEqual([]);
    expect(s.hasGap(conv)).toBe(true);
    expect(seqs(s.accept(msg(4)))).toEqual([4, 5, 6]);
    expect(s.hasGap(conv)).toBe(false);
    expect(s.lastSeq(conv)).toBe(6);
  });

  it('drops duplicates: released ones, and held ones delivered twice', () => {
    const s = new Sequencer({ [conv]: 0 });
    expect(seqs(s.accept(msg(1)))).toEqual([1]);
    expect(s.accept(msg(1))).toEqual([]);
    expect(s.accept(msg(3))).toEqual([]);
    expect(s.accept(msg(3))).toEqual([]);
    expect(seqs(s.accept(msg(2)))).toEqual([2, 3]);
    expect(s.accept(msg(2))).toEqual([]);
  });

  it('any interleaving of a shuffled stream with duplicates releases 1..n exactly once, in order', () => {
    const s = new Sequencer({ [conv]: 0 });
    const input = [...Array.from({ length: 50 }, (_, i) => msg(i + 1)), ...[7, 19, 33].map((n) => msg(n))];
    let state = 42;
    const random = () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return state / 2 ** 31;
    };
    input.sort(() => random() - 0.5);
    const released = input.flatMap((e) => s.accept(e));
    expect(seqs(released)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('keeps conversations apart', () => {
    const s = new Sequencer({ a: 0, b: 0 });
    expect(s.accept(msg(2, 'a'))).toEqual([]);
    expect(seqs(s.accept(msg(1, 'b')))).toEqual([1]);
    expect(s.hasGap('a')).toBe(true);
    expect(s.hasGap('b')).toBe(false);
  });

  it('follows an unknown conversation from the first event it sees', () => {
    const s = new Sequencer();
    expect(seqs(s.accept(msg(7)))).toEqual([7]);
    expect(s.positions()).toEqual({ [conv]: 7 });
  });

  it('an acknowledged seq without its event is a gap until the event comes', () => {
    const s = new Sequencer({ [conv]: 4 });
    s.noteExists(conv, 5);
    expect(s.hasGap(conv)).toBe(true);
    expect(seqs(s.accept(msg(5)))).toEqual([5]);
    expect(s.hasGap(conv)).toBe(false);
  });
});

describe('backoffDelay', () => {
  it('draws from [0, min(max, base * 2^attempt)) with full jitter', () => {
    const options = { baseMs: 100, maxMs: 5_000 };
    expect(backoffDelay(0, options, () => 0)).toBe(0);
    expect(backoffDelay(0, options, () => 0.999_999)).toBe(99);
    expect(backoffDelay(3, options, () => 0.5)).toBe(400);
    expect(backoffDelay(10, options, () => 0.999_999)).toBe(4_999);
    expect(backoffDelay(1_000, options, () => 0.999_999)).toBe(4_999);
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = backoffDelay(attempt, options);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.min(5_000, 100 * 2 ** attempt));
    }
  });

  it('spreads clients out: delays of one attempt differ', () => {
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(6, { baseMs: 500, maxMs: 30_000 })));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe('RateLimiter', () => {
  it('allows `frames` in any window, then says how long to wait', () => {
    const limiter = new RateLimiter(3, 1_000);
    for (const t of [0, 10, 20]) {
      expect(limiter.delay(t)).toBe(0);
      limiter.take(t);
    }
    expect(limiter.delay(30)).toBe(970);
    expect(limiter.delay(1_000)).toBe(0);
    limiter.take(1_000);
    expect(limiter.delay(1_005)).toBe(5);
  });

  it('never lets more than 20 frames into any 2 s window at its defaults', () => {
    const limiter = new RateLimiter();
    const sent: number[] = [];
    for (let t = 0; t < 10_000; t += 7) {
      if (limiter.delay(t) === 0) {
        limiter.take(t);
        sent.push(t);
      }
    }
    for (const t of sent) expect(sent.filter((u) => u >= t && u < t + 2_000).length).toBeLessThanOrEqual(20);
    expect(sent.length).toBeGreaterThan(80);
  });
});

const send = (conversationId: string, id: string): CommandFrame => ({
  action: 'send',
  v: 1,
  conversationId,
  clientMessageId: id,
  text: id,
});

describe('Outbox', () => {
  it('sends one command per conversation at a time, in the order issued', () => {
    const box = new Outbox();
    for (const [c, id] of [
      ['a', 'a1'],
      ['b', 'b1'],
      ['a', 'a2'],
      ['a', 'a3'],
    ] as const)
      box.add({ frame: send(c, id), createdAt: 0 });
    const ids = () => box.due(0).map((c) => c.frame.clientMessageId);
    expect(ids()).toEqual(['a1', 'b1']);
    box.markSent('a1');
    box.markSent('b1');
    expect(ids()).toEqual([]);
    box.settle('a1');
    expect(ids()).toEqual(['a2']);
    box.settle('a2');
    box.settle('b1');
    expect(ids()).toEqual(['a3']);
  });

  it('pipelines up to `perLane` per conversation', () => {
    const box = new Outbox(2);
    for (const id of ['x1', 'x2', 'x3']) box.add({ frame: send('x', id), createdAt: 0 });
    expect(box.due(0).map((c) => c.frame.clientMessageId)).toEqual(['x1', 'x2']);
  });

  it('flushes in order after a lost connection, and holds a rate-limited command until its time', () => {
    const box = new Outbox(3);
    for (const id of ['q1', 'q2', 'q3']) box.add({ frame: send('q', id), createdAt: 0 });
    for (const c of box.due(0)) box.markSent(c.frame.clientMessageId);
    box.resetInFlight();
    expect(box.due(0).map((c) => c.frame.clientMessageId)).toEqual(['q1', 'q2', 'q3']);
    box.retryAt('q2', 500);
    expect(box.due(100).map((c) => c.frame.clientMessageId)).toEqual(['q1', 'q3']);
    expect(box.nextDueAt()).toBe(500);
    expect(box.due(500).map((c) => c.frame.clientMessageId)).toEqual(['q1', 'q2', 'q3']);
    expect(box.attempts('q2')).toBe(1);
  });

  it('ignores a command added twice, and a group creation is its own lane', () => {
    const box = new Outbox();
    box.add({ frame: send('a', 'a1'), createdAt: 0 });
    box.add({ frame: send('a', 'a1'), createdAt: 0 });
    box.add({
      frame: { action: 'createGroup', v: 1, clientMessageId: 'g1', name: 'G', members: [] },
      createdAt: 0,
    });
    box.add({
      frame: { action: 'createGroup', v: 1, clientMessageId: 'g2', name: 'H', members: [] },
      createdAt: 0,
    });
    expect(box.size).toBe(3);
    expect(box.due(0).map((c) => c.frame.clientMessageId)).toEqual(['a1', 'g1', 'g2']);
  });
});

describe('Emitter', () => {
  it('calls handlers by type, unsubscribes, and survives a throwing handler', () => {
    const failures: unknown[] = [];
    const emitter = new Emitter<{ a: number; b: string }>((error) => failures.push(error));
    const got: unknown[] = [];
    const off = emitter.on('a', (n) => got.push(n));
    emitter.on('a', () => {
      throw new Error('boom');
    });
    emitter.on('b', (s) => got.push(s));
    emitter.emit('a', 1);
    emitter.emit('b', 'x');
    off();
    emitter.emit('a', 2);
    expect(got).toEqual([1, 'x']);
    expect(failures).toHaveLength(2);
  });
});

describe('ids', () => {
  it('makes protocol-valid, distinct client message ids', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newId()));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(ClientMessageId.safeParse(id).success).toBe(true);
  });

  it("reads a JWT's sub without verifying it, and nothing from other tokens", () => {
    const payload = Buffer.from(JSON.stringify({ sub: 'al|ice', iss: 'x' })).toString('base64url');
    expect(tokenSubject(`e30.${payload}.sig`)).toBe('al|ice');
    expect(tokenSubject('opaque')).toBeUndefined();
    expect(tokenSubject('a.!!!.c')).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { CatchUp, type CatchUpPort } from '../../../client/catch-up';
import { HeraldError } from '../../../client/errors';
import { Sequencer } from '../../../client/sequencer';
import type {
  ConversationEvent,
  HistoryPageFrame,
  LenientConversationEvent,
  SyncPageFrame,
} from '../../../protocol';

const msg = (conversationId: string, seq: number): ConversationEvent => ({
  kind: 'message',
  conversationId,
  seq,
  at: seq,
  actorId: 'bob',
  clientMessageId: `m${seq}`,
  text: `${seq}`,
});

/** A server with stored events per conversation, answering sync in pages of `page` and history in pages of 100. */
function harness(stored: Record<string, number>, positions: Record<string, number>, page = 3) {
  const sequencer = new Sequencer<LenientConversationEvent>(positions);
  const released: LenientConversationEvent[] = [];
  const forgotten: string[] = [];
  const failures: unknown[] = [];
  const calls: string[] = [];
  let pauses = 0;
  const port: CatchUpPort & { syncOverride?: CatchUpPort['sync'] } = {
    sync: async (ps) => {
      calls.push(`sync ${ps.map((p) => `${p.conversationId}>${p.afterSeq}`).join(' ')}`);
      if (port.syncOverride) return port.syncOverride(ps);
      const results: SyncPageFrame['results'] = ps
        .filter((p) => stored[p.conversationId] !== undefined)
        .map(({ conversationId, afterSeq }) => {
          const last = stored[conversationId] ?? 0;
          const upTo = Math.min(last, afterSeq + page);
          const events = Array.from({ length: upTo - afterSeq }, (_, i) =>
            msg(conversationId, afterSeq + i + 1),
          );
          return { conversationId, events, hasMore: upTo < last, lastSeq: last };
        });
      return { type: 'sync', v: 1, requestId: 'r', results };
    },
    historyAfter: async (conversationId, afterSeq): Promise<HistoryPageFrame> => {
      calls.push(`history ${conversationId}>${afterSeq}`);
      const last = stored[conversationId] ?? 0;
      const upTo = Math.min(last, afterSeq + 100);
      const events = Array.from({ length: upTo - afterSeq }, (_, i) => msg(conversationId, afterSeq + i + 1));
      return {
        type: 'history',
        v: 1,
        requestId: 'h',
        conversationId,
        events,
        hasMore: upTo < last,
        lastSeq: last,
      };
    },
    lastSeq: (id) => sequencer.lastSeq(id),
    accept: (event) => released.push(...sequencer.accept(event)),
    forget: (id) => {
      forgotten.push(id);
      sequencer.forget(id);
    },
    failed: (_ids, error) => failures.push(error),
    pause: async () => {
      pauses += 1;
    },
    stopped: () => false,
  };
  return {
    port,
    catchUp: new CatchUp(port),
    released,
    forgotten,
    failures,
    calls,
    pauses: () => pauses,
    sequencer,
  };
}

describe('CatchUp', () => {
  it('syncs again while results say hasMore, from the position reached, until every event is released once', async () => {
    const h = harness({ a: 7, b: 2 }, { a: 1, b: 0 });
    await h.catchUp.request(['a', 'b']);
    expect(h.calls).toEqual(['sync a>1 b>0', 'sync a>4']);
    expect(h.released.filter((e) => e.conversationId === 'a').map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(h.released.filter((e) => e.conversationId === 'b').map((e) => e.seq)).toEqual([1, 2]);
  });

  it('pages history forwards for a gap', async () => {
    const h = harness({ a: 250 }, { a: 20 });
    h.port.syncOverride = async (ps) => ({
      type: 'sync',
      v: 1,
      requestId: 'r',
      results: ps.map((p) => ({ conversationId: p.conversationId, gap: true as const, lastSeq: 250 })),
    });
    await h.catchUp.request(['a']);
    expect(h.calls).toEqual(['sync a>20', 'history a>20', 'history a>120', 'history a>220']);
    expect(h.released.map((e) => e.seq)).toEqual(Array.from({ length: 230 }, (_, i) => i + 21));
  });

  it('forgets conversations left out of the results, or all of them on NOT_A_MEMBER', async () => {
    const h = harness({ a: 1 }, { a: 0, gone: 5 });
    await h.catchUp.request(['a', 'gone']);
    expect(h.forgotten).toEqual(['gone']);
    h.port.syncOverride = async () => {
      throw new HeraldError('NOT_A_MEMBER', 'none of them');
    };
    await h.catchUp.request(['a']);
    expect(h.forgotten).toEqual(['gone', 'a']);
    expect(h.sequencer.tracked()).toEqual([]);
  });

  it('reports other failures and ignores conversations it does not follow', async () => {
    const h = harness({ a: 1 }, { a: 0 });
    h.port.syncOverride = async () => {
      throw new HeraldError('TIMEOUT', 'slow');
    };
    await h.catchUp.request(['a', 'unknown']);
    expect(h.calls).toEqual(['sync a>0']);
    expect(h.failures).toEqual([expect.objectContaining({ code: 'TIMEOUT' })]);
  });

  it('pauses before syncing again a result with hasMore and no events yet', async () => {
    const h = harness({ a: 2 }, { a: 0 });
    let first = true;
    h.port.syncOverride = async (ps) => {
      if (!first) {
        h.port.syncOverride = undefined;
        return h.port.sync(ps);
      }
      first = false;
      return {
        type: 'sync',
        v: 1,
        requestId: 'r',
        results: [{ conversationId: 'a', events: [], hasMore: true, lastSeq: 2 }],
      };
    };
    await h.catchUp.request(['a']);
    expect(h.pauses()).toBe(1);
    expect(h.released.map((e) => e.seq)).toEqual([1, 2]);
  });

  it('runs one catch-up at a time: conversations queued meanwhile join it, and both callers wait for them', async () => {
    const h = harness({ a: 1, b: 1 }, { a: 0, b: 0 });
    const first = h.catchUp.request(['a']);
    const second = h.catchUp.request(['b']);
    await Promise.all([first, second]);
    expect(h.calls).toEqual(['sync a>0 b>0']);
    expect(h.released.map((e) => e.conversationId)).toEqual(['a', 'b']);
  });

  it('gets past an event of a kind it does not know: it takes its seq like any other, no sync again', async () => {
    const h = harness({ a: 3 }, { a: 0 });
    const pinned = {
      kind: 'message.pinned',
      conversationId: 'a',
      seq: 2,
      at: 2,
      actorId: 'bob',
      clientMessageId: 'p',
    };
    h.port.syncOverride = async () => ({
      type: 'sync',
      v: 1,
      requestId: 'r',
      results: [
        { conversationId: 'a', events: [msg('a', 1), pinned, msg('a', 3)], hasMore: false, lastSeq: 3 },
      ],
    });
    await h.catchUp.request(['a']);
    expect(h.calls).toEqual(['sync a>0']);
    expect(h.released.map((e) => [e.seq, e.kind])).toEqual([
      [1, 'message'],
      [2, 'message.pinned'],
      [3, 'message'],
    ]);
    expect(h.sequencer.lastSeq('a')).toBe(3);
    expect(h.sequencer.hasGap('a')).toBe(false);
  });
});

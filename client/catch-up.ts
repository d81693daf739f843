import {
  type LenientConversationEvent,
  type LenientHistoryPageFrame,
  type LenientSyncPageFrame,
  LIMITS,
} from '../protocol';
import { HeraldError } from './errors';

/** What catching up needs from the client: two queries, the positions it follows, and where events go. */
export interface CatchUpPort {
  sync(positions: { conversationId: string; afterSeq: number }[]): Promise<LenientSyncPageFrame>;
  /** One forward page of history after `afterSeq`. */
  historyAfter(conversationId: string, afterSeq: number): Promise<LenientHistoryPageFrame>;
  /** The last seq released in a conversation; undefined when it is not followed. */
  lastSeq(conversationId: string): number | undefined;
  /**
   * An event from a sync or history page, for the ordering buffer (which drops what it already has). Events of
   * kinds this SDK does not know come too: they hold a seq, which catching up must get past.
   */
  accept(event: LenientConversationEvent): void;
  /** The user is no longer a member: stop following the conversation. */
  forget(conversationId: string): void;
  /** A query failed (not NOT_A_MEMBER): these conversations are not caught up. */
  failed(conversationIds: readonly string[], error: unknown): void;
  pause(ms: number): Promise<void>;
  stopped(): boolean;
}

/**
 * Catching up, as docs/protocol.md describes it: `sync` each conversation from its last seq, 100 at a time; repeat
 * for results with `hasMore`; page `history` forwards for a result with `gap`; a conversation left out of the
 * results is no longer the user's. One run at a time: conversations queued during a run join it.
 */
export class CatchUp {
  private readonly queue = new Set<string>();
  private run: Promise<void> | undefined;

  constructor(private readonly port: CatchUpPort) {}

  /** Queues conversations; resolves once the run has caught up everything queued, these included. */
  request(conversationIds: Iterable<string>): Promise<void> {
    for (const id of conversationIds) if (this.port.lastSeq(id) !== undefined) this.queue.add(id);
    if (!this.run && this.queue.size > 0) {
      this.run = (async () => {
        await Promise.resolve(); // so that the finally below runs after this assignment
        try {
          while (this.queue.size > 0 && !this.port.stopped()) {
            const batch = [...this.queue].slice(0, LIMITS.maxSyncConversations);
            for (const id of batch) this.queue.delete(id);
            await this.syncBatch(batch);
          }
        } finally {
          this.run = undefined;
        }
      })();
    }
    return this.run ?? Promise.resolve();
  }

  private async syncBatch(conversationIds: readonly string[]): Promise<void> {
    let ids = conversationIds.filter((id) => this.port.lastSeq(id) !== undefined);
    for (let round = 0; ids.length > 0 && round < 100 && !this.port.stopped(); round++) {
      const positions = ids.map((conversationId) => ({
        conversationId,
        afterSeq: this.port.lastSeq(conversationId) ?? 0,
      }));
      let page: LenientSyncPageFrame;
      try {
        page = await this.port.sync(positions);
      } catch (error) {
        if (error instanceof HeraldError && error.code === 'NOT_A_MEMBER') {
          for (const id of ids) this.port.forget(id); // every one of them is foreign
        } else {
          this.port.failed(ids, error);
        }
        return;
      }
      const answered = new Set<string>();
      const again: string[] = [];
      let stalled = false;
      for (const result of page.results) {
        answered.add(result.conversationId);
        if ('gap' in result) {
          await this.pageForward(result.conversationId);
          continue;
        }
        for (const event of result.events) this.port.accept(event);
        if (result.hasMore) {
          again.push(result.conversationId);
          stalled ||= result.events.length === 0; // stored events not all readable yet
        }
      }
      for (const id of ids) if (!answered.has(id)) this.port.forget(id);
      ids = again;
      if (stalled) await this.port.pause(500);
    }
  }

  private async pageForward(conversationId: string): Promise<void> {
    for (let more = true; more && !this.port.stopped(); ) {
      const afterSeq = this.port.lastSeq(conversationId);
      if (afterSeq === undefined) return;
      let page: LenientHistoryPageFrame;
      try {
        page = await this.port.historyAfter(conversationId, afterSeq);
      } catch (error) {
        if (error instanceof HeraldError && error.code === 'NOT_A_MEMBER') this.port.forget(conversationId);
        else this.port.failed([conversationId], error);
        return;
      }
      for (const event of page.events) this.port.accept(event);
      more = page.hasMore && page.events.length > 0;
    }
  }
}

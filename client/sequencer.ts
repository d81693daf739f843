import type { ConversationEvent } from '../protocol';

/** What the sequencer needs of an event: its conversation and its place there. */
export interface Sequenced {
  readonly conversationId: string;
  readonly seq: number;
}

interface ConversationState<E> {
  /** The last seq released without a gap. */
  last: number;
  /** Events past a gap, waiting for the missing ones. */
  readonly held: Map<number, E>;
  /** A seq known to exist beyond `last` (from an ack whose event we do not have). */
  known: number;
}

/**
 * The ordering and deduplication core: per conversation, it releases events strictly in seq order, each once.
 * Pure: no sockets, no timers. Events at or below the released position are duplicates; events past a gap are
 * held until the gap is filled (by sync or history, fed through the same `accept`). The client also feeds it events
 * of kinds it does not know (`E` is then wider than `ConversationEvent`): they take their seq like any other.
 */
export class Sequencer<E extends Sequenced = ConversationEvent> {
  private readonly conversations = new Map<string, ConversationState<E>>();

  constructor(positions: Readonly<Record<string, number>> = {}) {
    for (const [id, last] of Object.entries(positions)) this.track(id, last);
  }

  /** Tracked conversations and the last seq released in each. */
  positions(): Record<string, number> {
    return Object.fromEntries([...this.conversations].map(([id, s]) => [id, s.last]));
  }

  tracked(): string[] {
    return [...this.conversations.keys()];
  }

  isTracked(conversationId: string): boolean {
    return this.conversations.has(conversationId);
  }

  lastSeq(conversationId: string): number | undefined {
    return this.conversations.get(conversationId)?.last;
  }

  /** Starts tracking a conversation from `lastSeq` (events up to it count as had). No effect if tracked. */
  track(conversationId: string, lastSeq: number): void {
    if (this.conversations.has(conversationId)) return;
    this.conversations.set(conversationId, { last: lastSeq, held: new Map(), known: lastSeq });
  }

  forget(conversationId: string): void {
    this.conversations.delete(conversationId);
  }

  /**
   * Takes one event (live, or from a sync or history page) and returns the events it releases, in seq order:
   * none for a duplicate or an event past a gap, several when it fills one. An event of an untracked
   * conversation starts its tracking there: the SDK follows a conversation from the first event it sees.
   */
  accept(event: E): E[] {
    this.track(event.conversationId, event.seq - 1);
    const state = this.conversations.get(event.conversationId);
    if (!state || event.seq <= state.last || state.held.has(event.seq)) return [];
    state.held.set(event.seq, event);
    state.known = Math.max(state.known, event.seq);
    const released: E[] = [];
    for (let next = state.held.get(state.last + 1); next; next = state.held.get(state.last + 1)) {
      state.held.delete(next.seq);
      state.last = next.seq;
      released.push(next);
    }
    return released;
  }

  /** Records that `seq` exists (an ack of ours whose event we did not get): a gap until it is filled. */
  noteExists(conversationId: string, seq: number): void {
    this.track(conversationId, seq - 1);
    const state = this.conversations.get(conversationId);
    if (state) state.known = Math.max(state.known, seq);
  }

  /** Whether events are known to exist past the released position: held ones, or acknowledged ones. */
  hasGap(conversationId: string): boolean {
    const state = this.conversations.get(conversationId);
    return state !== undefined && state.known > state.last;
  }
}

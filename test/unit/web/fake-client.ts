/**
 * A stand-in for the SDK under the web page's ChatStore: the test emits what the SDK would report (events,
 * receipts, presence, typing, state, conversation lists, errors) and sees every call the store makes.
 */
import { vi } from 'vitest';
import {
  type CommandAck,
  type ConversationEvent,
  type ConversationsPage,
  Emitter,
  type EventOf,
  type HeraldEventMap,
  type HistoryPage,
  type MembersPage,
} from '../../../client/index';
import type { ChatClient } from '../../../web/chat-store';

export const ME = 'alice';
export const BOB = 'bob';
export const CAROL = 'carol';
export const DM = 'dm:alice:bob';
export const DM_CAROL = 'dm:alice:carol';
export const GROUP = 'grp:weekend';

export class FakeClient implements ChatClient {
  private readonly emitter = new Emitter<HeraldEventMap>((error) => {
    throw error; // a store handler that throws fails the test, not silently
  });
  closed = false;

  readonly history = vi.fn(
    async (conversationId: string, _page?: { beforeSeq?: number; limit?: number }): Promise<HistoryPage> => ({
      conversationId,
      events: [],
      hasMore: false,
      lastSeq: 0,
    }),
  );
  readonly listMembers = vi.fn(
    async (conversationId: string, _page?: { cursor?: string }): Promise<MembersPage> => ({
      conversationId,
      members: [],
    }),
  );
  readonly listConversations = vi.fn(async (): Promise<ConversationsPage> => ({ items: [] }));
  readonly track = vi.fn((_conversationId: string, _lastSeq: number) => undefined);
  readonly send = vi.fn(
    async (
      conversationId: string,
      _text: string,
      options?: { clientMessageId?: string },
    ): Promise<CommandAck> => ({
      conversationId,
      clientMessageId: options?.clientMessageId ?? 'x',
      seq: 1,
      at: 1,
    }),
  );
  readonly typing = vi.fn((_conversationId: string, _state: 'start' | 'stop') => undefined);
  readonly markRead = vi.fn((_conversationId: string, _seq: number) => undefined);
  readonly createGroup = vi.fn(
    async (_name: string, _members: readonly string[]): Promise<CommandAck> => ({
      conversationId: GROUP,
      clientMessageId: 'create',
      seq: 1,
      at: 1,
    }),
  );

  on<K extends keyof HeraldEventMap>(type: K, handler: (payload: HeraldEventMap[K]) => void): () => void {
    return this.emitter.on(type, handler);
  }

  close(): void {
    this.closed = true;
  }

  /** What the SDK would report. */
  emit<K extends keyof HeraldEventMap>(type: K, payload: HeraldEventMap[K]): void {
    this.emitter.emit(type, payload);
  }

  /** The typing frames the store sent, as `conversation:state`. */
  typingSent(): string[] {
    return this.typing.mock.calls.map(([id, state]) => `${id}:${state}`);
  }
}

// -- events --------------------------------------------------------------------------------------------------

const base = (conversationId: string, seq: number, actorId: string) => ({
  conversationId,
  seq,
  at: 1_000 * seq,
  actorId,
  clientMessageId: `${actorId}-${conversationId}-${seq}`,
});

export const message = (
  seq: number,
  text = `message ${seq}`,
  actorId = BOB,
  conversationId = DM,
): EventOf<'message'> => ({ kind: 'message', ...base(conversationId, seq, actorId), text });

export const edit = (
  seq: number,
  targetSeq: number,
  text: string,
  actorId = BOB,
  conversationId = DM,
): EventOf<'edit'> => ({ kind: 'edit', ...base(conversationId, seq, actorId), targetSeq, text });

export const recall = (
  seq: number,
  targetSeq: number,
  actorId = BOB,
  conversationId = DM,
): EventOf<'recall'> => ({
  kind: 'recall',
  ...base(conversationId, seq, actorId),
  targetSeq,
});

export const groupCreated = (
  seq: number,
  name: string,
  members: string[],
  actorId = BOB,
  conversationId = GROUP,
): EventOf<'group.created'> => ({
  kind: 'group.created',
  ...base(conversationId, seq, actorId),
  name,
  members,
});

export const renamed = (
  seq: number,
  name: string,
  actorId = BOB,
  conversationId = GROUP,
): EventOf<'group.renamed'> => ({
  kind: 'group.renamed',
  ...base(conversationId, seq, actorId),
  name,
});

export const membersAdded = (
  seq: number,
  userIds: string[],
  actorId = BOB,
  conversationId = GROUP,
): EventOf<'members.added'> => ({
  kind: 'members.added',
  ...base(conversationId, seq, actorId),
  userIds,
  role: 'member',
});

export const membersRemoved = (
  seq: number,
  userIds: string[],
  actorId = BOB,
  conversationId = GROUP,
): EventOf<'members.removed'> => ({
  kind: 'members.removed',
  ...base(conversationId, seq, actorId),
  userIds,
});

export const memberLeft = (seq: number, actorId: string, conversationId = GROUP): EventOf<'member.left'> => ({
  kind: 'member.left',
  ...base(conversationId, seq, actorId),
});

/** One item of a `conversations` list, as the SDK reports it after each (re)connection. */
export const summary = (
  conversationId: string,
  fields: { lastSeq: number; readSeq: number; unread: number; name?: string; lastEvent?: ConversationEvent },
): HeraldEventMap['conversations'][number] => ({
  conversationId,
  kind: conversationId.startsWith('grp:') ? 'group' : 'direct',
  ...fields,
});

export const historyPage = (
  conversationId: string,
  events: ConversationEvent[],
  hasMore = false,
  lastSeq = events.at(-1)?.seq ?? 0,
): HistoryPage => ({ conversationId, events, hasMore, lastSeq });

/** A promise the test settles when it wants: an answer that arrives late. */
export function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (e: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

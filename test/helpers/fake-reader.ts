/** An in-memory ConversationReader with builders that keep meta rows as the writer does: unit tests only. */
import type { MemberRecord, MemberRole } from '../../lambdas/core/ports';
import type {
  ConversationMeta,
  ConversationReader,
  EventRange,
  MemberPage,
  Membership,
  MembershipPage,
} from '../../lambdas/core/query-ports';
import {
  type ConversationEvent,
  type ConversationId,
  isGroupConversationId,
  type UserId,
} from '../../protocol';

export class InMemoryConversationReader implements ConversationReader {
  readonly events = new Map<ConversationId, ConversationEvent[]>();
  readonly metas = new Map<ConversationId, ConversationMeta>();
  readonly members = new Map<ConversationId, Map<UserId, MemberRecord>>();
  /** Events a lagging replica does not show yet, as `conversationId#seq`. */
  readonly hidden = new Set<string>();
  readonly calls = { readEvents: 0, listMemberships: 0, getMetas: 0 };
  /** Member reads, counted apart so that `calls` keeps the shape other tests compare whole. */
  readonly memberReads = { getMember: 0, readMembers: 0 };
  failWith: Error | undefined;
  private clock = 1_760_000_000_000;

  join(
    conversationId: ConversationId,
    userId: UserId,
    options: { role?: MemberRole; readSeq?: number; joinedAt?: number } = {},
  ): this {
    const members = this.members.get(conversationId) ?? new Map<UserId, MemberRecord>();
    members.set(userId, {
      userId,
      role: options.role ?? 'member',
      joinedAt: options.joinedAt ?? 1_700_000_000_000,
      readSeq: options.readSeq ?? 0,
    });
    this.members.set(conversationId, members);
    return this;
  }

  /** Appends messages (sequence and meta row follow); returns the events. */
  say(
    conversationId: ConversationId,
    actorId: UserId,
    count = 1,
    text: (seq: number) => string = (seq) => `message ${seq}`,
    options: { at?: number; name?: string } = {},
  ): ConversationEvent[] {
    const list = this.events.get(conversationId) ?? [];
    this.events.set(conversationId, list);
    const added: ConversationEvent[] = [];
    for (let i = 0; i < count; i++) {
      const seq = list.length + 1;
      const at = options.at ?? ++this.clock;
      const event: ConversationEvent = {
        kind: 'message',
        conversationId,
        seq,
        at,
        actorId,
        clientMessageId: `m-${seq}`,
        text: text(seq),
      };
      list.push(event);
      added.push(event);
      const previous = this.metas.get(conversationId);
      const name = options.name ?? previous?.name;
      this.metas.set(conversationId, {
        conversationId,
        kind: isGroupConversationId(conversationId) ? 'group' : 'direct',
        ...(name === undefined ? {} : { name }),
        lastSeq: seq,
        lastEventAt: at,
        lastEvent: event,
      });
    }
    return added;
  }

  async readEvents(conversationId: ConversationId, range: EventRange): Promise<ConversationEvent[]> {
    this.calls.readEvents++;
    if (this.failWith) throw this.failWith;
    const inRange = (this.events.get(conversationId) ?? []).filter(
      (e) =>
        (range.afterSeq === undefined || e.seq > range.afterSeq) &&
        (range.beforeSeq === undefined || e.seq < range.beforeSeq) &&
        !this.hidden.has(`${conversationId}#${e.seq}`),
    );
    const ordered = range.order === 'ascending' ? inRange : [...inRange].reverse();
    return ordered.slice(0, range.limit);
  }

  async getMetas(ids: readonly ConversationId[]): Promise<ReadonlyMap<ConversationId, ConversationMeta>> {
    this.calls.getMetas++;
    if (this.failWith) throw this.failWith;
    return new Map(ids.flatMap((id) => this.metas.get(id) ?? []).map((m) => [m.conversationId, m]));
  }

  async getMember(conversationId: ConversationId, userId: UserId): Promise<MemberRecord | undefined> {
    this.memberReads.getMember++;
    if (this.failWith) throw this.failWith;
    return this.members.get(conversationId)?.get(userId);
  }

  async getMemberships(
    userId: UserId,
    ids: readonly ConversationId[],
  ): Promise<ReadonlyMap<ConversationId, MemberRecord>> {
    if (this.failWith) throw this.failWith;
    const found = new Map<ConversationId, MemberRecord>();
    for (const id of ids) {
      const record = this.members.get(id)?.get(userId);
      if (record) found.set(id, record);
    }
    return found;
  }

  async listMemberships(
    userId: UserId,
    page: { after?: ConversationId; limit: number },
  ): Promise<MembershipPage> {
    this.calls.listMemberships++;
    if (this.failWith) throw this.failWith;
    const all: Membership[] = [...this.members.entries()]
      .flatMap(([conversationId, members]) => {
        const record = members.get(userId);
        return record ? [{ ...record, conversationId }] : [];
      })
      .filter((m) => page.after === undefined || m.conversationId > page.after)
      .sort((a, b) => (a.conversationId < b.conversationId ? -1 : 1));
    const items = all.slice(0, page.limit);
    const last = items.at(-1);
    return { items, ...(all.length > page.limit && last ? { next: last.conversationId } : {}) };
  }

  async readMembers(
    conversationId: ConversationId,
    page: { after?: UserId; limit: number },
  ): Promise<MemberPage> {
    this.memberReads.readMembers++;
    if (this.failWith) throw this.failWith;
    const all = [...(this.members.get(conversationId)?.values() ?? [])]
      .filter((m) => page.after === undefined || m.userId > page.after)
      .sort((a, b) => (a.userId < b.userId ? -1 : 1));
    const items = all.slice(0, page.limit);
    const last = items.at(-1);
    return { items, ...(all.length > page.limit && last ? { next: last.userId } : {}) };
  }
}

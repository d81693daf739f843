/** In-memory implementations of the core's ports: for unit tests of the domain core only. */

import type { ApplyDeps } from '../../lambdas/core/apply-command';
import { idempotencyKey, type QueuedCommand } from '../../lambdas/core/commands';
import { GroupTooLargeError, NotAllowedError, RecallWindowClosedError } from '../../lambdas/core/errors';
import type { FanoutEntry, FanoutQueue } from '../../lambdas/core/fanout';
import type {
  AppendEffects,
  AppendResult,
  Clock,
  CommandQueue,
  ConnectionRecord,
  ConnectionStore,
  ConversationRecord,
  EventStore,
  LiveConnection,
  MemberRecord,
  MembershipDirectory,
  Notifier,
  PostOutcome,
  UnsequencedEvent,
} from '../../lambdas/core/ports';
import {
  type ConversationEvent,
  type ConversationId,
  LIMITS,
  type ServerFrame,
  type UserId,
} from '../../protocol';

export class FixedClock implements Clock {
  constructor(public time = 1_760_000_000_000) {}
  now(): number {
    return this.time;
  }
}

export class InMemoryConnectionStore implements ConnectionStore {
  readonly rows = new Map<string, ConnectionRecord>();
  async put(connection: ConnectionRecord): Promise<void> {
    this.rows.set(connection.connectionId, connection);
  }
  async remove(connectionId: string): Promise<void> {
    this.rows.delete(connectionId);
  }
  async removeGone(connectionId: string): Promise<void> {
    this.rows.delete(connectionId);
  }
  async listByUsers(userIds: readonly UserId[]): Promise<LiveConnection[]> {
    const users = new Set(userIds);
    return [...this.rows.values()]
      .filter((r) => users.has(r.userId))
      .map(({ connectionId, userId, connectedAt }) => ({ connectionId, userId, connectedAt }));
  }
  connect(userId: UserId, ...connectionIds: string[]): void {
    for (const connectionId of connectionIds) {
      this.rows.set(connectionId, { connectionId, userId, connectedAt: 1, expiresAt: 2 });
    }
  }
}

export class InMemoryDirectory implements MembershipDirectory {
  readonly members = new Map<ConversationId, Set<UserId>>();
  lookups = 0;
  add(conversationId: ConversationId, ...userIds: UserId[]): this {
    const set = this.members.get(conversationId) ?? new Set();
    for (const u of userIds) set.add(u);
    this.members.set(conversationId, set);
    return this;
  }
  async isMember(conversationId: ConversationId, userId: UserId): Promise<boolean> {
    this.lookups++;
    return this.members.get(conversationId)?.has(userId) ?? false;
  }
  async listMembers(conversationId: ConversationId): Promise<UserId[]> {
    this.lookups++;
    return [...(this.members.get(conversationId) ?? [])];
  }
}

export class InMemoryQueue implements CommandQueue {
  readonly sent: QueuedCommand[] = [];
  failWith: Error | undefined;
  async enqueue(message: QueuedCommand): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push(message);
  }
}

/** Mirrors DynamoEventStore's contract: gap-free sequence, one event per (actor, clientMessageId), effects. */
export class InMemoryEventStore implements EventStore {
  readonly conversations = new Map<ConversationId, ConversationRecord>();
  readonly events = new Map<ConversationId, ConversationEvent[]>();
  readonly keys = new Map<string, number>();
  readonly members = new Map<ConversationId, Map<UserId, MemberRecord>>();

  async getConversation(id: ConversationId) {
    return this.conversations.get(id);
  }
  async getMember(id: ConversationId, userId: UserId) {
    return this.members.get(id)?.get(userId);
  }
  async listMemberRecords(id: ConversationId) {
    return [...(this.members.get(id)?.values() ?? [])];
  }
  async findEvent(id: ConversationId, key: string) {
    const seq = this.keys.get(`${id}|${key}`);
    return seq === undefined ? undefined : this.getEvent(id, seq);
  }
  async getEvent(id: ConversationId, seq: number) {
    return this.events.get(id)?.[seq - 1];
  }
  async putMembers(id: ConversationId, records: readonly MemberRecord[]) {
    const map = this.members.get(id) ?? new Map<UserId, MemberRecord>();
    for (const r of records) {
      const existing = map.get(r.userId);
      map.set(r.userId, existing ? { ...r, joinedAt: existing.joinedAt, readSeq: existing.readSeq } : r);
    }
    this.members.set(id, map);
  }
  async deleteMembers(id: ConversationId, userIds: readonly UserId[]) {
    for (const u of userIds) this.members.get(id)?.delete(u);
  }
  async append(event: UnsequencedEvent, effects: AppendEffects = {}): Promise<AppendResult> {
    const key = `${event.conversationId}|${idempotencyKey(event)}`;
    const seen = this.keys.get(key);
    if (seen !== undefined) {
      const original = await this.getEvent(event.conversationId, seen);
      if (original) return { event: original, duplicate: true };
    }
    const list = this.events.get(event.conversationId) ?? [];
    const current = this.conversations.get(event.conversationId);
    const memberCount = (current?.memberCount ?? 0) + (effects.memberCountDelta ?? 0);
    if (memberCount > LIMITS.maxGroupMembers) throw new GroupTooLargeError('too many', {});
    if (effects.updateMessage) {
      const target = list[effects.updateMessage.seq - 1];
      if (target?.kind !== 'message' || target.recalled) throw new RecallWindowClosedError('recalled', {});
      const change = effects.updateMessage.change;
      const targetSeq = effects.updateMessage.seq;
      const edits = list.filter((e) => e.kind === 'edit' && e.targetSeq === targetSeq);
      if ('edit' in change && edits.length >= LIMITS.maxEditsPerMessage) {
        throw new NotAllowedError('too many edits', {});
      }
      list[targetSeq - 1] =
        'edit' in change
          ? { ...target, text: change.edit.text, editedAt: change.edit.editedAt }
          : { ...target, text: '', recalled: true };
      // A recall scrubs the message's edits too (DynamoEventStore does it in the same transaction).
      if ('recall' in change) {
        for (const edit of edits)
          list[edit.seq - 1] = { ...edit, text: '', recalled: true } as ConversationEvent;
      }
    }
    const stored = { ...event, seq: list.length + 1 } as ConversationEvent;
    list.push(stored);
    this.events.set(event.conversationId, list);
    this.keys.set(key, stored.seq);
    this.conversations.set(event.conversationId, {
      conversationId: event.conversationId,
      kind: effects.conversation?.kind ?? current?.kind ?? 'direct',
      ...((effects.conversation?.name ?? current?.name) === undefined
        ? {}
        : { name: effects.conversation?.name ?? current?.name }),
      lastSeq: stored.seq,
      memberCount,
      ...(current?.fanout ? { fanout: true } : {}),
    });
    const actor = this.members.get(event.conversationId)?.get(event.actorId);
    if (actor && stored.kind !== 'member.left') {
      this.members.get(event.conversationId)?.set(event.actorId, { ...actor, readSeq: stored.seq });
    }
    return { event: stored, duplicate: false };
  }
  async markFanout(id: ConversationId) {
    const current = this.conversations.get(id);
    if (current) this.conversations.set(id, { ...current, fanout: true });
  }
  async advanceRead(id: ConversationId, userId: UserId, seq: number) {
    const member = this.members.get(id)?.get(userId);
    if (!member || member.readSeq >= seq) return undefined;
    this.members.get(id)?.set(userId, { ...member, readSeq: seq });
    return seq;
  }
  messages(id: ConversationId) {
    return (this.events.get(id) ?? []).filter((e) => e.kind === 'message');
  }
}

/** A directory over the in-memory store's member rows (as DynamoMembershipDirectory reads the same table). */
export class StoreDirectory implements MembershipDirectory {
  constructor(private readonly store: InMemoryEventStore) {}
  async isMember(id: ConversationId, userId: UserId) {
    return this.store.members.get(id)?.has(userId) ?? false;
  }
  async listMembers(id: ConversationId) {
    return [...(this.store.members.get(id)?.keys() ?? [])];
  }
}

export class RecordingNotifier implements Notifier {
  readonly posts: { connectionId: string; frame: ServerFrame }[] = [];
  readonly gone = new Set<string>();
  readonly failing = new Map<string, Error>();
  inFlight = 0;
  maxInFlight = 0;
  async post(connectionId: string, frame: ServerFrame): Promise<PostOutcome> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 1));
      const failure = this.failing.get(connectionId);
      if (failure) throw failure;
      if (this.gone.has(connectionId)) return 'gone';
      this.posts.push({ connectionId, frame });
      return 'delivered';
    } finally {
      this.inFlight--;
    }
  }
  framesTo(connectionId: string): ServerFrame[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => p.frame);
  }
}

export function sendCommand(
  overrides: Partial<Extract<QueuedCommand, { kind: 'send' }>> = {},
): QueuedCommand {
  return {
    kind: 'send',
    v: 1,
    conversationId: 'dm:alice:bob',
    actorId: 'alice',
    connectionId: 'conn-alice-1',
    clientMessageId: 'm-1',
    text: 'hello',
    at: 1_760_000_000_000,
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Builders for every queued command kind, and a delivery-side harness (store, directory over its member rows,
// connections, notifier, clock) for tests of applyCommand and the deliver handler.

export type CommandOf<K extends QueuedCommand['kind']> = Extract<QueuedCommand, { kind: K }>;

/** The `at` of every built command unless overridden (the same instant as FixedClock's default). */
export const T0 = 1_760_000_000_000;

const commandBase = {
  v: 1,
  conversationId: 'dm:alice:bob',
  actorId: 'alice',
  connectionId: 'conn-alice-1',
  at: T0,
} as const;

export function editCommand(overrides: Partial<CommandOf<'edit'>> = {}): CommandOf<'edit'> {
  return { kind: 'edit', ...commandBase, clientMessageId: 'e-1', targetSeq: 1, text: 'edited', ...overrides };
}

export function recallCommand(overrides: Partial<CommandOf<'recall'>> = {}): CommandOf<'recall'> {
  return { kind: 'recall', ...commandBase, clientMessageId: 'r-1', targetSeq: 1, ...overrides };
}

export function createGroupCommand(
  overrides: Partial<CommandOf<'createGroup'>> = {},
): CommandOf<'createGroup'> {
  return {
    kind: 'createGroup',
    ...commandBase,
    conversationId: 'grp:test',
    clientMessageId: 'g-1',
    name: 'Team',
    members: [],
    ...overrides,
  };
}

export function addMembersCommand(overrides: Partial<CommandOf<'addMembers'>> = {}): CommandOf<'addMembers'> {
  return {
    kind: 'addMembers',
    ...commandBase,
    conversationId: 'grp:test',
    clientMessageId: 'add-1',
    userIds: ['dave'],
    role: 'member',
    ...overrides,
  };
}

export function removeMembersCommand(
  overrides: Partial<CommandOf<'removeMembers'>> = {},
): CommandOf<'removeMembers'> {
  return {
    kind: 'removeMembers',
    ...commandBase,
    conversationId: 'grp:test',
    clientMessageId: 'rm-1',
    userIds: ['bob'],
    ...overrides,
  };
}

export function leaveCommand(overrides: Partial<CommandOf<'leave'>> = {}): CommandOf<'leave'> {
  return {
    kind: 'leave',
    ...commandBase,
    conversationId: 'grp:test',
    clientMessageId: 'leave-1',
    ...overrides,
  };
}

export function renameCommand(overrides: Partial<CommandOf<'rename'>> = {}): CommandOf<'rename'> {
  return {
    kind: 'rename',
    ...commandBase,
    conversationId: 'grp:test',
    clientMessageId: 'ren-1',
    name: 'Renamed',
    ...overrides,
  };
}

export function markReadCommand(overrides: Partial<CommandOf<'markRead'>> = {}): CommandOf<'markRead'> {
  return { kind: 'markRead', ...commandBase, seq: 1, ...overrides };
}

export interface DeliveryHarness {
  readonly store: InMemoryEventStore;
  readonly directory: StoreDirectory;
  readonly connections: InMemoryConnectionStore;
  readonly notifier: RecordingNotifier;
  readonly clock: FixedClock;
  readonly deps: ApplyDeps;
}

/** The delivery side over in-memory fakes; membership is read from the store's own member rows. */
export function deliveryHarness(
  options: {
    concurrency?: number;
    recallWindowMs?: number;
    notifier?: RecordingNotifier;
    fanout?: FanoutQueue;
  } = {},
): DeliveryHarness {
  const store = new InMemoryEventStore();
  const directory = new StoreDirectory(store);
  const connections = new InMemoryConnectionStore();
  const notifier = options.notifier ?? new RecordingNotifier();
  const clock = new FixedClock(T0);
  const deps: ApplyDeps = {
    store,
    directory,
    push: {
      connections,
      notifier,
      concurrency: options.concurrency ?? 8,
      ...(options.fanout === undefined ? {} : { fanout: options.fanout }),
    },
    clock,
    ...(options.recallWindowMs === undefined ? {} : { recallWindowMs: options.recallWindowMs }),
  };
  return { store, directory, connections, notifier, clock, deps };
}

/** A fan-out queue that keeps what it is given. */
export class RecordingFanoutQueue implements FanoutQueue {
  readonly entries: FanoutEntry[] = [];
  async enqueue(entries: readonly FanoutEntry[]): Promise<void> {
    this.entries.push(...entries);
  }
  /** The seqs of the event frames enqueued, in order, each once. */
  seqs(): number[] {
    return [
      ...new Set(this.entries.flatMap((e) => (e.job.frame.type === 'event' ? [e.job.frame.event.seq] : []))),
    ];
  }
}

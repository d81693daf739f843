/**
 * The delivery side: applies one queued command in its conversation's order. Sequenced commands (messages,
 * edits, recalls, group changes) become events with the next sequence number, stored atomically with their
 * effects, then pushed: an ack to the connection the command came from, the event to every other connection of
 * the audience. A command that turns out not to be allowed is refused here, with an error frame to its
 * connection, and stores nothing. Read receipts move a member's read position and are pushed, unsequenced.
 */
import { createHash } from 'node:crypto';
import {
  type AckFrame,
  type ConversationEvent,
  type ConversationId,
  type EventFrame,
  isGroupConversationId,
  LIMITS,
  PROTOCOL_VERSION,
  parseDirectConversationId,
  type ReceiptFrame,
  type UserId,
} from '../../protocol';
import { idempotencyKey, type QueuedCommand, type SequencedCommand } from './commands';
import { isMember } from './conversations';
import { errorFrame } from './error-frame';
import {
  GroupTooLargeError,
  HeraldError,
  NotAllowedError,
  NotAMemberError,
  NotFoundError,
  RecallWindowClosedError,
} from './errors';
import type {
  AppendEffects,
  Clock,
  ConversationRecord,
  EventStore,
  LiveConnection,
  MemberRecord,
  MembershipDirectory,
  UnsequencedEvent,
} from './ports';
import {
  type Audience,
  FANOUT_THRESHOLD,
  type PushDeps,
  type PushReport,
  postAll,
  pushToAudience,
} from './push';

export interface ApplyDeps {
  readonly store: EventStore;
  readonly directory: MembershipDirectory;
  readonly push: PushDeps;
  readonly clock: Clock;
  /** How long after sending an author may recall. @default LIMITS.recallWindowSeconds */
  readonly recallWindowMs?: number;
}

export type ApplyReport =
  | ({ readonly outcome: 'stored' | 'duplicate'; readonly seq: number } & PushReport)
  | ({ readonly outcome: 'read'; readonly readSeq: number | undefined } & PushReport)
  | { readonly outcome: 'refused'; readonly code: string };

/** A group's id comes from its creator and the create's clientMessageId: a retried create makes one group. */
export function groupConversationId(actorId: UserId, clientMessageId: string): ConversationId {
  const digest = createHash('sha256').update(`${actorId}/${clientMessageId}`).digest('base64url');
  return `grp:${digest.slice(0, 22)}`;
}

export async function applyCommand(deps: ApplyDeps, command: QueuedCommand): Promise<ApplyReport> {
  try {
    if (command.kind === 'markRead') return await markRead(deps, command);
    return await applySequenced(deps, command);
  } catch (error) {
    if (!(error instanceof HeraldError)) throw error;
    // Refused after it was queued (the route checks what it cheaply can): tell the sending connection.
    await postAll(deps.push, [{ connectionId: command.connectionId, frame: errorFrame(error) }]);
    return { outcome: 'refused', code: error.code };
  }
}

async function applySequenced(deps: ApplyDeps, command: SequencedCommand): Promise<ApplyReport> {
  // A repeat (redelivery, or a client retry long after SQS's 5-minute window) is answered with the original:
  // checked first, because what was allowed then may not be now (a recall after the window, a second create).
  // Read before the append; nothing else writes this conversation meanwhile (FIFO: one command at a time).
  // The actor's membership is read alongside: every command but a group's creation needs it (a repeat does not,
  // and then the read is wasted, which is rare).
  const [original, conversation, actorIsMember] = await Promise.all([
    deps.store.findEvent(command.conversationId, idempotencyKey(command)),
    deps.store.getConversation(command.conversationId),
    command.kind === 'createGroup'
      ? Promise.resolve(false)
      : isMember(deps.directory, command.conversationId, command.actorId),
  ]);
  // A send, edit, recall or rename leaves the membership as it is, and nothing else changes this conversation
  // meanwhile (FIFO), so its audience and their connections are looked up while it is stored: one round trip
  // less on the hot path. (A refused command wastes the lookup.)
  const early =
    !original && KEEPS_MEMBERSHIP.has(command.kind)
      ? handled(resolveAudience(deps, command.conversationId, conversation, []))
      : undefined;
  let stored: { event: ConversationEvent; duplicate: boolean };
  let extraAudience: readonly UserId[];
  if (original) {
    stored = { event: original, duplicate: true };
    extraAudience = leavers(original);
  } else {
    const plan = await planEvent(deps, command, conversation, actorIsMember);
    stored = await deps.store.append(plan.event, plan.effects, conversation?.lastSeq ?? 0);
    extraAudience = plan.extraAudience;
  }
  const { event, duplicate } = stored;
  // Membership rows follow the stored event. A repeat re-applies them only while the event is still the
  // conversation's newest: FIFO order means only the newest can have been left half-applied by a crash, and
  // replaying an older one would undo what happened since (a removal, an ownership change).
  if (!duplicate || conversation?.lastSeq === event.seq) {
    await applyMembershipRows(deps, event);
  }
  const { users, viaFanout, connections } = await (early ??
    resolveAudience(deps, event.conversationId, conversation, extraAudience));
  const frame: EventFrame = { type: 'event', v: PROTOCOL_VERSION, event };
  const ack: AckFrame = {
    type: 'ack',
    v: PROTOCOL_VERSION,
    conversationId: event.conversationId,
    clientMessageId: event.clientMessageId,
    seq: event.seq,
    at: event.at,
  };
  const audience: Audience = {
    users,
    frame,
    origin: { connectionId: command.connectionId, userId: command.actorId, own: ack },
    viaFanout,
    ...(connections ? { connections } : {}),
  };
  const report = await pushToAudience(deps.push, audience);
  return { outcome: duplicate ? 'duplicate' : 'stored', seq: event.seq, ...report };
}

/** Commands whose event leaves the conversation's membership as it was. */
const KEEPS_MEMBERSHIP: ReadonlySet<SequencedCommand['kind']> = new Set(['send', 'edit', 'recall', 'rename']);

/** Who gets a conversation's event, which path it takes, and (on the direct path) their live connections. */
async function resolveAudience(
  deps: ApplyDeps,
  conversationId: ConversationId,
  conversation: ConversationRecord | undefined,
  extra: readonly UserId[],
): Promise<{ users: UserId[]; viaFanout: boolean; connections?: readonly LiveConnection[] }> {
  const users = await audienceOf(deps, conversationId, extra);
  if (await viaFanout(deps, conversationId, conversation, users)) return { users, viaFanout: true };
  return { users, viaFanout: false, connections: await deps.push.connections.listByUsers(users) };
}

/** The promise itself, marked as handled: a rejection surfaces where it is awaited, or nowhere if never. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

interface EventPlan {
  readonly event: UnsequencedEvent;
  readonly effects: AppendEffects;
  /** Users who are no longer members but must see this event (the removed, the one who left). */
  readonly extraAudience: readonly UserId[];
}

async function planEvent(
  deps: ApplyDeps,
  command: SequencedCommand,
  conversation: ConversationRecord | undefined,
  actorIsMember: boolean,
): Promise<EventPlan> {
  const ref = { clientMessageId: command.clientMessageId };
  const base = {
    conversationId: command.conversationId,
    at: command.at,
    actorId: command.actorId,
    clientMessageId: command.clientMessageId,
  };
  const none: readonly UserId[] = [];

  if (command.kind === 'createGroup') {
    const members = [...new Set([command.actorId, ...command.members])];
    if (members.length > LIMITS.maxGroupMembers) {
      throw new GroupTooLargeError(`A group has at most ${LIMITS.maxGroupMembers} members.`, ref);
    }
    if (conversation && conversation.lastSeq > 0) {
      throw new NotAllowedError('That group already exists.', ref);
    }
    return {
      event: { kind: 'group.created', ...base, name: command.name, members },
      effects: {
        conversation: { kind: 'group', name: command.name, createdBy: command.actorId },
        memberCountDelta: members.length,
      },
      extraAudience: none,
    };
  }

  // Everything else needs the actor to be a member now (a removed member's queued commands are refused).
  if (!actorIsMember) {
    throw new NotAMemberError(`You are not a member of conversation ${command.conversationId}.`, ref);
  }
  const direct = parseDirectConversationId(command.conversationId);

  switch (command.kind) {
    case 'send':
      return {
        event: { kind: 'message', ...base, text: command.text },
        effects: !conversation && direct ? { conversation: { kind: 'direct' }, memberCountDelta: 2 } : {},
        extraAudience: none,
      };
    case 'edit': {
      await editableMessage(deps, command, ref);
      return {
        event: { kind: 'edit', ...base, targetSeq: command.targetSeq, text: command.text },
        effects: {
          updateMessage: {
            seq: command.targetSeq,
            change: { edit: { text: command.text, editedAt: command.at } },
          },
        },
        extraAudience: none,
      };
    }
    case 'recall': {
      const target = await liveMessage(deps, command, ref);
      // Group owners and admins may recall any message, any time; authors their own, within the window.
      if (!(await isGroupAdmin(deps, command.conversationId, command.actorId))) {
        if (target.actorId !== command.actorId) {
          throw new NotAllowedError('Only the author, or a group owner or admin, can recall a message.', ref);
        }
        const windowMs = deps.recallWindowMs ?? LIMITS.recallWindowSeconds * 1000;
        if (command.at - target.at > windowMs) {
          throw new RecallWindowClosedError(
            `Messages can be recalled within ${Math.round(windowMs / 1000)} seconds of sending.`,
            ref,
          );
        }
      }
      return {
        event: { kind: 'recall', ...base, targetSeq: command.targetSeq },
        effects: { updateMessage: { seq: command.targetSeq, change: { recall: true } } },
        extraAudience: none,
      };
    }
    case 'addMembers': {
      const actor = await requireGroupAdmin(deps, command.conversationId, command.actorId, ref);
      if (command.role === 'admin' && actor.role !== 'owner') {
        throw new NotAllowedError('Only the owner can add admins.', ref);
      }
      const current = new Set(
        (await deps.store.listMemberRecords(command.conversationId)).map((m) => m.userId),
      );
      const added = [...new Set(command.userIds)].filter((u) => !current.has(u));
      if (added.length === 0) throw new NotAllowedError('Everyone named is a member already.', ref);
      if (current.size + added.length > LIMITS.maxGroupMembers) {
        throw new GroupTooLargeError(`A group has at most ${LIMITS.maxGroupMembers} members.`, ref);
      }
      return {
        event: { kind: 'members.added', ...base, userIds: added, role: command.role },
        effects: { memberCountDelta: added.length },
        extraAudience: none,
      };
    }
    case 'removeMembers': {
      const actor = await requireGroupAdmin(deps, command.conversationId, command.actorId, ref);
      const records = new Map(
        (await deps.store.listMemberRecords(command.conversationId)).map((m) => [m.userId, m]),
      );
      const removed = [...new Set(command.userIds)].filter((u) => records.has(u) && u !== command.actorId);
      if (removed.length === 0)
        throw new NotFoundError('No one named is a member (leave to remove yourself).', ref);
      const protectedOnes = removed.filter((u) => {
        const role = records.get(u)?.role;
        return role === 'owner' || (role === 'admin' && actor.role !== 'owner');
      });
      if (protectedOnes.length > 0) {
        throw new NotAllowedError(`You cannot remove ${protectedOnes.join(', ')}.`, ref);
      }
      return {
        event: { kind: 'members.removed', ...base, userIds: removed },
        effects: { memberCountDelta: -removed.length },
        extraAudience: removed,
      };
    }
    case 'leave': {
      if (!isGroupConversationId(command.conversationId)) {
        throw new NotAllowedError('Only groups can be left.', ref);
      }
      return {
        event: { kind: 'member.left', ...base },
        effects: { memberCountDelta: -1 },
        extraAudience: [command.actorId],
      };
    }
    case 'rename': {
      await requireGroupAdmin(deps, command.conversationId, command.actorId, ref);
      return {
        event: { kind: 'group.renamed', ...base, name: command.name },
        effects: { conversation: { name: command.name } },
        extraAudience: none,
      };
    }
    default:
      return command satisfies never;
  }
}

async function liveMessage(
  deps: ApplyDeps,
  command: { conversationId: string; targetSeq: number },
  ref: { clientMessageId: string },
): Promise<Extract<ConversationEvent, { kind: 'message' }>> {
  const target = await deps.store.getEvent(command.conversationId, command.targetSeq);
  if (target?.kind !== 'message') {
    throw new NotFoundError(`There is no message ${command.targetSeq} in this conversation.`, ref);
  }
  if (target.recalled) throw new RecallWindowClosedError(`Message ${command.targetSeq} was recalled.`, ref);
  return target;
}

async function editableMessage(
  deps: ApplyDeps,
  command: { conversationId: string; targetSeq: number; actorId: string },
  ref: { clientMessageId: string },
): Promise<void> {
  const target = await liveMessage(deps, command, ref);
  if (target.actorId !== command.actorId)
    throw new NotAllowedError('Only the author can edit a message.', ref);
}

async function isGroupAdmin(deps: ApplyDeps, conversationId: string, userId: UserId): Promise<boolean> {
  if (!isGroupConversationId(conversationId)) return false;
  const member = await deps.store.getMember(conversationId, userId);
  return member?.role === 'owner' || member?.role === 'admin';
}

async function requireGroupAdmin(
  deps: ApplyDeps,
  conversationId: string,
  userId: UserId,
  ref: { clientMessageId: string },
): Promise<MemberRecord> {
  if (!isGroupConversationId(conversationId)) {
    throw new NotAllowedError('Direct conversations have no members to manage.', ref);
  }
  const member = await deps.store.getMember(conversationId, userId);
  if (!member || (member.role !== 'owner' && member.role !== 'admin')) {
    throw new NotAllowedError('Only the group’s owner and admins can do this.', ref);
  }
  return member;
}

/** The member rows an event implies: written after it, idempotently. */
async function applyMembershipRows(deps: ApplyDeps, event: ConversationEvent): Promise<void> {
  const joined = (userId: UserId, role: MemberRecord['role']): MemberRecord => ({
    userId,
    role,
    joinedAt: event.at,
    // A member has read what happened up to their joining: history before it is there, but not unread.
    readSeq: event.seq,
  });
  switch (event.kind) {
    case 'message': {
      const direct = parseDirectConversationId(event.conversationId);
      if (direct && event.seq === 1) {
        await deps.store.putMembers(
          event.conversationId,
          direct.map((u) => ({ ...joined(u, 'member'), readSeq: u === event.actorId ? 1 : 0 })),
        );
      }
      return;
    }
    case 'group.created':
      await deps.store.putMembers(
        event.conversationId,
        event.members.map((u) => joined(u, u === event.actorId ? 'owner' : 'member')),
      );
      return;
    case 'members.added':
      await deps.store.putMembers(
        event.conversationId,
        event.userIds.map((u) => joined(u, event.role)),
      );
      return;
    case 'members.removed':
      await deps.store.deleteMembers(event.conversationId, event.userIds);
      return;
    case 'member.left': {
      await deps.store.deleteMembers(event.conversationId, [event.actorId]);
      // The group keeps an owner: if none remains (the owner left), the longest-standing remaining member
      // (admins first) takes over. Decided from the rows after the deletion, so a retry reaches the same state.
      const rest = await deps.store.listMemberRecords(event.conversationId);
      if (rest.length > 0 && !rest.some((m) => m.role === 'owner')) {
        const heir = [...rest].sort(
          (a, b) =>
            Number(b.role === 'admin') - Number(a.role === 'admin') ||
            a.joinedAt - b.joinedAt ||
            a.userId.localeCompare(b.userId),
        )[0];
        if (heir) await deps.store.putMembers(event.conversationId, [{ ...heir, role: 'owner' }]);
      }
      return;
    }
    default:
      return;
  }
}

/**
 * Whether a conversation's frames go through the fan-out queue: from the first one with more than
 * FANOUT_THRESHOLD recipients on, always, even after the group shrinks. Two paths would break the order: event
 * N still waiting in a fan-out bucket while event N+1 is posted directly. The switch is recorded before the
 * first fan-out, so a retry after a crash takes the same path.
 */
async function viaFanout(
  deps: ApplyDeps,
  conversationId: ConversationId,
  conversation: ConversationRecord | undefined,
  users: readonly UserId[],
): Promise<boolean> {
  if (deps.push.fanout === undefined) return false;
  if (conversation?.fanout) return true;
  if (new Set(users).size <= FANOUT_THRESHOLD) return false;
  await deps.store.markFanout(conversationId);
  return true;
}

/** Users who are no longer members but must see the event: the removed, the one who left. */
function leavers(event: ConversationEvent): readonly UserId[] {
  if (event.kind === 'members.removed') return event.userIds;
  if (event.kind === 'member.left') return [event.actorId];
  return [];
}

async function audienceOf(
  deps: ApplyDeps,
  conversationId: ConversationId,
  extra: readonly UserId[],
): Promise<UserId[]> {
  const direct = parseDirectConversationId(conversationId);
  const members = direct ? [...direct] : await deps.directory.listMembers(conversationId);
  return [...new Set([...members, ...extra])];
}

async function markRead(
  deps: ApplyDeps,
  command: Extract<QueuedCommand, { kind: 'markRead' }>,
): Promise<ApplyReport> {
  if (!(await isMember(deps.directory, command.conversationId, command.actorId))) {
    throw new NotAMemberError(`You are not a member of conversation ${command.conversationId}.`, {
      requestId: command.requestId,
    });
  }
  const conversation = await deps.store.getConversation(command.conversationId);
  const upTo = Math.min(command.seq, conversation?.lastSeq ?? 0);
  const readSeq =
    upTo > 0 ? await deps.store.advanceRead(command.conversationId, command.actorId, upTo) : undefined;
  if (readSeq === undefined) return { outcome: 'read', readSeq, delivered: 0, gone: 0 };
  const receipt: ReceiptFrame = {
    type: 'receipt',
    v: PROTOCOL_VERSION,
    conversationId: command.conversationId,
    userId: command.actorId,
    readSeq,
  };
  const users = await audienceOf(deps, command.conversationId, []);
  const report = await pushToAudience(deps.push, {
    users,
    frame: receipt,
    origin: { connectionId: command.connectionId },
    viaFanout: await viaFanout(deps, command.conversationId, conversation, users),
  });
  return { outcome: 'read', readSeq, ...report };
}

export { idempotencyKey };

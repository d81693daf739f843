import type { AckedFrame, CreateGroupFrame, MarkReadFrame, UserId } from '../../protocol';
import { groupConversationId } from './apply-command';
import type { QueuedCommand } from './commands';
import { isMember } from './conversations';
import { type FrameRef, NotAMemberError } from './errors';
import type { Clock, CommandQueue, MembershipDirectory } from './ports';

/** The frames of the command route: those answered by an ack, and markRead. */
export type CommandFrame = AckedFrame | MarkReadFrame;

export interface AcceptCommandDeps {
  readonly directory: MembershipDirectory;
  readonly queue: CommandQueue;
  readonly clock: Clock;
}

export interface Sender {
  readonly userId: UserId;
  readonly connectionId: string;
}

/**
 * The command route: checks what it cheaply can (membership: free for direct conversations, one read for
 * groups) and enqueues the command on its conversation's FIFO group. The server chooses the group (a new
 * group's id derives from its creator and clientMessageId) and the actor (from the token). Nothing is
 * answered on success: the ack comes from delivery, with the sequence number.
 */
export async function acceptCommand(
  deps: AcceptCommandDeps,
  sender: Sender,
  frame: CommandFrame,
  /** A check that must pass before anything is enqueued (the flood limit): it runs alongside the membership read. */
  admit: () => Promise<void> = async () => {},
): Promise<QueuedCommand> {
  const base = {
    v: 1 as const,
    actorId: sender.userId,
    connectionId: sender.connectionId,
    at: deps.clock.now(),
  };
  let command: QueuedCommand;
  if (frame.action === 'createGroup') {
    await admit();
    command = {
      kind: 'createGroup',
      ...base,
      conversationId: groupConversationId(sender.userId, frame.clientMessageId),
      clientMessageId: frame.clientMessageId,
      name: frame.name,
      members: frame.members,
    };
  } else {
    const [, member] = await Promise.all([
      admit(),
      isMember(deps.directory, frame.conversationId, sender.userId),
    ]);
    if (!member) {
      throw new NotAMemberError(
        `You are not a member of conversation ${frame.conversationId}.`,
        frameRef(frame),
      );
    }
    command = toCommand(frame, base);
  }
  await deps.queue.enqueue(command);
  return command;
}

/** What an error frame quotes to tie itself to the command: its clientMessageId, or a markRead's requestId. */
function frameRef(frame: Exclude<CommandFrame, CreateGroupFrame>): FrameRef {
  return frame.action === 'markRead'
    ? { requestId: frame.requestId }
    : { clientMessageId: frame.clientMessageId };
}

function toCommand(
  frame: Exclude<CommandFrame, CreateGroupFrame>,
  base: { v: 1; actorId: UserId; connectionId: string; at: number },
): QueuedCommand {
  const { conversationId } = frame;
  switch (frame.action) {
    case 'send':
      return {
        kind: 'send',
        ...base,
        conversationId,
        clientMessageId: frame.clientMessageId,
        text: frame.text,
      };
    case 'edit':
      return {
        kind: 'edit',
        ...base,
        conversationId,
        clientMessageId: frame.clientMessageId,
        targetSeq: frame.targetSeq,
        text: frame.text,
      };
    case 'recall':
      return {
        kind: 'recall',
        ...base,
        conversationId,
        clientMessageId: frame.clientMessageId,
        targetSeq: frame.targetSeq,
      };
    case 'addMembers':
      return {
        kind: 'addMembers',
        ...base,
        conversationId,
        clientMessageId: frame.clientMessageId,
        userIds: frame.userIds,
        role: frame.role ?? 'member',
      };
    case 'removeMembers':
      return {
        kind: 'removeMembers',
        ...base,
        conversationId,
        clientMessageId: frame.clientMessageId,
        userIds: frame.userIds,
      };
    case 'leave':
      return { kind: 'leave', ...base, conversationId, clientMessageId: frame.clientMessageId };
    case 'rename':
      return {
        kind: 'rename',
        ...base,
        conversationId,
        clientMessageId: frame.clientMessageId,
        name: frame.name,
      };
    case 'markRead':
      return {
        kind: 'markRead',
        ...base,
        conversationId,
        seq: frame.seq,
        ...(frame.requestId === undefined ? {} : { requestId: frame.requestId }),
      };
    default:
      return frame satisfies never;
  }
}

/**
 * Typing indicators: ephemeral, best effort, relayed straight to the other members' connections (ADR 8).
 */
import {
  type ConversationId,
  LIMITS,
  PROTOCOL_VERSION,
  type TypingEventFrame,
  type TypingFrame,
  type UserId,
} from '../../protocol';
import { isMember, membersOf } from './conversations';
import { NotAMemberError } from './errors';
import {
  type EphemeralPushReport,
  followUpGoneUsers,
  mergeFollowUp,
  type PresenceDeps,
  pushEphemeral,
} from './presence';

export type TypingState = TypingFrame['state'];

/**
 * The typing rule, per connection and conversation:
 * - `start` passes when no `start` passed in the last `intervalMs` (a `stop` in between does not reset that, so
 *   alternating start/stop still yields at most two frames per interval);
 * - `stop` passes once after each `start` that passed, whenever it comes: an indicator shown must be clearable.
 * Frames that do not pass are dropped without an answer. A connection keeps the state of at most
 * `maxConversations` conversations; beyond that its state starts afresh (at worst one early `start` each).
 */
export const TYPING_POLICY = {
  intervalMs: LIMITS.typingIntervalMs,
  maxConversations: 64,
} as const;

export interface TypingGate {
  /**
   * Applies TYPING_POLICY atomically to one frame of `connectionId` in `conversationId` at `now`: true when
   * the frame passes (and is recorded), false when it must be dropped. False as well when the connection has
   * no row (nothing could be relayed to it either).
   */
  pass(
    connectionId: string,
    conversationId: ConversationId,
    state: TypingState,
    now: number,
  ): Promise<boolean>;
}

export interface TypingDeps extends PresenceDeps {
  readonly gate: TypingGate;
}

export interface TypingSender {
  readonly userId: UserId;
  readonly connectionId: string;
}

export type TypingReport =
  | { readonly relayed: false }
  | ({
      readonly relayed: true;
      /** Members the frame was addressed to (all but the sender). */
      readonly recipients: number;
      readonly followedUp: number;
    } & EphemeralPushReport);

/**
 * Relays a typing frame to every connection of the conversation's other members (never to the sender's own
 * connections). The sender must be a member (NotAMemberError otherwise). A frame the gate drops is not
 * relayed and not answered: typing is best effort.
 */
export async function relayTyping(
  deps: TypingDeps,
  sender: TypingSender,
  frame: TypingFrame,
): Promise<TypingReport> {
  const { conversationId, state } = frame;
  if (!(await isMember(deps.directory, conversationId, sender.userId))) {
    throw new NotAMemberError(`You are not a member of conversation ${conversationId}.`);
  }
  if (!(await deps.gate.pass(sender.connectionId, conversationId, state, deps.clock.now()))) {
    return { relayed: false };
  }
  const recipients = (await membersOf(deps.directory, conversationId)).filter((u) => u !== sender.userId);
  const event: TypingEventFrame = {
    type: 'typing',
    v: PROTOCOL_VERSION,
    conversationId,
    userId: sender.userId,
    state,
  };
  const report = await pushEphemeral(deps, recipients, event);
  const followed = await followUpGoneUsers(deps, report.goneUsers);
  return { relayed: true, recipients: recipients.length, ...mergeFollowUp(report, followed) };
}

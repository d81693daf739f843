import { type ConversationId, parseDirectConversationId, type UserId } from '../../protocol';
import type { MembershipDirectory } from './ports';

/**
 * Who belongs to a conversation. A direct conversation's members are in its id (`dm:<a>:<b>`), so checking
 * them costs no read; any other conversation is looked up in the membership index.
 */
export async function isMember(
  directory: MembershipDirectory,
  conversationId: ConversationId,
  userId: UserId,
): Promise<boolean> {
  const direct = parseDirectConversationId(conversationId);
  if (direct) return direct.includes(userId);
  if (conversationId.startsWith('dm:')) return false; // a malformed direct id names nobody
  return directory.isMember(conversationId, userId);
}

export async function membersOf(
  directory: MembershipDirectory,
  conversationId: ConversationId,
): Promise<UserId[]> {
  const direct = parseDirectConversationId(conversationId);
  if (direct) return [...new Set(direct)];
  return directory.listMembers(conversationId);
}

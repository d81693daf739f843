import { type DynamoDBDocumentClient, GetCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import type { ConversationId, UserId } from '../../protocol';
import type { MembershipDirectory } from '../core/ports';
import { CONVERSATION_SK } from './dynamo-keys';

/**
 * Membership rows live in the Conversations table (`sk = member#<userId>`, with `memberId` feeding the sparse
 * byMember index), so "members of a conversation" and "conversations of a user" are both key lookups.
 */
export class DynamoMembershipDirectory implements MembershipDirectory {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async isMember(conversationId: ConversationId, userId: UserId): Promise<boolean> {
    const { Item } = await this.db.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { conversationId, sk: CONVERSATION_SK.member(userId) },
        ProjectionExpression: 'memberId',
        // Strongly consistent: a member added or removed a moment ago must count at once.
        ConsistentRead: true,
      }),
    );
    return Item !== undefined;
  }

  async listMembers(conversationId: ConversationId): Promise<UserId[]> {
    const members: UserId[] = [];
    const pages = paginateQuery(
      { client: this.db },
      {
        TableName: this.tableName,
        KeyConditionExpression: 'conversationId = :c AND begins_with(sk, :p)',
        ExpressionAttributeValues: { ':c': conversationId, ':p': CONVERSATION_SK.memberPrefix },
        ProjectionExpression: 'memberId',
        // Strongly consistent: new members get the event that added them; removed ones get nothing more.
        ConsistentRead: true,
      },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (typeof item.memberId === 'string') members.push(item.memberId);
      }
    }
    return members;
  }
}

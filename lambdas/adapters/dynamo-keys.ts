/** Sort keys of the Conversations table's item kinds: one place, shared by every adapter that reads them. */
export const CONVERSATION_SK = {
  meta: 'meta',
  memberPrefix: 'member#',
  member: (userId: string) => `member#${userId}`,
  sendPrefix: 'send#',
  send: (idempotencyKey: string) => `send#${idempotencyKey}`,
} as const;

/**
 * Partition keys of the Connections table's user items (see DynamoConnectionStore): `user#<userId>`, beside the
 * connection rows keyed by API Gateway's connection ids, which never contain `#`. The stack's IAM grants rely on
 * the prefix too.
 */
export const CONNECTIONS_KEY = {
  userPrefix: 'user#',
  user: (userId: string) => `user#${userId}`,
} as const;

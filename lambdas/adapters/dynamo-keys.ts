/** Sort keys of the Conversations table's item kinds: one place, shared by every adapter that reads them. */
export const CONVERSATION_SK = {
  meta: 'meta',
  memberPrefix: 'member#',
  member: (userId: string) => `member#${userId}`,
  sendPrefix: 'send#',
  send: (idempotencyKey: string) => `send#${idempotencyKey}`,
} as const;

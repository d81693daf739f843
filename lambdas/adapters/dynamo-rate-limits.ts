import { createHash } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ConversationId } from '../../protocol';
import type { FrameRateLimiter } from '../core/rate-limit';
import type { TypingGate, TypingState } from '../core/typing';
import { isConditionFailure } from './dynamo-errors';
import { CONNECTION_ROW } from './dynamo-presence';

export interface RateLimitPolicy {
  /** Frames a connection may send in any `frameWindowMs` (FRAME_POLICY). */
  readonly frameBurst: number;
  readonly frameWindowMs: number;
  /** TYPING_POLICY. */
  readonly typingIntervalMs: number;
  readonly typingMaxConversations: number;
}

type RawItem = Record<string, AttributeValue>;

/**
 * The flood limit and the typing gate, kept on the connection's own row (see CONNECTION_ROW) and moved by
 * conditional UpdateItems, so that concurrent invocations of any function share them exactly.
 *
 * A frame costs one UpdateItem. The only other writes happen once in a connection's life (creating the frame
 * log on its first frame, the typing map on its first typing frame) or when the typing map is full; they are
 * decided from the row returned by the failed condition (ReturnValuesOnConditionCheckFailure), not by reading
 * first.
 */
export class DynamoRateLimits implements FrameRateLimiter, TypingGate {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly policy: RateLimitPolicy,
  ) {}

  async takeFrame(connectionId: string, now: number): Promise<boolean> {
    const first = await this.takeFromLog(connectionId, now);
    if (first.taken) return true;
    if (first.row === undefined) return true; // no row to limit: the frame came through API Gateway, let it be
    if (hasFullLog(first.row, this.policy.frameBurst)) return false;
    // The row has no (well-formed) frame log yet: create one that counts this frame. If another invocation
    // created it first, take from that one.
    if (await this.createLog(connectionId, now)) return true;
    const second = await this.takeFromLog(connectionId, now);
    return second.taken || second.row === undefined;
  }

  async pass(
    connectionId: string,
    conversationId: ConversationId,
    state: TypingState,
    now: number,
  ): Promise<boolean> {
    const key = typingKey(conversationId);
    if (state === 'stop') return this.stopTyping(connectionId, key);
    const first = await this.startTyping(connectionId, key, now);
    if (first.taken) return true;
    if (first.row === undefined) return false; // no row: the connection cannot be relayed to either
    const typing = first.row[CONNECTION_ROW.typing]?.M;
    if (typing === undefined) {
      if (await this.resetTyping(connectionId, key, now, 'absent')) return true;
      return (await this.startTyping(connectionId, key, now)).taken;
    }
    if (typing[key] === undefined && Object.keys(typing).length >= this.policy.typingMaxConversations) {
      return this.resetTyping(connectionId, key, now, 'full');
    }
    return false;
  }

  /** Drops the oldest time, appends now; on condition that the oldest is out of the window. */
  private async takeFromLog(
    connectionId: string,
    now: number,
  ): Promise<{ taken: boolean; row?: RawItem | undefined }> {
    return this.conditionalUpdate({
      Key: { [CONNECTION_ROW.key]: connectionId },
      // Both actions see the item as it was before the update: index `burst` is one past the end of a full
      // log, so SET appends there while REMOVE drops the first element, and the log keeps its length.
      UpdateExpression: `SET #log[${this.policy.frameBurst}] = :now, #seen = :now REMOVE #log[0]`,
      // A log of another length (FRAME_POLICY changed while the connection lived) fails here and is rebuilt.
      ConditionExpression: 'attribute_exists(#id) AND size(#log) = :burst AND #log[0] <= :cutoff',
      ExpressionAttributeNames: {
        '#id': CONNECTION_ROW.key,
        '#log': CONNECTION_ROW.frameLog,
        '#seen': CONNECTION_ROW.lastSeenAt,
      },
      ExpressionAttributeValues: {
        ':now': now,
        ':cutoff': now - this.policy.frameWindowMs,
        ':burst': this.policy.frameBurst,
      },
    });
  }

  /** A full log whose `burst - 1` older entries are free (0) and whose newest is this frame. */
  private async createLog(connectionId: string, now: number): Promise<boolean> {
    const log = [...Array.from({ length: this.policy.frameBurst - 1 }, () => 0), now];
    const result = await this.conditionalUpdate({
      Key: { [CONNECTION_ROW.key]: connectionId },
      UpdateExpression: 'SET #log = :log, #seen = :now',
      ConditionExpression: 'attribute_exists(#id) AND (attribute_not_exists(#log) OR size(#log) <> :burst)',
      ExpressionAttributeNames: {
        '#id': CONNECTION_ROW.key,
        '#log': CONNECTION_ROW.frameLog,
        '#seen': CONNECTION_ROW.lastSeenAt,
      },
      ExpressionAttributeValues: { ':log': log, ':now': now, ':burst': this.policy.frameBurst },
    });
    return result.taken;
  }

  /**
   * A start passes when this conversation's last start is at least the interval old, whether or not a stop
   * came since (a stopped start is stored negated: |value| is still its time), or when the conversation has no
   * entry yet and the map has room.
   */
  private async startTyping(
    connectionId: string,
    key: string,
    now: number,
  ): Promise<{ taken: boolean; row?: RawItem | undefined }> {
    const cutoff = now - this.policy.typingIntervalMs;
    return this.conditionalUpdate({
      Key: { [CONNECTION_ROW.key]: connectionId },
      UpdateExpression: 'SET #typing.#k = :now',
      ConditionExpression:
        'attribute_exists(#id) AND (#typing.#k BETWEEN :negCutoff AND :cutoff OR ' +
        '(attribute_not_exists(#typing.#k) AND size(#typing) < :max))',
      ExpressionAttributeNames: { '#id': CONNECTION_ROW.key, '#typing': CONNECTION_ROW.typing, '#k': key },
      ExpressionAttributeValues: {
        ':now': now,
        ':cutoff': cutoff,
        ':negCutoff': -cutoff,
        ':max': this.policy.typingMaxConversations,
      },
    });
  }

  /** A stop passes once per passed start: it negates the start's time, which a second stop finds negative. */
  private async stopTyping(connectionId: string, key: string): Promise<boolean> {
    const result = await this.conditionalUpdate({
      Key: { [CONNECTION_ROW.key]: connectionId },
      UpdateExpression: 'SET #typing.#k = :zero - #typing.#k',
      ConditionExpression: 'attribute_exists(#id) AND #typing.#k > :zero',
      ExpressionAttributeNames: { '#id': CONNECTION_ROW.key, '#typing': CONNECTION_ROW.typing, '#k': key },
      ExpressionAttributeValues: { ':zero': 0 },
    });
    return result.taken;
  }

  /** Starts the typing map afresh with this start: when the row has none yet, or when it is full. */
  private async resetTyping(
    connectionId: string,
    key: string,
    now: number,
    when: 'absent' | 'full',
  ): Promise<boolean> {
    const result = await this.conditionalUpdate({
      Key: { [CONNECTION_ROW.key]: connectionId },
      UpdateExpression: 'SET #typing = :fresh',
      ConditionExpression:
        when === 'absent'
          ? 'attribute_exists(#id) AND attribute_not_exists(#typing)'
          : 'attribute_exists(#id) AND size(#typing) >= :max AND attribute_not_exists(#typing.#k)',
      ExpressionAttributeNames: {
        '#id': CONNECTION_ROW.key,
        '#typing': CONNECTION_ROW.typing,
        ...(when === 'full' ? { '#k': key } : {}),
      },
      ExpressionAttributeValues: {
        ':fresh': { [key]: now },
        ...(when === 'full' ? { ':max': this.policy.typingMaxConversations } : {}),
      },
    });
    return result.taken;
  }

  private async conditionalUpdate(
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
  ): Promise<{ taken: boolean; row?: RawItem | undefined }> {
    try {
      await this.db.send(
        new UpdateCommand({
          ...input,
          TableName: this.tableName,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { taken: true };
    } catch (error) {
      // The document client does not unmarshall the item on the exception: it stays in AttributeValue form.
      if (isConditionFailure(error)) return { taken: false, row: error.Item };
      throw error;
    }
  }
}

function hasFullLog(row: RawItem, burst: number): boolean {
  return row[CONNECTION_ROW.frameLog]?.L?.length === burst;
}

/**
 * The typing map's key for a conversation: 16 characters of its SHA-256 (96 bits, base64url) instead of an id of
 * up to 260 characters, so that the map stays small on a row every presence read pays for.
 */
export function typingKey(conversationId: ConversationId): string {
  return createHash('sha256').update(conversationId).digest('base64url').slice(0, 16);
}

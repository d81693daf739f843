import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { INDEX } from '../../lambdas/config';

export interface HeraldTablesProps {
  /**
   * Removal policy of the tables that hold user data (Conversations, Messages).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Removal policy of the Connections table. Its rows describe live WebSocket connections only: they expire
   * by TTL and mean nothing once the API they point to is gone.
   * @default RemovalPolicy.DESTROY
   */
  readonly connectionsRemovalPolicy?: RemovalPolicy;
}

/** Attribute names of the keys and the TTL, as the adapters in lambdas/adapters write them. */
export const TABLE_KEYS = {
  connections: { partitionKey: 'connectionId', ttl: 'expiresAt' },
  conversations: { partitionKey: 'conversationId', sortKey: 'sk', byMemberPartitionKey: 'memberId' },
  messages: { partitionKey: 'conversationId', sortKey: 'seq' },
} as const;

/**
 * Herald's three DynamoDB tables: on demand, point-in-time recovery, encrypted with the AWS managed key.
 *
 * - Connections: one row per live connection, and one user item per user naming their connections (ADR 16,
 *   read by key in batches: no index, no Scan); TTL `expiresAt` (epoch seconds) removes rows whose
 *   `$disconnect` never arrived and the user items of users long gone.
 * - Conversations: a meta row (sequence counter), one row per member (`memberId`, which feeds the sparse
 *   byMember index) and one idempotency row per accepted send.
 * - Messages: one row per message, keyed by conversation and gap-free sequence number.
 */
export class HeraldTables extends Construct {
  public readonly connections: Table;
  public readonly conversations: Table;
  public readonly messages: Table;

  constructor(scope: Construct, id: string, props: HeraldTablesProps = {}) {
    super(scope, id);
    const dataRemovalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const common = {
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
    } as const;

    this.connections = new Table(this, 'Connections', {
      ...common,
      partitionKey: { name: TABLE_KEYS.connections.partitionKey, type: AttributeType.STRING },
      timeToLiveAttribute: TABLE_KEYS.connections.ttl,
      removalPolicy: props.connectionsRemovalPolicy ?? RemovalPolicy.DESTROY,
    });

    this.conversations = new Table(this, 'Conversations', {
      ...common,
      partitionKey: { name: TABLE_KEYS.conversations.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.conversations.sortKey, type: AttributeType.STRING },
      removalPolicy: dataRemovalPolicy,
    });
    this.conversations.addGlobalSecondaryIndex({
      indexName: INDEX.conversationsByMember,
      partitionKey: { name: TABLE_KEYS.conversations.byMemberPartitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.conversations.partitionKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.messages = new Table(this, 'Messages', {
      ...common,
      partitionKey: { name: TABLE_KEYS.messages.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.messages.sortKey, type: AttributeType.NUMBER },
      removalPolicy: dataRemovalPolicy,
    });
  }
}

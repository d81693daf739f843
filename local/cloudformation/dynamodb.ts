/**
 * Turns an `AWS::DynamoDB::Table` resource of a synthesized template into the API calls that create the same
 * table elsewhere (DynamoDB Local, LocalStack, a test account): keys, attribute types, GSIs, TTL.
 * The template is the source of truth; nothing about a table's shape is repeated by hand.
 */
import type {
  AttributeDefinition,
  CreateTableCommandInput,
  GlobalSecondaryIndex,
  KeySchemaElement,
  Projection,
  UpdateTimeToLiveCommandInput,
} from '@aws-sdk/client-dynamodb';
import * as z from 'zod';

const KeySchema = z.array(z.object({ AttributeName: z.string(), KeyType: z.enum(['HASH', 'RANGE']) }));
const ProjectionSchema = z.object({
  ProjectionType: z.enum(['ALL', 'KEYS_ONLY', 'INCLUDE']).optional(),
  NonKeyAttributes: z.array(z.string()).optional(),
});

export const TableProperties = z.object({
  TableName: z.string().optional(),
  KeySchema,
  AttributeDefinitions: z.array(
    z.object({ AttributeName: z.string(), AttributeType: z.enum(['S', 'N', 'B']) }),
  ),
  BillingMode: z.string().optional(),
  GlobalSecondaryIndexes: z
    .array(z.object({ IndexName: z.string(), KeySchema, Projection: ProjectionSchema }).passthrough())
    .optional(),
  LocalSecondaryIndexes: z
    .array(z.object({ IndexName: z.string(), KeySchema, Projection: ProjectionSchema }).passthrough())
    .optional(),
  TimeToLiveSpecification: z
    .object({ AttributeName: z.string().optional(), Enabled: z.boolean() })
    .optional(),
  StreamSpecification: z.object({ StreamViewType: z.string() }).optional(),
});
export type TableProperties = z.infer<typeof TableProperties>;

export interface TableCreation {
  readonly createTable: CreateTableCommandInput;
  readonly timeToLive?: UpdateTimeToLiveCommandInput;
}

/** The CreateTable (and UpdateTimeToLive) inputs for one template table, under the given name. */
export function tableCreation(tableName: string, properties: unknown): TableCreation {
  const p = TableProperties.parse(properties);
  const keys = (k: z.infer<typeof KeySchema>): KeySchemaElement[] => k.map((e) => ({ ...e }));
  const projection = (pr: z.infer<typeof ProjectionSchema>): Projection => ({ ...pr });
  const gsis: GlobalSecondaryIndex[] | undefined = p.GlobalSecondaryIndexes?.map((g) => ({
    IndexName: g.IndexName,
    KeySchema: keys(g.KeySchema),
    Projection: projection(g.Projection),
  }));
  const attributes: AttributeDefinition[] = p.AttributeDefinitions.map((a) => ({ ...a }));
  return {
    createTable: {
      TableName: tableName,
      KeySchema: keys(p.KeySchema),
      AttributeDefinitions: attributes,
      BillingMode: 'PAY_PER_REQUEST',
      ...(gsis?.length ? { GlobalSecondaryIndexes: gsis } : {}),
      ...(p.LocalSecondaryIndexes?.length
        ? {
            LocalSecondaryIndexes: p.LocalSecondaryIndexes.map((l) => ({
              IndexName: l.IndexName,
              KeySchema: keys(l.KeySchema),
              Projection: projection(l.Projection),
            })),
          }
        : {}),
    },
    ...(p.TimeToLiveSpecification?.Enabled && p.TimeToLiveSpecification.AttributeName
      ? {
          timeToLive: {
            TableName: tableName,
            TimeToLiveSpecification: {
              AttributeName: p.TimeToLiveSpecification.AttributeName,
              Enabled: true,
            },
          },
        }
      : {}),
  };
}

import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";

/**
 * The one definition of the table's shape. The DynamoDB store, the local runtime (which creates the
 * table when it is missing) and the CDK construct all read these names; none of them types a key twice.
 */
export const TABLE_SCHEMA = {
  partitionKey: "pk",
  sortKey: "sk",
  /** Epoch seconds; DynamoDB's TTL deleter tidies up expired items (expiry itself is enforced on read). */
  ttlAttribute: "expAt",
  dueIndex: {
    name: "due",
    /**
     * Write-sharded lane: `T#<topic>#<shard>` (a topic's messages by deliver time, read by every group
     * through its own cursor) or `G#<topic>#<group>#<shard>` (a group's deliveries by next visible time);
     * `X#<topic>#<group>` is a group's dead-letter lane, sorted by failure time; `W#<n>` is the sweeper's
     * work index (group cursors by the time they next need a look).
     */
    partitionKey: "lane",
    /** Epoch ms at which the item is next due: deliver time for messages, next-visible time for deliveries. */
    sortKey: "dueAt",
    /**
     * Attributes a lane read needs without touching the base table: tag, delivery count, deliver time,
     * retention (`expAt`, s) and TTL expiry (`xpAt`, ms), the group incarnation, a dead letter's reason.
     */
    projectedAttributes: ["tag", "cnt", "dlvAt", "expAt", "xpAt", "gen", "why"],
  },
} as const;

export function createTableInput(tableName: string): CreateTableCommandInput {
  const { partitionKey, sortKey, dueIndex } = TABLE_SCHEMA;
  return {
    TableName: tableName,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: "S" },
      { AttributeName: sortKey, AttributeType: "S" },
      { AttributeName: dueIndex.partitionKey, AttributeType: "S" },
      { AttributeName: dueIndex.sortKey, AttributeType: "N" },
    ],
    KeySchema: [
      { AttributeName: partitionKey, KeyType: "HASH" },
      { AttributeName: sortKey, KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: dueIndex.name,
        KeySchema: [
          { AttributeName: dueIndex.partitionKey, KeyType: "HASH" },
          { AttributeName: dueIndex.sortKey, KeyType: "RANGE" },
        ],
        Projection: { ProjectionType: "INCLUDE", NonKeyAttributes: [...dueIndex.projectedAttributes] },
      },
    ],
  };
}

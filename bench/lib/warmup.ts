import { BatchWriteItemCommand, GetItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { TABLE_SCHEMA } from "../../lambda/dynamo/schema.js";
import { type BenchContext, freshTable } from "./context.js";
import { pool } from "./stats.js";

/**
 * Warms DynamoDB Local's JVM before the first scenario: a freshly started one answers its first
 * thousands of requests several times slower (class loading, JIT), which would land on whichever
 * scenario runs first. Puts, batch writes, index queries, conditional updates and reads, 8 in flight.
 */
export async function warmUp(ctx: BenchContext): Promise<{ requests: number; seconds: number }> {
  const t0 = performance.now();
  const { client, tableName } = await freshTable(ctx);
  const { partitionKey: PK, sortKey: SK } = TABLE_SCHEMA;
  const { name: INDEX, partitionKey: LANE, sortKey: DUE } = TABLE_SCHEMA.dueIndex;
  const rounds = ctx.quick ? 100 : 1000;
  const item = (i: number) => ({ [PK]: { S: `W#${i}` }, [SK]: { S: "M" }, [LANE]: { S: `W#${i % 4}` }, [DUE]: { N: String(i) }, body: { S: "w".repeat(200) } });
  let requests = 0;
  await pool(
    Array.from({ length: rounds }, (_, i) => i),
    8,
    async (i) => {
      await client.send(new PutItemCommand({ TableName: tableName, Item: item(i) }));
      await client.send(
        new UpdateItemCommand({
          TableName: tableName,
          Key: { [PK]: { S: `W#${i}` }, [SK]: { S: "M" } },
          ConditionExpression: "attribute_exists(#pk)",
          UpdateExpression: "SET st = :s REMOVE #lane",
          ExpressionAttributeNames: { "#pk": PK, "#lane": LANE },
          ExpressionAttributeValues: { ":s": { S: "k" } },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      await client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: INDEX,
          KeyConditionExpression: "#lane = :lane AND #due BETWEEN :from AND :to",
          ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
          ExpressionAttributeValues: { ":lane": { S: `W#${i % 4}` }, ":from": { N: "0" }, ":to": { N: String(i) } },
          Limit: 50,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      await client.send(new GetItemCommand({ TableName: tableName, Key: { [PK]: { S: `W#${i}` }, [SK]: { S: "M" } }, ConsistentRead: true }));
      if (i % 16 === 0)
        await client.send(
          new BatchWriteItemCommand({
            RequestItems: { [tableName]: Array.from({ length: 16 }, (_, j) => ({ PutRequest: { Item: item(rounds + i + j) } })) },
          }),
        );
      requests += i % 16 === 0 ? 5 : 4;
    },
  );
  return { requests, seconds: Math.round((performance.now() - t0) / 100) / 10 };
}

import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ResourceInUseException, UpdateTimeToLiveCommand } from "@aws-sdk/client-dynamodb";
import { TABLE_SCHEMA, createTableInput } from "./schema.js";

/**
 * Timeouts, so a stopped or hung DynamoDB never hangs a request (the SDK retries within maxAttempts). The
 * SDK starts both clocks when a request is created, so time spent queued for one of the client's sockets
 * counts too. On the AWS service a connection not up in 2 s or an answer not in 5 s counts as an outage.
 * A custom endpoint is DynamoDB Local, a JVM on a developer's machine that can queue requests for seconds
 * when the machine is busy: no connection timeout (a stopped DynamoDB Local refuses connections at once)
 * and 60 s for an answer.
 */
export const DYNAMO_TIMEOUTS = { connectionTimeout: 2_000, requestTimeout: 5_000 } as const;
export const DYNAMO_LOCAL_TIMEOUTS = { connectionTimeout: 0, requestTimeout: 60_000 } as const;

function handler(timeouts: { connectionTimeout: number; requestTimeout: number }) {
  // Without throwOnRequestTimeout the SDK only logs a warning when requestTimeout passes, and waits on.
  return { ...timeouts, throwOnRequestTimeout: true };
}

/** A DynamoDB client for the AWS service (no endpoint) or a custom endpoint such as DynamoDB Local. */
export function createDynamoClient(
  endpoint?: string,
  maxAttempts = 6,
  timeouts: { connectionTimeout: number; requestTimeout: number } = endpoint ? DYNAMO_LOCAL_TIMEOUTS : DYNAMO_TIMEOUTS,
): DynamoDBClient {
  if (!endpoint) return new DynamoDBClient({ maxAttempts, requestHandler: handler(timeouts) });
  return new DynamoDBClient({
    endpoint,
    requestHandler: handler(timeouts),
    region: process.env.AWS_REGION ?? "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts,
  });
}

/** Creates the table (with its due index and TTL) unless it exists; waits until it is active. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  for (let i = 0; i < 100; i++) {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (out.Table?.TableStatus === "ACTIVE") return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`table ${tableName} did not become active`);
}

import type { AttributeValue, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { TABLE_SCHEMA } from "../../lambda/dynamo/schema.js";

export interface FaultOptions {
  seed: number;
  /** Chance that a request is throttled before it reaches DynamoDB (the SDK retries it). */
  throttle: number;
  /** Chance that a write succeeds but its response is lost (the SDK retries the already-applied write). */
  lostResponse: number;
  /** Chance that an index query is answered with an earlier answer for the same lane (a lagging GSI). */
  staleIndex: number;
  /**
   * Chance that a query continuing from a start key is refused with "The provided starting key is invalid"
   * (what DynamoDB Local answers now and then while the index partition is being written). Default 0.
   */
  invalidStartKey?: number;
  /** The queue's clock, so that a stale answer is never older than `maxLagMs` of it (a GSI lags by well under a second). */
  now?: () => number;
  /** Oldest stale answer, in the clock's milliseconds (default 2000). */
  maxLagMs?: number;
  /**
   * Most stale answers in a row for one query (default 3): the index catches up after a few reads even
   * when the clock stands still, as a test's manual clock does between its steps.
   */
  maxStaleInRow?: number;
  /**
   * Most entries one index query answers (default: no cut): the rest after a `LastEvaluatedKey`, as the
   * service answers a query whose page passes 1 MB before its `Limit`.
   */
  pageCut?: number;
}

export interface FaultStats {
  throttled: number;
  lostResponses: number;
  staleReads: number;
  invalidStartKeys: number;
}

const WRITES = new Set(["PutItemCommand", "UpdateItemCommand", "TransactWriteItemsCommand", "DeleteItemCommand"]);

/** An index query's answer cut after `max` items, continued by the key of the last one kept. */
function cutPage<T>(result: T, max: number | undefined): T {
  const output = (result as { output?: { Items?: Record<string, AttributeValue>[]; LastEvaluatedKey?: Record<string, AttributeValue>; Count?: number } }).output;
  if (max === undefined || !output?.Items || output.Items.length <= max) return result;
  const items = output.Items.slice(0, max);
  const last = items[items.length - 1] as Record<string, AttributeValue>;
  const { partitionKey, sortKey, dueIndex } = TABLE_SCHEMA;
  const key = Object.fromEntries([partitionKey, sortKey, dueIndex.partitionKey, dueIndex.sortKey].map((k) => [k, last[k] as AttributeValue]));
  return { ...result, output: { ...output, Items: items, Count: items.length, LastEvaluatedKey: key } };
}

/** Small deterministic PRNG (mulberry32) so a failing run can be replayed by its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function retryable(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 500 }, $fault: "server", $retryable: {} });
}

/**
 * Makes a DynamoDB client behave as the real service may and DynamoDB Local never does: throttled
 * requests, writes applied but answered with an error (so the SDK sends them again), and index reads
 * that lag behind the table. Installed per attempt, inside the SDK's retry loop.
 */
export function injectFaults(client: DynamoDBClient, options: FaultOptions): FaultStats {
  const random = prng(options.seed);
  const stats: FaultStats = { throttled: 0, lostResponses: 0, staleReads: 0, invalidStartKeys: 0 };
  const previousAnswers = new Map<string, { atMs: number; answer: unknown }[]>();
  const staleInRow = new Map<string, number>();
  const maxStaleInRow = options.maxStaleInRow ?? 3;
  const now = options.now ?? (() => Date.now());
  const maxLagMs = options.maxLagMs ?? 2000;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? "";
      const input = args.input as Record<string, unknown>;
      if (random() < options.throttle) {
        stats.throttled++;
        throw retryable("InternalServerError", "injected: throttled before reaching DynamoDB");
      }
      if (command === "QueryCommand" && input.IndexName && input.ExclusiveStartKey && random() < (options.invalidStartKey ?? 0)) {
        stats.invalidStartKeys++;
        throw Object.assign(new Error("The provided starting key is invalid"), { name: "ValidationException", $metadata: { httpStatusCode: 400 }, $fault: "client" });
      }
      if (command === "QueryCommand" && input.IndexName) {
        // An earlier answer for the same lane and range start: the index as it was a moment ago.
        const values = input.ExpressionAttributeValues as Record<string, unknown> | undefined;
        const key = JSON.stringify([values?.[":lane"], values?.[":from"], input.ExclusiveStartKey, input.Select]);
        const history = (previousAnswers.get(key) ?? []).filter((h) => now() - h.atMs <= maxLagMs);
        const run = staleInRow.get(key) ?? 0;
        if (history.length > 0 && random() < options.staleIndex && run < maxStaleInRow) {
          stats.staleReads++;
          staleInRow.set(key, run + 1);
          return (history[Math.floor(random() * history.length)] as { answer: unknown }).answer as Awaited<ReturnType<typeof next>>;
        }
        const result = cutPage(await next(args), options.pageCut);
        staleInRow.delete(key);
        history.push({ atMs: now(), answer: result });
        if (history.length > 5) history.shift();
        previousAnswers.set(key, history);
        return result;
      }
      const result = await next(args);
      if (WRITES.has(command) && random() < options.lostResponse) {
        stats.lostResponses++;
        throw retryable("InternalServerError", "injected: write applied, response lost");
      }
      return result;
    },
    // Outside the deserializer (it hands back parsed answers, with their bodies read) and inside the retry loop.
    { step: "deserialize", name: "injectFaults", priority: "high" },
  );
  return stats;
}

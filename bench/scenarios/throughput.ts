import { randomUUID } from "node:crypto";
import { DeleteItemCommand, PutItemCommand, QueryCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { TABLE_SCHEMA } from "../../lambda/dynamo/schema.js";
import { type BenchContext, freshQueue } from "../lib/context.js";
import { median, pool, requestsPerMessage, round, sleep } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";

const BODY = "x".repeat(1024);

interface RawRates {
  put: number;
  query: number;
  conditionalUpdate: number;
  delete: number;
  /** Messages/s if each message needed one of each operation, each at its raw rate: 1 / Σ(1/rate). */
  boundPerSecond: number;
}

/**
 * The raw rate of this DynamoDB Local, at `concurrency` requests in flight, for the operations a message
 * needs: put (a 1 KB item carrying the due-index keys), query (one index lane, limit 10), conditional
 * update (the item exists), delete.
 */
export async function measureRaw(ctx: BenchContext, ops: number, concurrency: number): Promise<RawRates> {
  const q = await freshQueue(ctx);
  const { client, tableName } = q;
  const { partitionKey: PK, sortKey: SK } = TABLE_SCHEMA;
  const { name: INDEX, partitionKey: LANE, sortKey: DUE } = TABLE_SCHEMA.dueIndex;
  const ids: string[] = Array.from({ length: ops }, () => randomUUID());
  const lane = (i: number) => `raw#${i % 4}`;
  const timed = async (fn: (id: string, i: number) => Promise<unknown>) => {
    const t0 = performance.now();
    await pool(ids, concurrency, async (id, i) => {
      await fn(id, i);
    });
    return ops / ((performance.now() - t0) / 1000);
  };
  const put = await timed((id, i) =>
    client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          [PK]: { S: id },
          [SK]: { S: "B" },
          [LANE]: { S: lane(i) },
          [DUE]: { N: String(Date.now() + i) },
          body: { S: BODY },
        },
      }),
    ),
  );
  const query = await timed((_id, i) =>
    client.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: INDEX,
        KeyConditionExpression: "#lane = :lane",
        ExpressionAttributeNames: { "#lane": LANE },
        ExpressionAttributeValues: { ":lane": { S: lane(i) } },
        Limit: 10,
      }),
    ),
  );
  const conditionalUpdate = await timed((id) =>
    client.send(
      new UpdateItemCommand({
        TableName: tableName,
        Key: { [PK]: { S: id }, [SK]: { S: "B" } },
        ConditionExpression: "attribute_exists(#pk)",
        UpdateExpression: "SET st = :s",
        ExpressionAttributeNames: { "#pk": PK },
        ExpressionAttributeValues: { ":s": { S: "claimed" } },
      }),
    ),
  );
  const del = await timed((id) =>
    client.send(
      new DeleteItemCommand({
        TableName: tableName,
        Key: { [PK]: { S: id }, [SK]: { S: "B" } },
      }),
    ),
  );
  const boundPerSecond = 1 / (1 / put + 1 / query + 1 / conditionalUpdate + 1 / del);
  return { put, query, conditionalUpdate, delete: del, boundPerSecond };
}

interface QueueRun {
  messages: number;
  acked: number;
  seconds: number;
  requestsPerMessage: Record<string, number>;
  perSecond: number;
  errors: number;
}

/** N producers publish `messages` immediate 1 KB messages while N consumers consume (up to 16 a call) and ack; end to end. */
export async function measureQueue(ctx: BenchContext, messages: number, n: number, label: string): Promise<QueueRun> {
  const q = await freshQueue(ctx);
  const queue = q.runtime.queue;
  const topic = "throughput";
  const group = "g1";
  await queue.consume({ topic, group, waitSeconds: 0 });
  const bar = ctx.bar(label, messages);
  let acked = 0;
  let errors = 0;
  const seen = new Set<string>();
  const stop = new AbortController();
  q.meter.reset();
  const stopSweeper = q.startSweeper(ctx.sweepEveryMs);
  const t0 = performance.now();
  let tEnd = 0;
  const consumers = Array.from({ length: n }, async () => {
    while (!stop.signal.aborted) {
      try {
        const got = await queue.consume({ topic, group, max: 16, waitSeconds: 2 }, stop.signal);
        if (got.length === 0) continue;
        const result = await queue.ack({
          topic,
          group,
          receiptHandles: got.map((m) => m.receiptHandle),
        });
        for (const m of got) seen.add(m.messageId);
        acked += result.acked;
        bar.set(Math.min(seen.size, messages));
        if (seen.size >= messages && tEnd === 0) {
          tEnd = performance.now();
          stop.abort();
        }
      } catch {
        errors++;
        await sleep(20);
      }
    }
  });
  const perProducer = Array.from({ length: n }, (_, i) => Math.floor(messages / n) + (i < messages % n ? 1 : 0));
  await Promise.all(
    perProducer.map(async (count) => {
      for (let i = 0; i < count; i++) {
        try {
          await queue.publish({ topic, body: BODY, timing: { kind: "now" } });
        } catch {
          errors++;
          i--;
          await sleep(20);
        }
      }
    }),
  );
  const guard = setTimeout(() => stop.abort(), 600_000);
  await Promise.all(consumers);
  clearTimeout(guard);
  stopSweeper();
  bar.finish();
  const seconds = ((tEnd || performance.now()) - t0) / 1000;
  return {
    messages: seen.size,
    acked,
    seconds,
    perSecond: seen.size / seconds,
    errors,
    requestsPerMessage: requestsPerMessage(q.meter.snapshot(), messages),
  };
}

export async function throughputScenario(ctx: BenchContext): Promise<ScenarioResult> {
  // Each repetition moves 3 × 5,000 messages; two keep the full run near half an hour on 2 cores.
  const reps = ctx.quick ? ctx.reps : Math.min(ctx.reps, 2);
  const messages = ctx.quick ? 24 : 5000;
  const rawOps = ctx.quick ? 24 : 1500;
  const levels = [1, 4, 16];
  const byN: Record<string, unknown>[] = [];
  const rows: ScenarioResult["rows"] = [];
  let md =
    "| N | messages/s (median) | raw bound at N (msg/s) | ratio | put / query / cond. update / delete at N (ops/s) | DynamoDB requests per message (of which failed) |\n|---:|---:|---:|---:|---|---:|\n";
  for (const n of levels) {
    const runs: { queue: QueueRun; raw: RawRates; ratio: number }[] = [];
    for (let r = 0; r < reps; r++) {
      ctx.note(`  throughput N=${n} rep ${r + 1}/${reps}: raw DynamoDB Local rates`);
      const raw = await measureRaw(ctx, rawOps, n);
      const queue = await measureQueue(ctx, messages, n, `throughput N=${n} ${r + 1}/${reps}`);
      runs.push({ queue, raw, ratio: queue.perSecond / raw.boundPerSecond });
    }
    const rate = median(runs.map((x) => x.queue.perSecond));
    const bound = median(runs.map((x) => x.raw.boundPerSecond));
    const ratio = median(runs.map((x) => x.ratio));
    const m = (k: keyof RawRates) => round(median(runs.map((x) => x.raw[k])), 0);
    byN.push({
      n,
      messagesPerSecond: round(rate, 1),
      boundPerSecond: round(bound, 1),
      ratio: round(ratio, 3),
      raw: {
        put: m("put"),
        query: m("query"),
        conditionalUpdate: m("conditionalUpdate"),
        delete: m("delete"),
      },
      perRepetition: runs.map((x) => ({
        messages: x.queue.messages,
        acked: x.queue.acked,
        requestsPerMessage: x.queue.requestsPerMessage,
        seconds: round(x.queue.seconds, 2),
        perSecond: round(x.queue.perSecond, 1),
        errors: x.queue.errors,
        bound: round(x.raw.boundPerSecond, 1),
        ratio: round(x.ratio, 3),
      })),
    });
    const perMsg = (pick: (op: string) => boolean) =>
      round(median(runs.map((x) => Object.entries(x.queue.requestsPerMessage).reduce((t, [op, v]) => (pick(op) ? t + v : t), 0))), 2);
    const total = perMsg(() => true);
    const failed = perMsg((op) => op.endsWith(":failed"));
    md += `| ${n} | ${round(rate, 1)} | ${round(bound, 1)} | ${(ratio * 100).toFixed(0)} % | ${m("put")} / ${m("query")} / ${m("conditionalUpdate")} / ${m("delete")} | ${total} (${failed}) |\n`;
    rows.push({
      scenario: "throughput",
      metric: `N=${n}: msg/s, share of raw bound`,
      target: n === 16 ? "≥ 50 % of bound" : "—",
      measured: `${round(rate, 1)} msg/s, ${(ratio * 100).toFixed(0)} % of ${round(bound, 1)}`,
      pass: n === 16 ? ratio >= 0.5 : null,
    });
  }
  return {
    name: "throughput",
    title: "Throughput",
    method: `${messages} immediate 1 KB messages published by N producers while N consumers consume (up to 16 per call, long poll 2 s) and ack each batch, in-process, end to end (first publish → last ack). The raw bound is measured right before each repetition on the same DynamoDB Local at N requests in flight (${rawOps} of each operation: put of a 1 KB indexed item, index query, conditional update, delete): bound = 1 / Σ(1/rate). Ratio = median over repetitions of (our rate / that repetition's bound).`,
    repetitions: reps,
    rows,
    data: { messages, rawOps, levels: byN },
    markdown: md,
  };
}

import { randomUUID } from "node:crypto";
import { ConditionalCheckFailedException, type DynamoDBClient, PutItemCommand, UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { TABLE_SCHEMA } from "../../lambda/dynamo/schema.js";
import { type BenchContext, type BenchQueue, freshTable, queueOn } from "../lib/context.js";
import { median, mergeSnapshots, requestsPerMessage, round, sleep } from "../lib/stats.js";
import type { ScenarioResult, TargetRow } from "../lib/types.js";

const BODY = "x".repeat(1024);
export const RATIO_TARGET = 1.2;
export const BOUND_SHARE_TARGET = 0.5;

/** Where the N consumers live: one runtime shared by all, or a runtime (store, DynamoDB client) each. */
export const VARIANTS = {
  shared: "one runtime (one process)",
  separate: "a runtime, store and DynamoDB client each",
} as const;
export type Variant = keyof typeof VARIANTS;

/** A small async FIFO: producers push, consumers wait for the next item. */
class Channel<T> {
  private readonly items: T[] = [];
  private readonly waiting: ((v: T | undefined) => void)[] = [];
  private closed = false;
  push(item: T): void {
    const w = this.waiting.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w(undefined);
  }
  next(): Promise<T | undefined> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((r) => this.waiting.push(r));
  }
}

/**
 * The raw bound: DynamoDB Local doing only the three writes a message's life needs, shaped as the queue
 * runs them — N producers put a 1 KB item carrying the due-index keys (publish), N consumers take each
 * one with a conditional put of a small indexed item (claim) and a conditional update that takes it out
 * of the index (ack). No reads, no leases. Messages per second, first put to last update.
 */
export async function measureRaw(client: DynamoDBClient, tableName: string, messages: number, n: number): Promise<{ perSecond: number; seconds: number }> {
  const { partitionKey: PK, sortKey: SK } = TABLE_SCHEMA;
  const { partitionKey: LANE, sortKey: DUE } = TABLE_SCHEMA.dueIndex;
  const run = randomUUID().slice(0, 8);
  const channel = new Channel<string>();
  const perProducer = Array.from({ length: n }, (_, i) => Math.floor(messages / n) + (i < messages % n ? 1 : 0));
  const retry = async (fn: () => Promise<unknown>) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException || attempt >= 5) throw error;
        await sleep(20);
      }
    }
  };
  const t0 = performance.now();
  const producers = perProducer.map(async (count, p) => {
    for (let i = 0; i < count; i++) {
      const id = `${run}-${p}-${i}`;
      await retry(() =>
        client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { [PK]: { S: `RAW#${id}` }, [SK]: { S: "M" }, [LANE]: { S: `RAW#${run}#${i % 2}` }, [DUE]: { N: String(Date.now()) }, body: { S: BODY } },
            ConditionExpression: "attribute_not_exists(#pk)",
            ExpressionAttributeNames: { "#pk": PK },
          }),
        ),
      );
      channel.push(id);
    }
  });
  const consumers = Array.from({ length: n }, async () => {
    for (;;) {
      const id = await channel.next();
      if (id === undefined) return;
      const key = { [PK]: { S: `RAW#${id}` }, [SK]: { S: "D#g" } };
      await retry(() =>
        client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { ...key, [LANE]: { S: `RAWG#${run}` }, [DUE]: { N: String(Date.now() + 30_000) }, st: { S: "a" }, rcpt: { S: id } },
            ConditionExpression: "attribute_not_exists(#pk)",
            ExpressionAttributeNames: { "#pk": PK },
          }),
        ),
      );
      await retry(() =>
        client.send(
          new UpdateItemCommand({
            TableName: tableName,
            Key: key,
            ConditionExpression: "st = :a AND rcpt = :r",
            UpdateExpression: "SET st = :k REMOVE #lane",
            ExpressionAttributeNames: { "#lane": LANE },
            ExpressionAttributeValues: { ":a": { S: "a" }, ":r": { S: id }, ":k": { S: "k" } },
          }),
        ),
      );
    }
  });
  await Promise.all(producers);
  channel.close();
  await Promise.all(consumers);
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: messages / seconds, seconds };
}

export interface QueueRun {
  messages: number;
  acked: number;
  seconds: number;
  perSecond: number;
  requests: number;
  requestsPerMessage: number;
  failedConditions: number;
  byOperation: Record<string, number>;
  errors: number;
}

/**
 * N producers publish `messages` immediate 1 KB messages while N consumers consume (up to 16 a call,
 * long poll) and ack, end to end; lingering leases (the local runtime). Requests are every meter's
 * (publisher's and consumers').
 */
export async function measureQueue(ctx: BenchContext, tableName: string, topic: string, messages: number, n: number, variant: Variant, label: string): Promise<QueueRun> {
  const publisher = queueOn(ctx, tableName);
  const consumerQueues: BenchQueue[] = variant === "shared" ? [publisher] : Array.from({ length: n }, () => queueOn(ctx, tableName));
  const all = variant === "shared" ? [publisher] : [publisher, ...consumerQueues];
  const group = "g1";
  // Registers the group, then lets go of the leases that first consume took (they would linger 2 s).
  await publisher.runtime.queue.consume({ topic, group, waitSeconds: 0 });
  await publisher.runtime.queue.close();
  const bar = ctx.bar(label, messages);
  let acked = 0;
  let errors = 0;
  const seen = new Set<string>();
  const stop = new AbortController();
  for (const q of all) q.meter.reset();
  const stopSweeper = publisher.startSweeper(ctx.sweepEveryMs);
  const t0 = performance.now();
  let tEnd = 0;
  const consumers = Array.from({ length: n }, async (_, i) => {
    const queue = (consumerQueues[i % consumerQueues.length] as BenchQueue).runtime.queue;
    while (!stop.signal.aborted) {
      try {
        const got = await queue.consume({ topic, group, max: 16, waitSeconds: 5 }, stop.signal);
        if (got.length === 0) continue;
        const result = await queue.ack({ topic, group, receiptHandles: got.map((m) => m.receiptHandle) });
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
  const queue = publisher.runtime.queue;
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
  const seconds = ((tEnd || performance.now()) - t0) / 1000;
  // Counted up to the last ack; the leases' final release belongs to the end of use, not to the messages.
  const snapshots = all.map((q) => q.meter.snapshot());
  await Promise.all(all.map((q) => q.runtime.queue.close()));
  bar.finish();
  const merged = mergeSnapshots(snapshots);
  const requests = Object.values(merged).reduce((t, c) => t + c.requests, 0);
  const failedConditions = Object.values(merged).reduce((t, c) => t + c.failedConditions, 0);
  return {
    messages: seen.size,
    acked,
    seconds,
    perSecond: seen.size / seconds,
    requests,
    requestsPerMessage: requests / Math.max(1, seen.size),
    failedConditions,
    byOperation: requestsPerMessage(merged, seen.size),
    errors,
  };
}

export async function throughputScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const reps = ctx.reps;
  const messages = ctx.quick ? 16 : 2000;
  const levels = ctx.quick ? [1, 4] : [1, 4, 16];
  const { client, tableName } = await freshTable(ctx);
  type Rep = { raw: number; runs: Record<Variant, QueueRun> };
  const byN = new Map<number, Rep[]>();
  let k = 0;
  // Side by side: in each repetition every level and variant runs right after its raw bound.
  for (let r = 0; r < reps; r++) {
    for (const n of levels) {
      ctx.note(`  throughput N=${n} rep ${r + 1}/${reps}: raw DynamoDB Local bound`);
      const raw = await measureRaw(client, tableName, messages, n);
      const runs = {} as Record<Variant, QueueRun>;
      for (const variant of ["shared", "separate"] as const)
        runs[variant] = await measureQueue(ctx, tableName, `throughput-${k++}`, messages, n, variant, `N=${n} ${variant} ${r + 1}/${reps}`);
      const list = byN.get(n) ?? [];
      list.push({ raw: raw.perSecond, runs });
      byN.set(n, list);
    }
  }
  const rows: TargetRow[] = [];
  const levelData: Record<string, unknown>[] = [];
  let md =
    "| N | consumers in | messages/s | raw bound (msg/s) | share of bound | DynamoDB requests/msg | × N=1's | failed conditional writes/msg | requests/msg by operation (median run) |\n|---:|---|---:|---:|---:|---:|---:|---:|---|\n";
  const base: Record<Variant, number> = { shared: Number.NaN, separate: Number.NaN };
  for (const n of levels) {
    const list = byN.get(n) ?? [];
    const bound = median(list.map((x) => x.raw));
    const entry: Record<string, unknown> = { n, rawBoundPerSecond: round(bound, 1), rawPerRepetition: list.map((x) => round(x.raw, 1)) };
    for (const variant of ["shared", "separate"] as const) {
      const runs = list.map((x) => x.runs[variant]);
      const rate = median(runs.map((x) => x.perSecond));
      const share = median(list.map((x) => x.runs[variant].perSecond / x.raw));
      const reqs = median(runs.map((x) => x.requestsPerMessage));
      const failed = median(runs.map((x) => x.failedConditions / Math.max(1, x.messages)));
      if (n === 1) base[variant] = reqs;
      // Ratios side by side: each repetition's N against the same repetition's N=1.
      const ratios = list.map((x, i) => x.runs[variant].requestsPerMessage / ((byN.get(1)?.[i]?.runs[variant].requestsPerMessage ?? Number.NaN) || Number.NaN));
      const ratio = median(ratios);
      const mid = [...runs].sort((a, b) => a.requestsPerMessage - b.requestsPerMessage)[Math.floor(runs.length / 2)];
      entry[variant] = {
        messagesPerSecond: round(rate, 1),
        shareOfBound: round(share, 3),
        requestsPerMessage: round(reqs, 3),
        ratioToN1: round(ratio, 3),
        ratiosPerRepetition: ratios.map((x) => round(x, 3)),
        failedPerMessage: round(failed, 4),
        perRepetition: runs.map((x) => ({ ...x, seconds: round(x.seconds, 2), perSecond: round(x.perSecond, 1), requestsPerMessage: round(x.requestsPerMessage, 3) })),
      };
      md += `| ${n} | ${VARIANTS[variant]} | ${round(rate, 1)} | ${round(bound, 1)} | ${(share * 100).toFixed(0)} % | ${round(reqs, 2)} | ${n === 1 ? "1" : round(ratio, 2)} | ${round(failed, 3)} | ${mid ? Object.entries(mid.byOperation).map(([op, v]) => `${op} ${v}`).join(", ") : ""} |\n`;
      if (n !== 1)
        rows.push({
          scenario: "throughput",
          metric: `N=${n}, ${VARIANTS[variant]}: requests/msg vs N=1 (${round(reqs, 2)} vs ${round(base[variant], 2)})`,
          target: `≤ ${RATIO_TARGET} ×`,
          measured: `${round(ratio, 2)} ×`,
          pass: ratio <= RATIO_TARGET,
        });
      const top = n === Math.max(...levels);
      rows.push({
        scenario: "throughput",
        metric: `N=${n}, ${VARIANTS[variant]}: msg/s, share of raw bound`,
        target: top ? `≥ ${BOUND_SHARE_TARGET * 100} % of bound` : "—",
        measured: `${round(rate, 1)} msg/s, ${(share * 100).toFixed(0)} % of ${round(bound, 1)}`,
        pass: top ? share >= BOUND_SHARE_TARGET : null,
      });
    }
    levelData.push(entry);
  }
  return {
    name: "throughput",
    title: "Throughput",
    method: `${messages} immediate 1 KB messages published by N producers (POST …/messages, one at a time each) while N consumers long-poll (up to 16 per call, waitSeconds 5) and ack each batch, end to end (first publish → last ack), lingering leases as in the local runtime, the sweeper every 5 s. The N consumers share one runtime (one process), or have a runtime, DynamoStore and DynamoDB client each (as separate processes would, on one event loop). Requests per message are every meter's (publisher and consumers). The raw bound is measured right before the level's runs in each repetition, on the same DynamoDB Local and table: N producers put a 1 KB indexed item, N consumers conditionally put a small indexed item and conditionally update it out of the index — the three writes of a message's life, no reads, no leases. Share = median over repetitions of (our rate / that repetition's bound); the request ratio = median over repetitions of (requests/msg at N / the same repetition's at N=1). ${reps} repetitions.`,
    repetitions: reps,
    rows,
    data: { messages, levels: levelData },
    markdown: md,
  };
}

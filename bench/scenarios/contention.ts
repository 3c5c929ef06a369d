import type { OperationCost } from "../../lambda/dynamo/capacity.js";
import { skipsAck, type WorkerDelivery } from "../lib/consumer-worker.js";
import { type BenchContext, LEASE_MODES, type LeaseMode, freshTable, queueOn } from "../lib/context.js";
import { ConsumerProcesses, type WorkerResult } from "../lib/processes.js";
import { median, pool, round, sleep } from "../lib/stats.js";
import type { ScenarioResult, TargetRow } from "../lib/types.js";

export const FAILED_PER_MESSAGE_TARGET = 0.3;

interface ContentionShape {
  processes: number;
  messages: number;
  maxDelayMs: number;
  visibilitySeconds: number;
  /** One message in this many is left unacked at its first delivery (it must come back, after its visibility). */
  skipAckEvery: number;
}

interface ContentionRun {
  mode: LeaseMode;
  published: number;
  delivered: number;
  lost: number;
  deliveries: number;
  /** Deliveries beyond a message's first. */
  duplicates: number;
  /** Redeliveries of a message left unacked, at or after its previous delivery's visibility ended (expected). */
  afterVisibility: number;
  /** Redeliveries before the previous delivery's visibility ended, or after an ack: must be none. */
  early: number;
  afterAck: number;
  /** Messages left unacked once by design. */
  leftUnacked: number;
  /** Of those, how many came back (and were acked then). */
  leftUnackedReturned: number;
  failedConditions: number;
  failedPerMessage: number;
  failedByOperation: Record<string, number>;
  requestsPerMessage: number;
  /** Requests per message by store operation, over every consumer process. */
  byOperation: Record<string, number>;
  /** Messages (first deliveries) per process. */
  perProcess: number[];
  seconds: number;
  perSecond: number;
  errors: number;
  firstError?: string;
}

function shapeOf(ctx: BenchContext): ContentionShape {
  return ctx.quick
    ? { processes: 3, messages: 32, maxDelayMs: 300, visibilitySeconds: 2, skipAckEvery: 0 }
    : { processes: 8, messages: 2000, maxDelayMs: 2000, visibilitySeconds: 3, skipAckEvery: 25 };
}

async function runOnce(ctx: BenchContext, procs: ConsumerProcesses, tableName: string, topic: string, mode: LeaseMode, shape: ContentionShape): Promise<ContentionRun> {
  const publisher = queueOn(ctx, tableName, LEASE_MODES.lingering);
  const queue = publisher.runtime.queue;
  const group = "g1";
  // Registers the group before anything is published (a group receives what is due from its registration on).
  await queue.consume({ topic, group, waitSeconds: 0 });
  await queue.close();
  const history = new Map<string, WorkerDelivery[]>();
  const firstBy = new Map<string, number>();
  const published = new Set<string>();
  let ackedIds = 0;
  const bar = ctx.bar(`contention ${mode}`, shape.messages);
  let allAcked: () => void = () => {};
  const finished = new Promise<void>((r) => {
    allAcked = r;
  });
  const isDone = (items: WorkerDelivery[] | undefined) => items?.some((d) => d.acked) ?? false;
  const handle = await procs.run(
    {
      endpoint: ctx.endpoint,
      tableName,
      topic,
      group,
      overrides: LEASE_MODES[mode],
      max: 16,
      waitSeconds: 20,
      visibilitySeconds: shape.visibilitySeconds,
      skipAckEvery: shape.skipAckEvery,
    },
    (items, processIndex) => {
      for (const d of items) {
        const list = history.get(d.id) ?? [];
        const wasDone = isDone(list);
        list.push(d);
        history.set(d.id, list);
        if (list.length === 1) {
          firstBy.set(d.id, processIndex);
          bar.set(history.size);
        }
        if (!wasDone && d.acked) ackedIds++;
      }
      if (published.size >= shape.messages && ackedIds >= shape.messages) allAcked();
    },
  );
  const t0 = performance.now();
  const batches = Array.from({ length: Math.ceil(shape.messages / 16) }, (_, i) => Math.min(16, shape.messages - i * 16));
  await pool(batches, 2, async (n) => {
    const out = await queue.publishBatch(
      Array.from({ length: n }, (_, j) => ({
        topic,
        body: `contention message ${j}`,
        timing: { kind: "delay" as const, delayMs: Math.floor(Math.random() * (shape.maxDelayMs + 1)), source: "bench" },
      })),
    );
    for (const o of out) if (o.ok) published.add(o.result.messageId);
  });
  if (ackedIds >= shape.messages) allAcked();
  await Promise.race([finished, sleep(shape.maxDelayMs + shape.visibilitySeconds * 1000 + 120_000)]);
  const seconds = (performance.now() - t0) / 1000;
  // A moment more: a redelivery of something acked (which must not happen) would show here.
  await sleep(ctx.quick ? 100 : 1000);
  const results: WorkerResult[] = await handle.stop();
  bar.finish();

  let deliveries = 0;
  let duplicates = 0;
  let afterVisibility = 0;
  let early = 0;
  let afterAck = 0;
  for (const list of history.values()) {
    deliveries += list.length;
    duplicates += list.length - 1;
    const sorted = [...list].sort((a, b) => a.consumedTimes - b.consumedTimes || a.receivedAtMs - b.receivedAtMs);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as WorkerDelivery;
      const next = sorted[i] as WorkerDelivery;
      if (prev.acked) afterAck++;
      else if (next.receivedAtMs >= prev.nextVisibleAtMs && next.consumedTimes === prev.consumedTimes + 1) afterVisibility++;
      else early++;
    }
  }
  const total: OperationCost = { requests: 0, readUnits: 0, writeUnits: 0, billedWriteUnits: 0, failedConditions: 0 };
  const byOperation: Record<string, number> = {};
  const failedByOperation: Record<string, number> = {};
  for (const r of results)
    for (const [op, c] of Object.entries(r.meter)) {
      total.requests += c.requests;
      total.failedConditions += c.failedConditions;
      byOperation[op] = (byOperation[op] ?? 0) + c.requests;
      if (c.failedConditions > 0) failedByOperation[op] = (failedByOperation[op] ?? 0) + c.failedConditions;
    }
  const delivered = [...published].filter((id) => history.has(id)).length;
  const perProcess = Array.from({ length: shape.processes }, (_, i) => [...firstBy.values()].filter((p) => p === i).length);
  const per = (n: number) => round(n / Math.max(1, delivered), 3);
  const firstError = results.find((r) => r.firstError)?.firstError;
  return {
    mode,
    published: published.size,
    delivered,
    lost: published.size - delivered,
    deliveries,
    duplicates,
    afterVisibility,
    early,
    afterAck,
    leftUnacked: [...published].filter((id) => skipsAck(id, shape.skipAckEvery, 1)).length,
    leftUnackedReturned: [...published].filter((id) => skipsAck(id, shape.skipAckEvery, 1) && (history.get(id)?.length ?? 0) > 1).length,
    failedConditions: total.failedConditions,
    failedPerMessage: per(total.failedConditions),
    failedByOperation: Object.fromEntries(Object.entries(failedByOperation).map(([k, v]) => [k, per(v)])),
    requestsPerMessage: per(total.requests),
    byOperation: Object.fromEntries(Object.entries(byOperation).map(([k, v]) => [k, per(v)])),
    perProcess,
    seconds: round(seconds, 2),
    perSecond: round(delivered / seconds, 1),
    errors: results.reduce((n, r) => n + r.errors, 0),
    ...(firstError !== undefined && { firstError }),
  };
}

/** 8 consumers of one group, each in a `node` process of its own with its own runtime, store and DynamoDB client. */
export async function contentionScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const shape = shapeOf(ctx);
  const reps = ctx.reps;
  ctx.note(`  starting ${shape.processes} consumer processes`);
  const procs = await ConsumerProcesses.start(shape.processes);
  const runs: ContentionRun[] = [];
  try {
    const { tableName } = await freshTable(ctx);
    let i = 0;
    for (let r = 0; r < reps; r++)
      for (const mode of ["lingering", "lambda", "release"] as const) runs.push(await runOnce(ctx, procs, tableName, `contention-${i++}`, mode, shape));
  } finally {
    await procs.close();
  }
  const rows: TargetRow[] = [];
  const summary: Record<string, unknown> = {};
  let md = "| lease mode | repetition | delivered / published | deliveries | left unacked: came back / all | redeliveries after their visibility | early or after-ack redeliveries | failed conditional writes / msg | requests / msg | msg/s | first deliveries per process |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const mode of ["lingering", "lambda", "release"] as const) {
    const mine = runs.filter((r) => r.mode === mode);
    const failed = round(median(mine.map((r) => r.failedPerMessage)), 3);
    const requests = round(median(mine.map((r) => r.requestsPerMessage)), 2);
    const lost = mine.reduce((n, r) => n + r.lost, 0);
    const bad = mine.reduce((n, r) => n + r.early + r.afterAck, 0);
    const redelivered = mine.reduce((n, r) => n + r.afterVisibility, 0);
    const unacked = mine.reduce((n, r) => n + r.leftUnacked, 0);
    const returned = mine.reduce((n, r) => n + r.leftUnackedReturned, 0);
    const label = mode === "lambda" ? "Lambda leases (linger 0, keep 1 s)" : mode === "release" ? "Lambda leases, LEASE_KEEP_MS 0 (released each call)" : "lingering leases (local runtime)";
    summary[mode] = { failedPerMessage: failed, requestsPerMessage: requests, lost, earlyOrAfterAck: bad, redeliveredAfterVisibility: redelivered, leftUnacked: unacked, leftUnackedReturned: returned };
    rows.push(
      {
        scenario: "contention",
        metric: `${shape.processes} processes, ${label}: failed conditional writes per delivered message`,
        target: `≤ ${FAILED_PER_MESSAGE_TARGET}`,
        measured: `${failed} (${requests} requests/msg)`,
        pass: failed <= FAILED_PER_MESSAGE_TARGET,
      },
      {
        scenario: "contention",
        metric: `${shape.processes} processes, ${label}: lost / redelivered early or after ack`,
        target: "0 / 0",
        measured: `${lost} / ${bad} (${returned} of ${unacked} left unacked came back; ${redelivered} redeliveries in all, each after its visibility)`,
        pass: lost === 0 && bad === 0 && returned === unacked,
      },
    );
    mine.forEach((r, k) => {
      md += `| ${label} | ${k + 1} | ${r.delivered} / ${r.published} | ${r.deliveries} | ${r.leftUnackedReturned} / ${r.leftUnacked} | ${r.afterVisibility} | ${r.early + r.afterAck} | ${r.failedPerMessage} | ${r.requestsPerMessage} | ${r.perSecond} | ${r.perProcess.join(", ")} |\n`;
    });
  }
  md += "\nFailed conditional writes per delivered message, by operation (median run of each mode):\n\n";
  for (const mode of ["lingering", "lambda", "release"] as const) {
    const mine = runs.filter((r) => r.mode === mode).sort((a, b) => a.failedPerMessage - b.failedPerMessage);
    const mid = mine[Math.floor(mine.length / 2)];
    if (mid) md += `- ${mode}: ${Object.entries(mid.failedByOperation).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}; requests by operation: ${Object.entries(mid.byOperation).map(([k, v]) => `${k} ${v}`).join(", ")}\n`;
  }
  return {
    name: "contention",
    title: "Consumers in separate processes",
    method: `${shape.processes} consumers of one group, each a \`node\` child process of its own (bench/lib/consumer-worker.ts, bundled by esbuild) with its own runtime, DynamoStore, DynamoDB client and CapacityMeter on one table of the run's DynamoDB Local; each long-polls (waitSeconds 20, max 16, visibility ${shape.visibilitySeconds} s) and acks each batch in one call${shape.skipAckEvery > 0 ? `, except the first delivery of one message in ${shape.skipAckEvery} (by id), which it leaves unacked so that it comes back` : ""}. The parent publishes ${shape.messages} messages in batches of 16 (2 in flight), delays uniform in 0–${shape.maxDelayMs / 1000} s, and waits until every message has an acked delivery. Failed conditional writes are counted by every process's meter (lost lease acquisitions, claims, acks) and divided by the messages delivered. A redelivery is correct only after the previous delivery's visibility ended (receive time ≥ its nextVisibleAt, the count one higher) and never after an ack; besides the messages left unacked on purpose, a redelivery happens when an ack comes after the visibility ran out (a busy machine). Three lease modes (lingering; Lambda as deployed, LEASE_KEEP_MS 1000; Lambda with LEASE_KEEP_MS 0), ${reps} repetitions each, alternating; medians reported.`,
    repetitions: reps,
    rows,
    data: { shape, runs, summary },
    markdown: md,
  };
}

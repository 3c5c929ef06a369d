import { WORK_SHARDS } from "../../core/sweeper.js";
import { type BenchContext, type BenchQueue, freshQueue } from "../lib/context.js";
import { billedReadUnits, median, round } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";

/** Requests per minute of one consumer long-polling an empty group, over a real interval. */
async function idleConsumer(
  ctx: BenchContext,
  seconds: number,
  label: string,
): Promise<{
  requests: number;
  seconds: number;
  perMinute: number;
  byOperation: Record<string, number>;
}> {
  const q = await freshQueue(ctx);
  const queue = q.runtime.queue;
  await queue.consume({ topic: "idle", group: "g1", waitSeconds: 0 });
  q.meter.reset();
  const stop = new AbortController();
  const bar = ctx.bar(label, seconds);
  const ticker = setInterval(() => bar.tick(), 1000);
  const t0 = performance.now();
  const timer = setTimeout(() => stop.abort(), seconds * 1000);
  while (!stop.signal.aborted) await queue.consume({ topic: "idle", group: "g1", waitSeconds: 20 }, stop.signal);
  const elapsed = (performance.now() - t0) / 1000;
  clearTimeout(timer);
  clearInterval(ticker);
  bar.finish();
  const snap = q.meter.snapshot();
  const requests = q.meter.total().requests;
  await queue.close();
  return {
    requests,
    seconds: round(elapsed, 2),
    perMinute: round((requests / elapsed) * 60, 1),
    byOperation: Object.fromEntries(Object.entries(snap).map(([k, v]) => [k, v.requests])),
  };
}

interface SweepCost {
  requests: number;
  /** As the service bills them (at least 0.5 per eventually consistent query); DynamoDB Local reports 0 for a query that finds nothing. */
  readUnits: number;
  localReadUnits: number;
  billedWriteUnits: number;
  byOperation: Record<string, number>;
}

/** One sweeper run's DynamoDB cost, counted by the meter. */
async function sweepCost(q: BenchQueue): Promise<SweepCost> {
  q.meter.reset();
  await q.runtime.queue.sweep();
  const t = q.meter.total();
  return {
    requests: t.requests,
    readUnits: billedReadUnits(q.meter.snapshot()),
    localReadUnits: t.readUnits,
    billedWriteUnits: t.billedWriteUnits,
    byOperation: Object.fromEntries(Object.entries(q.meter.snapshot()).map(([k, v]) => [k, v.requests])),
  };
}

/**
 * `count` idle topics, each registered (listed) with one group that consumed once — its cursors exist,
 * released, with nothing for the sweeper — stored straight through the store, 64 topics in flight.
 */
async function seedIdleTopics(ctx: BenchContext, q: BenchQueue, count: number): Promise<{ seconds: number }> {
  const store = q.store;
  const shards = q.runtime.config.shards;
  const bar = ctx.bar(`${count} idle topics`, count);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < count) {
        const i = next++;
        const topic = `idle-${i}`;
        const nowMs = Date.now();
        await store.registerTopic(topic);
        const group = await store.registerGroup(topic, { group: "g1", gen: `gen${i}`, startMs: 0, createdAtMs: nowMs, settings: {} });
        for (let shard = 0; shard < shards; shard++) {
          const key = { topic, group: "g1", gen: group.gen, shard };
          const out = await store.acquireLease(key, "seed", nowMs, nowMs + 10_000, { dueAtMs: -1, messageId: "" });
          if (out.ok) await store.saveLease(key, "seed", { pos: out.lease.pos, recent: 0, passed: [] });
        }
        if (i % 100 === 0) bar.set(i);
      }
    }),
  );
  bar.finish();
  return { seconds: (performance.now() - t0) / 1000 };
}

export async function idleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const seconds = ctx.quick ? 2 : 20;
  const idleTopics = ctx.quick ? 100 : 10_000;
  const runs = [];
  for (let r = 0; r < ctx.reps; r++) runs.push(await idleConsumer(ctx, seconds, `idle consumer ${r + 1}/${ctx.reps}`));
  const perMinute = median(runs.map((x) => x.perMinute));
  const mid = [...runs].sort((a, b) => a.perMinute - b.perMinute)[Math.floor(runs.length / 2)];
  const byOp = mid ? Object.entries(mid.byOperation).map(([op, n]) => `${op} ${round((n / mid.seconds) * 60, 0)}`).join(", ") : "";

  const empty = await freshQueue(ctx);
  const oneTopic = await freshQueue(ctx);
  await oneTopic.runtime.queue.consume({ topic: "idle", group: "g1", waitSeconds: 0 });
  await oneTopic.runtime.queue.close();
  const many = await freshQueue(ctx);
  const seeded = await seedIdleTopics(ctx, many, idleTopics);
  const sweeps = { empty: [] as SweepCost[], oneTopic: [] as SweepCost[], many: [] as SweepCost[] };
  for (let r = 0; r < ctx.reps; r++) {
    sweeps.empty.push(await sweepCost(empty));
    sweeps.oneTopic.push(await sweepCost(oneTopic));
    sweeps.many.push(await sweepCost(many));
  }
  const med = (list: SweepCost[]) => ({
    requests: median(list.map((x) => x.requests)),
    readUnits: round(median(list.map((x) => x.readUnits)), 2),
    localReadUnits: round(median(list.map((x) => x.localReadUnits)), 2),
    billedWriteUnits: round(median(list.map((x) => x.billedWriteUnits)), 2),
    byOperation: list[0]?.byOperation ?? {},
  });
  const e = med(sweeps.empty);
  const o = med(sweeps.oneTopic);
  const m = med(sweeps.many);
  const constant = WORK_SHARDS;
  const text = (c: ReturnType<typeof med>) => `${c.requests} requests, ${c.readUnits} RCU, ${c.billedWriteUnits} WCU per run`;
  const perMonth = (c: ReturnType<typeof med>) => `${round((c.requests * 43_200) / 1000, 1)}k requests and ${round((c.readUnits * 43_200) / 1000, 1)}k RCU a month on AWS`;
  return {
    name: "idle",
    title: "Idle load",
    method: `One consumer long-polling (waitSeconds 20, re-polling at once) an empty group for ${seconds} s of wall time, ${ctx.reps} repetitions, requests counted by the CapacityMeter (no sweeper running). The sweeper's cost is one run counted by the meter (requests; read units as billed, at least 0.5 per eventually consistent query, where DynamoDB Local reports 0 for a query that finds nothing; write units billed), median of ${ctx.reps} runs, on an empty table, on a table with one topic whose group consumed once, and on a table with ${idleTopics} idle topics (each registered with one group that consumed once: a group record and ${many.runtime.config.shards} released cursors, nothing due; seeded in ${round(seeded.seconds, 1)} s). On AWS it runs once a minute (EventBridge Scheduler), under \`npm start\` every 5 s.`,
    repetitions: ctx.reps,
    rows: [
      {
        scenario: "idle",
        metric: "idle consumer, requests/min",
        target: "≤ 300",
        measured: `${perMinute} (${byOp})`,
        pass: perMinute <= 300,
      },
      {
        scenario: "idle",
        metric: "sweeper per run, empty table",
        target: "—",
        measured: text(e),
        pass: null,
      },
      {
        scenario: "idle",
        metric: "sweeper per run, 1 idle topic with a group",
        target: "—",
        measured: text(o),
        pass: null,
      },
      {
        scenario: "idle",
        metric: `sweeper per run, ${idleTopics} idle topics with a group each`,
        target: `a constant: ${constant} work-index queries (one per work shard), = empty table`,
        measured: `${text(m)} (${perMonth(m)})`,
        pass: m.requests === constant && m.requests === e.requests && m.billedWriteUnits === 0,
      },
    ],
    data: {
      seconds,
      consumerRuns: runs,
      consumerPerMinute: perMinute,
      sweeper: { workShards: WORK_SHARDS, idleTopics, seedSeconds: round(seeded.seconds, 1), emptyTable: e, oneTopicOneGroup: o, idleTopicsTable: m, runs: sweeps },
    },
  };
}

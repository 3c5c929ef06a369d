import { type BenchContext, freshQueue } from "../lib/context.js";
import { median, round } from "../lib/stats.js";
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
  return {
    requests,
    seconds: round(elapsed, 2),
    perMinute: round((requests / elapsed) * 60, 1),
    byOperation: Object.fromEntries(Object.entries(snap).map(([k, v]) => [k, v.requests])),
  };
}

/** DynamoDB requests of one sweeper run, counted by the meter. */
async function sweepRequests(ctx: BenchContext, withTopic: boolean): Promise<Record<string, number>> {
  const q = await freshQueue(ctx);
  if (withTopic)
    await q.runtime.queue.consume({
      topic: "idle",
      group: "g1",
      waitSeconds: 0,
    });
  q.meter.reset();
  await q.runtime.queue.sweep();
  return Object.fromEntries(Object.entries(q.meter.snapshot()).map(([k, v]) => [k, v.requests]));
}

export async function idleScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const seconds = ctx.quick ? 2 : 20;
  const runs = [];
  for (let r = 0; r < ctx.reps; r++) runs.push(await idleConsumer(ctx, seconds, `idle consumer ${r + 1}/${ctx.reps}`));
  const perMinute = median(runs.map((x) => x.perMinute));
  const emptyTable = await sweepRequests(ctx, false);
  const oneTopic = await sweepRequests(ctx, true);
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const emptyPerRun = sum(emptyTable);
  const topicPerRun = sum(oneTopic);
  return {
    name: "idle",
    title: "Idle load",
    method: `One consumer long-polling (waitSeconds 20, re-polling at once) an empty group for ${seconds} s of wall time, ${ctx.reps} repetitions, requests counted by the CapacityMeter (no sweeper running). The sweeper's requests are counted per run by the meter and multiplied by its cadence: once a minute on AWS (EventBridge Scheduler), every 5 s under \`npm start\`.`,
    repetitions: ctx.reps,
    rows: [
      {
        scenario: "idle",
        metric: "idle consumer, requests/min",
        target: "≤ 300",
        measured: String(perMinute),
        pass: perMinute <= 300,
      },
      {
        scenario: "idle",
        metric: "sweeper, empty table, requests/min",
        target: "—",
        measured: `${emptyPerRun} (AWS, 1 run/min); ${emptyPerRun * 12} locally`,
        pass: null,
      },
      {
        scenario: "idle",
        metric: "sweeper, 1 idle topic + group, requests/min",
        target: "—",
        measured: `${topicPerRun} (AWS); ${topicPerRun * 12} locally`,
        pass: null,
      },
    ],
    data: {
      seconds,
      consumerRuns: runs,
      consumerPerMinute: perMinute,
      sweeper: {
        emptyTable,
        oneTopicOneGroup: oneTopic,
        emptyPerRun,
        topicPerRun,
      },
    },
  };
}

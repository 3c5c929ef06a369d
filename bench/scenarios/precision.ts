import { DAY_MS } from "../../core/config.js";
import { md5Hex, newMessageId } from "../../core/ids.js";
import { shardOf } from "../../core/rules.js";
import { type BenchContext, type BenchQueue, freshQueue } from "../lib/context.js";
import { type Distribution, distribution, median, medianDistribution, pool, requestsPerMessage, round, sleep } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";

export interface PrecisionShape {
  messages: number;
  maxDelayMs: number;
  consumers: number;
  producers: number;
  /** Messages per consume call (RocketMQ's numOfMessages maximum is 16). */
  batch: number;
}

export interface PrecisionRun {
  latenessMs: number[];
  early: number;
  duplicates: number;
  missing: number;
  publishMs: number;
  /** Consume or ack calls that threw (retried). */
  errors: number;
  /** DynamoDB requests per message by store operation during the repetition (publish, consume, ack, sweeper). */
  requestsPerMessage: Record<string, number>;
  stats: Distribution;
}

const TOPIC = "precision";
const GROUP = "g1";

export function precisionShape(ctx: BenchContext): PrecisionShape {
  return ctx.quick
    ? { messages: 12, maxDelayMs: 500, consumers: 4, producers: 4, batch: 16 }
    : {
        messages: 1000,
        maxDelayMs: 10_000,
        consumers: 4,
        producers: 4,
        batch: 16,
      };
}

/**
 * One repetition: 4 long-polling consumers wait on the group, producers publish messages with delays
 * uniform in [0, maxDelay]; lateness = time the consume call returned − the message's deliver time.
 * Early = handed out (claimed or returned) before its deliver time. Acks run beside the next poll.
 */
export async function precisionRun(ctx: BenchContext, q: BenchQueue, shape: PrecisionShape, label: string): Promise<PrecisionRun> {
  const queue = q.runtime.queue;
  await queue.consume({ topic: TOPIC, group: GROUP, waitSeconds: 0 });
  const seen = new Set<string>();
  const published = new Map<string, number>();
  const latenessMs: number[] = [];
  let early = 0;
  let duplicates = 0;
  const errors: string[] = [];
  const acks: Promise<unknown>[] = [];
  const stop = new AbortController();
  const bar = ctx.bar(label, shape.messages);
  let allIn: () => void = () => {};
  const finished = new Promise<void>((r) => {
    allIn = r;
  });

  const consumers = Array.from({ length: shape.consumers }, async () => {
    while (!stop.signal.aborted) {
      let got: Awaited<ReturnType<typeof queue.consume>>;
      try {
        got = await queue.consume({ topic: TOPIC, group: GROUP, max: shape.batch, waitSeconds: 20 }, stop.signal);
      } catch (error) {
        errors.push(String(error));
        await sleep(50);
        continue;
      }
      const receivedAtMs = Date.now();
      for (const m of got) {
        if (seen.has(m.messageId)) {
          duplicates++;
          continue;
        }
        seen.add(m.messageId);
        latenessMs.push(receivedAtMs - m.deliverAtMs);
        if (receivedAtMs < m.deliverAtMs || m.firstConsumedAtMs < m.deliverAtMs) early++;
        bar.tick();
      }
      if (got.length > 0)
        acks.push(
          queue
            .ack({
              topic: TOPIC,
              group: GROUP,
              receiptHandles: got.map((m) => m.receiptHandle),
            })
            .catch((e) => errors.push(String(e))),
        );
      if (seen.size >= shape.messages) allIn();
    }
  });

  q.meter.reset();
  const stopSweeper = q.startSweeper(ctx.sweepEveryMs);
  const publishStart = Date.now();
  const delays = Array.from({ length: shape.messages }, () => Math.floor(Math.random() * (shape.maxDelayMs + 1)));
  await pool(delays, shape.producers, async (delayMs, i) => {
    const r = await queue.publish({
      topic: TOPIC,
      body: `precision message ${i}`,
      timing: { kind: "delay", delayMs, source: "bench" },
    });
    published.set(r.messageId, r.deliverAtMs);
  });
  const publishMs = Date.now() - publishStart;
  await Promise.race([finished, sleep(shape.maxDelayMs + 60_000)]);
  stop.abort();
  await Promise.all(consumers);
  await Promise.all(acks);
  stopSweeper();
  bar.finish();
  const missing = [...published.keys()].filter((id) => !seen.has(id)).length;
  return {
    latenessMs,
    early,
    duplicates,
    missing,
    publishMs,
    errors: errors.length,
    requestsPerMessage: requestsPerMessage(q.meter.snapshot(), shape.messages),
    stats: distribution(latenessMs),
  };
}

/** Stores `count` messages due 2–9 days from now straight through the store, 32 writes in flight, within `budgetMs`. */
export async function fillBacklog(
  ctx: BenchContext,
  q: BenchQueue,
  count: number,
  budgetMs: number,
): Promise<{ stored: number; ms: number; perSecond: number }> {
  await q.store.registerTopic(TOPIC);
  const shards = q.runtime.config.shards;
  const startMs = Date.now();
  const deadline = startMs + budgetMs;
  const bar = ctx.bar("backlog fill", count);
  let stored = 0;
  let next = 0;
  const body = "backlog message, scheduled days ahead";
  const bodyMd5 = md5Hex(body);
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count && Date.now() < deadline) {
        next++;
        const nowMs = Date.now();
        const messageId = newMessageId(nowMs);
        const deliverAtMs = nowMs + 2 * DAY_MS + Math.floor(Math.random() * 7 * DAY_MS);
        await q.store.insertMessages([{
          topic: TOPIC,
          messageId,
          body,
          bodyMd5,
          properties: {},
          publishedAtMs: nowMs,
          deliverAtMs,
          shard: shardOf(messageId, shards),
          expiresAtMs: deliverAtMs + q.runtime.config.retentionMs,
        }]);
        stored++;
        if (stored % 100 === 0) bar.set(stored);
      }
    }),
  );
  const ms = Date.now() - startMs;
  bar.finish(`${stored} stored`);
  return { stored, ms, perSecond: stored / (ms / 1000) };
}

function summarize(runs: PrecisionRun[]) {
  return {
    perRepetition: runs.map((r) => ({
      ...roundDist(r.stats),
      early: r.early,
      duplicates: r.duplicates,
      missing: r.missing,
      errors: r.errors,
      requestsPerMessage: r.requestsPerMessage,
      publishMs: r.publishMs,
    })),
    median: roundDist(medianDistribution(runs.map((r) => r.stats))),
    pooled: roundDist(distribution(runs.flatMap((r) => r.latenessMs))),
    early: runs.reduce((a, r) => a + r.early, 0),
    duplicates: runs.reduce((a, r) => a + r.duplicates, 0),
    missing: runs.reduce((a, r) => a + r.missing, 0),
  };
}

function roundDist(d: Distribution): Distribution {
  return {
    count: d.count,
    p50: round(d.p50),
    p90: round(d.p90),
    p99: round(d.p99),
    max: round(d.max),
    mean: round(d.mean),
  };
}

const fmt = (d: Distribution) => `p50 ${d.p50} / p90 ${d.p90} / p99 ${d.p99} / max ${d.max} ms`;

function shapeText(shape: PrecisionShape): string {
  return `${shape.messages} messages, delays uniform in 0–${shape.maxDelayMs / 1000} s, published by ${shape.producers} producers; ${shape.consumers} consumers long-polling (waitSeconds 20, up to ${shape.batch} per call) in the same process, the local sweeper every 5 s`;
}

/** Scenario 1 on an empty table. */
export async function precisionScenario(ctx: BenchContext): Promise<{ result: ScenarioResult; lateness: number[] }> {
  const shape = precisionShape(ctx);
  const q = await freshQueue(ctx);
  const runs: PrecisionRun[] = [];
  for (let r = 0; r < ctx.reps; r++) runs.push(await precisionRun(ctx, q, shape, `precision ${r + 1}/${ctx.reps}`));
  const s = summarize(runs);
  return {
    lateness: runs.flatMap((r) => r.latenessMs),
    result: {
      name: "precision",
      title: "Precision",
      method: `In-process queue (buildRuntime + ArrivalSignals, as \`npm start\` runs it) on DynamoDB Local: ${shapeText(shape)}. Lateness = time consume() returned − deliver time. ${ctx.reps} repetitions; the table gives the median of each percentile over repetitions.`,
      repetitions: ctx.reps,
      rows: [
        {
          scenario: "precision",
          metric: "early deliveries",
          target: "0",
          measured: String(s.early),
          pass: s.early === 0,
        },
        {
          scenario: "precision",
          metric: "lateness p50 / p90",
          target: "—",
          measured: `${s.median.p50} / ${s.median.p90} ms`,
          pass: null,
        },
        {
          scenario: "precision",
          metric: "lateness p99",
          target: "≤ 100 ms",
          measured: `${s.median.p99} ms`,
          pass: s.median.p99 <= 100,
        },
        {
          scenario: "precision",
          metric: "lateness max",
          target: "≤ 500 ms",
          measured: `${s.median.max} ms`,
          pass: s.median.max <= 500,
        },
        {
          scenario: "precision",
          metric: "lost / duplicate",
          target: "0 / 0",
          measured: `${s.missing} / ${s.duplicates}`,
          pass: s.missing === 0 && s.duplicates === 0,
        },
      ],
      data: { shape, ...s },
      markdown: `Median over repetitions: ${fmt(s.median)}; all ${s.pooled.count} messages pooled: ${fmt(s.pooled)}.`,
    },
  };
}

/**
 * Scenario 2: the same run on a topic that already holds a backlog of messages due days ahead, each
 * repetition paired with one on an empty table right before it, so both see the same machine noise.
 */
export async function backlogScenario(ctx: BenchContext): Promise<{ result: ScenarioResult; lateness: number[]; baseline: number[] }> {
  const shape = precisionShape(ctx);
  const wanted = ctx.quick ? 100 : 100_000;
  const budgetMs = ctx.quick ? 10_000 : 300_000;
  const empty = await freshQueue(ctx);
  const loaded = await freshQueue(ctx);
  const fill = await fillBacklog(ctx, loaded, wanted, budgetMs);
  const baseRuns: PrecisionRun[] = [];
  const loadedRuns: PrecisionRun[] = [];
  for (let r = 0; r < ctx.reps; r++) {
    baseRuns.push(await precisionRun(ctx, empty, shape, `baseline ${r + 1}/${ctx.reps}`));
    loadedRuns.push(await precisionRun(ctx, loaded, shape, `backlog ${r + 1}/${ctx.reps}`));
  }
  const base = summarize(baseRuns);
  const withBacklog = summarize(loadedRuns);
  const ratios = loadedRuns.map((run, i) => run.stats.p99 / Math.max(1, (baseRuns[i] as PrecisionRun).stats.p99));
  const ratio = round(median(ratios), 2);
  const honest = fill.stored < wanted ? ` (of ${wanted} wanted: the fill is capped at ${budgetMs / 1000} s)` : "";
  return {
    lateness: loadedRuns.flatMap((r) => r.latenessMs),
    baseline: baseRuns.flatMap((r) => r.latenessMs),
    result: {
      name: "backlog",
      title: "Backlog-blindness",
      method: `Scenario 1 on a topic holding ${fill.stored} messages due 2–9 days ahead${honest}, stored straight through DynamoStore.insertMessage at 32 in flight (${round(fill.perSecond, 0)} messages/s, ${round(fill.ms / 1000, 1)} s). Each repetition is paired with a run on an empty table just before it; the ratio is the median over pairs of p99(backlog) / p99(empty).`,
      repetitions: ctx.reps,
      rows: [
        {
          scenario: "backlog",
          metric: "backlog size",
          target: `${wanted}`,
          measured: String(fill.stored),
          pass: null,
        },
        {
          scenario: "backlog",
          metric: "early deliveries",
          target: "0",
          measured: String(withBacklog.early),
          pass: withBacklog.early === 0,
        },
        {
          scenario: "backlog",
          metric: "p99 empty → backlog",
          target: "—",
          measured: `${base.median.p99} → ${withBacklog.median.p99} ms`,
          pass: null,
        },
        {
          scenario: "backlog",
          metric: "p99 ratio backlog / empty",
          target: "≤ 1.20",
          measured: `${ratio.toFixed(2)} (pairs ${ratios.map((x) => x.toFixed(2)).join(", ")})`,
          pass: ratio <= 1.2,
        },
        {
          scenario: "backlog",
          metric: "lateness max with backlog",
          target: "≤ 500 ms",
          measured: `${withBacklog.median.max} ms`,
          pass: withBacklog.median.max <= 500,
        },
      ],
      data: {
        shape,
        fill,
        wanted,
        baseline: base,
        backlog: withBacklog,
        p99Ratios: ratios.map((x) => round(x, 3)),
        p99Ratio: ratio,
      },
      markdown: `Empty table: ${fmt(base.median)}. With the backlog: ${fmt(withBacklog.median)} (medians over ${ctx.reps} paired repetitions).`,
    },
  };
}

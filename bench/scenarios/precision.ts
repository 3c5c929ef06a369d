import { DAY_MS } from "../../core/config.js";
import { md5Hex, newMessageId } from "../../core/ids.js";
import { shardOf } from "../../core/rules.js";
import { type BenchContext, type BenchQueue, freshQueue, queueOn } from "../lib/context.js";
import { type Distribution, distribution, median, medianDistribution, mergeSnapshots, pool, requestsPerMessage, round, sleep } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";

export interface PrecisionShape {
  messages: number;
  maxDelayMs: number;
  /** Groups on the topic; each has its own consumers. */
  groups: number;
  /** Consumers per group. */
  consumers: number;
  producers: number;
  /** Messages per consume call (RocketMQ's numOfMessages maximum is 16). */
  batch: number;
  /** Publishes paced at this many messages a second (one producer), instead of as fast as the producers go. */
  perSecond?: number;
  /** Published by another runtime with its own DynamoDB client (no in-process signal, no content kept from the publish). */
  elsewhere?: boolean;
}

export interface GroupRun {
  group: string;
  latenessMs: number[];
  early: number;
  duplicates: number;
  missing: number;
  stats: Distribution;
}

export interface PrecisionRun {
  /** Every group's lateness pooled. */
  latenessMs: number[];
  /** Every group's deliveries: the message's delay at its publish and its lateness. */
  byDelay: { delayMs: number; latenessMs: number }[];
  byGroup: GroupRun[];
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

export function precisionShape(ctx: BenchContext): PrecisionShape {
  return ctx.quick
    ? { messages: 12, maxDelayMs: 500, groups: 2, consumers: 4, producers: 4, batch: 16 }
    : { messages: 1000, maxDelayMs: 10_000, groups: 2, consumers: 4, producers: 4, batch: 16 };
}

export function groupNames(shape: PrecisionShape): string[] {
  return Array.from({ length: shape.groups }, (_, i) => `g${i + 1}`);
}

/**
 * One repetition: every group of the topic has `consumers` long-polling consumers, producers publish
 * messages with delays uniform in [0, maxDelay]; lateness = time the consume call returned − the
 * message's deliver time, per group (every group receives every message). Early = handed out (claimed or
 * returned) before its deliver time. Acks run beside the next poll.
 */
export async function precisionRun(ctx: BenchContext, q: BenchQueue, shape: PrecisionShape, label: string, publisher: BenchQueue = q): Promise<PrecisionRun> {
  const queue = q.runtime.queue;
  const groups = groupNames(shape);
  for (const group of groups) await queue.consume({ topic: TOPIC, group, waitSeconds: 0 });
  const published = new Map<string, number>();
  const delayOf = new Map<string, number>();
  const byDelay: { delayMs: number; latenessMs: number }[] = [];
  const state = groups.map((group) => ({ group, seen: new Set<string>(), latenessMs: [] as number[], early: 0, duplicates: 0 }));
  const errors: string[] = [];
  const acks: Promise<unknown>[] = [];
  const stop = new AbortController();
  const bar = ctx.bar(label, shape.messages * groups.length);
  let allIn: () => void = () => {};
  const finished = new Promise<void>((r) => {
    allIn = r;
  });
  const complete = () => state.every((g) => g.seen.size >= shape.messages);

  const consumers = state.flatMap((g) =>
    Array.from({ length: shape.consumers }, async () => {
      while (!stop.signal.aborted) {
        let got: Awaited<ReturnType<typeof queue.consume>>;
        try {
          got = await queue.consume({ topic: TOPIC, group: g.group, max: shape.batch, waitSeconds: 20 }, stop.signal);
        } catch (error) {
          errors.push(String(error));
          await sleep(50);
          continue;
        }
        const receivedAtMs = Date.now();
        for (const m of got) {
          if (g.seen.has(m.messageId)) {
            g.duplicates++;
            continue;
          }
          g.seen.add(m.messageId);
          g.latenessMs.push(receivedAtMs - m.deliverAtMs);
          byDelay.push({ delayMs: delayOf.get(m.messageId) ?? Number.NaN, latenessMs: receivedAtMs - m.deliverAtMs });
          if (receivedAtMs < m.deliverAtMs || m.firstConsumedAtMs < m.deliverAtMs) g.early++;
          bar.tick();
        }
        if (got.length > 0)
          acks.push(
            queue
              .ack({ topic: TOPIC, group: g.group, receiptHandles: got.map((m) => m.receiptHandle) })
              .catch((e) => errors.push(String(e))),
          );
        if (complete()) allIn();
      }
    }),
  );

  q.meter.reset();
  publisher.meter.reset();
  const stopSweeper = q.startSweeper(ctx.sweepEveryMs);
  const publishStart = Date.now();
  const delays = Array.from({ length: shape.messages }, () => Math.floor(Math.random() * (shape.maxDelayMs + 1)));
  const { perSecond } = shape;
  await pool(delays, perSecond ? 1 : shape.producers, async (delayMs, i) => {
    if (perSecond) await sleep(publishStart + (i * 1000) / perSecond - Date.now());
    const r = await publisher.runtime.queue.publish({
      topic: TOPIC,
      body: `precision message ${i}`,
      timing: { kind: "delay", delayMs, source: "bench" },
    });
    published.set(r.messageId, r.deliverAtMs);
    delayOf.set(r.messageId, delayMs);
  });
  const publishMs = Date.now() - publishStart;
  await Promise.race([finished, sleep(shape.maxDelayMs + 60_000)]);
  stop.abort();
  await Promise.all(consumers);
  await Promise.all(acks);
  stopSweeper();
  bar.finish();
  const byGroup: GroupRun[] = state.map((g) => ({
    group: g.group,
    latenessMs: g.latenessMs,
    early: g.early,
    duplicates: g.duplicates,
    missing: [...published.keys()].filter((id) => !g.seen.has(id)).length,
    stats: distribution(g.latenessMs),
  }));
  const latenessMs = byGroup.flatMap((g) => g.latenessMs);
  return {
    latenessMs,
    byDelay,
    byGroup,
    early: byGroup.reduce((n, g) => n + g.early, 0),
    duplicates: byGroup.reduce((n, g) => n + g.duplicates, 0),
    missing: byGroup.reduce((n, g) => n + g.missing, 0),
    publishMs,
    errors: errors.length,
    requestsPerMessage: requestsPerMessage(mergeSnapshots((publisher === q ? [q] : [q, publisher]).map((x) => x.meter.snapshot())), shape.messages),
    stats: distribution(latenessMs),
  };
}

/** Stores `count` messages due 2–9 days from now straight through the store, 16 per batch write, 8 batches in flight, within `budgetMs`. */
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
    Array.from({ length: 8 }, async () => {
      while (next < count && Date.now() < deadline) {
        const n = Math.min(16, count - next);
        next += n;
        const nowMs = Date.now();
        const batch = Array.from({ length: n }, () => {
          const messageId = newMessageId(nowMs);
          const deliverAtMs = nowMs + 2 * DAY_MS + Math.floor(Math.random() * 7 * DAY_MS);
          return {
            topic: TOPIC,
            messageId,
            body,
            bodyMd5,
            properties: {},
            publishedAtMs: nowMs,
            deliverAtMs,
            shard: shardOf(messageId, shards),
            expiresAtMs: deliverAtMs + q.runtime.config.retentionMs,
          };
        });
        await q.store.insertMessages(batch);
        stored += n;
        if (stored % 400 < 16) bar.set(stored);
      }
    }),
  );
  const ms = Date.now() - startMs;
  bar.finish(`${stored} stored`);
  return { stored, ms, perSecond: stored / (ms / 1000) };
}

export const P99_TARGET_MS = 25;
export const MAX_TARGET_MS = 100;
/** The default POLL_INTERVAL_MS: a message published elsewhere with a shorter delay may fall due before the next read finds it. */
const SHORT_DELAY_MS = 1000;

function summarize(runs: PrecisionRun[]) {
  const groups = runs[0]?.byGroup.map((g) => g.group) ?? [];
  return {
    perRepetition: runs.map((r) => ({
      ...roundDist(r.stats),
      byGroup: Object.fromEntries(r.byGroup.map((g) => [g.group, { ...roundDist(g.stats), early: g.early, duplicates: g.duplicates, missing: g.missing }])),
      early: r.early,
      duplicates: r.duplicates,
      missing: r.missing,
      errors: r.errors,
      requestsPerMessage: r.requestsPerMessage,
      publishMs: r.publishMs,
    })),
    median: roundDist(medianDistribution(runs.map((r) => r.stats))),
    pooled: roundDist(distribution(runs.flatMap((r) => r.latenessMs))),
    byGroup: groups.map((group) => {
      const mine = runs.map((r) => r.byGroup.find((g) => g.group === group) as GroupRun);
      return {
        group,
        median: roundDist(medianDistribution(mine.map((g) => g.stats))),
        pooled: roundDist(distribution(mine.flatMap((g) => g.latenessMs))),
        early: mine.reduce((a, g) => a + g.early, 0),
        duplicates: mine.reduce((a, g) => a + g.duplicates, 0),
        missing: mine.reduce((a, g) => a + g.missing, 0),
      };
    }),
    /** Every group and repetition pooled, by the delay at publish: shorter than the poll interval, and not. */
    byDelay: {
      splitMs: SHORT_DELAY_MS,
      shorter: roundDist(distribution(runs.flatMap((r) => r.byDelay.filter((d) => d.delayMs < SHORT_DELAY_MS).map((d) => d.latenessMs)))),
      longer: roundDist(distribution(runs.flatMap((r) => r.byDelay.filter((d) => d.delayMs >= SHORT_DELAY_MS).map((d) => d.latenessMs)))),
    },
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
  if (shape.perSecond)
    return `${shape.messages} immediate messages published at ${shape.perSecond} a second by another process (a runtime with its own DynamoDB client: no in-process signal) to one topic with ${shape.groups} groups; ${shape.consumers} consumers per group long-polling (waitSeconds 20, up to ${shape.batch} per call), lingering leases, the local sweeper every 5 s`;
  const by = shape.elsewhere ? `${shape.producers} producers in another process (a runtime with its own DynamoDB client: no in-process signal)` : `${shape.producers} producers`;
  const consumers = shape.elsewhere ? "" : " in the same process";
  return `${shape.messages} messages, delays uniform in 0–${shape.maxDelayMs / 1000} s, published by ${by} to one topic with ${shape.groups} groups; ${shape.consumers} consumers per group long-polling (waitSeconds 20, up to ${shape.batch} per call)${consumers}, lingering leases, the local sweeper every 5 s`;
}

/**
 * The first scenario's messages published by another process, as on AWS, where the publish function is
 * never the consume function: the consumers find each message in their lane reads, ahead of its due time
 * when its delay is longer than the wait for the next read.
 */
export function elsewhereShape(shape: PrecisionShape): PrecisionShape {
  return { ...shape, elsewhere: true };
}

/**
 * Immediate messages published at a steady rate by another process (a runtime with its own DynamoDB
 * client, so no in-process signal reaches the consumers), as on AWS, where the publish function is never
 * the consume function: what a stream costs in lateness when only the lane reads find it.
 */
export function streamShape(shape: PrecisionShape): PrecisionShape {
  return { ...shape, messages: Math.max(4, Math.round(shape.messages / 5)), maxDelayMs: 0, producers: 1, perSecond: 20, elsewhere: true };
}

/** The same scenario at a tenth of the load: what one delivery takes when DynamoDB Local is not queueing requests. */
export function lightShape(shape: PrecisionShape): PrecisionShape {
  return { ...shape, messages: Math.max(4, Math.round(shape.messages / 10)), producers: 1 };
}

function shapeRows(label: string, shape: PrecisionShape, s: ReturnType<typeof summarize>): ScenarioResult["rows"] {
  const rows: ScenarioResult["rows"] = [
    {
      scenario: "precision",
      metric: `${label}early deliveries (${shape.groups} groups)`,
      target: "0",
      measured: String(s.early),
      pass: s.early === 0,
    },
    {
      scenario: "precision",
      metric: `${label}lost / duplicate, every group`,
      target: "0 / 0",
      measured: `${s.missing} / ${s.duplicates}`,
      pass: s.missing === 0 && s.duplicates === 0,
    },
  ];
  for (const g of s.byGroup) {
    rows.push(
      {
        scenario: "precision",
        metric: `${label}group ${g.group}: lateness p50 / p90`,
        target: "—",
        measured: `${g.median.p50} / ${g.median.p90} ms`,
        pass: null,
      },
      {
        scenario: "precision",
        metric: `${label}group ${g.group}: lateness p99`,
        target: `≤ ${P99_TARGET_MS} ms`,
        measured: `${g.median.p99} ms`,
        pass: g.median.p99 <= P99_TARGET_MS,
      },
      {
        scenario: "precision",
        metric: `${label}group ${g.group}: lateness max`,
        target: `≤ ${MAX_TARGET_MS} ms`,
        measured: `${g.median.max} ms`,
        pass: g.median.max <= MAX_TARGET_MS,
      },
    );
  }
  const { splitMs, shorter, longer } = s.byDelay;
  if (shape.elsewhere && shorter.count > 0 && longer.count > 0)
    rows.push({
      scenario: "precision",
      metric: `${label}delay shorter than ${splitMs / 1000} s / ${splitMs / 1000} s or longer: lateness p99 / max, every group, all repetitions pooled`,
      target: "—",
      measured: `${shorter.p99} / ${shorter.max} ms (${shorter.count} deliveries); ${longer.p99} / ${longer.max} ms (${longer.count})`,
      pass: null,
    });
  return rows;
}

function shapeMarkdown(title: string, s: ReturnType<typeof summarize>): string {
  let md = `${title}\n\n| group | p50 | p90 | p99 | max | all repetitions pooled: p99 / max | requests per message (every group, median repetition) |\n|---|---:|---:|---:|---:|---|---:|\n`;
  const reqs = s.perRepetition.map((r) => Object.values(r.requestsPerMessage).reduce((a, b) => a + b, 0)).sort((a, b) => a - b);
  const midReqs = round(reqs[Math.floor(reqs.length / 2)] ?? Number.NaN, 2);
  for (const g of s.byGroup) md += `| ${g.group} | ${g.median.p50} | ${g.median.p90} | ${g.median.p99} | ${g.median.max} | ${g.pooled.p99} / ${g.pooled.max} ms | ${midReqs} |\n`;
  md += `\nEvery group pooled, median over repetitions: ${fmt(s.median)}; all ${s.pooled.count} deliveries pooled: ${fmt(s.pooled)}. Per repetition: ${s.perRepetition.map((r, i) => `${i + 1}: ${Object.entries(r.byGroup).map(([g, d]) => `${g} p99 ${d.p99} / max ${d.max}`).join(", ")}`).join("; ")} (ms).\n\n`;
  const { splitMs, shorter, longer } = s.byDelay;
  if (shorter.count > 0 && longer.count > 0)
    md += `By the delay at publish, every group and repetition pooled: shorter than ${splitMs / 1000} s (${shorter.count} deliveries) ${fmt(shorter)}; ${splitMs / 1000} s or longer (${longer.count}) ${fmt(longer)}.\n\n`;
  return md;
}

/**
 * Scenario 1 on an empty table: every group's lateness, each against the targets; then the same at a
 * tenth of the load (on a table of its own).
 */
export async function precisionScenario(ctx: BenchContext): Promise<{ result: ScenarioResult; lateness: Record<string, number[]> }> {
  const shape = precisionShape(ctx);
  const light = lightShape(shape);
  const q = await freshQueue(ctx);
  const runs: PrecisionRun[] = [];
  for (let r = 0; r < ctx.reps; r++) runs.push(await precisionRun(ctx, q, shape, `precision ${r + 1}/${ctx.reps}`));
  await q.runtime.queue.close();
  const ql = await freshQueue(ctx);
  const lightRuns: PrecisionRun[] = [];
  for (let r = 0; r < ctx.reps; r++) lightRuns.push(await precisionRun(ctx, ql, light, `precision, light ${r + 1}/${ctx.reps}`));
  await ql.runtime.queue.close();
  const remote = elsewhereShape(shape);
  const qr = await freshQueue(ctx);
  const publisher = queueOn(ctx, qr.tableName);
  const remoteRuns: PrecisionRun[] = [];
  for (let r = 0; r < ctx.reps; r++) remoteRuns.push(await precisionRun(ctx, qr, remote, `precision, delayed, another process ${r + 1}/${ctx.reps}`, publisher));
  await Promise.all([qr.runtime.queue.close(), publisher.runtime.queue.close()]);
  const stream = streamShape(shape);
  const qs = await freshQueue(ctx);
  const elsewhere = queueOn(ctx, qs.tableName);
  const streamRuns: PrecisionRun[] = [];
  for (let r = 0; r < ctx.reps; r++) streamRuns.push(await precisionRun(ctx, qs, stream, `precision, another process ${r + 1}/${ctx.reps}`, elsewhere));
  await Promise.all([qs.runtime.queue.close(), elsewhere.runtime.queue.close()]);
  const s = summarize(runs);
  const sl = summarize(lightRuns);
  const sr = summarize(remoteRuns);
  const ss = summarize(streamRuns);
  const rows = [
    ...shapeRows("", shape, s),
    ...shapeRows(`light load (${light.messages} msgs): `, light, sl),
    ...shapeRows(`${remote.messages} msgs over ${remote.maxDelayMs / 1000} s published by another process: `, remote, sr),
    ...shapeRows(`published by another process (${stream.messages} immediate msgs at ${stream.perSecond}/s): `, stream, ss),
  ];
  const md =
    shapeMarkdown(`Scenario: ${shapeText(shape)}.`, s) +
    shapeMarkdown(`Light load: ${shapeText(light)} — about ${round(light.messages / (light.maxDelayMs / 1000), 1)} messages falling due per second.`, sl) +
    shapeMarkdown(`Delayed messages published by another process: ${shapeText(remote)}. The consumers learn of a message only from their lane reads.`, sr) +
    shapeMarkdown(`Published by another process: ${shapeText(stream)}. The consumers learn of a message only from their lane reads.`, ss);
  return {
    lateness: Object.fromEntries(s.byGroup.map((g) => [g.group, runs.flatMap((r) => r.byGroup.find((x) => x.group === g.group)?.latenessMs ?? [])])),
    result: {
      name: "precision",
      title: "Precision",
      method: `In-process queue (buildRuntime + in-process arrival signals, as \`npm start\` runs it) on DynamoDB Local: ${shapeText(shape)}. Lateness = time consume() returned − deliver time, per group. Then the same with ${light.messages} messages (one producer) on a fresh table, so that DynamoDB Local is not queueing requests. Then the first scenario's messages published by another runtime with its own DynamoDB client, on a fresh table. Then ${stream.messages} immediate messages published at ${stream.perSecond} a second by another runtime with its own DynamoDB client (on AWS the publish function is never the consume function), on a fresh table. ${ctx.reps} repetitions each; the tables give the median of each percentile over repetitions, per group.`,
      repetitions: ctx.reps,
      rows,
      data: { shape, ...s, light: { shape: light, ...sl }, delayedAnotherProcess: { shape: remote, ...sr }, anotherProcess: { shape: stream, ...ss } },
      markdown: md,
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
  await empty.runtime.queue.close();
  await loaded.runtime.queue.close();
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
      method: `Scenario 1 (every group's deliveries pooled) on a topic holding ${fill.stored} messages due 2–9 days ahead${honest}, stored straight through DynamoStore.insertMessages (16 per BatchWriteItem, 8 in flight) (${round(fill.perSecond, 0)} messages/s, ${round(fill.ms / 1000, 1)} s). Each repetition is paired with a run on an empty table just before it; the ratio is the median over pairs of p99(backlog) / p99(empty).`,
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

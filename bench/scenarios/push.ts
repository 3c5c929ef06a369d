import { createServer } from "node:http";
import type { Logger } from "../../core/ports.js";
import type { PushPayload } from "../../core/push/payload.js";
import { buildRuntime } from "../../lambda/composition.js";
import { CapacityMeter, type OperationCost } from "../../lambda/dynamo/capacity.js";
import { createDynamoClient } from "../../lambda/dynamo/client.js";
import { inProcessStarter } from "../../local/push-runner.js";
import { type BenchContext, freshTable } from "../lib/context.js";
import { READ_MINIMUM_PER_REQUEST, type Distribution, distribution, median, medianDistribution, round, sleep } from "../lib/stats.js";
import type { ScenarioResult, TargetRow } from "../lib/types.js";
import { LAMBDA_ASSUMPTIONS, PRICES } from "../prices.js";
import { dollarsPerMillion } from "./cost.js";

/** The goals push delivery is held to. */
export const PUSH_GOALS = { p99Ms: 50, early: 0, wcuPerMessage: 4 } as const;

/** The stack's dispatcher function (infra/handlers.ts) and the sweeper's cadence on AWS. */
const DISPATCHER_MB = 256;
const AWS_TICK_MS = 60_000;
const AWS_LEAD_MS = 15_000;
const MONTH_S = 30 * 86_400;
const BODY = "p".repeat(200);

type Cost = OperationCost & { billedReadUnits: number };

interface RunResult {
  lateness: number[];
  early: number;
  missing: number;
  perMessage: Cost;
  byOperation: Record<string, Cost>;
  /** Seconds a dispatcher held the shard, per pushed message. */
  dispatcherSecondsPerMessage: number;
  publishedPerSecond: number;
}

const ZERO: Cost = { requests: 0, readUnits: 0, writeUnits: 0, billedWriteUnits: 0, failedConditions: 0, billedReadUnits: 0 };
const addCost = (a: Cost, b: Cost): Cost => ({
  requests: a.requests + b.requests,
  readUnits: a.readUnits + b.readUnits,
  writeUnits: a.writeUnits + b.writeUnits,
  billedWriteUnits: a.billedWriteUnits + b.billedWriteUnits,
  failedConditions: a.failedConditions + b.failedConditions,
  billedReadUnits: a.billedReadUnits + b.billedReadUnits,
});
const per = (c: Cost, n: number): Cost => ({
  requests: round(c.requests / n, 3),
  readUnits: round(c.readUnits / n, 3),
  writeUnits: round(c.writeUnits / n, 3),
  billedWriteUnits: round(c.billedWriteUnits / n, 3),
  failedConditions: round(c.failedConditions / n, 3),
  billedReadUnits: round(c.billedReadUnits / n, 3),
});

function costs(meter: CapacityMeter): { total: Cost; byOperation: Record<string, Cost> } {
  const byOperation: Record<string, Cost> = {};
  let total = ZERO;
  for (const [op, c] of Object.entries(meter.snapshot())) {
    byOperation[op] = { ...c, billedReadUnits: Math.max(c.readUnits, (READ_MINIMUM_PER_REQUEST[op] ?? 0) * c.requests) };
    total = addCost(total, byOperation[op]);
  }
  return { total, byOperation };
}

/** A webhook on 127.0.0.1 that answers 200 at once and notes when each push arrived. */
async function webhook(): Promise<{ url: string; got: Map<string, { atMs: number; deliverAt: number; attempt: number }>; repeats: number; close(): Promise<void> }> {
  const got = new Map<string, { atMs: number; deliverAt: number; attempt: number }>();
  const state = { repeats: 0 };
  const server = createServer((req, res) => {
    const atMs = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(200).end("ok");
      const p = JSON.parse(Buffer.concat(chunks).toString("utf8")) as PushPayload;
      if (got.has(p.messageId)) state.repeats++;
      else got.set(p.messageId, { atMs, deliverAt: p.deliverAt, attempt: p.attempt });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    got,
    get repeats() {
      return state.repeats;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The local runtime's composition with its in-process dispatcher, on an existing table, with a meter of its own. */
function pushRuntime(ctx: BenchContext, tableName: string, log: Logger) {
  const meter = new CapacityMeter();
  let runner: ReturnType<typeof inProcessStarter> | undefined;
  const runtime = buildRuntime({
    env: {
      TABLE_NAME: tableName,
      DYNAMODB_ENDPOINT: ctx.endpoint,
      // The dispatcher function's setting on AWS; the local runtime's look ahead and lead.
      LEASE_LINGER_MS: "5000",
      PUSH_TICK_MS: String(ctx.sweepEveryMs),
      PUSH_LEAD_MS: "2000",
      PUSH_TARGET_POLICY: "local",
    },
    log,
    client: createDynamoClient(ctx.endpoint),
    meter,
    pushStarter: (dispatcher) => {
      runner = inProcessStarter(dispatcher, log);
      return runner;
    },
  });
  return { runtime, meter, stop: () => runner?.stop() ?? Promise.resolve() };
}

/** Counts the time a dispatcher held its shard, from its own log lines. */
function heldTimer(): { log: Logger; heldMs(): number } {
  let since: number | undefined;
  let total = 0;
  const log: Logger = {
    info(event) {
      if (event === "push-dispatcher-started") since = Date.now();
      if (event === "push-dispatcher-ended" && since !== undefined) {
        total += Date.now() - since;
        since = undefined;
      }
    },
    warn() {},
    error() {},
  };
  return { log, heldMs: () => total + (since !== undefined ? Date.now() - since : 0) };
}

/** One repetition: `messages` published at `ratePerSecond`, each due 1–3 s later (0.3–0.6 s quick), pushed to a local webhook. */
async function runOnce(ctx: BenchContext, tableName: string, topic: string, messages: number, ratePerSecond: number): Promise<RunResult> {
  const hook = await webhook();
  const timer = heldTimer();
  const { runtime, meter, stop } = pushRuntime(ctx, tableName, timer.log);
  const { queue } = runtime;
  try {
    await queue.groups.put(topic, "hook", { push: { type: "http", url: hook.url } });
    // Steady state: the dispatcher is up (started by a publish) and has pushed once.
    await queue.publish({ topic, body: BODY, timing: { kind: "now" } });
    for (let i = 0; i < 200 && hook.got.size < 1; i++) await sleep(50);
    await sleep(300);
    hook.got.clear();
    meter.reset();
    const heldBefore = timer.heldMs();
    const [lo, hi] = ctx.quick ? [300, 600] : [1000, 3000];
    const startMs = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < messages; i++) {
      const wait = startMs + (i * 1000) / ratePerSecond - Date.now();
      if (wait > 0) await sleep(wait);
      const delayMs = lo + Math.floor(Math.random() * (hi - lo));
      ids.push((await queue.publish({ topic, body: BODY, timing: { kind: "delay", delayMs, source: "delayMs" } })).messageId);
    }
    const publishedPerSecond = messages / Math.max(0.001, (Date.now() - startMs) / 1000);
    for (let i = 0; i < 600 && hook.got.size < messages; i++) await sleep(50);
    // The acks of the last pushes land after their arrival.
    await sleep(1000);
    const lateness = ids.flatMap((id) => {
      const g = hook.got.get(id);
      return g ? [g.atMs - g.deliverAt] : [];
    });
    const { total, byOperation } = costs(meter);
    const pushed = Math.max(1, lateness.length);
    const perOp: Record<string, Cost> = {};
    for (const [op, c] of Object.entries(byOperation)) perOp[op] = per(c, pushed);
    return {
      lateness,
      early: lateness.filter((l) => l < 0).length,
      missing: messages - lateness.length,
      perMessage: per(total, pushed),
      byOperation: perOp,
      dispatcherSecondsPerMessage: (timer.heldMs() - heldBefore) / 1000 / pushed,
      publishedPerSecond,
    };
  } finally {
    await stop();
    await queue.close();
    await hook.close();
  }
}

/** The same messages pulled: publish ×1, consume ×1 (Lambda leases as the functions run them), ack ×1, for the comparison. */
async function pullOnce(ctx: BenchContext, tableName: string, topic: string, messages: number): Promise<Cost> {
  const meter = new CapacityMeter();
  const lambda = () =>
    buildRuntime({
      env: { TABLE_NAME: tableName, DYNAMODB_ENDPOINT: ctx.endpoint, LEASE_LINGER_MS: "0", LEASE_KEEP_MS: "1000" },
      log: { info() {}, warn() {}, error() {} },
      client: createDynamoClient(ctx.endpoint),
      meter,
    });
  // The publish function's container and the consume and ack functions' container: one meter for both.
  const publisher = lambda().queue;
  const { queue } = lambda();
  try {
    await queue.consume({ topic, group: "pull", waitSeconds: 0 });
    await publisher.publish({ topic, body: BODY, timing: { kind: "now" } });
    for (let guard = 0, got = 0; got < 1 && guard < 40; guard++) {
      const first = await queue.consume({ topic, group: "pull", waitSeconds: 0 });
      got += first.length;
      if (first.length > 0) await queue.ack({ topic, group: "pull", receiptHandles: first.map((m) => m.receiptHandle) });
    }
    meter.reset();
    for (let i = 0; i < messages; i++) await publisher.publish({ topic, body: BODY, timing: { kind: "now" } });
    let received = 0;
    for (let guard = 0; received < messages && guard < messages * 4; guard++) {
      const got = await queue.consume({ topic, group: "pull", max: 1, waitSeconds: 0 });
      if (got.length === 0) continue;
      received += got.length;
      await queue.ack({ topic, group: "pull", receiptHandles: got.map((m) => m.receiptHandle) });
    }
    return per(costs(meter).total, Math.max(1, received));
  } finally {
    await queue.close();
    await publisher.close();
  }
}

/** What one look ahead of the sweeper costs with one push group and nothing due (the idle month's only push cost). */
async function idleLook(ctx: BenchContext, tableName: string, topic: string): Promise<Cost> {
  const { runtime, meter, stop } = pushRuntime(ctx, tableName, { info() {}, warn() {}, error() {} });
  try {
    await runtime.queue.groups.put(topic, "hook", { push: { type: "http", url: "http://127.0.0.1:9/hook" } });
    await runtime.push.planner?.lookAhead();
    meter.reset();
    await runtime.push.planner?.lookAhead();
    return costs(meter).total;
  } finally {
    await stop();
    await runtime.queue.close();
  }
}

const f = (n: number, d = 2) => n.toFixed(d);
const medianCost = (runs: readonly Cost[]): Cost => {
  const pick = (k: keyof Cost) => round(median(runs.map((r) => r[k])), 3);
  return {
    requests: pick("requests"),
    readUnits: pick("readUnits"),
    writeUnits: pick("writeUnits"),
    billedWriteUnits: pick("billedWriteUnits"),
    failedConditions: pick("failedConditions"),
    billedReadUnits: pick("billedReadUnits"),
  };
};

export async function pushScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const messages = ctx.quick ? 5 : 200;
  const rate = 20;
  const reps = ctx.reps;
  const { tableName } = await freshTable(ctx);
  const bar = ctx.bar("push repetitions", reps);
  const runs: RunResult[] = [];
  for (let r = 0; r < reps; r++) {
    runs.push(await runOnce(ctx, tableName, `push-${r}`, messages, rate));
    bar.tick();
  }
  bar.finish();
  const pull = await pullOnce(ctx, tableName, "pull-compare", ctx.quick ? 4 : 48);
  const look = await idleLook(ctx, tableName, "push-idle");

  const dists: Distribution[] = runs.map((r) => distribution(r.lateness));
  const lateness = medianDistribution(dists);
  const early = runs.reduce((n, r) => n + r.early, 0);
  const missing = runs.reduce((n, r) => n + r.missing, 0);
  const perMessage = medianCost(runs.map((r) => r.perMessage));
  const ops = new Set(runs.flatMap((r) => Object.keys(r.byOperation)));
  const byOperation: Record<string, Cost> = {};
  for (const op of ops) byOperation[op] = medianCost(runs.map((r) => r.byOperation[op] ?? ZERO));
  const publishWcu = Object.entries(byOperation).filter(([op]) => /^insertMessages?$/.test(op)).reduce((n, [, c]) => n + c.billedWriteUnits, 0);
  const dispatcherSeconds = median(runs.map((r) => r.dispatcherSecondsPerMessage));
  const measuredRate = median(runs.map((r) => r.publishedPerSecond));

  // AWS arithmetic: DynamoDB at the measured units; a publish is one API call (Lambda + HTTP API); the dispatcher's GB-seconds.
  const gb = DISPATCHER_MB / 1024;
  const gbsPerMillion = (messagesPerSecond: number) => (gb * 1e6) / messagesPerSecond;
  const lambdaGbsPrice = PRICES.lambdaArmPerGbSecond;
  const pushCalls = dollarsPerMillion(perMessage, 1);
  const pullCalls = dollarsPerMillion(pull, 3);
  const steady = [1, 10, 100, 1000].map((mps) => {
    const gbs = gbsPerMillion(mps);
    return { messagesPerSecond: mps, dispatcherGbSecondsPerMillion: round(gbs, 1), dispatcherDollarsPerMillion: round(gbs * lambdaGbsPrice, 3), pushTotal: round(pushCalls.total + gbs * lambdaGbsPrice, 3), pullTotal: pullCalls.total };
  });
  // One message alone in its minute: the look ahead keeps a dispatcher up for a tick plus the lead.
  const sparseSeconds = (AWS_TICK_MS + AWS_LEAD_MS) / 1000;
  const sparseGbsPerMessage = gb * sparseSeconds;
  const idleLooksPerMonth = MONTH_S / (AWS_TICK_MS / 1000);
  const idleDollarsPerMonth = idleLooksPerMonth * ((look.billedReadUnits * PRICES.dynamoReadPerMillionRru + look.billedWriteUnits * PRICES.dynamoWritePerMillionWru) / 1e6);
  const alwaysUpGbs = gb * MONTH_S;

  const rows: TargetRow[] = [
    { scenario: "push", metric: `lateness p50 at a local HTTP target (${messages} messages × ${reps}, ${f(measuredRate, 0)}/s)`, target: "—", measured: `${f(lateness.p50, 0)} ms`, pass: null },
    { scenario: "push", metric: "lateness p90", target: "—", measured: `${f(lateness.p90, 0)} ms`, pass: null },
    { scenario: "push", metric: "lateness p99", target: `≤ ${PUSH_GOALS.p99Ms} ms`, measured: `${f(lateness.p99, 0)} ms`, pass: lateness.p99 <= PUSH_GOALS.p99Ms },
    { scenario: "push", metric: "lateness max", target: "—", measured: `${f(lateness.max, 0)} ms`, pass: null },
    { scenario: "push", metric: "pushes early / missing (all repetitions)", target: "0 / 0", measured: `${early} / ${missing}`, pass: early === 0 && missing === 0 },
    {
      scenario: "push",
      metric: `write units per pushed message, billed, publish included (publish ${f(publishWcu)}; Local reports ${f(perMessage.writeUnits)})`,
      target: `≤ ${PUSH_GOALS.wcuPerMessage}`,
      measured: f(perMessage.billedWriteUnits),
      pass: perMessage.billedWriteUnits <= PUSH_GOALS.wcuPerMessage,
    },
    { scenario: "push", metric: "DynamoDB requests per pushed message (publish included)", target: "—", measured: f(perMessage.requests), pass: null },
    {
      scenario: "push",
      metric: "$ per million pushed messages on AWS, steady 100/s (DynamoDB + publish call + dispatcher GB-s) vs pull (publish, consume ×1, ack ×1)",
      target: "—",
      measured: `push $${f(steady[2]?.pushTotal ?? 0)}, pull $${f(pullCalls.total)}`,
      pass: null,
    },
    { scenario: "push", metric: "dispatcher per idle month (no message due)", target: "—", measured: `0 GB-s; look ahead $${f(idleDollarsPerMonth, 4)} of DynamoDB reads`, pass: null },
  ];

  let md = `### Lateness at a local HTTP target (median over ${reps} repetitions of ${messages} messages)\n\n`;
  md += "| repetition | count | p50 | p90 | p99 | max | early | missing | WCU/msg | requests/msg | dispatcher s/msg |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  runs.forEach((r, i) => {
    const d = dists[i] as Distribution;
    md += `| ${i + 1} | ${d.count} | ${f(d.p50, 0)} | ${f(d.p90, 0)} | ${f(d.p99, 0)} | ${f(d.max, 0)} | ${r.early} | ${r.missing} | ${f(r.perMessage.billedWriteUnits)} | ${f(r.perMessage.requests)} | ${f(r.dispatcherSecondsPerMessage, 3)} |\n`;
  });
  md += `\n### Per pushed message, by store operation (median)\n\n| operation | requests | WCU billed | WCU (DynamoDB Local) | RCU billed |\n|---|---:|---:|---:|---:|\n`;
  for (const [op, c] of Object.entries(byOperation).sort()) md += `| ${op} | ${f(c.requests, 3)} | ${f(c.billedWriteUnits, 3)} | ${f(c.writeUnits, 3)} | ${f(c.billedReadUnits, 3)} |\n`;
  md += `| **total** | **${f(perMessage.requests, 3)}** | **${f(perMessage.billedWriteUnits, 3)}** | **${f(perMessage.writeUnits, 3)}** | **${f(perMessage.billedReadUnits, 3)}** |\n`;
  md += `\nPull, for comparison (publish ×1, consume ×1 with Lambda leases, ack ×1): ${f(pull.requests)} requests, ${f(pull.billedWriteUnits)} WCU, ${f(pull.billedReadUnits)} RCU per message.\n`;
  md += `\n### Push vs pull on AWS, per million messages\n\nPush: DynamoDB at the measured units ($${f(pushCalls.dynamodb)}), one publish call per message (Lambda + HTTP API, $${f(pushCalls.lambda + pushCalls.apiGateway)}), and the dispatcher (${DISPATCHER_MB} MB, $${lambdaGbsPrice}/GB-s) for as long as it is up. Pull: DynamoDB ($${f(pullCalls.dynamodb)}) and three calls per message (publish, consume, ack: $${f(pullCalls.lambda + pullCalls.apiGateway)}); long polls that wait are not counted.\n\n`;
  md += "| steady traffic | dispatcher GB-s / M msgs | dispatcher $ / M | push $ / M | pull $ / M |\n|---:|---:|---:|---:|---:|\n";
  for (const s of steady) md += `| ${s.messagesPerSecond}/s | ${s.dispatcherGbSecondsPerMillion} | ${f(s.dispatcherDollarsPerMillion, 3)} | ${f(s.pushTotal)} | ${f(s.pullTotal)} |\n`;
  md += `\nA dispatcher that is always up costs ${f(alwaysUpGbs, 0)} GB-s ($${f(alwaysUpGbs * lambdaGbsPrice)}) a month whatever the volume. Sparse traffic is push's worst case: a message alone in its minute keeps a dispatcher up for about a tick plus the lead (${sparseSeconds} s, ${f(sparseGbsPerMessage, 2)} GB-s, $${f(sparseGbsPerMessage * lambdaGbsPrice, 5)}), i.e. $${f(sparseGbsPerMessage * lambdaGbsPrice * 1e6, 0)} per million such messages, against pull's idle long polls. An idle month starts no dispatcher (0 GB-s); the sweeper's look ahead reads the push registry and the group's lanes each tick: ${f(look.requests, 0)} requests and ${f(look.billedReadUnits, 1)} RCU a look, ${idleLooksPerMonth} looks, $${f(idleDollarsPerMonth, 4)} a month. Measured here (local lead ${2000} ms, tick ${ctx.sweepEveryMs} ms): the dispatcher held its shard ${f(dispatcherSeconds, 3)} s per message at ${f(measuredRate, 0)} messages/s. Lambda duration of the publish call: ${LAMBDA_ASSUMPTIONS.billedMsPerInvocation} ms at ${LAMBDA_ASSUMPTIONS.memoryMb} MB assumed.\n`;

  return {
    name: "push",
    title: "Push delivery: lateness at an HTTP target, units per pushed message, push vs pull on AWS",
    method: `Per repetition, a fresh topic with one HTTP push group whose target is a webhook on 127.0.0.1 (answers 200 at once; the arrival is noted on receipt), in the local runtime's composition with its in-process dispatcher (started by publishes, LEASE_LINGER_MS 5000 as the dispatcher function has, PUSH_LEAD_MS 2000). After one warm-up push (the dispatcher is up), ${messages} messages of ${BODY.length} bytes are published at ${rate}/s, each with delayMs uniform in ${ctx.quick ? "300–600" : "1000–3000"} ms. Lateness = arrival − deliverAt on the same clock; a push before its deliver time counts as early. The meter (billed write units by the service's rules, lambda/dynamo/billing.ts; read units raised to the per-request minimum) covers the publishes, the dispatcher's claims, acks, lease renewals and lane reads, read 1 s after the last arrival, divided by the messages pushed. Median over ${reps} repetitions. Dollars: bench/prices.ts.`,
    repetitions: reps,
    rows,
    data: {
      messages,
      ratePerSecond: rate,
      measuredRatePerSecond: round(measuredRate, 1),
      lateness,
      byRepetition: runs.map((r, i) => ({ ...dists[i], early: r.early, missing: r.missing, perMessage: r.perMessage, dispatcherSecondsPerMessage: r.dispatcherSecondsPerMessage })),
      early,
      missing,
      perMessage,
      byOperation,
      publishWcu,
      pull,
      idleLook: look,
      aws: { steady, alwaysUpGbSecondsPerMonth: alwaysUpGbs, sparseGbSecondsPerMessage: sparseGbsPerMessage, idleDollarsPerMonth, pushCalls, pullCalls },
      goals: PUSH_GOALS,
    },
    markdown: md,
  };
}

import type { OperationCost } from "../../lambda/dynamo/capacity.js";
import { type BenchContext, type BenchQueue, LEASE_MODES, LEASE_MODE_LABELS, type LeaseMode, freshTable, queueOn } from "../lib/context.js";
import { READ_MINIMUM_PER_REQUEST, median, round } from "../lib/stats.js";
import type { ScenarioResult, TargetRow } from "../lib/types.js";
import { LAMBDA_ASSUMPTIONS, PRICE_REGION, PRICE_SOURCES, PRICES, PRICES_AS_OF } from "../prices.js";

/** Two bodies: one whose message item fits in 1 KB, and a 1 KB body (its item is just over 1 KB). */
export const BODIES = {
  small: { label: "small body (item ≤ 1 KB)", body: "s".repeat(200), wcuTarget: 7, requestTarget16: 3.5 },
  "1kb": { label: "1 KB body", body: "x".repeat(1024), wcuTarget: 9, requestTarget16: 4.5 },
} as const;
export type BodyKind = keyof typeof BODIES;

/** Requests per message allowed at consume batches of 1, whatever the body. */
export const REQUEST_TARGET_BATCH_1 = 8;
/** Write units each group beyond the first may add. */
export const EXTRA_GROUP_WCU_TARGET = 4;

export interface CostCase {
  body: BodyKind;
  groups: number;
  /** Messages per publish call (1: POST …/messages; 16: POST …/messages/batch). */
  publishBatch: number;
  /** `max` of each consume call, and handles per ack call. */
  consumeBatch: number;
  mode: LeaseMode;
  /** Runtimes the consume and ack calls go to in turn (Lambda containers; default 1: every call to the same one). */
  containers?: number;
}

/** A store operation's cost; `billedReadUnits`: DynamoDB Local's read units, but at least the service's minimum per request. */
type Cost = OperationCost & { billedReadUnits: number };

export interface CaseResult extends CostCase {
  messages: number;
  /** Median over repetitions, per message. */
  perMessage: Cost;
  /** Per store operation, per message (median over repetitions). */
  byOperation: Record<string, Cost>;
  /** Publish, consume and ack calls per message: each is one API Gateway request and one Lambda invocation. */
  apiCallsPerMessage: number;
  dollarsPerMillion: { dynamodb: number; lambda: number; apiGateway: number; total: number };
  perRepetition: Cost[];
}

const perMillion = (perMessage: number, pricePerMillion: number) => perMessage * pricePerMillion;

/** Dollars per million messages: DynamoDB at its billed units, plus one Lambda invocation and one HTTP API request per call. */
export function dollarsPerMillion(cost: Pick<Cost, "billedWriteUnits" | "billedReadUnits">, apiCallsPerMessage: number): CaseResult["dollarsPerMillion"] {
  const dynamodb = perMillion(cost.billedWriteUnits, PRICES.dynamoWritePerMillionWru) + perMillion(cost.billedReadUnits, PRICES.dynamoReadPerMillionRru);
  const gbSecondsPerCall = (LAMBDA_ASSUMPTIONS.memoryMb / 1024) * (LAMBDA_ASSUMPTIONS.billedMsPerInvocation / 1000);
  const lambda = apiCallsPerMessage * (PRICES.lambdaPerMillionRequests + gbSecondsPerCall * PRICES.lambdaArmPerGbSecond * 1e6);
  const apiGateway = perMillion(apiCallsPerMessage, PRICES.httpApiPerMillionRequests);
  return {
    dynamodb: round(dynamodb, 3),
    lambda: round(lambda, 3),
    apiGateway: round(apiGateway, 3),
    total: round(dynamodb + lambda + apiGateway, 3),
  };
}

/** The same million messages on the alternatives, each message sent, received and deleted once. */
export function alternatives(): { name: string; dollarsPerMillion: number; how: string }[] {
  const sqs = PRICES.sqsStandardPerMillionRequests;
  return [
    { name: "SQS standard, no batching", dollarsPerMillion: round(3 * sqs, 3), how: "SendMessage + ReceiveMessage + DeleteMessage = 3 requests (delays ≤ 15 min only)" },
    { name: "SQS standard, batches of 10", dollarsPerMillion: round((3 * sqs) / 10, 3), how: "the same 3 calls, 10 messages each" },
    {
      name: "EventBridge Scheduler + SQS",
      dollarsPerMillion: round(PRICES.schedulerPerMillionInvocations + 3 * sqs, 3),
      how: "one one-time schedule invocation (after the 14 M free a month) + SQS send/receive/delete",
    },
  ];
}

/** Store operations by what they are for, in the order the README's arithmetic gives them. */
export const OPERATION_KINDS: { kind: string; ops: RegExp }[] = [
  { kind: "publish (PutItem / BatchWriteItem)", ops: /^insertMessages?(:failed)?$/ },
  { kind: "claim (conditional PutItem)", ops: /^claim(New|Again)(:failed)?$/ },
  { kind: "ack (conditional UpdateItem)", ops: /^ack(:failed)?$/ },
  { kind: "lease acquire", ops: /^acquireLease(:failed)?$/ },
  { kind: "lease renew (save)", ops: /^renewLease(:failed)?$/ },
  { kind: "lease release (save)", ops: /^releaseLease(:failed)?$/ },
  { kind: "lease peek (GetItem)", ops: /^peekLease$/ },
  { kind: "topic lane reads (Query, eventual)", ops: /^readTopicLane$/ },
  { kind: "group lane reads (Query, eventual)", ops: /^readGroupLane$/ },
  { kind: "bodies (BatchGetItem, strong)", ops: /^readMessages$/ },
  { kind: "group and settings reads", ops: /^(getGroup|getTopicSettings|hasGroups|listGroups)$/ },
];

const ZERO: Cost = { requests: 0, readUnits: 0, writeUnits: 0, billedWriteUnits: 0, failedConditions: 0, billedReadUnits: 0 };

function add(a: Cost, b: Cost): Cost {
  return {
    requests: a.requests + b.requests,
    readUnits: a.readUnits + b.readUnits,
    writeUnits: a.writeUnits + b.writeUnits,
    billedWriteUnits: a.billedWriteUnits + b.billedWriteUnits,
    failedConditions: a.failedConditions + b.failedConditions,
    billedReadUnits: a.billedReadUnits + b.billedReadUnits,
  };
}

function scale(c: Cost, by: number, digits = 3): Cost {
  return {
    requests: round(c.requests / by, digits),
    readUnits: round(c.readUnits / by, digits),
    writeUnits: round(c.writeUnits / by, digits),
    billedWriteUnits: round(c.billedWriteUnits / by, digits),
    failedConditions: round(c.failedConditions / by, digits),
    billedReadUnits: round(c.billedReadUnits / by, digits),
  };
}

function medianCost(runs: readonly Cost[]): Cost {
  const pick = (k: keyof Cost) => round(median(runs.map((r) => r[k])), 3);
  return {
    requests: pick("requests"),
    readUnits: pick("readUnits"),
    writeUnits: pick("writeUnits"),
    billedWriteUnits: pick("billedWriteUnits"),
    failedConditions: pick("failedConditions"),
    billedReadUnits: pick("billedReadUnits"),
  };
}

/** Per-kind cost of one case (per message), from its per-operation figures. */
export function byKind(byOperation: Record<string, Cost>): { kind: string; cost: Cost }[] {
  const out: { kind: string; cost: Cost }[] = [];
  const used = new Set<string>();
  for (const k of OPERATION_KINDS) {
    let cost = ZERO;
    for (const [op, c] of Object.entries(byOperation))
      if (k.ops.test(op)) {
        cost = add(cost, c);
        used.add(op);
      }
    if (cost.requests > 0) out.push({ kind: k.kind, cost: scale(cost, 1) });
  }
  let other = ZERO;
  for (const [op, c] of Object.entries(byOperation)) if (!used.has(op)) other = add(other, c);
  if (other.requests > 0) out.push({ kind: `other (${Object.keys(byOperation).filter((op) => !used.has(op)).join(", ")})`, cost: scale(other, 1) });
  return out;
}

async function runOnce(ctx: BenchContext, tableName: string, topic: string, c: CostCase, messages: number): Promise<{ total: Cost; byOperation: Record<string, Cost>; calls: number }> {
  const consumers: BenchQueue[] = Array.from({ length: c.containers ?? 1 }, () => queueOn(ctx, tableName, LEASE_MODES[c.mode]));
  // On AWS the publish function runs in containers of its own: no consume call sees what it published (no
  // arrival signal, no content kept from the publish). The local runtime is one process.
  const publisher = c.mode === "lingering" ? undefined : queueOn(ctx, tableName, LEASE_MODES[c.mode]);
  const runtimes = publisher ? [...consumers, publisher] : consumers;
  const queue = (consumers[0] as BenchQueue).runtime.queue;
  const publishing = (publisher ?? (consumers[0] as BenchQueue)).runtime.queue;
  const groups = Array.from({ length: c.groups }, (_, i) => `g${i + 1}`);
  // Steady state, as in a queue in use: groups registered, settings cached, leases (when lingering) held,
  // and each group's cursor already carrying the sweeper's next look (set once, by a first delivery in flight).
  // Enough messages that every shard has had one (8 over 2 shards: all in one with probability 1/128).
  const warmUp = 8;
  // Every group registered first: a group starts at its registration, and each must take the warm-up messages.
  for (const group of groups) await queue.consume({ topic, group, waitSeconds: 0 });
  for (let i = 0; i < warmUp; i++) await publishing.publish({ topic, body: "warm-up", timing: { kind: "now" } });
  for (const group of groups)
    for (let look = 0, got = 0; look < 40 && got < warmUp; look++) {
      const batch = await queue.consume({ topic, group, max: 16, waitSeconds: 0 });
      got += batch.length;
      if (batch.length > 0) await queue.ack({ topic, group, receiptHandles: batch.map((m) => m.receiptHandle) });
    }
  for (const r of consumers.slice(1)) for (const group of groups) await r.runtime.queue.consume({ topic, group, waitSeconds: 0 });
  for (const r of runtimes) r.meter.reset();
  const body = BODIES[c.body].body;
  let calls = 0;
  for (let i = 0; i < messages; i += c.publishBatch) {
    const n = Math.min(c.publishBatch, messages - i);
    if (c.publishBatch === 1) await publishing.publish({ topic, body, timing: { kind: "now" } });
    else {
      const out = await publishing.publishBatch(Array.from({ length: n }, () => ({ topic, body, timing: { kind: "now" as const } })));
      if (out.some((o) => !o.ok)) throw new Error("a batch publish failed in the cost scenario");
    }
    calls++;
  }
  for (const group of groups) {
    let received = 0;
    for (let guard = 0; received < messages && guard < messages * 8; guard++) {
      // Calls go to the containers in turn; an ack goes where its consume went.
      const at = (consumers[guard % consumers.length] as BenchQueue).runtime.queue;
      const got = await at.consume({ topic, group, max: c.consumeBatch, waitSeconds: 0 });
      calls++;
      if (got.length === 0) continue;
      received += got.length;
      await at.ack({ topic, group, receiptHandles: got.map((m) => m.receiptHandle) });
      calls++;
    }
    if (received < messages) throw new Error(`cost case ${JSON.stringify(c)}: group ${group} received ${received} of ${messages}`);
  }
  // Read before close(): a lingering lease's final release belongs to the end of use, not to each message.
  const byOperation: Record<string, Cost> = {};
  let total = ZERO;
  for (const r of runtimes)
    for (const [op, c] of Object.entries(r.meter.snapshot())) {
      const cost = { ...c, billedReadUnits: Math.max(c.readUnits, (READ_MINIMUM_PER_REQUEST[op] ?? 0) * c.requests) };
      byOperation[op] = add(byOperation[op] ?? ZERO, cost);
      total = add(total, cost);
    }
  for (const r of runtimes) await r.runtime.queue.close();
  return { total, byOperation, calls };
}

async function runCase(ctx: BenchContext, tableName: string, index: number, c: CostCase, messages: number, reps: number): Promise<CaseResult> {
  const runs: { total: Cost; byOperation: Record<string, Cost>; calls: number }[] = [];
  for (let r = 0; r < reps; r++) runs.push(await runOnce(ctx, tableName, `cost-${index}-${r}`, c, messages));
  const perRepetition = runs.map((r) => scale(r.total, messages));
  const perMessage = medianCost(perRepetition);
  const ops = new Set(runs.flatMap((r) => Object.keys(r.byOperation)));
  const byOperation: Record<string, Cost> = {};
  for (const op of ops) byOperation[op] = medianCost(runs.map((r) => scale(r.byOperation[op] ?? ZERO, messages)));
  const apiCallsPerMessage = round(median(runs.map((r) => r.calls)) / messages, 3);
  return { ...c, messages, perMessage, byOperation, apiCallsPerMessage, dollarsPerMillion: dollarsPerMillion(perMessage, apiCallsPerMessage), perRepetition };
}

export function caseLabel(c: CostCase): string {
  return `${c.body === "small" ? "small body" : "1 KB body"}, ${c.groups} group${c.groups > 1 ? "s" : ""}, ${LEASE_MODE_LABELS[c.mode]}${(c.containers ?? 1) > 1 ? `, calls alternating over ${c.containers} containers` : ""}, publish ×${c.publishBatch}, consume/ack ×${c.consumeBatch}`;
}

export function costCases(): CostCase[] {
  const cases: CostCase[] = [];
  for (const body of ["small", "1kb"] as const)
    for (const mode of ["lambda", "release", "lingering"] as const)
      for (const publishBatch of [1, 16])
        for (const consumeBatch of [1, 16]) {
          cases.push({ body, groups: 1, publishBatch, consumeBatch, mode });
          // The extra groups' cost, against the same case with one group.
          if (publishBatch === 16) cases.push({ body, groups: 3, publishBatch, consumeBatch, mode });
        }
  // Lambda's calls need not come to the container that holds the leases: every call to the other of two containers in turn.
  for (const mode of ["lambda", "release"] as const)
    for (const consumeBatch of [1, 16]) cases.push({ body: "small", groups: 1, publishBatch: 16, consumeBatch, mode, containers: 2 });
  return cases;
}

const same = (a: CostCase, b: CostCase) =>
  a.body === b.body && a.mode === b.mode && a.publishBatch === b.publishBatch && a.consumeBatch === b.consumeBatch && (a.containers ?? 1) === (b.containers ?? 1);

function f(n: number, digits = 2): string {
  return n.toFixed(digits);
}

export async function costScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const messages = ctx.quick ? 4 : 48;
  const reps = ctx.reps;
  const cases = costCases();
  const { tableName } = await freshTable(ctx);
  const bar = ctx.bar("cost cases", cases.length);
  const results: CaseResult[] = [];
  for (const [i, c] of cases.entries()) {
    results.push(await runCase(ctx, tableName, i, c, messages, reps));
    bar.tick();
  }
  bar.finish();

  const rows: TargetRow[] = [];
  const one = results.filter((r) => r.groups === 1);
  for (const r of one) {
    const b = BODIES[r.body];
    const label = caseLabel(r).replace(", 1 group", "");
    const requestTarget = r.consumeBatch === 16 ? b.requestTarget16 : REQUEST_TARGET_BATCH_1;
    rows.push(
      {
        scenario: "cost",
        metric: `${label}: write units/msg (billed; Local reports ${f(r.perMessage.writeUnits)})`,
        target: `≤ ${b.wcuTarget}`,
        measured: f(r.perMessage.billedWriteUnits),
        pass: r.perMessage.billedWriteUnits <= b.wcuTarget,
      },
      {
        scenario: "cost",
        metric: `${label}: DynamoDB requests/msg (failed conditional writes ${f(r.perMessage.failedConditions, 3)})`,
        target: `≤ ${requestTarget}`,
        measured: f(r.perMessage.requests),
        pass: r.perMessage.requests <= requestTarget,
      },
    );
  }
  const extra: { base: CaseResult; three: CaseResult; wcu: number; requests: number; rcu: number }[] = [];
  for (const three of results.filter((r) => r.groups === 3)) {
    const base = one.find((r) => same(r, three));
    if (!base) continue;
    const wcu = round((three.perMessage.billedWriteUnits - base.perMessage.billedWriteUnits) / 2, 2);
    const requests = round((three.perMessage.requests - base.perMessage.requests) / 2, 2);
    const rcu = round((three.perMessage.billedReadUnits - base.perMessage.billedReadUnits) / 2, 2);
    extra.push({ base, three, wcu, requests, rcu });
    rows.push({
      scenario: "cost",
      metric: `each extra group (3 groups vs 1), ${caseLabel(three).replace(", 3 groups", "")}: write units/msg (and ${f(requests)} requests/msg)`,
      target: `≤ ${EXTRA_GROUP_WCU_TARGET}`,
      measured: f(wcu),
      pass: wcu <= EXTRA_GROUP_WCU_TARGET,
    });
  }
  const headline = results.find((r) => r.body === "1kb" && r.groups === 1 && r.mode === "lambda" && r.publishBatch === 16 && r.consumeBatch === 16 && (r.containers ?? 1) === 1);
  const alt = alternatives();
  if (headline)
    rows.push({
      scenario: "cost",
      metric: "$ per million 1 KB messages on AWS (1 group, Lambda leases, publish/consume/ack ×16)",
      target: "—",
      measured: `$${f(headline.dollarsPerMillion.total)} (DynamoDB ${f(headline.dollarsPerMillion.dynamodb)}); SQS ${f(alt[0]?.dollarsPerMillion ?? 0)}, Scheduler+SQS ${f(alt[2]?.dollarsPerMillion ?? 0)}`,
      pass: null,
    });

  let md = `### Per message, every case (median of ${reps} repetitions of ${messages} messages)\n\n`;
  md +=
    "| case | requests | write units billed (service rules) | write units (DynamoDB Local) | read units billed | read units (DynamoDB Local) | failed conditional writes | API calls (= Lambda invocations) | $/M DynamoDB | $/M Lambda | $/M API Gateway | $/M total |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const r of results) {
    const aws = r.mode !== "lingering";
    const d = r.dollarsPerMillion;
    md += `| ${caseLabel(r)} | ${f(r.perMessage.requests)} | ${f(r.perMessage.billedWriteUnits)} | ${f(r.perMessage.writeUnits)} | ${f(r.perMessage.billedReadUnits)} | ${f(r.perMessage.readUnits)} | ${f(r.perMessage.failedConditions, 3)} | ${f(r.apiCallsPerMessage, 3)} | ${aws ? f(d.dynamodb) : "—"} | ${aws ? f(d.lambda) : "—"} | ${aws ? f(d.apiGateway) : "—"} | ${aws ? `**${f(d.total)}**` : "—"} |\n`;
  }
  md += "\nDollars only for Lambda leases: that is how the stack runs on AWS (lingering leases are the local runtime's).\n";
  md += "\n### Each extra group\n\n| case | 1 group: WCU / requests | 3 groups: WCU / requests | per extra group: WCU / requests / RCU |\n|---|---:|---:|---:|\n";
  for (const e of extra)
    md += `| ${caseLabel(e.three).replace(", 3 groups", "")} | ${f(e.base.perMessage.billedWriteUnits)} / ${f(e.base.perMessage.requests)} | ${f(e.three.perMessage.billedWriteUnits)} / ${f(e.three.perMessage.requests)} | ${f(e.wcu)} / ${f(e.requests)} / ${f(e.rcu)} |\n`;
  md += "\n### Alternatives (same prices file)\n\n| alternative | $ per million messages | counted as |\n|---|---:|---|\n";
  for (const a of alt) md += `| ${a.name} | ${f(a.dollarsPerMillion)} | ${a.how} |\n`;

  const sample = (body: BodyKind) =>
    (["lambda", "release", "lingering"] as const).flatMap((mode) =>
      [1, 16].flatMap((consumeBatch) => one.filter((r) => r.body === body && r.mode === mode && r.publishBatch === 1 && r.consumeBatch === consumeBatch && (r.containers ?? 1) === 1)),
    );
  for (const body of ["small", "1kb"] as const) {
    const cols = sample(body);
    if (cols.length === 0) continue;
    md += `\n### Per operation, ${BODIES[body].label}, 1 group, publish ×1 (per message: requests / WCU billed / WCU by DynamoDB Local / RCU billed)\n\n`;
    md += `| operation | ${cols.map((r) => `${LEASE_MODE_LABELS[r.mode]}, consume ×${r.consumeBatch}`).join(" | ")} |\n|---|${cols.map(() => "---:").join("|")}|\n`;
    const kinds = new Map<string, Map<CaseResult, Cost>>();
    for (const r of cols) for (const k of byKind(r.byOperation)) (kinds.get(k.kind) ?? kinds.set(k.kind, new Map()).get(k.kind))?.set(r, k.cost);
    for (const [kind, byCase] of kinds) {
      md += `| ${kind} | ${cols.map((r) => {
        const c = byCase.get(r);
        return c ? `${f(c.requests, 3)} / ${f(c.billedWriteUnits, 3)} / ${f(c.writeUnits, 3)} / ${f(c.billedReadUnits, 3)}` : "—";
      }).join(" | ")} |\n`;
    }
    md += `| **total** | ${cols.map((r) => `**${f(r.perMessage.requests, 3)} / ${f(r.perMessage.billedWriteUnits, 3)} / ${f(r.perMessage.writeUnits, 3)} / ${f(r.perMessage.billedReadUnits, 3)}**`).join(" | ")} |\n`;
  }
  md += `\nPrices: ${PRICE_REGION} on-demand list prices as of ${PRICES_AS_OF} (bench/prices.ts): DynamoDB $${PRICES.dynamoWritePerMillionWru}/M write units, $${PRICES.dynamoReadPerMillionRru}/M read units; Lambda $${PRICES.lambdaPerMillionRequests}/M requests + $${PRICES.lambdaArmPerGbSecond}/GB-s (Arm; assumed ${LAMBDA_ASSUMPTIONS.billedMsPerInvocation} ms at ${LAMBDA_ASSUMPTIONS.memoryMb} MB per call); HTTP API $${PRICES.httpApiPerMillionRequests}/M; SQS $${PRICES.sqsStandardPerMillionRequests}/M requests; EventBridge Scheduler $${PRICES.schedulerPerMillionInvocations}/M invocations. Sources: ${Object.values(PRICE_SOURCES).join(", ")}. Storage, the sweeper's fixed runs (see the sweeper scenario) and idle long polls are not per message and are left out.`;
  return {
    name: "cost",
    title: "Cost per message",
    method: `Per case, ${messages} immediate messages on a fresh topic of one table, by a fresh runtime (its own CapacityMeter) whose groups have each consumed and acked 8 messages already (registered, settings cached, lingering leases held, every shard's cursor carrying its next sweeper look: the steady state of a queue in use). With Lambda leases another runtime publishes (the publish function's container: no consume call sees the content it wrote or its arrival signal); lingering, the consuming runtime does (the local runtime is one process). Publish each message (×1: POST …/messages) or 16 per call (×16: POST …/messages/batch); then each group consumes with waitSeconds 0, max 1 or 16, and acks each batch in one call. Lambda leases: as the functions run (lambda/runtime.ts: LEASE_LINGER_MS 0, LEASE_KEEP_MS 1000 — a lease written while calls answer quickly holds 2 s, is renewed after 1 s of calls and left to run out after an answer, so a container's next call within it goes on with it); Lambda leases, LEASE_KEEP_MS 0: every consume call acquires and releases its group's leases; lingering: the local runtime's default (leases kept between polls, renewed every LEASE_MS/2). "Calls alternating over 2 containers": two runtimes, each consume call (and its ack) to the other one in turn, as Lambda may route a consumer's calls; empty answers count as calls. The meter is read before the runtime closes. Billed write units are computed by the store from the items it writes, by the service's rules (lambda/dynamo/billing.ts: 1 per started KB of the item, each index change a write, a failed conditional write billed like any write); DynamoDB Local's own report (ReturnConsumedCapacity TOTAL) is beside it; read units billed are DynamoDB Local's report per operation, raised to the service's minimum per request where Local reports less (it reports 0 for a query that finds nothing; the service bills at least 0.5 for an eventually consistent lane query, 1 for a strongly consistent read; bodies are read strongly, 1 per item ≤ 4 KB). Median over ${reps} repetitions.`,
    repetitions: reps,
    rows,
    data: {
      messages,
      bodies: Object.fromEntries(Object.entries(BODIES).map(([k, v]) => [k, { label: v.label, bodyBytes: v.body.length, wcuTarget: v.wcuTarget, requestTargetBatch16: v.requestTarget16 }])),
      requestTargetBatch1: REQUEST_TARGET_BATCH_1,
      extraGroupWcuTarget: EXTRA_GROUP_WCU_TARGET,
      cases: results.map((r) => ({ ...r, label: caseLabel(r), byKind: byKind(r.byOperation) })),
      extraGroups: extra.map((e) => ({ case: caseLabel(e.three).replace(", 3 groups", ""), writeUnits: e.wcu, requests: e.requests, readUnits: e.rcu })),
      alternatives: alt,
      prices: PRICES,
      pricesAsOf: PRICES_AS_OF,
      sources: PRICE_SOURCES,
      lambdaAssumptions: LAMBDA_ASSUMPTIONS,
    },
    markdown: md,
  };
}

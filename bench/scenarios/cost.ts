import type { OperationCost } from "../../lambda/dynamo/capacity.js";
import { type BenchContext, freshQueue } from "../lib/context.js";
import { round, sleep } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";
import { LAMBDA_ASSUMPTIONS, PRICE_REGION, PRICE_SOURCES, PRICES, PRICES_AS_OF } from "../prices.js";

const BODY_1KB = "x".repeat(1024);

interface CostCase {
  timing: "immediate" | "delayed";
  groups: number;
  batch: number;
}

interface CaseResult extends CostCase {
  messages: number;
  perMessage: OperationCost;
  /** Per store operation, per message. */
  byOperation: Record<string, OperationCost>;
  /** Publish, consume and ack calls per message: each is one API Gateway request and one Lambda invocation. */
  apiCallsPerMessage: number;
  dollarsPerMillion: {
    dynamodb: number;
    lambda: number;
    apiGateway: number;
    total: number;
  };
}

const perMillion = (perMessage: number, pricePerMillion: number) => perMessage * pricePerMillion;

export function dollarsPerMillion(cost: OperationCost, apiCallsPerMessage: number): CaseResult["dollarsPerMillion"] {
  const dynamodb =
    perMillion(cost.writeUnits, PRICES.dynamoWritePerMillionWru) + perMillion(cost.readUnits, PRICES.dynamoReadPerMillionRru);
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

/** The same million 1 KB messages on the alternatives, each message sent, received and deleted once. */
export function alternatives(): {
  name: string;
  dollarsPerMillion: number;
  how: string;
}[] {
  const sqs = PRICES.sqsStandardPerMillionRequests;
  return [
    {
      name: "SQS standard, no batching",
      dollarsPerMillion: round(3 * sqs, 3),
      how: "SendMessage + ReceiveMessage + DeleteMessage = 3 requests (delay ≤ 15 min only)",
    },
    {
      name: "SQS standard, batches of 10",
      dollarsPerMillion: round((3 * sqs) / 10, 3),
      how: "the same 3 calls, 10 messages each",
    },
    {
      name: "EventBridge Scheduler + SQS",
      dollarsPerMillion: round(PRICES.schedulerPerMillionInvocations + 3 * sqs, 3),
      how: "one one-time schedule invocation (after the 14 M free a month) + SQS send/receive/delete",
    },
  ];
}

async function runCase(ctx: BenchContext, c: CostCase, messages: number): Promise<CaseResult> {
  const q = await freshQueue(ctx);
  const queue = q.runtime.queue;
  const topic = "cost";
  const groups = Array.from({ length: c.groups }, (_, i) => `g${i + 1}`);
  for (const group of groups) await queue.consume({ topic, group, waitSeconds: 0 });
  // The topic is registered by the first consume; publishes below pay only for their messages.
  q.meter.reset();
  const delayMs = c.timing === "delayed" ? (ctx.quick ? 300 : 1500) : 0;
  let calls = 0;
  for (let i = 0; i < messages; i++) {
    await queue.publish({
      topic,
      body: BODY_1KB,
      timing: delayMs > 0 ? { kind: "delay", delayMs, source: "bench" } : { kind: "now" },
    });
    calls++;
  }
  if (delayMs > 0) await sleep(delayMs + 100);
  for (const group of groups) {
    let received = 0;
    for (let guard = 0; received < messages && guard < messages * 4; guard++) {
      const got = await queue.consume({
        topic,
        group,
        max: c.batch,
        waitSeconds: 0,
      });
      calls++;
      if (got.length === 0) continue;
      received += got.length;
      await queue.ack({
        topic,
        group,
        receiptHandles: got.map((m) => m.receiptHandle),
      });
      calls++;
    }
  }
  const total = q.meter.total();
  const byOperation: Record<string, OperationCost> = {};
  for (const [op, cost] of Object.entries(q.meter.snapshot())) {
    byOperation[op] = {
      requests: round(cost.requests / messages, 3),
      readUnits: round(cost.readUnits / messages, 3),
      writeUnits: round(cost.writeUnits / messages, 3),
      billedWriteUnits: round(cost.billedWriteUnits / messages, 3),
      failedConditions: round(cost.failedConditions / messages, 3),
    };
  }
  const perMessage = {
    requests: round(total.requests / messages, 3),
    readUnits: round(total.readUnits / messages, 3),
    writeUnits: round(total.writeUnits / messages, 3),
    billedWriteUnits: round(total.billedWriteUnits / messages, 3),
    failedConditions: round(total.failedConditions / messages, 3),
  };
  const apiCallsPerMessage = round(calls / messages, 3);
  return {
    ...c,
    messages,
    perMessage,
    byOperation,
    apiCallsPerMessage,
    dollarsPerMillion: dollarsPerMillion(perMessage, apiCallsPerMessage),
  };
}

export async function costScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const messages = ctx.quick ? 4 : 64;
  const cases: CostCase[] = [];
  for (const timing of ["immediate", "delayed"] as const)
    for (const groups of [1, 3]) for (const batch of [1, 16]) cases.push({ timing, groups, batch });
  const bar = ctx.bar("cost cases", cases.length);
  const results: CaseResult[] = [];
  for (const c of cases) {
    results.push(await runCase(ctx, c, messages));
    bar.tick();
  }
  bar.finish();

  const rows: ScenarioResult["rows"] = [];
  for (const r of results.filter((x) => x.groups === 1)) {
    const label = `${r.timing}, 1 group, batch ${r.batch}`;
    rows.push(
      {
        scenario: "cost",
        metric: `${label}: requests/msg`,
        target: "≤ 5",
        measured: String(r.perMessage.requests),
        pass: r.perMessage.requests <= 5,
      },
      {
        scenario: "cost",
        metric: `${label}: write units/msg`,
        target: "≤ 5",
        measured: String(r.perMessage.writeUnits),
        pass: r.perMessage.writeUnits <= 5,
      },
      {
        scenario: "cost",
        metric: `${label}: read units/msg`,
        target: "≤ 1",
        measured: String(r.perMessage.readUnits),
        pass: r.perMessage.readUnits <= 1,
      },
    );
  }
  for (const r of results.filter((x) => x.groups === 3)) {
    rows.push({
      scenario: "cost",
      metric: `${r.timing}, 3 groups, batch ${r.batch}`,
      target: "—",
      measured: `${r.perMessage.requests} req, ${r.perMessage.writeUnits} WU, ${r.perMessage.readUnits} RU`,
      pass: null,
    });
  }
  const alt = alternatives();
  let md =
    "| case | DynamoDB requests | write units | read units | API calls (= Lambda invocations) | $ per million: DynamoDB | Lambda | API Gateway | total |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const r of results) {
    md += `| ${r.timing}, ${r.groups} group${r.groups > 1 ? "s" : ""}, batch ${r.batch} | ${r.perMessage.requests} | ${r.perMessage.writeUnits} | ${r.perMessage.readUnits} | ${r.apiCallsPerMessage} | ${r.dollarsPerMillion.dynamodb.toFixed(2)} | ${r.dollarsPerMillion.lambda.toFixed(2)} | ${r.dollarsPerMillion.apiGateway.toFixed(2)} | **${r.dollarsPerMillion.total.toFixed(2)}** |\n`;
  }
  md += "\nFor comparison (same prices file):\n\n| alternative | $ per million messages | counted as |\n|---|---:|---|\n";
  for (const a of alt) md += `| ${a.name} | ${a.dollarsPerMillion.toFixed(2)} | ${a.how} |\n`;
  const sample = results.find((x) => x.timing === "immediate" && x.groups === 1 && x.batch === 1);
  if (sample) {
    md +=
      "\nPer store operation, immediate, 1 group, batch 1 (per message):\n\n| operation | requests | write units | read units |\n|---|---:|---:|---:|\n";
    for (const [op, c] of Object.entries(sample.byOperation)) md += `| ${op} | ${c.requests} | ${c.writeUnits} | ${c.readUnits} |\n`;
  }
  md += `\nPrices: ${PRICE_REGION} on-demand list prices as of ${PRICES_AS_OF} (bench/prices.ts): DynamoDB $${PRICES.dynamoWritePerMillionWru}/M write units, $${PRICES.dynamoReadPerMillionRru}/M read units; Lambda $${PRICES.lambdaPerMillionRequests}/M requests + $${PRICES.lambdaArmPerGbSecond}/GB-s (Arm; assumed ${LAMBDA_ASSUMPTIONS.billedMsPerInvocation} ms at ${LAMBDA_ASSUMPTIONS.memoryMb} MB per call); HTTP API $${PRICES.httpApiPerMillionRequests}/M; SQS $${PRICES.sqsStandardPerMillionRequests}/M requests; EventBridge Scheduler $${PRICES.schedulerPerMillionInvocations}/M invocations. Sources: ${Object.values(PRICE_SOURCES).join(", ")}. Storage, the sweeper's fixed 43,200 runs a month and idle long polls are not per message and are left out.`;
  return {
    name: "cost",
    title: "Cost per message",
    method: `${messages} messages of 1 KB per case on a fresh table, groups registered first; publish each (delayed: ${ctx.quick ? 300 : 1500} ms delay, then wait until all are due), then each group consumes with waitSeconds 0 in batches of 1 or 16 and acks each batch in one call. DynamoDB requests and capacity units are the CapacityMeter's totals (ReturnConsumedCapacity TOTAL as DynamoDB Local reports it; failed conditional writes count as requests) divided by the message count. Deterministic, so one repetition.`,
    repetitions: 1,
    rows,
    data: {
      messages,
      cases: results,
      alternatives: alt,
      prices: PRICES,
      pricesAsOf: PRICES_AS_OF,
      sources: PRICE_SOURCES,
      lambdaAssumptions: LAMBDA_ASSUMPTIONS,
    },
    markdown: md,
  };
}

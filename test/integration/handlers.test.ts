import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { DYNAMO_ACCESS, type HandlerName, iamActions } from "../../infra/handlers.js";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { freshTable } from "../support/dynamo.js";

type Handler = (event: unknown, context?: unknown) => Promise<{ statusCode?: number; body?: string; headers?: Record<string, string> }>;

const HANDLERS: HandlerName[] = ["publish", "consume", "ack", "sweeper"];
const fixture = (name: string) => JSON.parse(readFileSync(join(PROJECT_ROOT, "test/fixtures/apigw", `${name}.json`), "utf8"));
const lambdaContext = {
  getRemainingTimeInMillis: () => 30_000,
  awsRequestId: "lambda-req-1",
  functionName: "delayq-ack",
  functionVersion: "$LATEST",
  invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:delayq-ack",
  memoryLimitInMB: "512",
};

/** Every line the handler writes to stdout while `work` runs (Powertools writes there directly, not through console.log). */
async function stdoutOf<T>(work: () => Promise<T>): Promise<{ result: T; lines: Record<string, any>[] }> {
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation(((chunk: unknown) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write);
  const result = await work().finally(() => spy.mockRestore());
  const lines = chunks
    .join("")
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
  return { result, lines };
}

/** DynamoDB operations each handler's bundle sent, recorded at the (shared, external) SDK client. */
const calls = new Map<string, Set<string>>();
let current = "";
const originalSend = DynamoDBClient.prototype.send;
const handlers = new Map<HandlerName, Handler>();

beforeAll(async () => {
  // Prepare: the table, the handlers' environment, and each handler bundled as the stack bundles it
  // (ESM, node22, AWS SDK external), inside the repository so `@aws-sdk/*` resolves.
  const table = await freshTable();
  process.env.TABLE_NAME = table.tableName;
  process.env.DYNAMODB_ENDPOINT = table.endpoint;
  process.env.AWS_REGION = "us-east-1";
  // As Lambda sets it for an on-demand container: Powertools reports the first invocation as a cold start.
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = "on-demand";
  const outdir = join(PROJECT_ROOT, "node_modules/.cache/delayq-handler-test");
  mkdirSync(outdir, { recursive: true });
  DynamoDBClient.prototype.send = function (this: DynamoDBClient, command: { constructor: { name: string } }, ...rest: unknown[]) {
    const set = calls.get(current) ?? new Set();
    set.add(command.constructor.name.replace(/Command$/, ""));
    calls.set(current, set);
    return (originalSend as any).call(this, command, ...rest);
  } as typeof originalSend;
  for (const name of HANDLERS) {
    await build({
      entryPoints: [join(PROJECT_ROOT, "lambda", `${name}.ts`)],
      outfile: join(outdir, `${name}.mjs`),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      minify: true,
      external: ["@aws-sdk/*"],
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: "silent",
    });
    const module = (await import(`${pathToFileURL(join(outdir, `${name}.mjs`)).href}?t=${Date.now()}`)) as { handler: Handler };
    handlers.set(name, module.handler);
  }
}, 120_000);

afterAll(() => {
  DynamoDBClient.prototype.send = originalSend;
});

async function invoke(name: HandlerName, event: unknown) {
  current = name;
  const handler = handlers.get(name);
  if (!handler) throw new Error(`no handler ${name}`);
  // The request arrives now (API Gateway's 30 s are counted from its timeEpoch).
  const e = event as { requestContext?: { timeEpoch?: number } };
  const fresh = e.requestContext ? { ...e, requestContext: { ...e.requestContext, timeEpoch: Date.now() } } : event;
  return handler(fresh, lambdaContext);
}

describe("bundled Lambda handlers on DynamoDB Local", () => {
  let receiptHandle = "";

  it("publish answers an API Gateway v2 event (base64 body, x-delay header) with 201; its first invocation logs and counts a cold start", async () => {
    const { result, lines } = await stdoutOf(() => invoke("publish", fixture("publish")));
    expect(lines.find((l) => l.event === "request")).toMatchObject({ cold_start: true, function_request_id: "lambda-req-1", status: 201 });
    expect(lines.find((l) => l.ColdStart !== undefined)).toMatchObject({ ColdStart: 1, function_name: "delayq-ack" });
    expect(lines.find((l) => l.Published !== undefined)).toMatchObject({ Published: 1 });
    expect(result.statusCode).toBe(201);
    expect(result.headers?.["x-request-id"]).toBe("req-publish-1");
    expect(JSON.parse(result.body ?? "")).toMatchObject({ messageId: expect.stringMatching(/^[0-9A-F]{32}$/), bodyMd5: expect.any(String) });
  });

  it("consume long-polls and returns the message with its receipt handle", async () => {
    const result = await invoke("consume", fixture("consume"));
    expect(result.statusCode).toBe(200);
    const { messages } = JSON.parse(result.body ?? "");
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ body: "order 42 timed out", tag: "timeout", properties: { orderId: "42" }, consumedTimes: 1 });
    receiptHandle = messages[0].receiptHandle;
  });

  it("ack acks by receipt handle, logs the request as Powertools JSON with its DynamoDB figures, and writes its metrics as EMF", async () => {
    const event = { ...fixture("ack"), body: JSON.stringify({ receiptHandles: [receiptHandle] }) };
    const { result, lines } = await stdoutOf(() => invoke("ack", event));
    const logged = lines.find((l) => l.event === "request");
    expect(logged).toMatchObject({ level: "INFO", message: "request", service: "delayq", function_request_id: "lambda-req-1", cold_start: true });
    expect(logged).toMatchObject({ status: 200, requestId: "req-ack-1", dynamodb: { requests: 1, readUnits: 0, writeUnits: expect.any(Number) } });
    expect(logged?.dynamodb.writeUnits).toBeGreaterThan(0);
    // EMF: the service-wide set has the ack; the operation set has the DynamoDB request of the ack.
    const emf = lines.filter((l) => l._aws?.CloudWatchMetrics);
    const service = emf.find((l) => l.Acked !== undefined);
    expect(service).toMatchObject({ service: "delayq", Acked: 1, DynamoDBRequests: 1 });
    expect(service?._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: "delayq", Dimensions: [["service"]] });
    const byOperation = emf.filter((l) => typeof l.operation === "string");
    expect(byOperation.length).toBeGreaterThan(0);
    expect(byOperation.every((l) => l.DynamoDBRequests >= 1 && l._aws.CloudWatchMetrics[0].Dimensions[0].includes("operation"))).toBe(true);
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body ?? "")).toEqual({ acked: 1, failed: [] });
  });

  it("answers bad input with a 4xx and a stable code, never a 5xx", async () => {
    const event = { ...fixture("ack"), body: "{not json" };
    const result = await invoke("ack", event);
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body ?? "").error.code).toBe("MalformedJson");
  });

  it("the sweeper answers its scheduled event with a report and writes its run as metrics", async () => {
    const { result, lines } = await stdoutOf(() => invoke("sweeper", fixture("sweeper")));
    const report = result as unknown as { indexQueries: number; failed: number };
    expect(report.indexQueries).toBe(4);
    expect(report.failed).toBe(0);
    const run = lines.find((l) => l.SweeperRuns !== undefined);
    expect(run).toMatchObject({ SweeperRuns: 1, SweeperFailed: 0, SweeperBudgetExhausted: 0, SweeperOldestDueAge: expect.any(Number) });
    const units = Object.fromEntries(run?._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string; Unit: string }) => [m.Name, m.Unit]));
    expect(units).toMatchObject({ SweeperRuns: "Count", SweeperOldestDueAge: "Milliseconds" });
  });

  it("each handler called only DynamoDB operations its IAM policy grants", () => {
    for (const name of HANDLERS) {
      const granted = new Set(iamActions(DYNAMO_ACCESS[name]).table.map((a) => a.replace("dynamodb:", "")));
      for (const operation of [...DYNAMO_ACCESS[name].table, ...DYNAMO_ACCESS[name].dueIndex]) granted.add(operation);
      const used = [...(calls.get(name) ?? [])];
      expect(used.length, name).toBeGreaterThan(0);
      expect(used.filter((op) => !granted.has(op)), `${name} used operations its role lacks`).toEqual([]);
    }
  });
});

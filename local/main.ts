import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { systemClock } from "../core/clock.js";
import { jsonLogger } from "../core/log.js";
import { firingToPublish } from "../core/schedules.js";
import { MemoryStore } from "../core/memory-store.js";
import { buildRuntime } from "../lambda/composition.js";
import { CapacityMeter } from "../lambda/dynamo/capacity.js";
import { createDynamoClient, ensureTable } from "../lambda/dynamo/client.js";
import { type DynamoLocal, startDynamoLocal } from "./dynamo-local.js";
import { LocalScheduleService } from "./local-schedules.js";
import { closeServer, startHttpServer } from "./server.js";

const HELP = `npm start [-- options]
  --in-memory        keep messages in memory only (no DynamoDB)
  --port N           HTTP port (default $PORT or 8080)
  --data-dir DIR     where embedded DynamoDB Local keeps its file (default .data/)
Environment: PORT, DYNAMODB_ENDPOINT (use that DynamoDB, start none), TABLE_NAME (default delayq),
SWEEP_INTERVAL_MS (default 5000), and the queue settings in the README.`;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    console.log(HELP);
    return;
  }
  const log = jsonLogger({ runtime: "local" }, process.env.LOG_LEVEL === "info" ? "info" : "warn");
  const port = Number(arg("--port") ?? process.env.PORT ?? 8080);
  const inMemory = process.argv.includes("--in-memory");
  const env: Record<string, string | undefined> = { ...process.env, TABLE_NAME: process.env.TABLE_NAME ?? "delayq" };
  let dynamo: DynamoLocal | undefined;
  let storeLabel = "in memory";

  if (!inMemory && !env.DYNAMODB_ENDPOINT) {
    const dataDir = resolve(arg("--data-dir") ?? ".data");
    mkdirSync(dataDir, { recursive: true });
    dynamo = await startDynamoLocal({ dbPath: dataDir });
    env.DYNAMODB_ENDPOINT = dynamo.endpoint;
    storeLabel = `DynamoDB Local (pid ${dynamo.pid}, data in ${dataDir})`;
  } else if (!inMemory) {
    storeLabel = `DynamoDB at ${env.DYNAMODB_ENDPOINT}`;
  }

  const meter = new CapacityMeter();
  let schedules: LocalScheduleService | undefined;
  const runtime = buildRuntime({
    env,
    log,
    meter,
    ...(inMemory && { store: new MemoryStore() }),
    schedules: (queue) => {
      schedules = new LocalScheduleService({ clock: systemClock, log, fire: (firing) => queue.publish(firingToPublish(firing)) });
      return schedules;
    },
  });
  if (!inMemory) await ensureTable(createDynamoClient(runtime.config.dynamoEndpoint), runtime.config.tableName);
  const server = await startHttpServer(runtime.app, port);

  const sweepEveryMs = Number(process.env.SWEEP_INTERVAL_MS ?? 5000);
  const sweeper = setInterval(() => {
    runtime.queue.sweep().catch((error) => log.error("sweep-failed", { error: String(error) }));
  }, sweepEveryMs);

  // Every minute with traffic, one line of DynamoDB requests and capacity units per store operation.
  const capacity = setInterval(() => {
    const total = meter.total();
    if (total.requests === 0) return;
    console.log(JSON.stringify({ event: "dynamodb-capacity", periodSeconds: 60, total, byOperation: meter.snapshot() }));
    meter.reset();
  }, 60_000);
  capacity.unref();

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(sweeper);
    schedules?.stopAll();
    await closeServer(server);
    await dynamo?.stop();
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  process.on("uncaughtException", (error) => {
    console.error(error);
    void stop(1);
  });

  const url = `http://127.0.0.1:${port}`;
  console.log(`delayq listening on ${url}
  store:   ${storeLabel}
  table:   ${runtime.config.tableName}, ${runtime.config.shards} shards; sweeper every ${sweepEveryMs} ms

Try it:
  curl -s -XPOST ${url}/v1/topics/orders/messages -H 'content-type: application/json' -d '{"body":"close order 42","delayMs":3000}'
  curl -s -XPOST ${url}/v1/topics/orders/groups/billing/consume -H 'content-type: application/json' -d '{"waitSeconds":10}'
  curl -s -XPOST ${url}/v1/topics/orders/groups/billing/ack -H 'content-type: application/json' -d '{"receiptHandles":["<receiptHandle>"]}'
Ctrl-C stops it (and DynamoDB Local with it).`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { systemClock } from "../core/clock.js";
import { jsonLogger } from "../core/log.js";
import { MemoryStore } from "../core/memory-store.js";
import { DEFAULT_LOCAL_MQ_CREDENTIALS, MQ_CREDENTIALS_ENV } from "../core/mq-credentials.js";
import { firingToPublish } from "../core/schedules.js";
import { buildRuntime } from "../lambda/composition.js";
import { CapacityMeter } from "../lambda/dynamo/capacity.js";
import { createDynamoClient, ensureTable } from "../lambda/dynamo/client.js";
import { type DynamoLocal, startDynamoLocal } from "./dynamo-local.js";
import { GUARD_ENV, guardOptionsFromEnv } from "./guard.js";
import { LocalScheduleService } from "./local-schedules.js";
import { localDoor } from "./local-door.js";
import { PrometheusMetrics } from "./prometheus.js";
import { startHttpServer } from "./server.js";
import { AmqpBroker } from "../core/amqp/broker.js";
import { AMQP_CREDENTIALS_ENV, DEFAULT_AMQP_USER, parseAmqpCredentials } from "../core/amqp/credentials.js";
import { startAmqpServer } from "./amqp-server.js";
import { inProcessStarter } from "./push-runner.js";

const HELP = `npm start [-- options]
  --in-memory        keep messages in memory only (no DynamoDB)
  --port N           HTTP port (default $PORT or 8080)
  --amqp-port N      AMQP 0-9-1 port (default $AMQP_PORT or 5672; 0 picks a free one)
  --data-dir DIR     where embedded DynamoDB Local keeps its file (default .data/)
Environment: PORT, AMQP_PORT, AMQP_CREDENTIALS (user:password,...; without it guest/guest from
loopback only), DYNAMODB_ENDPOINT (use that DynamoDB, start none), TABLE_NAME (default delayq),
SWEEP_INTERVAL_MS (default 5000), SHUTDOWN_GRACE_MS (default 5000), LOCAL_HOSTS (host names served
besides localhost), LOCAL_API_KEY (require it on the JSON API and /metrics), METRICS_TOPICS (topics with a label of their own
in /metrics, comma-separated; default every topic), and the queue settings in the README.`;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** The local runtime's own settings, checked once; a bad value stops startup with every problem named. */
function localSettings(env: Readonly<Record<string, string | undefined>>) {
  const problems: string[] = [];
  const int = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
    if (raw === undefined || raw === "") return fallback;
    if (!/^\d{1,10}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return Number(raw);
  };
  const settings = {
    port: int("--port / PORT", arg("--port") ?? env.PORT, 8080, 0, 65_535),
    amqpPort: int("--amqp-port / AMQP_PORT", arg("--amqp-port") ?? env.AMQP_PORT, 5672, 0, 65_535),
    sweepEveryMs: int("SWEEP_INTERVAL_MS", env.SWEEP_INTERVAL_MS, 5000, 100, 3_600_000),
    shutdownGraceMs: int("SHUTDOWN_GRACE_MS", env.SHUTDOWN_GRACE_MS, 5000, 0, 60_000),
  };
  if (problems.length > 0) throw new Error(`configuration: ${problems.join("; ")}`);
  return settings;
}

async function main(): Promise<void> {
  if (process.argv.includes("--help")) {
    console.log(HELP);
    return;
  }
  const log = jsonLogger({ runtime: "local" }, process.env.LOG_LEVEL === "info" ? "info" : "warn");
  const { port, amqpPort, sweepEveryMs, shutdownGraceMs } = localSettings(process.env);
  const amqpUsers = parseAmqpCredentials(process.env[AMQP_CREDENTIALS_ENV]);
  const inMemory = process.argv.includes("--in-memory");
  const env: Record<string, string | undefined> = { ...process.env, TABLE_NAME: process.env.TABLE_NAME ?? "delayq" };
  // The push look ahead runs on the sweeper's timer here, so it looks as far ahead as that timer's interval.
  env.PUSH_TICK_MS ??= String(sweepEveryMs);
  env.PUSH_LEAD_MS ??= "2000";
  env.PUSH_TARGET_POLICY ??= "local";
  const guard = guardOptionsFromEnv(env);
  // With an API key and no RocketMQ keys of its own, the XML door's secret is the API key, not the public default.
  if (guard.apiKey !== undefined && !env[MQ_CREDENTIALS_ENV]) env[MQ_CREDENTIALS_ENV] = `${DEFAULT_LOCAL_MQ_CREDENTIALS.accessKeyId}:${guard.apiKey}`;
  let dynamo: DynamoLocal | undefined;
  let storeLabel = "in memory";

  if (!inMemory && !env.DYNAMODB_ENDPOINT) {
    const dataDir = resolve(arg("--data-dir") ?? ".data");
    mkdirSync(dataDir, { recursive: true });
    dynamo = await startDynamoLocal({
      dbPath: dataDir,
      supervise: true,
      onExit: ({ pid, code }) => console.log(JSON.stringify({ event: "dynamodb-local-exited", pid, code, restarting: true })),
      onRestart: ({ pid, restarts, downMs }) => console.log(JSON.stringify({ event: "dynamodb-local-restarted", pid, restarts, downMs })),
    });
    env.DYNAMODB_ENDPOINT = dynamo.endpoint;
    storeLabel = `DynamoDB Local (pid ${dynamo.pid}, 127.0.0.1:${dynamo.port}, data in ${dataDir}; restarted if it exits)`;
  } else if (!inMemory) {
    storeLabel = `DynamoDB at ${env.DYNAMODB_ENDPOINT}`;
  }

  const meter = new CapacityMeter();
  const metrics = PrometheusMetrics.fromEnv(env);
  metrics.watch(meter);
  let schedules: LocalScheduleService | undefined;
  let pushRunner: ReturnType<typeof inProcessStarter> | undefined;
  const runtime = buildRuntime({
    pushStarter: (dispatcher) => {
      pushRunner = inProcessStarter(dispatcher, log);
      return pushRunner;
    },
    env,
    log,
    meter,
    metrics,
    doors: [localDoor({ metrics, log })],
    ...(inMemory && { store: new MemoryStore() }),
    schedules: (queue) => {
      schedules = new LocalScheduleService({ clock: systemClock, log, fire: (firing) => queue.publish(firingToPublish(firing)) });
      return schedules;
    },
  });
  if (!inMemory) await ensureTable(createDynamoClient(runtime.config.dynamoEndpoint), runtime.config.tableName);
  const server = await startHttpServer(runtime.app, port, { ...guard, onAnswer: (status) => metrics.answered(status) });
  const boundPort = (server.address() as { port: number }).port;
  const amqp = await startAmqpServer({ broker: new AmqpBroker(runtime.queue, log, { store: runtime.store }), clock: systemClock, log, users: amqpUsers, port: amqpPort }).catch(async (error: unknown) => {
    await server.drain(0);
    await dynamo?.stop();
    throw new Error(`AMQP door cannot listen on 127.0.0.1:${amqpPort} (${(error as Error).message}); set AMQP_PORT or --amqp-port to a free port`);
  });

  // One sweep at a time; a sweep that fails (DynamoDB restarting) is logged and the next one tries again.
  let sweeping: Promise<void> | undefined;
  const sweeper = setInterval(() => {
    sweeping ??= runtime.queue
      .sweep()
      .then(() => runtime.push.planner?.lookAhead())
      .then(
        () => undefined,
        (error) => log.error("sweep-failed", { error: String(error) }),
      )
      .finally(() => {
        sweeping = undefined;
      });
  }, sweepEveryMs);

  // Every minute with traffic, one line of DynamoDB requests and capacity units per store operation.
  const capacity = setInterval(() => {
    const total = meter.total();
    if (total.requests === 0) return;
    console.log(JSON.stringify({ event: "dynamodb-capacity", periodSeconds: 60, total, byOperation: meter.snapshot() }));
    meter.reset();
  }, 60_000);
  capacity.unref();

  /**
   * Graceful stop: no new connections; waiting long polls answer at once with what they have; requests in
   * flight finish (at most SHUTDOWN_GRACE_MS); then the sweeper, the schedules and DynamoDB Local stop.
   * A second signal while stopping exits at once (DynamoDB Local still stops with the process).
   */
  let stopping = false;
  const stop = async (code: number, reason: string) => {
    if (stopping) {
      console.log(JSON.stringify({ event: "shutdown-forced", reason }));
      process.exit(code || 1);
    }
    stopping = true;
    console.log(JSON.stringify({ event: "shutdown-started", reason, inFlight: server.inFlight(), graceMs: shutdownGraceMs }));
    const [drained, amqpDrained] = await Promise.all([server.drain(shutdownGraceMs), amqp.drain(shutdownGraceMs)]);
    clearInterval(sweeper);
    clearInterval(parentWatch);
    await sweeping;
    await pushRunner?.stop();
    schedules?.stopAll();
    await dynamo?.stop();
    console.log(JSON.stringify({ event: "shutdown-complete", drainMs: drained.tookMs, forcedRequests: drained.forced, forcedAmqpConnections: amqpDrained.forced }));
    process.exit(code);
  };
  process.on("SIGINT", () => void stop(0, "SIGINT"));
  process.on("SIGTERM", () => void stop(0, "SIGTERM"));
  process.on("SIGHUP", () => void stop(0, "SIGHUP"));
  process.on("uncaughtException", (error) => {
    console.error(error);
    void stop(1, "uncaught-exception");
  });
  // Orphaned (the npm or shell that started us is gone without passing the signal on): stop as for SIGTERM.
  const parent = process.ppid;
  const parentWatch = setInterval(() => {
    if (process.ppid !== parent) void stop(0, "parent-exited");
  }, 1000);
  parentWatch.unref();

  const url = `http://127.0.0.1:${boundPort}`;
  const security = [
    `answers Host localhost, 127.0.0.1, [::1]${guard.allowedHosts?.length ? ` and ${guard.allowedHosts.join(", ")}` : ""} only; no CORS`,
    guard.apiKey ? `${GUARD_ENV.apiKey} required on the JSON API` : `no API key (set ${GUARD_ENV.apiKey} on a shared machine)`,
  ].join("; ");
  const amqpLogin = amqpUsers.users ? `${[...amqpUsers.users.keys()][0]}:<password>` : `${DEFAULT_AMQP_USER.user}:${DEFAULT_AMQP_USER.password}`;
  const amqpUrl = `amqp://${amqpLogin}@127.0.0.1:${amqp.port}/`;
  console.log(`delayq listening on ${url} (process ${process.pid})
  console:  ${url}/console
  metrics:  ${url}/metrics (Prometheus text format)
  amqp:     ${amqpUrl} (AMQP 0-9-1; ${amqpUsers.users ? `users from ${AMQP_CREDENTIALS_ENV}` : "guest/guest from loopback only"})
  store:    ${storeLabel}
  table:    ${runtime.config.tableName}, ${runtime.config.shards} shards; sweeper every ${sweepEveryMs} ms
  security: ${security}

Try it:
  curl -s -XPOST ${url}/v1/topics/orders/messages -H 'content-type: application/json' -d '{"body":"close order 42","delayMs":3000}'
  curl -s -XPOST ${url}/v1/topics/orders/groups/billing/consume -H 'content-type: application/json' -d '{"waitSeconds":10}'
  curl -s -XPOST ${url}/v1/topics/orders/groups/billing/ack -H 'content-type: application/json' -d '{"receiptHandles":["<receiptHandle>"]}'
  AMQP: publish with header delay="3000" on any exchange, or x-delay=3000 on an x-delayed-message exchange
Ctrl-C or SIGTERM drains requests in flight (at most ${shutdownGraceMs} ms) and stops DynamoDB Local with it.`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

import { AmqpBroker } from "../core/amqp/broker.js";
import { AMQP_CREDENTIALS_ENV, parseAmqpCredentials } from "../core/amqp/credentials.js";
import { systemClock } from "../core/clock.js";
import { jsonLogger } from "../core/log.js";
import { buildRuntime } from "../lambda/composition.js";
import { CloudWatchMetrics } from "../lambda/observability.js";
import { startAmqpServer } from "./amqp-server.js";

/**
 * The AMQP door alone, for a container (e.g. an ECS Fargate task behind a Network Load Balancer): the
 * same engine and broker `npm start` serves, over the DynamoDB table the Lambda functions use. It runs no
 * sweeper (the deployment's scheduled sweeper does) and no HTTP API.
 *
 * Environment: TABLE_NAME (required), AMQP_CREDENTIALS (required: user:password,…, or one user as
 * {"username":"…","password":"…"}, the JSON of a generated Secrets Manager secret; on ECS inject it from
 * Secrets Manager with the task definition's `secrets`, as the DelayQueue construct's `amqp` option does), AMQP_HOST (default 0.0.0.0), AMQP_PORT (default
 * 5672), SHUTDOWN_GRACE_MS (default 5000), DYNAMODB_ENDPOINT (tests only), LOG_LEVEL, METRICS_NAMESPACE /
 * METRICS_TOPICS / POWERTOOLS_SERVICE_NAME (the queue's metrics, written to stdout as Embedded Metric
 * Format lines once a minute, which CloudWatch Logs turns into metrics), and the queue settings of the
 * README (SHARDS, MAX_DELAY_MS, …), which must match the deployment's.
 *
 * Run: `node --import tsx local/amqp-main.ts` (or a bundle of this file).
 */
/** How often the door writes its metrics (CloudWatch's standard resolution is a minute). */
const METRICS_FLUSH_MS = 60_000;

async function main(): Promise<void> {
  const env = process.env;
  const log = jsonLogger({ runtime: "amqp" }, env.LOG_LEVEL === "info" ? "info" : "warn");
  const problems: string[] = [];
  if (!env.TABLE_NAME) problems.push("TABLE_NAME is required (the deployment's DynamoDB table)");
  if (!env[AMQP_CREDENTIALS_ENV]) problems.push(`${AMQP_CREDENTIALS_ENV} is required: user:password,… (guest/guest works from loopback only, never through a load balancer)`);
  const port = Number(env.AMQP_PORT ?? 5672);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) problems.push(`AMQP_PORT must be a port number (got "${env.AMQP_PORT}")`);
  const graceMs = Number(env.SHUTDOWN_GRACE_MS ?? 5000);
  if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > 60_000) problems.push(`SHUTDOWN_GRACE_MS must be an integer from 0 to 60000 (got "${env.SHUTDOWN_GRACE_MS}")`);
  if (problems.length > 0) throw new Error(`configuration: ${problems.join("; ")}`);
  const users = parseAmqpCredentials(env[AMQP_CREDENTIALS_ENV]);
  const metrics = CloudWatchMetrics.fromEnv(env);
  const runtime = buildRuntime({ env, log, metrics });
  const flushing = setInterval(() => metrics.flush(), METRICS_FLUSH_MS);
  flushing.unref();
  const amqp = await startAmqpServer({ broker: new AmqpBroker(runtime.queue, log, { store: runtime.store }), clock: systemClock, log, users, host: env.AMQP_HOST ?? "0.0.0.0", port });
  console.log(JSON.stringify({ event: "amqp-listening", host: amqp.host, port: amqp.port, table: runtime.config.tableName, pid: process.pid }));
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    const drained = await amqp.drain(graceMs);
    await runtime.queue.close();
    clearInterval(flushing);
    metrics.flush();
    console.log(JSON.stringify({ event: "shutdown-complete", signal, forcedConnections: drained.forced, drainMs: drained.tookMs }));
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

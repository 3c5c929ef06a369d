import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { systemClock } from "../core/clock.js";
import { type QueueConfig, loadConfig } from "../core/config.js";
import { createApp } from "../core/http/app.js";
import type { App, Door } from "../core/http/context.js";
import { type Route, jsonDoor } from "../core/http/json-door.js";
import { lifecycleRoutes } from "../core/http/lifecycle-routes.js";
import { retryRoutes } from "../core/http/retry-routes.js";
import { rocketmqDoor, rocketmqDoorOptionsFromEnv } from "../core/http/rocketmq-door.js";
import { scheduleRoutes } from "../core/http/schedule-routes.js";
import { subscriptionRoutes } from "../core/http/subscription-routes.js";
import type { QueueMetrics } from "../core/metrics.js";
import type { Clock, Logger, QueueStore } from "../core/ports.js";
import { Queue } from "../core/queue.js";
import type { ScheduleService } from "../core/schedule-ports.js";
import type { CapacityMeter } from "./dynamo/capacity.js";
import { createDynamoClient } from "./dynamo/client.js";
import { DynamoStore } from "./dynamo/store.js";
import { mqCredentialsFor } from "./mq-credentials.js";
import { EventBridgeScheduleService, schedulerSettingsFrom } from "./schedule-service.js";

export interface Runtime {
  config: QueueConfig;
  queue: Queue;
  app: App;
  store: QueueStore;
  log: Logger;
  schedules?: ScheduleService;
}

export interface RuntimeOptions {
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  /** Use this store instead of DynamoDB (the in-memory store). */
  store?: QueueStore;
  client?: DynamoDBClient;
  clock?: Clock;
  meter?: CapacityMeter;
  /** Counters and distributions of the queue (default: none kept). */
  metrics?: QueueMetrics;
  configOverrides?: Partial<QueueConfig>;
  /** Doors served before the queue's own (the local runtime's /metrics and /console). */
  doors?: readonly Door[];
  /** Recurring schedules (the local runtime's in-process runner); by default EventBridge Scheduler when configured. */
  schedules?: (queue: Queue) => ScheduleService;
}

/** The doors every runtime serves, first match wins. */
export function buildDoors(queue: Queue, options: RuntimeOptions, log: Logger, extraRoutes: readonly Route[] = []): Door[] {
  const mq = rocketmqDoor(queue, mqCredentialsFor(options.env, log), log, {
    ...rocketmqDoorOptionsFromEnv(options.env),
    ...(options.clock && { clock: options.clock }),
  });
  return [jsonDoor(queue, log, [...extraRoutes, ...subscriptionRoutes(queue), ...retryRoutes(queue), ...lifecycleRoutes(queue.lifecycle)]), mq];
}

/** The one composition root: config, store, queue and app, for Lambda and the local runtime alike. */
export function buildRuntime(options: RuntimeOptions): Runtime {
  const config = loadConfig(options.env, { ...(options.store && { tableName: "memory" }), ...options.configOverrides });
  const store =
    options.store ??
    new DynamoStore({
      client: options.client ?? createDynamoClient(config.dynamoEndpoint),
      tableName: config.tableName,
      ...(options.meter && { meter: options.meter }),
    });
  const clock = options.clock ?? systemClock;
  const queue = new Queue({ store, clock, config, log: options.log, ...(options.metrics && { metrics: options.metrics }) });
  const schedules = options.schedules ? options.schedules(queue) : awsSchedules(options.env);
  const routes = schedules ? scheduleRoutes(schedules) : [];
  const app = createApp([...(options.doors ?? []), ...buildDoors(queue, options, options.log, routes)], options.log);
  return { config, queue, app, store, log: options.log, ...(schedules && { schedules }) };
}

/** EventBridge Scheduler when the stack deployed schedules (SCHEDULE_* set), else none. */
function awsSchedules(env: RuntimeOptions["env"]): ScheduleService | undefined {
  const settings = schedulerSettingsFrom(env);
  return settings && new EventBridgeScheduleService(new SchedulerClient({}), settings);
}

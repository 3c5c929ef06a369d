import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { systemClock } from "../core/clock.js";
import { type QueueConfig, loadConfig } from "../core/config.js";
import { createApp } from "../core/http/app.js";
import type { App, Door } from "../core/http/context.js";
import { type Route, jsonDoor } from "../core/http/json-door.js";
import { manageRoutes } from "../core/http/manage-routes.js";
import { scheduleRoutes } from "../core/http/schedule-routes.js";
import type { ScheduleService } from "../core/schedule-ports.js";
import { MessageControl } from "../core/manage.js";
import type { ManageStore } from "../core/manage-ports.js";
import { MemoryManageStore } from "../core/memory-manage-store.js";
import { MemoryStore } from "../core/memory-store.js";
import { retryRoutes } from "../core/http/retry-routes.js";
import { rocketmqDoor, rocketmqDoorOptionsFromEnv } from "../core/http/rocketmq-door.js";
import type { Clock, Logger, MessageStore } from "../core/ports.js";
import { Queue } from "../core/queue.js";
import { ArrivalSignals } from "../core/signals.js";
import type { CapacityMeter } from "./dynamo/capacity.js";
import { createDynamoClient } from "./dynamo/client.js";
import { DynamoManageStore } from "./dynamo/manage-store.js";
import { DynamoStore, type DynamoStoreOptions } from "./dynamo/store.js";
import { mqCredentialsFor } from "./mq-credentials.js";
import { EventBridgeScheduleService, schedulerSettingsFrom } from "./schedule-service.js";

export interface Runtime {
  config: QueueConfig;
  queue: Queue;
  app: App;
  store: MessageStore;
  log: Logger;
  /** Cancel, reschedule, look up, list and count; absent over a store without a ManageStore. */
  control?: MessageControl;
  schedules?: ScheduleService;
}

export interface RuntimeOptions {
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  /** Use this store instead of DynamoDB (the in-memory store). */
  store?: MessageStore;
  client?: DynamoDBClient;
  clock?: Clock;
  meter?: CapacityMeter;
  configOverrides?: Partial<QueueConfig>;
  /** Management storage beside `store` (the DynamoDB one is built with the DynamoDB store). */
  manage?: ManageStore;
  /** Recurring schedules (the local runtime's in-process runner); by default EventBridge Scheduler when configured. */
  schedules?: (queue: Queue) => ScheduleService;
}

/** The doors every runtime serves, first match wins. */
export function buildDoors(queue: Queue, options: RuntimeOptions, log: Logger, extraRoutes: readonly Route[] = []): Door[] {
  const mq = rocketmqDoor(queue, mqCredentialsFor(options.env, log), log, {
    ...rocketmqDoorOptionsFromEnv(options.env),
    ...(options.clock && { clock: options.clock }),
  });
  return [jsonDoor(queue, log, [...extraRoutes, ...retryRoutes(queue)]), mq];
}

/** The one composition root: config, store, queue and app, for Lambda and the local runtime alike. */
export function buildRuntime(options: RuntimeOptions): Runtime {
  const config = loadConfig(options.env, { ...(options.store && { tableName: "memory" }), ...options.configOverrides });
  const client = options.store ? undefined : (options.client ?? createDynamoClient(config.dynamoEndpoint));
  const dynamo = client && { client, tableName: config.tableName, ...(options.meter && { meter: options.meter }) };
  const store = options.store ?? new DynamoStore(dynamo as DynamoStoreOptions);
  const manage =
    options.manage ?? (dynamo ? new DynamoManageStore(dynamo) : options.store instanceof MemoryStore ? new MemoryManageStore(options.store) : undefined);
  const clock = options.clock ?? systemClock;
  const signals = new ArrivalSignals();
  const queue = new Queue({ store, clock, config, signals, log: options.log, ...(manage && { manage }) });
  const control = manage && new MessageControl({ store, manage, clock, config, signals, log: options.log });
  const schedules = options.schedules ? options.schedules(queue) : awsSchedules(options.env);
  const routes = [...(control ? manageRoutes(control) : []), ...(schedules ? scheduleRoutes(schedules) : [])];
  const app = createApp(buildDoors(queue, options, options.log, routes), options.log);
  return { config, queue, app, store, log: options.log, ...(control && { control }), ...(schedules && { schedules }) };
}

/** EventBridge Scheduler when the stack deployed schedules (SCHEDULE_* set), else none. */
function awsSchedules(env: RuntimeOptions["env"]): ScheduleService | undefined {
  const settings = schedulerSettingsFrom(env);
  return settings && new EventBridgeScheduleService(new SchedulerClient({}), settings);
}

import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
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
import { onFirstUse } from "./lazy.js";
import { mqCredentialsFor } from "./mq-credentials.js";
import { EventBridgeScheduleService, schedulerSettingsFrom } from "./schedule-service.js";
import { PushDispatcher, PushPlanner } from "../core/push/dispatcher.js";
import type { DispatcherStarter, PushTransports } from "../core/push/ports.js";
import type { PushPolicy } from "../core/push/target.js";
import { pushPolicyFromEnv, pushTransports } from "./push/targets.js";

export interface Runtime {
  config: QueueConfig;
  queue: Queue;
  app: App;
  store: QueueStore;
  log: Logger;
  schedules?: ScheduleService;
  push: Push;
}

/** Push delivery in a runtime: the dispatcher (run where the shard's pushes are delivered) and the planner that starts it (absent where nothing can be started). */
export interface Push {
  dispatcher: PushDispatcher;
  planner?: PushPlanner;
  starter?: DispatcherStarter;
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
  /** Which push targets are accepted (default from PUSH_TARGET_POLICY / PUSH_ALLOW_HTTP, see lambda/push/targets.ts). */
  pushPolicy?: PushPolicy;
  transports?: PushTransports;
  /** Starts a push shard's dispatcher (the local runtime's in-process one); by default an asynchronous invoke of PUSH_DISPATCHER_FUNCTION when set. */
  pushStarter?: (dispatcher: PushDispatcher) => DispatcherStarter;
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
  const queue = new Queue({ store, clock, config, log: options.log, ...(options.metrics && { metrics: options.metrics }), pushPolicy: options.pushPolicy ?? pushPolicyFromEnv(options.env) });
  const schedules = options.schedules ? options.schedules(queue) : awsSchedules(options.env);
  const routes = schedules ? scheduleRoutes(schedules) : [];
  const app = createApp([...(options.doors ?? []), ...buildDoors(queue, options, options.log, routes)], options.log);
  const dispatcher = new PushDispatcher({ queue, store, clock, log: options.log, config, transports: options.transports ?? pushTransports() });
  const starter = options.pushStarter ? options.pushStarter(dispatcher) : lambdaStarter(options.env, options.log);
  const planner = starter && new PushPlanner({ store, clock, log: options.log, config, queue, starter });
  if (planner) queue.onPublished((topic, atMs) => planner.published(topic, atMs));
  const push: Push = { dispatcher, ...(planner && { planner }), ...(starter && { starter }) };
  return { config, queue, app, store, log: options.log, push, ...(schedules && { schedules }) };
}

/** On AWS: a push shard's dispatcher is an asynchronous invoke of the dispatcher function (PUSH_DISPATCHER_FUNCTION). */
function lambdaStarter(env: RuntimeOptions["env"], log: Logger): DispatcherStarter | undefined {
  const functionName = env.PUSH_DISPATCHER_FUNCTION;
  if (!functionName) return undefined;
  const sdk = onFirstUse(() => import("@aws-sdk/client-lambda"));
  const client = onFirstUse(async () => new (await sdk()).LambdaClient({}));
  return {
    async start(shard) {
      const { InvokeCommand } = await sdk();
      await (await client()).send(new InvokeCommand({ FunctionName: functionName, InvocationType: "Event", Payload: new TextEncoder().encode(JSON.stringify({ shard })) }));
      log.info("push-dispatcher-invoked", { shard });
    },
  };
}

/** EventBridge Scheduler when the stack deployed schedules (SCHEDULE_* set), else none. */
function awsSchedules(env: RuntimeOptions["env"]): ScheduleService | undefined {
  const settings = schedulerSettingsFrom(env);
  return settings && new EventBridgeScheduleService(undefined, settings);
}

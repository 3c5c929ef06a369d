import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { systemClock } from "../core/clock.js";
import { type QueueConfig, loadConfig } from "../core/config.js";
import { createApp } from "../core/http/app.js";
import type { App, Door } from "../core/http/context.js";
import { jsonDoor } from "../core/http/json-door.js";
import { rocketmqDoor, rocketmqDoorOptionsFromEnv } from "../core/http/rocketmq-door.js";
import type { Clock, Logger, MessageStore } from "../core/ports.js";
import { Queue } from "../core/queue.js";
import { ArrivalSignals } from "../core/signals.js";
import type { CapacityMeter } from "./dynamo/capacity.js";
import { createDynamoClient } from "./dynamo/client.js";
import { DynamoStore } from "./dynamo/store.js";
import { mqCredentialsFor } from "./mq-credentials.js";

export interface Runtime {
  config: QueueConfig;
  queue: Queue;
  app: App;
  store: MessageStore;
  log: Logger;
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
}

/** The doors every runtime serves, first match wins. */
export function buildDoors(queue: Queue, options: RuntimeOptions, log: Logger): Door[] {
  const mq = rocketmqDoor(queue, mqCredentialsFor(options.env, log), log, {
    ...rocketmqDoorOptionsFromEnv(options.env),
    ...(options.clock && { clock: options.clock }),
  });
  return [jsonDoor(queue, log), mq];
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
  const queue = new Queue({ store, clock: options.clock ?? systemClock, config, signals: new ArrivalSignals(), log: options.log });
  const app = createApp(buildDoors(queue, options, options.log), options.log);
  return { config, queue, app, store, log: options.log };
}

import { randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { QueueConfig } from "../../core/config.js";
import { silentLogger } from "../../core/ports.js";
import { buildRuntime, type Runtime } from "../../lambda/composition.js";
import { CapacityMeter } from "../../lambda/dynamo/capacity.js";
import { createDynamoClient, ensureTable } from "../../lambda/dynamo/client.js";
import type { DynamoStore } from "../../lambda/dynamo/store.js";
import { Progress } from "./progress.js";

/** What every scenario gets: the DynamoDB Local endpoint, the run's size and a way to make fresh queues. */
export interface BenchContext {
  endpoint: string;
  quick: boolean;
  /** Progress bars on stderr. */
  progress: boolean;
  /** Repetitions per measurement (medians are reported). */
  reps: number;
  /** Local sweeper cadence of `npm start` (SWEEP_INTERVAL_MS default), used beside every in-process queue. */
  sweepEveryMs: number;
  note(line: string): void;
  bar(label: string, total: number): Progress;
}

export interface BenchQueue {
  runtime: Runtime;
  store: DynamoStore;
  meter: CapacityMeter;
  client: DynamoDBClient;
  tableName: string;
  /** Starts the local runtime's sweeper timer; returns its stop function. */
  startSweeper(everyMs: number): () => void;
}

/**
 * A fresh table on the run's DynamoDB Local and the local runtime's composition over it: buildRuntime
 * (DynamoStore with a CapacityMeter, Queue with ArrivalSignals), used in-process.
 */
export async function freshQueue(ctx: BenchContext, overrides: Partial<QueueConfig> = {}): Promise<BenchQueue> {
  const tableName = `bench-${randomUUID().slice(0, 8)}`;
  const client = createDynamoClient(ctx.endpoint);
  await ensureTable(client, tableName);
  const meter = new CapacityMeter();
  const runtime = buildRuntime({
    env: { TABLE_NAME: tableName, DYNAMODB_ENDPOINT: ctx.endpoint },
    log: silentLogger,
    client,
    meter,
    configOverrides: overrides,
  });
  return {
    runtime,
    store: runtime.store as unknown as DynamoStore,
    meter,
    client,
    tableName,
    startSweeper(everyMs) {
      const timer = setInterval(() => {
        runtime.queue.sweep().catch(() => {});
      }, everyMs);
      return () => clearInterval(timer);
    },
  };
}

export function makeContext(options: { endpoint: string; quick: boolean; progress: boolean; reps?: number }): BenchContext {
  return {
    endpoint: options.endpoint,
    quick: options.quick,
    progress: options.progress,
    reps: options.reps ?? (options.quick ? 1 : 3),
    sweepEveryMs: 5000,
    note: (line) => {
      if (options.progress) process.stderr.write(`${line}\n`);
    },
    bar: (label, total) => new Progress(label, total, options.progress),
  };
}

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
 * Lease modes. Lambda as deployed (lambda/runtime.ts): no lingering, and a lease written while calls answer
 * quickly is left to run out after the answer (LEASE_KEEP_MS 1000); `release`: Lambda with LEASE_KEEP_MS 0,
 * every lease released before each answer; `lingering`: the local runtime's default, leases kept between polls.
 */
export const LEASE_MODES = {
  lambda: { leaseLingerMs: 0, leaseKeepMs: 1_000 },
  release: { leaseLingerMs: 0, leaseKeepMs: 0 },
  lingering: {},
} as const satisfies Record<string, Partial<QueueConfig>>;
export type LeaseMode = keyof typeof LEASE_MODES;

export const LEASE_MODE_LABELS: Record<LeaseMode, string> = {
  lambda: "Lambda leases",
  release: "Lambda leases, LEASE_KEEP_MS 0",
  lingering: "lingering leases",
};

/** A fresh table on the run's DynamoDB Local. */
export async function freshTable(ctx: BenchContext): Promise<{ client: DynamoDBClient; tableName: string }> {
  const tableName = `bench-${randomUUID().slice(0, 8)}`;
  const client = createDynamoClient(ctx.endpoint);
  await ensureTable(client, tableName);
  return { client, tableName };
}

/**
 * The local runtime's composition over an existing table: buildRuntime (DynamoStore with its own
 * CapacityMeter, Queue with in-process arrival signals), used in-process. Without `client`, a DynamoDB
 * client of its own — a queue of another process, as far as the table can tell.
 */
export function queueOn(ctx: BenchContext, tableName: string, overrides: Partial<QueueConfig> = {}, client?: DynamoDBClient): BenchQueue {
  const ownClient = client ?? createDynamoClient(ctx.endpoint);
  const meter = new CapacityMeter();
  const runtime = buildRuntime({
    env: { TABLE_NAME: tableName, DYNAMODB_ENDPOINT: ctx.endpoint },
    log: silentLogger,
    client: ownClient,
    meter,
    configOverrides: overrides,
  });
  return {
    runtime,
    store: runtime.store as unknown as DynamoStore,
    meter,
    client: ownClient,
    tableName,
    startSweeper(everyMs) {
      const timer = setInterval(() => {
        runtime.queue.sweep().catch(() => {});
      }, everyMs);
      return () => clearInterval(timer);
    },
  };
}

/** A fresh table and the local runtime's composition over it. */
export async function freshQueue(ctx: BenchContext, overrides: Partial<QueueConfig> = {}): Promise<BenchQueue> {
  const { client, tableName } = await freshTable(ctx);
  return queueOn(ctx, tableName, overrides, client);
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

import { randomUUID } from "node:crypto";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { inject } from "vitest";
import type { ManualClock } from "../../core/clock.js";
import type { QueueStore } from "../../core/ports.js";
import { CapacityMeter } from "../../lambda/dynamo/capacity.js";
import { createDynamoClient, ensureTable } from "../../lambda/dynamo/client.js";
import { DynamoStore } from "../../lambda/dynamo/store.js";
import type { ContractTarget } from "../contract/queue-contract.js";
import { type FaultOptions, type FaultStats, injectFaults } from "./faults.js";

export interface TestTable {
  client: DynamoDBClient;
  tableName: string;
  endpoint: string;
  store: DynamoStore;
  meter: CapacityMeter;
  faults?: FaultStats;
}

/** A fresh table on the run's shared DynamoDB Local (started by globalSetup). */
export async function freshTable(faults?: FaultOptions): Promise<TestTable> {
  const endpoint = inject("dynamoEndpoint");
  const tableName = `t-${randomUUID()}`;
  await ensureTable(createDynamoClient(endpoint), tableName);
  const client = createDynamoClient(endpoint);
  const stats = faults ? injectFaults(client, faults) : undefined;
  const meter = new CapacityMeter();
  return { client, tableName, endpoint, store: new DynamoStore({ client, tableName, meter }), meter, ...(stats && { faults: stats }) };
}

/**
 * Another process's store on the same table: its own SDK client (and so its own retry budget, as each
 * Lambda container has), with its own fault injector when the table has one.
 */
export function anotherProcess(table: TestTable, faults?: FaultOptions): { store: DynamoStore; faults?: FaultStats } {
  const client = createDynamoClient(table.endpoint);
  const stats = faults ? injectFaults(client, faults) : undefined;
  return { store: new DynamoStore({ client, tableName: table.tableName, meter: table.meter }), ...(stats && { faults: stats }) };
}

/**
 * A contract target on DynamoDB Local: a fresh table per case; with faults, every process's client injects
 * its own (seeded). `bulkFaults` replace `faults` in the bulk cases.
 */
export function dynamoTarget(name: string, options: { bulk?: boolean; faults?: FaultOptions; bulkFaults?: FaultOptions } = {}): ContractTarget {
  const tables = new WeakMap<QueueStore, { table: TestTable; faults: FaultOptions | undefined }>();
  let seed = options.faults?.seed ?? 0;
  const faultsFor = (faults: FaultOptions | undefined, clock: ManualClock) => faults && { ...faults, seed: seed++, now: () => clock.nowMs() };
  return {
    name,
    ...(options.faults && { lagging: true }),
    ...(options.bulk && { bulk: true }),
    newStore: async (clock, use) => {
      const faults = use === "bulk" ? (options.bulkFaults ?? options.faults) : options.faults;
      const table = await freshTable(faultsFor(faults, clock));
      tables.set(table.store, { table, faults });
      return table.store;
    },
    otherStore: (store, clock) => {
      const known = tables.get(store);
      return known ? anotherProcess(known.table, faultsFor(known.faults, clock)).store : store;
    },
  };
}

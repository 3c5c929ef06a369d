/** Nearest-rank percentile of an unsorted sample (p in 0–100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface Distribution {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function distribution(values: readonly number[]): Distribution {
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    count: values.length,
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    max: values.length > 0 ? Math.max(...values) : Number.NaN,
    mean: values.length > 0 ? sum / values.length : Number.NaN,
  };
}

/** The median of each field over several distributions (one per repetition). */
export function medianDistribution(runs: readonly Distribution[]): Distribution {
  const pick = (k: keyof Distribution) => median(runs.map((r) => r[k]));
  return {
    count: pick("count"),
    p50: pick("p50"),
    p90: pick("p90"),
    p99: pick("p99"),
    max: pick("max"),
    mean: pick("mean"),
  };
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Runs `worker` over `items` with at most `concurrency` in flight. */
export async function pool<T>(items: readonly T[], concurrency: number, worker: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      await worker(items[i] as T, i);
    }
  });
  await Promise.all(lanes);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** DynamoDB requests per message by store operation, from the meter (`:failed` = lost conditional write or transaction). */
/** Several meters' snapshots summed per operation (a run whose requests several runtimes made). */
export function mergeSnapshots(snapshots: readonly Record<string, { requests: number; failedConditions: number }>[]): Record<string, { requests: number; failedConditions: number }> {
  const merged: Record<string, { requests: number; failedConditions: number }> = {};
  for (const s of snapshots)
    for (const [op, c] of Object.entries(s)) {
      const m = merged[op] ?? { requests: 0, failedConditions: 0 };
      m.requests += c.requests;
      m.failedConditions += c.failedConditions;
      merged[op] = m;
    }
  return merged;
}

export function requestsPerMessage(snapshot: Record<string, { requests: number }>, messages: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [op, c] of Object.entries(snapshot)) out[op] = Math.round((c.requests / Math.max(1, messages)) * 1000) / 1000;
  return out;
}

/**
 * The least read units the service bills per request of each store read (lambda/dynamo/store.ts): an
 * eventually consistent Query or GetItem costs at least 0.5 even when it finds nothing, a strongly
 * consistent one at least 1. DynamoDB Local reports 0 for a query that returns no items.
 */
export const READ_MINIMUM_PER_REQUEST: Record<string, number> = {
  readTopicLane: 0.5,
  readGroupLane: 0.5,
  readDeadLane: 0.5,
  laneHistogram: 0.5,
  dueWork: 0.5,
  peekLease: 0.5,
  getTopicSettings: 0.5,
  getGroup: 1,
  hasGroups: 1,
  listGroups: 1,
  listTopics: 1,
  listLeases: 1,
  readDelivery: 1,
  readMessage: 1,
  inspect: 1,
  ping: 0.5,
};

/** Read units as billed: per operation, what DynamoDB Local reported, but at least the minimum per request. */
export function billedReadUnits(snapshot: Record<string, { requests: number; readUnits: number }>): number {
  let total = 0;
  for (const [op, c] of Object.entries(snapshot)) total += Math.max(c.readUnits, (READ_MINIMUM_PER_REQUEST[op] ?? 0) * c.requests);
  return total;
}

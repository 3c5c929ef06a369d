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
export function requestsPerMessage(snapshot: Record<string, { requests: number }>, messages: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [op, c] of Object.entries(snapshot)) out[op] = Math.round((c.requests / Math.max(1, messages)) * 1000) / 1000;
  return out;
}

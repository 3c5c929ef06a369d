import { describe, expect, it } from "vitest";
import { systemClock } from "../../core/clock.js";
import { loadConfig } from "../../core/config.js";
import type { ReceivedMessage } from "../../core/message.js";
import { Queue } from "../../core/queue.js";
import { anotherProcess, freshTable } from "../support/dynamo.js";
import type { FaultOptions, FaultStats } from "../support/faults.js";

const GROUPS = ["g1", "g2"];
const CONSUMERS_PER_GROUP = 4;

async function race(messages: number, faults?: FaultOptions) {
  const MESSAGES = messages;
  // Prepare: one table; each consumer is its own Queue (its own process, as separate Lambda containers)
  const table = await freshTable(faults);
  const config = loadConfig({ TABLE_NAME: table.tableName, SHARDS: "4", POLL_INTERVAL_MS: "200" });
  // Each consumer is its own process (as a Lambda container is): its own SDK client and retry budget.
  let seed = faults?.seed ?? 0;
  const processes: FaultStats[] = [];
  const newQueue = () => {
    const other = anotherProcess(table, faults && { ...faults, seed: ++seed });
    if (other.faults) processes.push(other.faults);
    return new Queue({ store: other.store, clock: systemClock, config });
  };
  const topic = `race-${Date.now()}`;
  const publisher = newQueue();
  for (const group of GROUPS) await publisher.consume({ topic, group });
  const ids: string[] = [];
  for (let i = 0; i < MESSAGES; i += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, MESSAGES - i) }, (_, j) =>
        publisher.publish({ topic, body: `m${i + j}`, timing: { kind: "delay", delayMs: (i + j) % 7 === 0 ? 300 : 0, source: "delayMs" } }),
      ),
    );
    ids.push(...batch.map((r) => r.messageId));
  }
  // Act: 8 consumers race, each acking what it receives; a sweeper runs beside them
  const deliveries = new Map<string, ReceivedMessage[]>(GROUPS.map((g) => [g, []]));
  const acked = new Map<string, Set<string>>(GROUPS.map((g) => [g, new Set()]));
  const deadline = Date.now() + 200_000;
  const consumer = async (group: string) => {
    const queue = newQueue();
    const mine = deliveries.get(group) as ReceivedMessage[];
    const done = acked.get(group) as Set<string>;
    while (done.size < MESSAGES && Date.now() < deadline) {
      const batch = await queue.consume({ topic, group, max: 16, waitSeconds: 1, visibilitySeconds: 120 });
      mine.push(...batch);
      if (batch.length === 0) continue;
      const result = await queue.ack({ topic, group, receiptHandles: batch.map((m) => m.receiptHandle) });
      expect(result.failed).toEqual([]);
      for (const m of batch) done.add(m.messageId);
    }
  };
  const sweeping = (async () => {
    const queue = newQueue();
    while ([...acked.values()].some((s) => s.size < MESSAGES) && Date.now() < deadline) {
      await queue.sweep();
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  await Promise.all([...GROUPS.flatMap((g) => Array.from({ length: CONSUMERS_PER_GROUP }, () => consumer(g))), sweeping]);
  const total = (key: keyof FaultStats) => processes.reduce((n, s) => n + s[key], 0);
  return { ids, deliveries, acked, faults: faults && { lostResponses: total("lostResponses"), staleReads: total("staleReads"), throttled: total("throttled") }, messages };
}

function assessExactlyOncePerGroup(result: Awaited<ReturnType<typeof race>>) {
  const MESSAGES = result.messages;
  for (const group of GROUPS) {
    const got = result.deliveries.get(group) ?? [];
    // Visibility (120 s) outlasts the run: each message is delivered exactly once per group, and all acked.
    expect(got.length, `${group} deliveries`).toBe(MESSAGES);
    expect(new Set(got.map((m) => m.messageId)), `${group} distinct`).toEqual(new Set(result.ids));
    expect(result.acked.get(group)?.size).toBe(MESSAGES);
    expect(got.every((m) => m.consumedTimes === 1 && m.firstConsumedAtMs >= m.deliverAtMs)).toBe(true);
  }
}

describe("8 consumers racing in 2 groups", () => {
  it("over 500 messages: each delivered once per group per visibility window; all acked, none lost", async () => {
    assessExactlyOncePerGroup(await race(500));
  }, 240_000);

  it("over 500 messages, exact while DynamoDB throttles, loses write responses and serves a lagging index", async () => {
    const result = await race(500, { seed: 42, throttle: 0.03, lostResponse: 0.05, staleIndex: 0.2 });
    assessExactlyOncePerGroup(result);
    expect(result.faults?.lostResponses).toBeGreaterThan(0);
    expect(result.faults?.staleReads).toBeGreaterThan(0);
  }, 240_000);
});

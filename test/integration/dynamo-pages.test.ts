import { describe, expect, it } from "vitest";
import { systemClock } from "../../core/clock.js";
import { loadConfig } from "../../core/config.js";
import type { LanePosition } from "../../core/ports.js";
import { Queue } from "../../core/queue.js";
import { freshTable } from "../support/dynamo.js";

/**
 * A Query answers at most 1 MB, whatever its `Limit` (DynamoDB Local counts whole items, so 1 KB bodies
 * cut an index page after about 900 entries). A page cut by its size is not the end of the lane.
 */
describe("due index pages on DynamoDB Local", () => {
  it("a page cut by its size says more follow, and reading on from its last entry gives every entry once", { timeout: 120_000 }, async () => {
    const table = await freshTable();
    const queue = new Queue({ store: table.store, clock: systemClock, config: loadConfig({ TABLE_NAME: table.tableName, SHARDS: "1" }) });
    const topic = `pages-${Date.now()}`;
    const body = "x".repeat(1024);
    const ids = new Set<string>();
    for (let i = 0; i < 1200; i += 16) {
      const out = await queue.publishBatch(Array.from({ length: 16 }, () => ({ topic, body, timing: { kind: "delay" as const, delayMs: 3_600_000, source: "delayMs" as const } })));
      for (const r of out) if (r.ok) ids.add(r.result.messageId);
    }
    expect(ids.size).toBe(1200);
    const lane = { kind: "topic" as const, topic, shard: 0 };
    const first = await table.store.readLane(lane, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }, 5000);
    expect(first.entries.length).toBeLessThan(1200);
    expect(first.more).toBe(true);
    const seen = first.entries.map((e) => e.messageId);
    let after: LanePosition | undefined = first.entries.at(-1);
    for (let page = 0; page < 10 && after; page++) {
      const read = await table.store.readLane(lane, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, after }, 5000);
      seen.push(...read.entries.map((e) => e.messageId));
      const last = read.entries.at(-1);
      after = read.more && last ? { dueAtMs: last.dueAtMs, messageId: last.messageId } : undefined;
    }
    expect(seen.length).toBe(1200);
    expect(new Set(seen)).toEqual(ids);
    await queue.close();
  });
});

import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { DAY_MS, loadConfig } from "../../core/config.js";
import { MemoryStore } from "../../core/memory-store.js";
import { Queue } from "../../core/queue.js";
import { backoffMs, isExpired, parseNackDelayMs, parseTtlMs, redeliverAtMs, ttlExpiresAtMs } from "../../core/retry-rules.js";
import { SETTINGS_CACHE_TTL_MS } from "../../core/groups.js";
import { parseGroupSettings, parseTopicSettings, resolveGroupSettings } from "../../core/settings.js";

const NOW = Date.UTC(2026, 0, 1);
const exponential = { mode: "exponential" as const, baseSeconds: 1, capSeconds: 8 };

describe("message TTL", () => {
  it("expires at publish + min(message TTL, topic TTL) + delay; no TTL without either", () => {
    expect(ttlExpiresAtMs(NOW, NOW + 5000, 10_000, 60_000)).toBe(NOW + 15_000);
    expect(ttlExpiresAtMs(NOW, NOW + 5000, 90_000, 60_000)).toBe(NOW + 65_000);
    expect(ttlExpiresAtMs(NOW, NOW, undefined, 60_000)).toBe(NOW + 60_000);
    expect(ttlExpiresAtMs(NOW, NOW, 1000, undefined)).toBe(NOW + 1000);
    expect(ttlExpiresAtMs(NOW, NOW + 5000)).toBeUndefined();
  });

  it("is expired at and after its instant, never before", () => {
    expect(isExpired(NOW, NOW - 1)).toBe(false);
    expect(isExpired(NOW, NOW)).toBe(true);
    expect(isExpired(undefined, NOW)).toBe(false);
  });

  it("takes ttlMs as an integer of ms ≥ 1", () => {
    expect(parseTtlMs(1)).toBe(1);
    expect(parseTtlMs(undefined)).toBeUndefined();
    for (const bad of [0, -1, 1.5, "100", 400 * DAY_MS]) expect(() => parseTtlMs(bad)).toThrow(/ttlMs must be an integer/);
  });

  it("is applied by publish with a fixed clock, from the topic's default and the message's own", async () => {
    // Prepare
    const clock = new ManualClock(NOW);
    const store = new MemoryStore();
    const queue = new Queue({ store, clock, config: loadConfig({ TABLE_NAME: "t" }) });
    await queue.groups.putTopic("t", { messageTtlMs: 60_000 });
    // Act
    await queue.publish({ topic: "t", body: "a", ttlMs: 10_000, timing: { kind: "delay", delayMs: 5000, source: "delayMs" } });
    await queue.publish({ topic: "t", body: "b", timing: { kind: "now" } });
    // Assess
    const lane = (shard: number) => store.readLane({ kind: "topic", topic: "t", shard }, { fromMs: 0, toMs: NOW + 10_000 }, 10);
    const ttls = [...(await lane(0)).entries, ...(await lane(1)).entries].map((e) => e.ttlExpiresAtMs).sort();
    expect(ttls).toEqual([NOW + 15_000, NOW + 60_000]);
  });
});

describe("retry backoff", () => {
  it("is 1 s, 2 s, 4 s, 8 s, then capped, for exponential base 1 s cap 8 s", () => {
    expect([1, 2, 3, 4, 5, 6, 100].map((n) => backoffMs(exponential, n))).toEqual([1000, 2000, 4000, 8000, 8000, 8000, 8000]);
  });

  it("is the base every time when fixed, and nothing by default", () => {
    expect([1, 2, 9].map((n) => backoffMs({ mode: "fixed", baseSeconds: 3, capSeconds: 3 }, n))).toEqual([3000, 3000, 3000]);
    expect(backoffMs(resolveGroupSettings(undefined).retryBackoff, 4)).toBe(0);
  });

  it("makes a delivery due at visibility end + backoff, except the last allowed one", () => {
    const visibleUntil = NOW + 30_000;
    expect(redeliverAtMs(visibleUntil, exponential, 1, 5)).toBe(visibleUntil + 1000);
    expect(redeliverAtMs(visibleUntil, exponential, 4, 5)).toBe(visibleUntil + 8000);
    expect(redeliverAtMs(visibleUntil, exponential, 5, 5)).toBe(visibleUntil);
  });

  it("takes a nack delay from 0 to 12 h, or none", () => {
    expect(parseNackDelayMs(0)).toBe(0);
    expect(parseNackDelayMs(undefined)).toBeUndefined();
    for (const bad of [-1, 0.5, "1000", 43_200_001]) expect(() => parseNackDelayMs(bad)).toThrow(/delayMs must be an integer/);
  });
});

describe("maxReceiveCount with a fixed clock", () => {
  it("delivers exactly maxReceiveCount times, then dead-letters at the end of the last visibility", async () => {
    // Prepare
    const clock = new ManualClock(NOW);
    const queue = new Queue({ store: new MemoryStore(), clock, config: loadConfig({ TABLE_NAME: "t" }) });
    await queue.groups.put("t", "g", { maxReceiveCount: 3, visibilitySeconds: 10 });
    await queue.publish({ topic: "t", body: "x", timing: { kind: "now" } });
    // Act
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      for (const m of await queue.consume({ topic: "t", group: "g" })) counts.push(m.consumedTimes);
      clock.advance(10_000);
    }
    // Assess
    expect(counts).toEqual([1, 2, 3]);
    const { deadLetters } = await queue.retry.listDeadLetters({ topic: "t", group: "g" });
    expect(deadLetters.map((d) => [d.consumedTimes, d.failedAtMs])).toEqual([[3, NOW + 30_000]]);
  });
});

describe("settings", () => {
  it("parses every field and fills defaults on read", () => {
    expect(parseTopicSettings({ maxDelayMs: 0, overMaxDelay: "reject", messageTtlMs: 5, retentionMs: 60_000 })).toEqual({
      maxDelayMs: 0,
      overMaxDelay: "reject",
      messageTtlMs: 5,
      retentionMs: 60_000,
    });
    expect(parseGroupSettings({ deadLetter: "off", tagFilter: "a||b", retryBackoff: { mode: "fixed", baseSeconds: 2 } })).toEqual({
      deadLetter: false,
      tagFilter: ["a", "b"],
      retryBackoff: { mode: "fixed", baseSeconds: 2, capSeconds: 2 },
    });
    expect(resolveGroupSettings({})).toEqual({
      visibilitySeconds: undefined,
      maxReceiveCount: 16,
      retryBackoff: { mode: "fixed", baseSeconds: 0, capSeconds: 0 },
      deadLetter: true,
      tagFilter: undefined,
    });
  });

  it("are read at publish through a cache that another process's change reaches within its TTL", async () => {
    // Prepare: two queues over one store, as two Lambda containers
    const clock = new ManualClock(NOW);
    const store = new MemoryStore();
    const config = loadConfig({ TABLE_NAME: "t" });
    const publisher = new Queue({ store, clock, config });
    const admin = new Queue({ store, clock, config });
    const far = { kind: "delay" as const, delayMs: 20_000, source: "delayMs" };
    await publisher.publish({ topic: "t", body: "warm", timing: { kind: "now" } });
    // Act
    await admin.groups.putTopic("t", { maxDelayMs: 10_000, overMaxDelay: "reject" });
    const cached = await publisher.publish({ topic: "t", body: "x", timing: far });
    clock.advance(SETTINGS_CACHE_TTL_MS);
    const refreshed = publisher.publish({ topic: "t", body: "x", timing: far });
    // Assess
    expect(cached.deliverAtMs).toBe(NOW + 20_000);
    await expect(refreshed).rejects.toMatchObject({ code: "InvalidArgument" });
  });
});

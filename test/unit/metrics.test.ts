import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { loadConfig } from "../../core/config.js";
import { MemoryStore } from "../../core/memory-store.js";
import { DeliveryDoor, type QueueMetrics, type SweepFigures, topicDimensions } from "../../core/metrics.js";
import { Queue } from "../../core/queue.js";

const T0 = Date.UTC(2026, 11, 1, 9, 0, 0);

/** A QueueMetrics that writes down every call. */
function recording() {
  const calls: { verb: string; topic?: string; label?: string; value: number }[] = [];
  const sweeps: SweepFigures[] = [];
  const metrics: QueueMetrics = {
    published: (topic, n) => calls.push({ verb: "published", topic, value: n }),
    delivered: (topic, door, n) => calls.push({ verb: "delivered", topic, label: door, value: n }),
    redelivered: (topic, n) => calls.push({ verb: "redelivered", topic, value: n }),
    lateness: (topic, ms) => calls.push({ verb: "lateness", topic, value: ms }),
    acked: (topic, n) => calls.push({ verb: "acked", topic, value: n }),
    nacked: (topic, n) => calls.push({ verb: "nacked", topic, value: n }),
    deadLettered: (topic, reason, n) => calls.push({ verb: "deadLettered", topic, label: reason, value: n }),
    expired: (topic, n) => calls.push({ verb: "expired", topic, value: n }),
    cancelled: (topic, n) => calls.push({ verb: "cancelled", topic, value: n }),
    redriven: (topic, n) => calls.push({ verb: "redriven", topic, value: n }),
    swept: (figures) => sweeps.push(figures),
  };
  const total = (verb: string, label?: string) =>
    calls.filter((c) => c.verb === verb && (label === undefined || c.label === label)).reduce((sum, c) => sum + c.value, 0);
  return { metrics, calls, sweeps, total };
}

function harness() {
  const clock = new ManualClock(T0);
  const rec = recording();
  const queue = new Queue({
    store: new MemoryStore(),
    clock,
    config: loadConfig({ TABLE_NAME: "memory", LEASE_LINGER_MS: "0", CANCEL_MARGIN_MS: "0" }),
    metrics: rec.metrics,
  });
  const delay = (delayMs: number) => ({ kind: "delay" as const, delayMs, source: "delayMs" });
  return { clock, queue, delay, ...rec };
}

describe("queue metrics (the core's port)", () => {
  it("counts stored publishes once: a repeated dedupId is not counted again, a batch counts each stored message", async () => {
    // Prepare
    const { queue, delay, total } = harness();

    // Act
    await queue.publish({ topic: "orders", body: "a", timing: delay(1000), dedupId: "d-1" });
    await queue.publish({ topic: "orders", body: "a", timing: delay(1000), dedupId: "d-1" });
    await queue.publishBatch([
      { topic: "orders", body: "b", timing: delay(0) },
      { topic: "orders", body: "c", timing: delay(0) },
    ]);

    // Assess
    expect(total("published")).toBe(3);
  });

  it("counts deliveries by door, lateness from the deliver time for first deliveries only, redeliveries, acks and nacks", async () => {
    // Prepare
    const { clock, queue, delay, calls, total } = harness();
    await queue.publish({ topic: "orders", body: "x", timing: delay(5000) });
    await queue.publish({ topic: "orders", body: "y", timing: delay(5000) });
    clock.advance(5000 + 120);

    // Act
    const first = await queue.consume({ topic: "orders", group: "billing", max: 2, visibilitySeconds: 10, door: DeliveryDoor.RocketMq });
    await queue.ack({ topic: "orders", group: "billing", receiptHandles: [first[0]?.receiptHandle] });
    await queue.retry.nack({ topic: "orders", group: "billing", receiptHandle: first[1]?.receiptHandle, delayMs: 0 });
    const again = await queue.consume({ topic: "orders", group: "billing", max: 2 });

    // Assess
    expect(first).toHaveLength(2);
    expect(again).toHaveLength(1);
    expect(total("delivered", "rocketmq")).toBe(2);
    expect(total("delivered", "json")).toBe(1);
    expect(calls.filter((c) => c.verb === "lateness").map((c) => c.value)).toEqual([120, 120]);
    expect(total("redelivered")).toBe(1);
    expect(total("acked")).toBe(1);
    expect(total("nacked")).toBe(1);
  });

  it("counts a delivery dead-lettered past maxReceiveCount, its redrive, an expired message and a cancel", async () => {
    // Prepare
    const { clock, queue, delay, total } = harness();
    await queue.groups.put("orders", "billing", { maxReceiveCount: 1 });
    await queue.publish({ topic: "orders", body: "poison", timing: delay(0) });
    await queue.publish({ topic: "orders", body: "short-lived", timing: delay(2000), ttlMs: 1 });
    const later = await queue.publish({ topic: "orders", body: "later", timing: delay(60_000) });

    // Act
    const [poison] = await queue.consume({ topic: "orders", group: "billing", visibilitySeconds: 1 });
    await queue.retry.nack({ topic: "orders", group: "billing", receiptHandle: poison?.receiptHandle });
    clock.advance(3000);
    await queue.consume({ topic: "orders", group: "billing" });
    await queue.retry.redrive({ topic: "orders", group: "billing", all: true });
    await queue.lifecycle.cancel("orders", later.messageId);

    // Assess
    expect(total("deadLettered", "maxReceiveCount")).toBe(1);
    expect(total("deadLettered", "expired")).toBe(1);
    expect(total("expired")).toBe(1);
    expect(total("redriven")).toBe(2);
    expect(total("cancelled")).toBe(1);
  });

  it("reports each sweeper run with how long its oldest work had been due", async () => {
    // Prepare
    const { clock, queue, delay, sweeps } = harness();
    await queue.publish({ topic: "orders", body: "x", timing: delay(0) });
    await queue.consume({ topic: "orders", group: "billing", visibilitySeconds: 1 });
    clock.advance(90_000);

    // Act
    await queue.sweep();

    // Assess
    expect(sweeps).toHaveLength(1);
    const run = sweeps[0] as SweepFigures;
    expect(run.looked).toBeGreaterThan(0);
    expect(run.oldestDueAgeMs).toBeGreaterThan(0);
    expect(run.oldestDueAgeMs).toBeLessThanOrEqual(90_000);
    expect(run.budgetExhausted).toBe(false);
  });

  it("gives a topic its own dimension only when configured", () => {
    // Prepare
    const listed = topicDimensions("orders, payments", "none");

    // Act, Assess
    expect([listed.has("orders"), listed.has("payments"), listed.has("other")]).toEqual([true, true, false]);
    expect(topicDimensions("*", "none").has("anything")).toBe(true);
    expect(topicDimensions(undefined, "none").has("orders")).toBe(false);
    expect(topicDimensions("", "all").has("orders")).toBe(true);
  });
});

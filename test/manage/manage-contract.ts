import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { type QueueConfig, loadConfig } from "../../core/config.js";
import type { ReceivedMessage } from "../../core/message.js";
import { Queue } from "../../core/queue.js";
import type { ContractTarget } from "../contract/queue-contract.js";

export type ManageTarget = ContractTarget;

export const T0 = Date.UTC(2031, 10, 22, 12, 0, 0);
let seq = 0;

export async function manageHarness(target: ManageTarget, overrides: Partial<QueueConfig> = {}) {
  const clock = new ManualClock(T0);
  const store = await target.newStore(clock);
  const config = loadConfig({ TABLE_NAME: "manage", LEASE_LINGER_MS: "0" }, overrides);
  const queue = new Queue({ store, clock, config });
  const control = queue.lifecycle;
  const topic = `mt-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  const lagging = target.lagging ?? false;
  /** Consumes until nothing more comes (looking a few more times on a lagging index). */
  const drain = async (group: string, visibilitySeconds = 300): Promise<ReceivedMessage[]> => {
    const got: ReceivedMessage[] = [];
    for (let empty = 0; empty < (lagging ? 6 : 1); ) {
      const batch = await queue.consume({ topic, group, max: 16, visibilitySeconds });
      got.push(...batch);
      empty = batch.length === 0 ? empty + 1 : 0;
    }
    return got;
  };
  const publishAt = (deliverAtMs: number, extra: { key?: string; tag?: string; body?: string } = {}) =>
    queue.publish({ topic, body: extra.body ?? "x", ...extra, timing: { kind: "at", deliverAtMs, source: "deliverAt" } });
  return { store, clock, config, queue, control, topic, drain, publishAt, lagging };
}

/** Calls again on a 503-class fault (exhausted throttling retries), as a client does; anything else is thrown. */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= 5 || (error as { code?: string }).code !== "ServiceUnavailable") throw error;
    }
  }
}

/** Management behaviour every store pair must give: memory, DynamoDB Local, DynamoDB Local with faults. */
export function manageContract(target: ManageTarget): void {
  describe(`managing messages on ${target.name}`, () => {
    it("cancels a scheduled message for good; a repeat cancel says cancelled; an unknown id is 404", async () => {
      // Prepare
      const h = await manageHarness(target);
      await h.queue.consume({ topic: h.topic, group: "g" });
      const { messageId } = await h.publishAt(T0 + 5000);
      // Act
      const first = await h.control.cancel(h.topic, messageId);
      const again = await h.control.cancel(h.topic, messageId);
      h.clock.advance(10_000);
      const delivered = await h.drain("g");
      // Assess
      expect(first).toEqual({ messageId, outcome: "cancelled" });
      expect(again.outcome).toBe("cancelled");
      expect(delivered).toEqual([]);
      expect((await h.control.get(h.topic, messageId)).record).toMatchObject({ message: { state: "cancelled", cancelledAtMs: T0 }, deliveries: [] });
      await expect(h.control.cancel(h.topic, "0".repeat(32))).rejects.toMatchObject({ code: "MessageNotExist" });
      await expect(h.control.cancel(h.topic, "nope")).rejects.toMatchObject({ code: "InvalidArgument" });
    });

    it("answers already-delivered once the deliver time has come (or is within the cancel margin)", async () => {
      const h = await manageHarness(target);
      await h.queue.consume({ topic: h.topic, group: "g" });
      const { messageId } = await h.publishAt(T0);
      const [m] = await h.drain("g");
      const outcome = await h.control.cancel(h.topic, messageId);
      const moved = await h.control.reschedule(h.topic, messageId, { kind: "delay", delayMs: 1000, source: "delayMs" });
      expect(m?.messageId).toBe(messageId);
      expect(outcome.outcome).toBe("already-delivered");
      expect(moved).toEqual({ messageId, outcome: "already-delivered" });
      const soon = await h.publishAt(T0 + h.config.cancelMarginMs);
      expect((await h.control.cancel(h.topic, soon.messageId)).outcome).toBe("already-delivered");
      const later = await h.publishAt(T0 + h.config.cancelMarginMs + 1);
      expect((await h.control.cancel(h.topic, later.messageId)).outcome).toBe("cancelled");
    });

    it("cancels by key every message that still waits, and says which were delivered", async () => {
      const h = await manageHarness(target);
      await h.queue.consume({ topic: h.topic, group: "g" });
      const delivered = await h.publishAt(T0, { key: "order-7" });
      await h.drain("g");
      const a = await h.publishAt(T0 + 60_000, { key: "order-7" });
      const b = await h.publishAt(T0 + 120_000, { key: "order-7" });
      const other = await h.publishAt(T0 + 60_000, { key: "order-8" });
      const result = await h.control.cancelByKey(h.topic, "order-7");
      h.clock.advance(200_000);
      const later = await h.drain("g");
      expect(result.key).toBe("order-7");
      expect([...result.results].sort((x, y) => (x.messageId < y.messageId ? -1 : 1))).toEqual(
        [
          { messageId: delivered.messageId, outcome: "already-delivered" },
          { messageId: a.messageId, outcome: "cancelled" },
          { messageId: b.messageId, outcome: "cancelled" },
        ].sort((x, y) => (x.messageId < y.messageId ? -1 : 1)),
      );
      expect(later.map((m) => m.messageId)).toEqual([other.messageId]);
      await expect(h.control.cancelByKey(h.topic, "no-such-key")).rejects.toMatchObject({ code: "MessageNotExist" });
    });

    it("reschedules later, earlier and to now; never early against the new time", async () => {
      const h = await manageHarness(target);
      await h.queue.consume({ topic: h.topic, group: "g" });
      const later = await h.publishAt(T0 + 5000, { body: "later" });
      const now = await h.publishAt(T0 + 3_600_000, { body: "now" });
      const r1 = await h.control.reschedule(h.topic, later.messageId, { kind: "delay", delayMs: 10_000, source: "delayMs" });
      const r2 = await h.control.reschedule(h.topic, now.messageId, { kind: "now" });
      const first = await h.drain("g");
      h.clock.advance(9999);
      const early = await h.drain("g");
      h.clock.advance(1);
      const onTime = await h.drain("g");
      expect(r1).toEqual({ messageId: later.messageId, outcome: "rescheduled", deliverAtMs: T0 + 10_000 });
      expect(r2).toEqual({ messageId: now.messageId, outcome: "rescheduled", deliverAtMs: T0 });
      expect(first.map((m) => [m.body, m.deliverAtMs])).toEqual([["now", T0]]);
      expect(early).toEqual([]);
      expect(onTime.map((m) => [m.body, m.deliverAtMs])).toEqual([["later", T0 + 10_000]]);
    });

    it("reschedules by the publish rules: past means now, over the maximum by the topic's policy; cancelled stays cancelled", async () => {
      const h = await manageHarness(target, { maxDelayMs: 60_000, overMaxDelay: "reject" });
      const { messageId } = await h.publishAt(T0 + 5000);
      await expect(h.control.reschedule(h.topic, messageId, { kind: "delay", delayMs: 60_001, source: "delayMs" })).rejects.toMatchObject({
        code: "InvalidArgument",
      });
      const past = await h.control.reschedule(h.topic, messageId, { kind: "at", deliverAtMs: T0 - 5, source: "deliverAt" });
      const other = await h.publishAt(T0 + 5000);
      await h.control.cancel(h.topic, other.messageId);
      const afterCancel = await h.control.reschedule(h.topic, other.messageId, { kind: "now" });
      expect(past.deliverAtMs).toBe(T0);
      expect(afterCancel).toEqual({ messageId: other.messageId, outcome: "cancelled" });
      await expect(h.control.reschedule(h.topic, "A".repeat(32), { kind: "now" })).rejects.toMatchObject({ code: "MessageNotExist" });
    });

    it("returns a repeat publish with the same dedupId as the original for the message's whole life", async () => {
      const h = await manageHarness(target, { retentionMs: 3_600_000 });
      await h.queue.consume({ topic: h.topic, group: "g" });
      const first = await h.queue.publish({ topic: h.topic, body: "pay 42", dedupId: "pay-42", timing: { kind: "delay", delayMs: 5000, source: "delayMs" } });
      h.clock.advance(1000);
      const repeat = await h.queue.publish({ topic: h.topic, body: "pay 42", dedupId: "pay-42", timing: { kind: "now" } });
      h.clock.advance(4000);
      const delivered = await h.drain("g");
      h.clock.advance(3_000_000);
      const stillRepeat = await h.queue.publish({ topic: h.topic, body: "pay 42", dedupId: "pay-42", timing: { kind: "now" } });
      h.clock.advance(700_000);
      const afterLife = await h.queue.publish({ topic: h.topic, body: "pay 42", dedupId: "pay-42", timing: { kind: "now" } });
      expect(first.duplicate).toBeUndefined();
      expect(repeat).toEqual({ messageId: first.messageId, bodyMd5: first.bodyMd5, deliverAtMs: T0 + 5000, duplicate: true });
      expect(delivered.map((m) => m.messageId)).toEqual([first.messageId]);
      expect(stillRepeat).toMatchObject({ messageId: first.messageId, duplicate: true });
      expect(afterLife.messageId).not.toBe(first.messageId);
      expect(afterLife.duplicate).toBeUndefined();
      expect((await h.control.get(h.topic, first.messageId)).record.message.content.dedupId).toBe("pay-42");
    });

    it("finishes a publish that stopped after its dedup record: the repeat stores the original id", async () => {
      const h = await manageHarness(target);
      await h.queue.consume({ topic: h.topic, group: "g" });
      const orphanId = `${"0".repeat(12)}${"AB".repeat(10)}`;
      await h.store.claimDedup(h.topic, "half", { messageId: orphanId, bodyMd5: "X", publishedAtMs: T0 - 10, deliverAtMs: T0, expiresAtMs: T0 + 86_400_000 }, T0);
      const repeat = await h.queue.publish({ topic: h.topic, body: "finish me", dedupId: "half", timing: { kind: "now" } });
      const delivered = await h.drain("g");
      expect(repeat).toMatchObject({ messageId: orphanId, duplicate: true, deliverAtMs: T0 });
      expect(delivered.map((m) => [m.messageId, m.body])).toEqual([[orphanId, "finish me"]]);
    });

    it("looks a message up with its state and every group's delivery state", async () => {
      const h = await manageHarness(target);
      for (const g of ["a", "b", "c"]) await h.queue.consume({ topic: h.topic, group: g });
      const { messageId } = await h.queue.publish({
        topic: h.topic,
        body: "hello",
        tag: "t1",
        key: "k1",
        properties: { p: "1" },
        timing: { kind: "at", deliverAtMs: T0 + 1000, source: "deliverAt", local: { wallClock: "2031-11-22T20:00:01", timeZone: "Asia/Shanghai" } },
      });
      const before = await h.control.get(h.topic, messageId);
      h.clock.advance(1000);
      const [a] = await h.drain("a", 30);
      const [b] = await h.drain("b", 30);
      await h.queue.ack({ topic: h.topic, group: "b", receiptHandles: [b?.receiptHandle] });
      const after = await h.control.get(h.topic, messageId);
      expect(before.record).toMatchObject({
        message: { state: "scheduled" },
      });
      expect(before.record.message).toMatchObject({
        content: {
          body: "hello",
          tag: "t1",
          key: "k1",
          properties: { p: "1" },
          publishedAtMs: T0,
          deliverAtMs: T0 + 1000,
          local: { wallClock: "2031-11-22T20:00:01", timeZone: "Asia/Shanghai" },
        },
      });
      expect(before.record.deliveries).toEqual([]);
      expect(a?.messageId).toBe(messageId);
      const byGroup = Object.fromEntries(after.record.deliveries.map((d) => [d.group, d]));
      expect(byGroup.a).toMatchObject({ state: "active", consumedTimes: 1, dueAtMs: T0 + 31_000, firstConsumedAtMs: T0 + 1000 });
      expect(byGroup.b).toMatchObject({ state: "acked", consumedTimes: 1 });
      // Group c has not taken it yet: it has no delivery of it until its consumer does.
      expect(byGroup.c).toBeUndefined();
    });

    it("lists scheduled messages in a window in deliver-time order, by tag, a page at a time", async () => {
      const h = await manageHarness(target, { shards: 3 });
      const published: { id: string; at: number; tag: string }[] = [];
      for (let i = 0; i < 40; i++) {
        const at = T0 + 1000 * ((i * 7) % 40) + 1000;
        const tag = i % 2 === 0 ? "even" : "odd";
        published.push({ id: (await h.publishAt(at, { tag })).messageId, at, tag });
      }
      const cancelled = published[3] as { id: string };
      await h.control.cancel(h.topic, cancelled.id);
      const seen: { messageId: string; deliverAt: number }[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await h.control.list(h.topic, { from: String(T0 + 5000), to: new Date(T0 + 30_000).toISOString(), limit: "7", cursor: cursor ?? null });
        seen.push(...page.messages.map((m) => ({ messageId: m.messageId, deliverAt: m.deliverAtMs })));
        cursor = page.cursor;
        pages++;
      } while (cursor && pages < 50);
      const expected = published.filter((p) => p.at >= T0 + 5000 && p.at <= T0 + 30_000 && p.id !== cancelled.id);
      const tagged = await h.control.list(h.topic, { tag: "odd", limit: "1000" });
      if (!target.lagging) {
        expect(seen.map((s) => s.messageId).sort()).toEqual(expected.map((p) => p.id).sort());
        expect(tagged.messages.map((m) => m.messageId).sort()).toEqual(published.filter((p) => p.tag === "odd" && p.id !== cancelled.id).map((p) => p.id).sort());
      }
      expect(new Set(seen.map((s) => s.messageId)).size).toBe(seen.length);
      expect(seen.map((s) => s.deliverAt)).toEqual([...seen.map((s) => s.deliverAt)].sort((x, y) => x - y));
      await expect(h.control.list(h.topic, { state: "released" })).rejects.toMatchObject({ code: "InvalidArgument" });
      await expect(h.control.list(h.topic, { cursor: "garbage" })).rejects.toMatchObject({ code: "InvalidArgument" });
    });

    it("races cancel and reschedule against consumers at the deliver time, with clocks apart by less than the margin: one definite outcome each, nothing delivered after a cancel", async () => {
      // Prepare: consumers in one process, cancels and reschedules from another whose clock is off by up to ±900 ms
      const rounds = target.lagging ? 100 : 200;
      const batch = 20;
      const h = await manageHarness(target, { shards: 2, cancelMarginMs: 1000 });
      const skewed = new ManualClock(T0);
      const other = new Queue({ store: target.otherStore?.(h.store, skewed) ?? h.store, clock: skewed, config: h.config });
      await h.queue.consume({ topic: h.topic, group: "g" });
      const outcomes = new Map<string, string>();
      const delivered: string[] = [];
      const consumeAll = async () => {
        for (let empty = 0; empty < (h.lagging ? 4 : 2); ) {
          const got = await retried(() => h.queue.consume({ topic: h.topic, group: "g", max: 16, visibilitySeconds: 3600 * 3 }));
          delivered.push(...got.map((m) => m.messageId));
          if (got.length > 0) await retried(() => h.queue.ack({ topic: h.topic, group: "g", receiptHandles: got.map((m) => m.receiptHandle) }));
          empty = got.length === 0 ? empty + 1 : 0;
        }
      };
      // Act
      for (let start = 0; start < rounds; start += batch) {
        const dueAtMs = h.clock.nowMs() + 2000;
        const ids = (await Promise.all(Array.from({ length: batch }, () => h.publishAt(dueAtMs)))).map((r) => r.messageId);
        // Clocks less than the margin apart, alternately on either side of the point of no return.
        const r = start / batch;
        if (r % 2 === 0) {
          skewed.set(dueAtMs - 1000 - 1 - ((r * 37) % 300));
          h.clock.set(skewed.nowMs() + ((r * 53) % 900));
        } else {
          h.clock.set(dueAtMs + ((r * 29) % 200));
          skewed.set(h.clock.nowMs() - ((r * 41) % 900));
        }
        await Promise.all([
          ...ids.map(async (id, i) => {
            const result = await retried<{ outcome: string }>(() =>
              i % 2 === 0
                ? other.lifecycle.cancel(h.topic, id)
                : other.lifecycle.reschedule(h.topic, id, { kind: "delay", delayMs: 3_600_000, source: "delayMs" }),
            );
            outcomes.set(id, `${i % 2 === 0 ? "cancel" : "reschedule"}:${result.outcome}`);
          }),
          consumeAll(),
          consumeAll(),
        ]);
        h.clock.set(Math.max(h.clock.nowMs(), dueAtMs) + 1);
        await consumeAll();
      }
      const now = new Set(delivered);
      h.clock.advance(3_600_000 + 5000);
      const before = delivered.length;
      await consumeAll();
      const later = delivered.slice(before);
      // Assess
      expect(outcomes.size).toBe(rounds);
      for (const [id, outcome] of outcomes) {
        expect(["cancel:cancelled", "cancel:already-delivered", "reschedule:rescheduled", "reschedule:already-delivered"]).toContain(outcome);
        if (outcome.endsWith("already-delivered")) expect(now.has(id), `${id} ${outcome}`).toBe(true);
        else expect(now.has(id), `${id} ${outcome}`).toBe(false);
      }
      const cancelled = [...outcomes].filter(([, o]) => o === "cancel:cancelled").map(([id]) => id);
      const moved = [...outcomes].filter(([, o]) => o === "reschedule:rescheduled").map(([id]) => id);
      expect(later.filter((id) => cancelled.includes(id))).toEqual([]);
      if (!h.lagging) expect([...later].sort()).toEqual([...moved].sort());
      expect(new Set(delivered).size).toBe(delivered.length);
      expect(cancelled.length + moved.length).toBeGreaterThan(0);
      expect(outcomes.size - cancelled.length - moved.length).toBeGreaterThan(0);
    });

    it("counts scheduled, due, in flight and the forecast from the due index", async () => {
      const h = await manageHarness(target, { shards: 2 });
      await h.queue.consume({ topic: h.topic, group: "g" });
      for (const delayMs of [0, 0, 30_000, 600_000, 7_200_000, 172_800_000, 1_000_000_000]) {
        await h.queue.publish({ topic: h.topic, body: "x", timing: { kind: "delay", delayMs, source: "delayMs" } });
      }
      const [taken] = await h.drain("g", 60);
      h.clock.advance(1000);
      const stats = await h.control.stats(h.topic);
      expect(taken).toBeDefined();
      if (!target.lagging) {
        expect(stats).toMatchObject({
          scheduled: 5,
          dueWithin: { minute: 1, hour: 2, day: 3, week: 4 },
          groups: { g: { ready: 0, inFlight: 2, deadLettered: 0 } },
          groupsTruncated: false,
          lanesRead: 2 + 2 * 2 + 1,
        });
      }
      h.clock.advance(60_000);
      const later = await h.control.stats(h.topic);
      if (!target.lagging) {
        // The 30 s message is due and not taken; both taken at T0 are visible again (visibility 60 s).
        expect(later).toMatchObject({ groups: { g: { ready: 3, inFlight: 0 } } });
        expect(later.oldestDueAgeMs).toBe(31_000);
      }
    });

    it.skipIf(!target.bulk)("lists thousands of messages over many shards: every one exactly once, in order; stats agree", async () => {
      // Prepare
      const h = await manageHarness(target, { shards: 8 });
      const total = 2000;
      const published = new Map<string, number>();
      for (let start = 0; start < total; start += 100) {
        const batch = await Promise.all(
          Array.from({ length: 100 }, (_, i) => {
            const at = T0 + 1000 + ((start + i) * 7919) % 86_400_000;
            return h.publishAt(at, { tag: (start + i) % 3 === 0 ? "three" : "other" }).then((r) => [r.messageId, at] as const);
          }),
        );
        for (const [id, at] of batch) published.set(id, at);
      }
      // Act
      const seen: { messageId: string; deliverAtMs: number }[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await h.control.list(h.topic, { limit: "300", cursor });
        seen.push(...page.messages);
        cursor = page.cursor ?? null;
        pages++;
      } while (cursor && pages < 100);
      const windowed = await h.control.list(h.topic, { from: String(T0 + 3_600_000), to: String(T0 + 7_200_000), limit: "1000" });
      const stats = await h.control.stats(h.topic);
      // Assess
      expect(seen).toHaveLength(total);
      expect(new Set(seen.map((m) => m.messageId)).size).toBe(total);
      for (const m of seen) expect(published.get(m.messageId)).toBe(m.deliverAtMs);
      expect(seen.map((m) => m.deliverAtMs)).toEqual([...seen.map((m) => m.deliverAtMs)].sort((a, b) => a - b));
      expect(pages).toBe(Math.ceil(total / 300));
      const inWindow = [...published.values()].filter((at) => at >= T0 + 3_600_000 && at <= T0 + 7_200_000).length;
      expect(windowed.messages).toHaveLength(inWindow);
      expect(stats.scheduled).toBe(total);
      expect(stats.dueWithin.day).toBe([...published.values()].filter((at) => at <= T0 + 86_400_000).length);
      expect(stats.dueWithin.hour).toBe([...published.values()].filter((at) => at <= T0 + 3_600_000).length);
    });
  });
}

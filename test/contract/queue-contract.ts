import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { type QueueConfig, loadConfig } from "../../core/config.js";
import type { ReceivedMessage } from "../../core/message.js";
import type { MessageStore } from "../../core/ports.js";
import { type ConsumeInput, Queue } from "../../core/queue.js";
import { ArrivalSignals } from "../../core/signals.js";
import { track, waitFor } from "../support/wait.js";

export interface ContractTarget {
  name: string;
  /**
   * The store's index may lag (as DynamoDB's GSI does): a due message may be missed by one look and
   * found by a later one. Cases then look again instead of expecting the first look to find it;
   * exactness (never early, never twice per visibility window, never lost) is asserted the same.
   */
  lagging?: boolean;
  /** A fresh, empty store per test. */
  newStore(): Promise<MessageStore>;
}

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
let topicSeq = 0;

let lagging = false;

function harness(store: MessageStore, overrides: Partial<QueueConfig> = {}, withSignals = true) {
  const clock = new ManualClock(T0);
  const config = loadConfig({ TABLE_NAME: "contract" }, overrides);
  const signals = withSignals ? new ArrivalSignals() : undefined;
  const queue = new Queue({ store, clock, config, ...(signals && { signals }) });
  const topic = `topic-${++topicSeq}-${Math.random().toString(36).slice(2, 8)}`;
  /** A second process on the same store: no in-process signals reach the first one. */
  const otherProcess = () => new Queue({ store, clock, config });
  const sleeping = (what = "the long poll to sleep") => waitFor(() => clock.pendingSleepers > 0, 10_000, what);
  /** Consumes (no waiting) until `count` messages came, looking again while a lagging index hides them. */
  const take = async (input: Omit<ConsumeInput, "topic">, count: number): Promise<ReceivedMessage[]> => {
    const got: ReceivedMessage[] = [];
    for (let look = 0, last = 1; look < 60 && got.length < count && (lagging || last > 0); look++) {
      const batch = await queue.consume({ topic, ...input, max: Math.min(16, Math.max(1, count - got.length)) });
      got.push(...batch);
      last = batch.length;
    }
    return got;
  };
  /** Lets a waiting poll finish: at once when the index is exact, else by re-checks one poll interval apart. */
  const finish = async (poll: { promise: Promise<ReceivedMessage[]>; settled: () => boolean }) => {
    for (let i = 0; lagging && !poll.settled() && i < 200; i++) {
      await sleeping().catch(() => undefined);
      clock.advance(100);
      await new Promise((r) => setTimeout(r, 1));
    }
    return poll.promise;
  };
  return { clock, queue, topic, otherProcess, sleeping, config, take, finish };
}

/** Counts store calls by method, to measure what an idle long poll costs. */
function counting(store: MessageStore): { store: MessageStore; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/** The behaviour every MessageStore must give the queue. Runs on the memory store, DynamoDB Local, and DynamoDB Local with injected faults. */
export function queueContract(target: ContractTarget): void {
  describe(`queue contract on ${target.name}`, () => {
    beforeAll(() => {
      lagging = target.lagging ?? false;
    });

    it("delivers an immediate message with every field, then hides it until nextVisibleAt", async () => {
      // Prepare
      const { queue, topic, take } = harness(await target.newStore());
      const published = await queue.publish({
        topic,
        body: "héllo",
        tag: "TagA",
        key: "order-1",
        properties: { a: "1" },
        timing: { kind: "now" },
      });
      // Act
      const [m] = await take({ group: "g1", visibilitySeconds: 30 }, 1);
      const again = await queue.consume({ topic, group: "g1" });
      // Assess
      expect(m).toMatchObject({
        messageId: published.messageId,
        body: "héllo",
        bodyMd5: published.bodyMd5,
        tag: "TagA",
        key: "order-1",
        properties: { a: "1" },
        publishedAtMs: T0,
        deliverAtMs: T0,
        firstConsumedAtMs: T0,
        nextVisibleAtMs: T0 + 30_000,
        consumedTimes: 1,
      });
      expect(published.bodyMd5).toBe(createHash("md5").update("héllo", "utf8").digest("hex").toUpperCase());
      expect(again).toEqual([]);
    });

    it("never delivers early: due at exactly deliverAt, not a millisecond before", async () => {
      const { queue, topic, clock, take } = harness(await target.newStore());
      const { deliverAtMs } = await queue.publish({ topic, body: "x", timing: { kind: "delay", delayMs: 5000, source: "delayMs" } });
      expect(deliverAtMs).toBe(T0 + 5000);
      clock.advance(4999);
      expect(await queue.consume({ topic, group: "g" })).toEqual([]);
      expect(await take({ group: "g" }, 1)).toEqual([]);
      clock.advance(1);
      const got = await take({ group: "g" }, 1);
      expect(got.map((m) => m.deliverAtMs)).toEqual([T0 + 5000]);
    });

    it("wakes a waiting long poll at the due time it already knows of", async () => {
      const { queue, topic, clock, sleeping, finish } = harness(await target.newStore(), {}, false);
      await queue.publish({ topic, body: "x", timing: { kind: "delay", delayMs: 3000, source: "delayMs" } });
      const poll = track(queue.consume({ topic, group: "g", waitSeconds: 20 }));
      await sleeping();
      clock.advance(2999);
      await sleeping("the poll to sleep again just short of the due time");
      expect(poll.settled()).toBe(false);
      clock.advance(1);
      const [m] = await finish(poll);
      if (lagging) expect(m?.firstConsumedAtMs).toBeGreaterThanOrEqual(T0 + 3000);
      else expect(m?.firstConsumedAtMs).toBe(T0 + 3000);
    });

    it("finds a message published by another process while it waits within one poll interval", async () => {
      const { queue, topic, clock, sleeping, otherProcess, finish } = harness(await target.newStore(), {}, false);
      const poll = track(queue.consume({ topic, group: "g", waitSeconds: 20 }));
      await sleeping();
      clock.advance(300);
      await otherProcess().publish({ topic, body: "late", timing: { kind: "now" } });
      clock.advance(699);
      await sleeping();
      expect(poll.settled()).toBe(false);
      clock.advance(1);
      const [m] = await finish(poll);
      expect(m?.body).toBe("late");
      if (!lagging) expect((m?.firstConsumedAtMs ?? 0) - (m?.publishedAtMs ?? 0)).toBeLessThanOrEqual(1000);
    });

    it("in one process, a publish wakes a waiting poll for exactly its due time", async () => {
      const { queue, topic, clock, sleeping, finish } = harness(await target.newStore());
      const poll = track(queue.consume({ topic, group: "g", waitSeconds: 20 }));
      await sleeping();
      await queue.publish({ topic, body: "soon", timing: { kind: "delay", delayMs: 250, source: "delayMs" } });
      await sleeping("the poll to re-arm for the new due time");
      clock.advance(249);
      await sleeping();
      expect(poll.settled()).toBe(false);
      clock.advance(1);
      const [m] = await finish(poll);
      if (lagging) expect(m?.firstConsumedAtMs).toBeGreaterThanOrEqual(m?.deliverAtMs ?? 0);
      else expect(m?.firstConsumedAtMs).toBe(m?.deliverAtMs);
    });

    it("idles at a bounded request rate and answers before API Gateway's 30 s", async () => {
      const counted = counting(await target.newStore());
      const { queue, topic, clock, sleeping } = harness(counted.store, {}, false);
      const poll = track(queue.consume({ topic, group: "g", waitSeconds: 30 }));
      let elapsed = 0;
      while (!poll.settled() && elapsed < 31_000) {
        await sleeping().catch(() => undefined);
        clock.advance(100);
        elapsed += 100;
        await new Promise((r) => setTimeout(r, 1));
      }
      expect(await poll.promise).toEqual([]);
      expect(elapsed).toBeLessThanOrEqual(28_100);
      const scans = counted.calls.get("scanDue") ?? 0;
      expect(scans / (elapsed / 1000)).toBeLessThanOrEqual(5);
      expect(scans).toBeGreaterThanOrEqual(4 * 27);
    });

    it("redelivers an un-acked message after its visibility with a new handle; only the newest handle acks", async () => {
      const { queue, topic, clock, take } = harness(await target.newStore());
      await queue.publish({ topic, body: "x", timing: { kind: "now" } });
      const [first] = await take({ group: "g", visibilitySeconds: 10 }, 1);
      clock.advance(9999);
      expect(await take({ group: "g" }, 1)).toEqual([]);
      clock.advance(1);
      const [second] = await take({ group: "g", visibilitySeconds: 10 }, 1);
      expect(second?.messageId).toBe(first?.messageId);
      expect(second?.consumedTimes).toBe(2);
      expect(second?.firstConsumedAtMs).toBe(T0);
      expect(second?.receiptHandle).not.toBe(first?.receiptHandle);
      const stale = await queue.ack({ topic, group: "g", receiptHandles: [first?.receiptHandle] });
      expect(stale.failed.map((f) => f.code)).toEqual(["MessageNotExist"]);
      expect(await queue.ack({ topic, group: "g", receiptHandles: [second?.receiptHandle] })).toEqual({ acked: 1, failed: [] });
      clock.advance(60_000);
      expect(await take({ group: "g" }, 1)).toEqual([]);
    });

    it("acks a batch per handle: stale, foreign, repeated and malformed handles fail alone", async () => {
      const { queue, topic, clock, take } = harness(await target.newStore());
      await queue.consume({ topic, group: "other" });
      for (let i = 0; i < 4; i++) await queue.publish({ topic, body: `m${i}`, timing: { kind: "now" } });
      const batch = await take({ group: "g", visibilitySeconds: 5 }, 4);
      const [other] = await take({ group: "other" }, 1);
      expect(batch).toHaveLength(4);
      const [a, b, c, d] = batch.map((m) => m.receiptHandle);
      await queue.ack({ topic, group: "g", receiptHandles: [a] });
      clock.advance(5000);
      const late = await queue.ack({ topic, group: "g", receiptHandles: [d] });
      expect(late.failed[0]?.code).toBe("MessageNotExist");
      const [redelivered] = await take({ group: "g", visibilitySeconds: 30 }, 1);
      const result = await queue.ack({
        topic,
        group: "g",
        receiptHandles: [a, b, "not-a-handle", other?.receiptHandle, redelivered?.receiptHandle],
      });
      expect(result.acked).toBe(1);
      expect(result.failed).toEqual([
        expect.objectContaining({ receiptHandle: a, code: "MessageNotExist" }),
        expect.objectContaining({ receiptHandle: b, code: "MessageNotExist" }),
        expect.objectContaining({ receiptHandle: "not-a-handle", code: "ReceiptHandleError" }),
        expect.objectContaining({ receiptHandle: other?.receiptHandle, code: "ReceiptHandleError" }),
      ]);
      expect(c).toBeDefined();
    });

    it("gives every group every message and shares a group's messages among its consumers", async () => {
      const { queue, topic, take } = harness(await target.newStore());
      await queue.consume({ topic, group: "a" });
      await queue.consume({ topic, group: "b" });
      for (let i = 0; i < 6; i++) await queue.publish({ topic, body: `m${i}`, timing: { kind: "now" } });
      const a1 = await queue.consume({ topic, group: "a", max: 3 });
      const a2 = await take({ group: "a" }, 6 - a1.length);
      const b = await take({ group: "b" }, 6);
      const ids = (ms: { body: string }[]) => ms.map((m) => m.body).sort();
      expect(ids([...a1, ...a2])).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
      expect(new Set([...a1, ...a2].map((m) => m.messageId)).size).toBe(6);
      expect(ids(b)).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
    });

    it("holds messages of a topic without groups; releases to the groups registered at release", async () => {
      const { queue, topic, clock, take } = harness(await target.newStore());
      await queue.publish({ topic, body: "early", timing: { kind: "now" } });
      await queue.publish({ topic, body: "later", timing: { kind: "delay", delayMs: 60_000, source: "delayMs" } });
      const sweep = await queue.sweep();
      expect(sweep.released).toBe(0);
      if (!lagging) expect(sweep.held).toBe(1);
      const first = await take({ group: "first" }, 1);
      expect(first.map((m) => m.body)).toEqual(["early"]);
      await queue.ack({ topic, group: "first", receiptHandles: first.map((m) => m.receiptHandle) });
      expect(await take({ group: "second" }, 1)).toEqual([]);
      clock.advance(60_000);
      let released = 0;
      for (let i = 0; i < (lagging ? 30 : 1) && released === 0; i++) released += (await queue.sweep()).released;
      expect(released).toBe(1);
      expect((await take({ group: "second" }, 1)).map((m) => m.body)).toEqual(["later"]);
      expect((await take({ group: "first" }, 1)).map((m) => m.body)).toEqual(["later"]);
      expect((await queue.sweep()).released).toBe(0);
    });

    it("filters by tag per call and leaves the rest for other consumers of the group", async () => {
      const { queue, topic, take } = harness(await target.newStore());
      await queue.consume({ topic, group: "g" });
      for (const tag of ["a", "b", "c", undefined]) await queue.publish({ topic, body: `m-${tag}`, tag, timing: { kind: "now" } });
      const ab = await take({ group: "g", tags: ["a", "b"] }, 2);
      expect(ab.map((m) => m.tag).sort()).toEqual(["a", "b"]);
      const rest = await take({ group: "g" }, 2);
      expect(rest.map((m) => m.body).sort()).toEqual(["m-c", "m-undefined"]);
    });

    it("returns a batch in deliver-time order across shards, whatever the publish order", async () => {
      const { queue, topic, clock, take } = harness(await target.newStore(), { shards: 3 });
      await queue.consume({ topic, group: "g" });
      const delays = [900, 100, 500, 300, 700, 200, 800, 400, 600, 0];
      for (const delayMs of delays) await queue.publish({ topic, body: String(delayMs), timing: { kind: "delay", delayMs, source: "delayMs" } });
      clock.advance(1000);
      const got = await take({ group: "g" }, 10);
      const bodies = got.map((m) => Number(m.body));
      // A lagging index may hide some due messages from one look; exact order is a promise of an exact index.
      if (lagging) expect([...bodies].sort((x, y) => x - y)).toEqual([...delays].sort((x, y) => x - y));
      else expect(bodies).toEqual([...delays].sort((x, y) => x - y));
    });

    it("treats a past deliverAt as now and an over-maximum delay by its convention, unless the deployment says otherwise", async () => {
      const store = await target.newStore();
      const { queue, topic, take } = harness(store, { maxDelayMs: 10_000 });
      const header = { kind: "delay", delayMs: 10_001, source: "header x-delay", convention: "rabbitmq" } as const;
      expect((await queue.publish({ topic, body: "p", timing: { kind: "at", deliverAtMs: T0 - 5000, source: "deliverAt" } })).deliverAtMs).toBe(T0);
      expect(await queue.publish({ topic, body: "o", timing: header })).toMatchObject({ deliverAtMs: T0, overMaxDelay: "delivered-now" });
      expect((await queue.publish({ topic, body: "m", timing: { kind: "delay", delayMs: 10_000, source: "delayMs" } })).deliverAtMs).toBe(T0 + 10_000);
      await expect(queue.publish({ topic, body: "r", timing: { kind: "delay", delayMs: 10_001, source: "delayMs" } })).rejects.toMatchObject({
        code: "InvalidArgument",
        message: expect.stringContaining("10000 ms"),
      });
      const strict = harness(store, { maxDelayMs: 10_000, overMaxDelay: "reject" });
      await expect(strict.queue.publish({ topic, body: "r", timing: header })).rejects.toMatchObject({ code: "InvalidArgument" });
      expect((await take({ group: "g" }, 2)).map((m) => m.body).sort()).toEqual(["o", "p"]);
    });

    it("delivers nothing past its retention", async () => {
      const { queue, topic, clock, take } = harness(await target.newStore(), { retentionMs: 60_000 });
      await queue.consume({ topic, group: "g" });
      await queue.publish({ topic, body: "x", timing: { kind: "now" } });
      const [m] = await take({ group: "g", visibilitySeconds: 30 }, 1);
      expect(m).toBeDefined();
      clock.advance(61_000);
      expect(await take({ group: "g" }, 1)).toEqual([]);
    });

    it("sweeps idempotently beside consumers: each message released once", async () => {
      const { queue, topic, clock, otherProcess, take } = harness(await target.newStore());
      await queue.consume({ topic, group: "a" });
      await queue.consume({ topic, group: "b" });
      for (let i = 0; i < 20; i++) await queue.publish({ topic, body: `m${i}`, timing: { kind: "delay", delayMs: 1000 + i, source: "delayMs" } });
      clock.advance(2000);
      const [s1, s2, polled] = await Promise.all([queue.sweep(), otherProcess().sweep(), queue.consume({ topic, group: "a", max: 16 })]);
      expect(s1.released + s2.released).toBeLessThanOrEqual(20);
      const a = [...polled, ...(await take({ group: "a" }, 20 - polled.length))];
      const b = await take({ group: "b" }, 20);
      expect(new Set(a.map((m) => m.messageId)).size).toBe(20);
      expect(a).toHaveLength(20);
      expect(b).toHaveLength(20);
      expect((await queue.sweep()).released).toBe(0);
    });
  });
}

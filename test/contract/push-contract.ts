import { getEventListeners } from "node:events";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifyPush } from "../../client/src/verify.js";
import { ManualClock } from "../../core/clock.js";
import { type QueueConfig, loadConfig } from "../../core/config.js";
import { StoreUnavailableError } from "../../core/errors.js";
import { BREAKER, PUSH_TIMING, PushDispatcher, PushPlanner } from "../../core/push/dispatcher.js";
import { httpTransport } from "../../core/push/http-transport.js";
import type { PushPayload } from "../../core/push/payload.js";
import type { QueueStore } from "../../core/ports.js";
import { Queue } from "../../core/queue.js";
import { type Received, startWebhook } from "../support/webhook.js";
import { waitFor } from "../support/wait.js";
import { type ContractTarget, T0 } from "./queue-contract.js";
import { retried } from "./retry-contract.js";

let topicSeq = 0;
let lagging = false;
const cleanups: (() => Promise<void>)[] = [];
const realSleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function harness(target: ContractTarget, wrap?: (store: QueueStore) => QueueStore, overrides: Partial<QueueConfig> = {}) {
  const clock = new ManualClock(T0);
  const inner = await target.newStore(clock);
  const store = wrap ? wrap(inner) : inner;
  // The dispatcher function's setting: a push group's leases are kept between its long polls.
  const config = loadConfig({ TABLE_NAME: "contract", LEASE_LINGER_MS: "5000" }, overrides);
  const queue = new Queue({ store, clock, config });
  const topic = `push-${++topicSeq}-${Math.random().toString(36).slice(2, 8)}`;
  const hooks: Awaited<ReturnType<typeof startWebhook>>[] = [];
  const webhook = async (respond?: Parameters<typeof startWebhook>[0]["respond"]) => {
    const hook = await startWebhook({ now: () => clock.nowMs(), ...(respond && { respond }) });
    hooks.push(hook);
    return hook;
  };
  const runs: { stop: AbortController; done: Promise<unknown> }[] = [];
  /** Runs a dispatcher of push shard 0 (this process's, or another's) until the case ends. */
  const dispatch = async (q: Queue = queue, s: QueueStore = store) => {
    await s.armDispatcher(0, clock.nowMs(), clock.nowMs() + 3_600_000, 0);
    const dispatcher = new PushDispatcher({ queue: q, store: s, clock, log: silent, config, transports: { http: httpTransport() } });
    const stop = new AbortController();
    const done = dispatcher.run(0, { signal: stop.signal });
    runs.push({ stop, done });
    return { stop, done };
  };
  /** Another process on the same table: its own queue, store client and dispatcher. */
  const otherProcess = (w?: (s: QueueStore) => QueueStore) => {
    const other = target.otherStore?.(inner, clock) ?? inner;
    const s = w ? w(other) : other;
    return { queue: new Queue({ store: s, clock, config }), store: s };
  };
  /** Moves the queue's clock in steps, letting real I/O (sockets, DynamoDB Local) settle between them. */
  const drive = async (done: () => boolean, stepMs: number, limitMs: number, settleMs = target.lagging ? 30 : 12) => {
    let spent = 0;
    while (!done() && spent < limitMs) {
      await realSleep(settleMs);
      if (done()) break;
      clock.advance(stepMs);
      spent += stepMs;
    }
    return spent;
  };
  cleanups.push(async () => {
    for (const r of runs) r.stop.abort();
    clock.advance(60_000);
    await Promise.all(runs.map((r) => r.done.catch(() => undefined)));
    await Promise.all(hooks.map((h) => h.close()));

  });
  const delay = (delayMs: number) => ({ kind: "delay" as const, delayMs, source: "delayMs" });
  return { clock, store, inner, queue, topic, config, webhook, dispatch, drive, otherProcess, delay };
}

const silent = { info() {}, warn() {}, error() {} };
const payloadOf = (r: Received) => JSON.parse(r.body) as PushPayload;

/**
 * Push delivery: the behaviour every store must give push groups. Runs on the memory store, DynamoDB
 * Local and DynamoDB Local with injected faults, with the queue's clock injected and a webhook on a real
 * socket.
 */
export function pushContract(target: ContractTarget): void {
  describe(`push delivery contract on ${target.name}`, () => {
    beforeAll(() => {
      lagging = target.lagging ?? false;
    });
    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c();
    });

    it("pushes a message to an HTTP target at its deliver time, never before, signed, with its content and idempotency key, and acks it", async () => {
      // Prepare
      const h = await harness(target);
      const hook = await h.webhook();
      const put = await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url, headers: { authorization: "Bearer abc" } } });
      const secret = put.newSecret as string;
      await h.dispatch();
      const published = await h.queue.publish({ topic: h.topic, body: "close order 42", tag: "orders", key: "order-42", properties: { region: "eu" }, timing: h.delay(3000) });
      // Act
      await h.drive(() => hook.received.length > 0, 20, 20_000);
      await h.drive(() => false, 20, 500);
      // Assess
      expect(hook.received).toHaveLength(1);
      const got = hook.received[0] as Received;
      expect(got.atMs).toBeGreaterThanOrEqual(published.deliverAtMs);
      if (!lagging) expect(got.atMs - published.deliverAtMs).toBeLessThanOrEqual(200);
      const payload = payloadOf(got);
      expect(payload).toMatchObject({
        messageId: published.messageId,
        topic: h.topic,
        group: "hook",
        body: "close order 42",
        tag: "orders",
        key: "order-42",
        properties: { region: "eu" },
        deliverAt: published.deliverAtMs,
        attempt: 1,
        deliveryCount: 1,
        idempotencyKey: `${published.messageId}:1`,
      });
      expect(got.headers["idempotency-key"]).toBe(`${published.messageId}:1`);
      expect(got.headers.authorization).toBe("Bearer abc");
      expect(verifyPush({ secret, signature: got.headers["delayq-signature"] as string, body: got.body, nowMs: got.atMs })).toBe(true);
      expect(verifyPush({ secret: "whsec_wrong", signature: got.headers["delayq-signature"] as string, body: got.body, nowMs: got.atMs })).toBe(false);
      expect(verifyPush({ secret, signature: got.headers["delayq-signature"] as string, body: `${got.body} `, nowMs: got.atMs })).toBe(false);
      const record = await h.store.inspect(h.topic, published.messageId);
      expect(record?.deliveries.find((d) => d.group === "hook")?.state).toBe("acked");
    });

    it("runs of a dispatcher given one stop signal leave no listener on it when they end", async () => {
      const { queue, store, clock, config } = await harness(target);
      const life = new AbortController();
      const dispatcher = new PushDispatcher({ queue, store, clock, log: silent, config, transports: {} });
      for (let i = 0; i < 3; i++) {
        await store.armDispatcher(0, clock.nowMs(), clock.nowMs() + 60_000, 0);
        const report = await dispatcher.run(0, { stopByMs: clock.nowMs(), signal: life.signal });
        expect(report.held).toBe(true);
      }
      expect(getEventListeners(life.signal, "abort")).toHaveLength(0);
    });

    it("a failing target is retried with the group's backoff and new attempt numbers, then dead-lettered; a redrive pushes it again", async () => {
      // Prepare
      let status = 500;
      const h = await harness(target);
      const hook = await h.webhook(() => ({ status }));
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url }, maxReceiveCount: 3, retryBackoff: { mode: "fixed", baseSeconds: 2 } });
      await h.dispatch();
      const published = await h.queue.publish({ topic: h.topic, body: "x", timing: { kind: "now" } });
      // Act
      await h.drive(() => hook.received.length >= 3, 50, 30_000);
      await h.drive(() => false, 100, 5_000);
      let dead: string[] = [];
      for (let look = 0; look < 40 && dead.length === 0; look++) {
        dead = (await retried(() => h.queue.retry.listDeadLetters({ topic: h.topic, group: "hook" }))).deadLetters.map((d) => d.messageId);
      }
      status = 200;
      await retried(() => h.queue.retry.redrive({ topic: h.topic, group: "hook", messageIds: [published.messageId] }));
      await h.drive(() => hook.received.length >= 4, 50, 30_000);
      // Assess
      const attempts = hook.received.map((r) => payloadOf(r).attempt);
      expect(attempts).toEqual([1, 2, 3, 4]);
      expect(new Set(hook.received.map((r) => r.headers["idempotency-key"])).size).toBe(4);
      const times = hook.received.map((r) => r.atMs);
      expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(2000);
      expect((times[2] as number) - (times[1] as number)).toBeGreaterThanOrEqual(2000);
      expect(dead).toEqual([published.messageId]);
      expect(payloadOf(hook.received[3] as Received).deliveryCount).toBe(1);
    });

    it("a dispatcher that stops after a push but before its outcome is written leaves one repeated push with the same idempotency key, never a lost message", async () => {
      // Prepare: the first process pushes, then stops as it writes the outcome: that write and every store call after it fail.
      const h = await harness(target);
      const hook = await h.webhook();
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url, timeoutMs: 1000 } });
      let stopped = false;
      const broken = h.otherProcess((s) => {
        const bound = bind(s) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        const wrapped: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
        for (const [name, fn] of Object.entries(bound)) {
          wrapped[name] = async (...args: unknown[]) => {
            if (name === "putAcked" || name === "ack") stopped = true;
            if (stopped) throw new StoreUnavailableError("the process stopped");
            return fn(...args);
          };
        }
        return wrapped as unknown as QueueStore;
      });
      const first = await h.dispatch(broken.queue, broken.store);
      const published = await h.queue.publish({ topic: h.topic, body: "once", timing: h.delay(1000) });
      await h.drive(() => hook.received.length >= 1, 50, 20_000);
      await h.drive(() => stopped, 50, 5_000);
      first.stop.abort();
      await first.done;
      // Act: another dispatcher takes over once the stopped one's leases run out (it could not release them).
      await h.drive(() => false, 1000, PUSH_TIMING.leaseMs + 1000, 5);
      await h.dispatch();
      await h.drive(() => hook.received.length >= 2, 100, 60_000);
      await h.drive(() => false, 500, 20_000);
      // Assess
      expect(stopped).toBe(true);
      expect(hook.received).toHaveLength(2);
      const [a, b] = hook.received.map(payloadOf) as [PushPayload, PushPayload];
      expect(a.messageId).toBe(published.messageId);
      expect(b.messageId).toBe(published.messageId);
      expect(b.idempotencyKey).toBe(a.idempotencyKey);
      expect(b.attempt).toBe(1);
      const record = await h.store.inspect(h.topic, published.messageId);
      expect(record?.deliveries.find((d) => d.group === "hook")?.state).toBe("acked");
    });

    it("a retried push whose ack is never written comes back after its visibility with the same attempt number", async () => {
      // Prepare: the first attempt fails (so the second is claimed); the second succeeds but its ack, the first ack asked for, fails.
      let status = 500;
      let failNextAck = true;
      const h = await harness(target, (s) => ({
        ...bind(s),
        ack: async (...args: Parameters<QueueStore["ack"]>) => {
          if (failNextAck) {
            failNextAck = false;
            throw new StoreUnavailableError("the ack could not be written");
          }
          return s.ack(...args);
        },
      }));
      const hook = await h.webhook(() => ({ status }));
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url, timeoutMs: 1000 }, retryBackoff: { mode: "fixed", baseSeconds: 1 } });
      await h.dispatch();
      const published = await h.queue.publish({ topic: h.topic, body: "twice", timing: { kind: "now" } });
      await h.drive(() => hook.received.length >= 1, 50, 20_000);
      status = 200;
      await h.drive(() => hook.received.length >= 2, 50, 20_000);
      // Act
      await h.drive(() => hook.received.length >= 3, 100, 60_000);
      await h.drive(() => false, 500, 20_000);
      // Assess
      const attempts = hook.received.map((r) => payloadOf(r).attempt);
      expect(attempts).toEqual([1, 2, 2]);
      expect(hook.received[2]?.headers["idempotency-key"]).toBe(`${published.messageId}:2`);
      expect((hook.received[2]?.atMs ?? 0) - (hook.received[1]?.atMs ?? 0)).toBeGreaterThanOrEqual(1000);
      const record = await h.store.inspect(h.topic, published.messageId);
      expect(record?.deliveries.find((d) => d.group === "hook")?.state).toBe("acked");
    });

    it("the dispatcher lease lets one dispatcher run per shard; dispatchers racing without it still push each attempt once", async () => {
      // Prepare: a second dispatcher is refused by the lease; then two run at once as if the lease had failed.
      const h = await harness(target);
      const hook = await h.webhook();
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url } });
      await h.dispatch();
      await waitFor(() => h.queue.deliveryState().size > 0, 20_000, "the dispatcher to poll");
      const refused = await new PushDispatcher({ queue: h.queue, store: h.store, clock: h.clock, log: silent, config: h.config, transports: {} }).run(0);
      const leaseless = (s: QueueStore): QueueStore => ({ ...bind(s), holdDispatcher: async () => ({ ok: true, coverUntilMs: T0 + 3_600_000 }) });
      const other = h.otherProcess(leaseless);
      await h.dispatch(other.queue, other.store);
      const ids: string[] = [];
      for (let i = 0; i < 24; i++) ids.push((await h.queue.publish({ topic: h.topic, body: `m${i}`, timing: h.delay(200 * (i % 8)) })).messageId);
      // Act
      await h.drive(() => new Set(hook.received.map((r) => payloadOf(r).messageId)).size >= ids.length, 50, 60_000);
      await h.drive(() => false, 200, 20_000);
      // Assess
      expect(refused.held).toBe(false);
      const keys = hook.received.map((r) => payloadOf(r).idempotencyKey);
      expect(new Set(hook.received.map((r) => payloadOf(r).messageId))).toEqual(new Set(ids));
      if (!lagging) expect(keys).toHaveLength(ids.length);
      // Under faults an outcome may go unrecorded (a write's retries exhausted): its repeat carries the same key.
      for (const id of ids) expect(new Set(keys.filter((k) => k.startsWith(id))).size).toBe(1);
    });

    it("push and pull groups mix on one topic; a push group refuses consume and can be switched back to pull", async () => {
      // Prepare
      const h = await harness(target);
      const hook = await h.webhook();
      await h.queue.groups.put(h.topic, "pull", {});
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url } });
      await h.dispatch();
      for (let i = 0; i < 3; i++) await h.queue.publish({ topic: h.topic, body: `m${i}`, timing: h.delay(500) });
      // Act
      await h.drive(() => hook.received.length >= 3, 50, 20_000);
      const pulled: string[] = [];
      for (let look = 0; look < 40 && pulled.length < 3; look++) {
        pulled.push(...(await retried(() => h.queue.consume({ topic: h.topic, group: "pull", max: 16 }))).map((m) => m.body));
      }
      const refused = await h.queue.consume({ topic: h.topic, group: "hook" }).catch((e: { code: string }) => e.code);
      await h.queue.groups.put(h.topic, "hook", {});
      h.queue.groups.forget(h.topic, "hook");
      await h.drive(() => false, 1000, 7_000);
      await h.queue.publish({ topic: h.topic, body: "after", timing: { kind: "now" } });
      const after: string[] = [];
      for (let look = 0; look < 40 && after.length < 1; look++) after.push(...(await retried(() => h.queue.consume({ topic: h.topic, group: "hook" }))).map((m) => m.body));
      await h.drive(() => false, 100, 2_000);
      // Assess
      expect(hook.received.map((r) => payloadOf(r).body).sort()).toEqual(["m0", "m1", "m2"]);
      expect(pulled.sort()).toEqual(["m0", "m1", "m2"]);
      expect(refused).toBe("PushGroup");
      expect(after).toEqual(["after"]);
      expect(hook.received).toHaveLength(3);
    });

    it("a slow target does not delay another group's pushes, and its own in-flight pushes stay within its concurrency", async () => {
      // Prepare
      const h = await harness(target);
      // Under injected faults the fast group's pushes may wait for late index entries: the slow target is slower there, so "slow" stays slow.
      const slowMs = target.lagging ? 1500 : 400;
      let slowInFlight = 0;
      let slowMax = 0;
      const slow = await h.webhook(async () => {
        slowInFlight++;
        slowMax = Math.max(slowMax, slowInFlight);
        await realSleep(slowMs);
        slowInFlight--;
        return { status: 200 };
      });
      const fast = await h.webhook();
      await h.queue.groups.put(h.topic, "slow", { push: { type: "http", url: slow.url, maxConcurrency: 2 } });
      await h.queue.groups.put(h.topic, "fast", { push: { type: "http", url: fast.url } });
      await h.dispatch();
      const due: number[] = [];
      for (let i = 0; i < 8; i++) due.push((await h.queue.publish({ topic: h.topic, body: `m${i}`, timing: h.delay(1000) })).deliverAtMs);
      // Act
      await h.drive(() => fast.received.length >= 8, 20, 20_000);
      const slowWhenFastDone = slow.received.length;
      await h.drive(() => slow.received.length >= 8, 20, 20_000, 20);
      // Assess
      expect(fast.received).toHaveLength(8);
      if (!lagging) for (const r of fast.received) expect(r.atMs - (due[0] as number)).toBeLessThanOrEqual(500);
      expect(slowWhenFastDone).toBeLessThan(8);
      expect(slowMax).toBeLessThanOrEqual(2);
      expect(slow.received).toHaveLength(8);
    });

    it("a target failing in a row opens its circuit: no claims while open, one probe when half-open", async () => {
      // Prepare
      const h = await harness(target);
      const hook = await h.webhook(() => ({ status: 503 }));
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: hook.url, maxConcurrency: 1 }, maxReceiveCount: 100 });
      await h.dispatch();
      await h.queue.publish({ topic: h.topic, body: "x", timing: { kind: "now" } });
      // Act
      await h.drive(() => hook.received.length >= BREAKER.failures, 20, 20_000);
      const opened = hook.received.length;
      await h.drive(() => false, 100, BREAKER.openMs - 1000);
      const whileOpen = hook.received.length;
      await h.drive(() => hook.received.length > whileOpen, 100, 10_000, 40);
      // Assess
      expect(opened).toBe(BREAKER.failures);
      expect(whileOpen).toBe(BREAKER.failures);
      expect(hook.received.length).toBe(BREAKER.failures + 1);
      expect(payloadOf(hook.received.at(-1) as Received).attempt).toBe(BREAKER.failures + 1);
    });

    it("the planner starts a dispatcher only when a push is due before the next look, once, and never with nothing due", async () => {
      // Prepare
      const h = await harness(target);
      const started: number[] = [];
      const planner = new PushPlanner({ store: h.store, clock: h.clock, log: silent, config: h.config, queue: h.queue, starter: { start: async (s) => void started.push(s) } });
      await h.queue.groups.put(h.topic, "hook", { push: { type: "http", url: "http://127.0.0.1:9/hook" } });
      await h.queue.groups.put(h.topic, "pull", {});
      // Act
      const idle = await planner.lookAhead();
      const later = await h.queue.publish({ topic: h.topic, body: "later", timing: h.delay(5 * 60_000) });
      await planner.published(h.topic, later.deliverAtMs);
      const early = await planner.lookAhead();
      h.clock.advance(4 * 60_000);
      let due = await planner.lookAhead();
      for (let look = 0; look < 40 && lagging && due.started.length === 0; look++) {
        h.clock.advance(11_000);
        due = await planner.lookAhead();
      }
      const again = await planner.lookAhead();
      const soon = await h.queue.publish({ topic: h.topic, body: "soon", timing: h.delay(2000) });
      await planner.published(h.topic, soon.deliverAtMs);
      // Assess
      expect(idle.started).toEqual([]);
      expect(early.started).toEqual([]);
      expect(due.started).toEqual([0]);
      expect(again.started).toEqual([]);
      expect(started).toEqual([0]);
    });
  });
}

/** The store's methods bound to it, so a case can replace a few. */
function bind(store: QueueStore): QueueStore {
  const out: Record<string, unknown> = {};
  let proto: object | null = store;
  while (proto && proto !== Object.prototype) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const v = (store as unknown as Record<string, unknown>)[name];
      if (typeof v === "function" && name !== "constructor" && !(name in out)) out[name] = (v as (...a: unknown[]) => unknown).bind(store);
    }
    proto = Object.getPrototypeOf(proto);
  }
  return out as unknown as QueueStore;
}

import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { DelayqClient, DelayqError, isDelayqError } from "../../client/src/index.js";
import { openApiDocument } from "../../core/http/openapi.js";
import { type LocalProcess, startLocal, stopAllLocal } from "../support/local-process.js";
import { openApiChecker } from "../support/openapi.js";

/** A fetch that validates every answer the client receives against the OpenAPI document. */
function checkingFetch(problems: string[]): typeof fetch {
  const checker = openApiChecker(openApiDocument());
  return async (input, init) => {
    const response = await fetch(input, init);
    const text = await response.clone().text();
    problems.push(...checker.check(init?.method ?? "GET", String(input), response.status, response.headers, text));
    return response;
  };
}

const targets: [string, () => Parameters<typeof startLocal>[0]][] = [
  ["npm start --in-memory", () => ({ args: ["--in-memory"] })],
  ["npm start on DynamoDB Local", () => ({ env: { DYNAMODB_ENDPOINT: inject("dynamoEndpoint"), TABLE_NAME: `t-${randomUUID()}` } })],
];

afterAll(() => stopAllLocal());

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe.each(targets)("the client against %s", (_name, options) => {
  let local: LocalProcess;
  let client: DelayqClient;
  const problems: string[] = [];
  const topic = () => `c-${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    local = await startLocal(options());
    client = new DelayqClient({ endpoint: local.url, fetch: checkingFetch(problems) });
  });

  it("calls every route, typed, and every answer validates against the document", async () => {
    // Prepare
    const t = topic();
    // Act + Assess
    expect(await client.health()).toEqual({ ok: true });
    expect((await client.openApi()).openapi).toBe("3.1.0");
    expect(await client.putTopic(t, { maxDelayMs: 86_400_000 })).toMatchObject({ topic: t, maxDelayMs: 86_400_000 });
    expect((await client.getTopic(t)).maxDelayMs).toBe(86_400_000);
    expect(await client.putGroup(t, "g", { maxReceiveCount: 1 })).toMatchObject({ group: "g", maxReceiveCount: 1 });
    expect((await client.getGroup(t, "g")).deadLetter).toBe("on");
    expect((await client.listGroups(t)).groups.map((g) => g.group)).toEqual(["g"]);
    expect(await collect(client.groups(t))).toHaveLength(1);

    const now = await client.publish(t, { body: "now", key: "k" });
    expect(now.messageId).toMatch(/^[0-9A-F]{32}$/);
    expect(await collect(client.topics())).toContain(t);
    expect((await client.listTopics({ limit: 1000 })).topics).toContain(t);
    const later = await client.publish(t, { body: "later", delayMs: 3_600_000, key: "k2" });
    const batch = await client.publishBatch(t, [{ body: "b1", delayMs: 7_200_000 }, { body: "b2", tag: "x".repeat(65) }]);
    expect("messageId" in batch.results[0]!).toBe(true);
    expect(batch.results[1]).toMatchObject({ error: { code: "InvalidArgument" } });
    expect((await client.getMessage(t, later.messageId)).state).toBe("scheduled");
    expect((await client.getMessage(t, now.messageId)).dedupId).toMatch(/^[0-9a-f-]{36}$/); // the client's own, for its retries
    expect((await client.listMessages(t, { limit: 1 })).cursor).toBeDefined();
    expect((await collect(client.scheduledMessages(t, { limit: 1 }))).map((m) => m.messageId)).toHaveLength(2);
    expect((await client.stats(t)).dueWithin.hour).toBe(1);
    expect((await client.reschedule(t, later.messageId, { delayMs: 60_000 })).outcome).toBe("rescheduled");
    expect((await client.cancel(t, later.messageId)).outcome).toBe("cancelled");
    const first = batch.results[0] as { messageId: string };
    expect((await client.cancelByKey(t, "k2")).results).toHaveLength(1);
    expect((await client.cancel(t, first.messageId)).outcome).toBe("cancelled");

    const [got] = await client.receive(t, "g", { waitSeconds: 5 });
    expect(got?.body).toBe("now");
    expect(await got?.nack()).toMatchObject({ outcome: "dead-lettered" });
    const dead = await collect(client.deadLetters(t, "g"));
    expect(dead.map((d) => d.messageId)).toEqual([now.messageId]);
    expect(await client.redrive(t, "g", { messageIds: [now.messageId] })).toMatchObject({ redriven: 1 });
    const [again] = await client.receive(t, "g", { waitSeconds: 5 });
    expect(again?.consumedTimes).toBe(1);
    expect(await client.ack(t, "g", [again!.receiptHandle])).toEqual({ acked: 1, failed: [] });
    expect(await client.redrive(t, "g", { all: true })).toMatchObject({ redriven: 0, more: false });

    const name = `s-${t}`;
    expect(await client.createSchedule({ name, topic: t, expression: "rate(1 day)", message: { body: "tick" } })).toMatchObject({ timeZone: "UTC" });
    expect((await client.listSchedules()).schedules.map((s) => s.name)).toContain(name);
    expect((await client.getSchedule(name)).expression).toBe("rate(1 day)");
    expect(await client.deleteSchedule(name)).toEqual({ name, deleted: true });
    expect(await client.deleteGroup(t, "g")).toEqual({ topic: t, group: "g", deleted: true });
    expect(problems).toEqual([]);
  });

  it("throws typed errors carrying the code, status and request id", async () => {
    const t = topic();
    const missing = await client.getMessage(t, "0".repeat(32)).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DelayqError);
    expect(missing).toMatchObject({ code: "MessageNotExist", status: 404, requestId: expect.stringMatching(/./) });
    expect(isDelayqError(missing, "MessageNotExist")).toBe(true);
    await expect(client.publish(t, { body: "x", delayMs: -1 })).rejects.toMatchObject({ code: "InvalidArgument", status: 400 });
    await expect(client.getGroup(t, "none")).rejects.toMatchObject({ code: "NotFound" });
    await expect(client.createSchedule({ name: "bad", topic: t, expression: "daily", message: { body: "x" } })).rejects.toMatchObject({ code: "InvalidArgument" });
    const [m] = await Promise.all([client.receive(t, "g", { waitSeconds: 5 }), client.publish(t, { body: "once" })]).then(([r]) => r);
    await m!.ack();
    await expect(m!.ack()).rejects.toMatchObject({ code: "MessageNotExist" });
    const down = new DelayqClient({ endpoint: "http://127.0.0.1:9", retry: false });
    await expect(down.health()).rejects.toMatchObject({ code: "NetworkError", status: 0 });
    expect(problems).toEqual([]);
  });

  it("for await … of consume(): a delayed message arrives at its time, never early; autoAck acks it; abort stops the loop", async () => {
    // Prepare
    const t = topic();
    await client.putGroup(t, "billing", {});
    const published = await client.publish(t, { body: "close order 42", delayMs: 1500 });
    const stop = new AbortController();
    const seen: { body: string; at: number }[] = [];
    // Act
    for await (const message of client.consume(t, "billing", { waitSeconds: 10, signal: stop.signal, autoAck: true })) {
      seen.push({ body: message.body, at: Date.now() });
      if (seen.length === 1) setTimeout(() => stop.abort(), 200);
    }
    // Assess
    expect(seen.map((s) => s.body)).toEqual(["close order 42"]);
    expect(seen[0]!.at).toBeGreaterThanOrEqual(published.deliverAt);
    expect(seen[0]!.at - published.deliverAt).toBeLessThan(2000);
    expect((await client.getMessage(t, published.messageId)).groups).toMatchObject([{ group: "billing", state: "acked" }]);
  });

  it("consume() with manual ack() / nack({delayMs}): a nacked message comes back after its delay", async () => {
    const t = topic();
    await client.putGroup(t, "g", {});
    await client.publish(t, { body: "retry me" });
    const stop = new AbortController();
    const deliveries: { consumedTimes: number; at: number }[] = [];
    for await (const message of client.consume(t, "g", { waitSeconds: 5, signal: stop.signal })) {
      deliveries.push({ consumedTimes: message.consumedTimes, at: Date.now() });
      if (message.consumedTimes === 1) await message.nack({ delayMs: 700 });
      else {
        await message.ack();
        stop.abort();
      }
    }
    expect(deliveries.map((d) => d.consumedTimes)).toEqual([1, 2]);
    expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(650);
  });

  it("work(): handlers run with the given concurrency, a throw nacks, success acks, abort stops gracefully", async () => {
    // Prepare
    const t = topic();
    await client.putGroup(t, "g", {});
    await client.publishBatch(t, Array.from({ length: 8 }, (_, i) => ({ body: `job ${i}` })));
    const stop = new AbortController();
    const done = new Set<string>();
    let running = 0;
    let peak = 0;
    let failedOnce = false;
    // Act
    const summary = await client.work(
      t,
      "g",
      async (message) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 400));
        running--;
        if (message.body === "job 3" && !failedOnce) {
          failedOnce = true;
          throw new Error("transient");
        }
        done.add(message.body);
        if (done.size === 8) stop.abort();
      },
      { concurrency: 3, waitSeconds: 2, nackDelayMs: 0, signal: stop.signal, onError: () => {} },
    );
    // Assess
    expect(done.size).toBe(8);
    expect(peak).toBeLessThanOrEqual(3); // never more than asked
    expect(peak).toBeGreaterThanOrEqual(2); // and really concurrent (3 on a quiet machine)
    expect(summary).toMatchObject({ received: 9, acked: 8, nacked: 1, errors: 1 });
    expect(running).toBe(0);
    expect(await client.receive(t, "g", { waitSeconds: 1 })).toEqual([]);
  });

  it("stops a waiting long poll at once when its signal aborts", async () => {
    const t = topic();
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 300);
    const got = await collect(client.consume(t, "idle", { waitSeconds: 20, signal: stop.signal }));
    expect(got).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

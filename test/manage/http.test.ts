import { describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import { MemoryStore } from "../../core/memory-store.js";
import { silentLogger } from "../../core/ports.js";
import { buildRuntime } from "../../lambda/composition.js";

const T0 = Date.UTC(2031, 10, 22, 12, 0, 0);

function api() {
  const clock = new ManualClock(T0);
  const runtime = buildRuntime({ env: { TABLE_NAME: "t", MQ_CREDENTIALS: "AK:SK" }, log: silentLogger, store: new MemoryStore(), clock });
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await runtime.app.fetch(
      new Request(`http://localhost${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      }),
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> & { error?: { code: string; message: string } } };
  };
  return { clock, call };
}

describe("management routes of the JSON API", () => {
  it("publishes with dedupId and a local time, then looks the message up", async () => {
    // Prepare
    const { call } = api();
    const payload = { body: "remind", key: "user-1", dedupId: "remind-1", deliverAt: "2031-12-01T09:00", timeZone: "Asia/Shanghai" };
    // Act
    const first = await call("POST", "/v1/topics/reminders/messages", payload);
    const repeat = await call("POST", "/v1/topics/reminders/messages", payload);
    const got = await call("GET", `/v1/topics/reminders/messages/${first.body.messageId}`);
    // Assess
    expect(first).toMatchObject({
      status: 201,
      body: { deliverAt: Date.parse("2031-12-01T01:00:00Z"), deliverAtLocal: "2031-12-01T09:00", timeZone: "Asia/Shanghai" },
    });
    expect(first.body.duplicate).toBeUndefined();
    expect(repeat).toMatchObject({ status: 201, body: { messageId: first.body.messageId, duplicate: true } });
    expect(got).toMatchObject({
      status: 200,
      body: {
        messageId: first.body.messageId,
        topic: "reminders",
        state: "scheduled",
        key: "user-1",
        dedupId: "remind-1",
        publishedAt: T0,
        deliverAt: Date.parse("2031-12-01T01:00:00Z"),
        deliverAtLocal: "2031-12-01T09:00",
        timeZone: "Asia/Shanghai",
        groups: [],
      },
    });
  });

  it("reschedules to now, cancels by id and by key, with definite answers", async () => {
    const { call } = api();
    await call("POST", "/v1/topics/orders/groups/billing/consume", {});
    const a = await call("POST", "/v1/topics/orders/messages", { body: "a", delayMs: 60_000 });
    const b = await call("POST", "/v1/topics/orders/messages", { body: "b", delayMs: 60_000, key: "order-9" });
    const now = await call("PATCH", `/v1/topics/orders/messages/${a.body.messageId}`, { deliverAt: "now" });
    const consumed = await call("POST", "/v1/topics/orders/groups/billing/consume", { max: 16 });
    const lateCancel = await call("DELETE", `/v1/topics/orders/messages/${a.body.messageId}`);
    const byKey = await call("DELETE", "/v1/topics/orders/messages?key=order-9");
    const lookup = await call("GET", `/v1/topics/orders/messages/${a.body.messageId}`);
    expect(now).toEqual({ status: 200, body: { messageId: a.body.messageId, outcome: "rescheduled", deliverAt: T0 } });
    expect((consumed.body.messages as { body: string }[]).map((m) => m.body)).toEqual(["a"]);
    expect(lateCancel).toEqual({ status: 200, body: { messageId: a.body.messageId, outcome: "already-delivered" } });
    expect(byKey).toEqual({ status: 200, body: { key: "order-9", results: [{ messageId: b.body.messageId, outcome: "cancelled" }] } });
    expect(lookup.body.groups).toEqual([{ group: "billing", state: "in-flight", consumedTimes: 1, nextVisibleAt: T0 + 30_000, firstConsumedAt: T0, lastConsumedAt: T0 }]);
  });

  it("lists pending messages with a cursor and counts them", async () => {
    const { call, clock } = api();
    for (let i = 0; i < 5; i++) await call("POST", "/v1/topics/t1/messages", { body: `m${i}`, delayMs: 1000 * (i + 1), tag: i % 2 ? "odd" : "even" });
    const page1 = await call("GET", "/v1/topics/t1/messages?state=scheduled&limit=3");
    const page2 = await call("GET", `/v1/topics/t1/messages?state=scheduled&limit=3&cursor=${page1.body.cursor}`);
    const odd = await call("GET", `/v1/topics/t1/messages?tag=odd&from=${T0 + 1500}&to=${new Date(T0 + 4000).toISOString()}`);
    clock.advance(2500);
    const stats = await call("GET", "/v1/topics/t1/stats");
    expect((page1.body.messages as { deliverAt: number }[]).map((m) => m.deliverAt)).toEqual([T0 + 1000, T0 + 2000, T0 + 3000]);
    expect((page2.body.messages as { deliverAt: number }[]).map((m) => m.deliverAt)).toEqual([T0 + 4000, T0 + 5000]);
    expect(page2.body.cursor).toBeUndefined();
    expect(odd.body.messages).toEqual([expect.objectContaining({ deliverAt: T0 + 2000, tag: "odd" }), expect.objectContaining({ deliverAt: T0 + 4000, tag: "odd" })]);
    expect(stats).toMatchObject({
      status: 200,
      body: { topic: "t1", at: T0 + 2500, scheduled: 3, held: 2, oldestDueAgeMs: 1500, dueWithin: { minute: 3, hour: 3, day: 3, week: 3 }, groups: {} },
    });
  });

  it("reschedules by the topic's own delay policy, as publish does", async () => {
    const { call } = api();
    const settings = await call("PUT", "/v1/topics/strict", { maxDelayMs: 10_000, overMaxDelay: "reject" });
    const { body } = await call("POST", "/v1/topics/strict/messages", { body: "x", delayMs: 5000 });
    const tooFar = await call("PATCH", `/v1/topics/strict/messages/${body.messageId}`, { delayMs: 10_001 });
    const inReach = await call("PATCH", `/v1/topics/strict/messages/${body.messageId}`, { delayMs: 10_000 });
    expect(settings.status).toBe(200);
    expect(tooFar).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("10000 ms") } } });
    expect(inReach.body).toMatchObject({ outcome: "rescheduled", deliverAt: T0 + 10_000 });
  });

  it("answers 404 for unknown messages and 400 with the reason for bad input", async () => {
    const { call } = api();
    const missing = await call("DELETE", `/v1/topics/t/messages/${"A".repeat(32)}`);
    const badZone = await call("POST", "/v1/topics/t/messages", { body: "x", deliverAt: "2031-12-01T09:00", timeZone: "Nowhere/City" });
    const zoneAlone = await call("POST", "/v1/topics/t/messages", { body: "x", timeZone: "UTC" });
    const noTime = await call("PATCH", `/v1/topics/t/messages/${"A".repeat(32)}`, {});
    const badState = await call("GET", "/v1/topics/t/messages?state=acked");
    const noKey = await call("DELETE", "/v1/topics/t/messages");
    expect(missing).toMatchObject({ status: 404, body: { error: { code: "MessageNotExist" } } });
    expect(badZone).toMatchObject({ status: 400, body: { error: { code: "InvalidArgument", message: expect.stringContaining("IANA") } } });
    expect(zoneAlone.status).toBe(400);
    expect(noTime).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("deliverAt") } } });
    expect(badState.status).toBe(400);
    expect(noKey).toMatchObject({ status: 400, body: { error: { message: expect.stringContaining("key is required") } } });
  });
});

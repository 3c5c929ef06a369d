import { describe, expect, it } from "vitest";
import { memoryApp } from "../support/memory-app.js";

const T0 = Date.UTC(2031, 10, 22, 12, 0, 0);

describe("delay headers over HTTP", () => {
  it.each([
    ["delay", "-5"],
    ["delay", "5.5"],
    ["delay", "abc"],
    ["delay", ""],
    ["x-delay", "-5"],
    ["x-delay", "5.5"],
    ["x-delay", "abc"],
    ["x-delay", ""],
  ])("rejects %s: %j with 400 InvalidArgument saying what to send", async (header, value) => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const r = await call("POST", "/v1/topics/t/messages", { body: "x" }, { [header]: value });
    // Assess
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("InvalidArgument");
    expect(r.json.error.message).toMatch(new RegExp(`header ${header} must be a non-negative integer number of milliseconds, e.g. "5000"`));
  });

  it.each([
    ["both headers", { delay: "1000", "x-delay": "1000" }, {}],
    ["delay header and delayMs", { delay: "1000" }, { delayMs: 1000 }],
    ["x-delay header and delayMs", { "x-delay": "1000" }, { delayMs: 1000 }],
    ["delay header and deliverAt", { delay: "1000" }, { deliverAt: T0 + 1000 }],
  ])("rejects %s at once with 400", async (_name, headers, fields) => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const r = await call("POST", "/v1/topics/t/messages", { body: "x", ...fields }, headers as Record<string, string>);
    // Assess
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: "InvalidArgument", message: expect.stringContaining("one way only") });
  });

  it("accepts delay and x-delay as ms and answers the effective deliverAt", async () => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const a = await call("POST", "/v1/topics/t/messages", { body: "x" }, { delay: "5000" });
    const b = await call("POST", "/v1/topics/t/messages", { body: "x" }, { "x-delay": "0" });
    // Assess
    expect([a.status, a.json.deliverAt]).toEqual([201, T0 + 5000]);
    expect([b.status, b.json.deliverAt]).toEqual([201, T0]);
  });

  it("delivers an over-max header delay now, or rejects it with the maximum when the topic says so", async () => {
    // Prepare
    const { call } = memoryApp(T0);
    await call("PUT", "/v1/topics/t", { maxDelayMs: 10_000 });
    // Act
    const now = await call("POST", "/v1/topics/t/messages", { body: "x" }, { "x-delay": "10001" });
    await call("PUT", "/v1/topics/t", { maxDelayMs: 10_000, overMaxDelay: "reject" });
    const rejected = await call("POST", "/v1/topics/t/messages", { body: "x" }, { delay: "10001" });
    // Assess
    expect(now.json).toMatchObject({ deliverAt: T0, overMaxDelay: "delivered-now" });
    expect(rejected.status).toBe(400);
    expect(rejected.json.error.message).toContain("maximum delay of topic t: 10000 ms (10 seconds)");
  });
});

describe("topic and group settings over HTTP", () => {
  it("answers a topic's defaults and stores what a PUT gives", async () => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const before = await call("GET", "/v1/topics/t");
    const put = await call("PUT", "/v1/topics/t", { messageTtlMs: 60_000, retentionMs: 86_400_000 });
    const after = await call("GET", "/v1/topics/t");
    // Assess
    expect(before.json).toEqual({ topic: "t", maxDelayMs: 40 * 86_400_000, overMaxDelay: null, messageTtlMs: null, retentionMs: 3 * 86_400_000 });
    expect(put.status).toBe(200);
    expect(after.json).toEqual({ topic: "t", maxDelayMs: 40 * 86_400_000, overMaxDelay: null, messageTtlMs: 60_000, retentionMs: 86_400_000 });
  });

  it("answers a group's settings with defaults; 404 before the group exists", async () => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const missing = await call("GET", "/v1/topics/t/groups/g");
    const put = await call("PUT", "/v1/topics/t/groups/g", { retryBackoff: { mode: "exponential", baseSeconds: 1, capSeconds: 8 }, tagFilter: "a||b" });
    const got = await call("GET", "/v1/topics/t/groups/g");
    // Assess
    expect(missing.status).toBe(404);
    expect(put.status).toBe(200);
    expect(got.json).toEqual({
      topic: "t",
      group: "g",
      visibilitySeconds: 30,
      maxReceiveCount: 16,
      retryBackoff: { mode: "exponential", baseSeconds: 1, capSeconds: 8 },
      deadLetter: "on",
      tagFilter: "a||b",
      push: null,
      createdAt: T0,
    });
  });

  it.each([
    ["/v1/topics/t", { maxDelayMs: -1 }],
    ["/v1/topics/t", { maxDelayMs: 1.5 }],
    ["/v1/topics/t", { overMaxDelay: "later" }],
    ["/v1/topics/t", { messageTtlMs: 0 }],
    ["/v1/topics/t", { retentionMs: 1000 }],
    ["/v1/topics/t", { maxDelay: 5 }],
    ["/v1/topics/t/groups/g", { visibilitySeconds: 0 }],
    ["/v1/topics/t/groups/g", { maxReceiveCount: 0 }],
    ["/v1/topics/t/groups/g", { retryBackoff: { mode: "linear" } }],
    ["/v1/topics/t/groups/g", { retryBackoff: { mode: "exponential", baseSeconds: 10, capSeconds: 5 } }],
    ["/v1/topics/t/groups/g", { retryBackoff: "1s" }],
    ["/v1/topics/t/groups/g", { deadLetter: "yes" }],
    ["/v1/topics/t/groups/g", { tagFilter: 5 }],
    ["/v1/topics/t/groups/g", { colour: "red" }],
  ])("PUT %s %j is 400 InvalidArgument", async (path, body) => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const r = await call("PUT", path, body);
    // Assess
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("InvalidArgument");
  });
});

describe("nack and dead letters over HTTP", () => {
  it("nacks by handle, rejects a spent or foreign handle, and validates delayMs", async () => {
    // Prepare
    const { call, clock } = memoryApp(T0);
    await call("PUT", "/v1/topics/t/groups/g", { maxReceiveCount: 2 });
    await call("POST", "/v1/topics/t/messages", { body: "x" });
    const [m] = (await call("POST", "/v1/topics/t/groups/g/consume", {})).json.messages;
    // Act
    const bad = await call("POST", "/v1/topics/t/groups/g/nack", { receiptHandle: m.receiptHandle, delayMs: -1 });
    const foreign = await call("POST", "/v1/topics/t/groups/other/nack", { receiptHandle: m.receiptHandle });
    const ok = await call("POST", "/v1/topics/t/groups/g/nack", { receiptHandle: m.receiptHandle, delayMs: 1500 });
    const spent = await call("POST", "/v1/topics/t/groups/g/nack", { receiptHandle: m.receiptHandle });
    clock.advance(1500);
    const [again] = (await call("POST", "/v1/topics/t/groups/g/consume", {})).json.messages;
    const last = await call("POST", "/v1/topics/t/groups/g/nack", { receiptHandle: again.receiptHandle });
    const listed = await call("GET", "/v1/topics/t/groups/g/dead-letters?limit=10");
    const redriven = await call("POST", "/v1/topics/t/groups/g/dead-letters/redrive", { messageIds: [m.messageId] });
    // Assess
    expect(bad.status).toBe(400);
    expect([foreign.status, foreign.json.error.code]).toEqual([400, "ReceiptHandleError"]);
    expect(ok.json).toEqual({ messageId: m.messageId, outcome: "requeued", nextVisibleAt: T0 + 1500 });
    expect([spent.status, spent.json.error.code]).toEqual([404, "MessageNotExist"]);
    expect(again.consumedTimes).toBe(2);
    expect(last.json).toEqual({ messageId: m.messageId, outcome: "dead-lettered" });
    expect(listed.json).toEqual({ deadLetters: [{ messageId: m.messageId, lastFailureAt: T0 + 1500, consumedTimes: 2, deliverAt: T0, reason: "maxReceiveCount" }] });
    expect(redriven.json).toEqual({ redriven: 1, failed: [], more: false });
  });

  it("rejects a bad limit, a forged cursor and an ambiguous redrive with 400", async () => {
    // Prepare
    const { call } = memoryApp(T0);
    // Act
    const limit = await call("GET", "/v1/topics/t/groups/g/dead-letters?limit=0");
    const cursor = await call("GET", "/v1/topics/t/groups/g/dead-letters?cursor=forged");
    const both = await call("POST", "/v1/topics/t/groups/g/dead-letters/redrive", { all: true, messageIds: ["A"] });
    const neither = await call("POST", "/v1/topics/t/groups/g/dead-letters/redrive", {});
    // Assess
    expect([limit.status, cursor.status, both.status, neither.status]).toEqual([400, 400, 400, 400]);
  });
});

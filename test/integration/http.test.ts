import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TestServer, startTestServer } from "../support/server.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.close());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

describe("the native API over HTTP (local runtime, DynamoDB Local)", () => {
  it("is healthy", async () => {
    const r = await call("GET", "/healthz");
    expect(r).toMatchObject({ status: 200, json: { ok: true } });
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("delivers a delayed message no earlier than its deliverAt, promptly after it (real time)", async () => {
    // Prepare: the group exists before the publish
    await call("POST", "/v1/topics/http-delay/groups/g/consume", {});
    const published = await call("POST", "/v1/topics/http-delay/messages", { body: "in 1.5 s", delayMs: 1500 });
    expect(published.status).toBe(201);
    // Act
    const polled = await call("POST", "/v1/topics/http-delay/groups/g/consume", { waitSeconds: 10 });
    const receivedAt = Date.now();
    // Assess
    const [m] = polled.json.messages;
    expect(m.messageId).toBe(published.json.messageId);
    expect(m.firstConsumedAt).toBeGreaterThanOrEqual(published.json.deliverAt);
    expect(receivedAt).toBeGreaterThanOrEqual(published.json.deliverAt);
    expect(m.firstConsumedAt - m.deliverAt).toBeLessThan(500);
    const ack = await call("POST", "/v1/topics/http-delay/groups/g/ack", { receiptHandles: [m.receiptHandle] });
    expect(ack.json).toEqual({ acked: 1, failed: [] });
  });

  it("accepts the RabbitMQ delay headers and deliverAt as ISO-8601", async () => {
    const now = Date.now();
    const a = await call("POST", "/v1/topics/http-h/messages", { body: "a" }, { delay: "60000" });
    const b = await call("POST", "/v1/topics/http-h/messages", { body: "b" }, { "x-delay": "60000" });
    const c = await call("POST", "/v1/topics/http-h/messages", { body: "c", deliverAt: new Date(now + 60_000).toISOString() });
    for (const r of [a, b, c]) {
      expect(r.status).toBe(201);
      expect(r.json.deliverAt).toBeGreaterThanOrEqual(now + 59_000);
    }
  });

  it.each([
    ["negative delayMs", { body: "x", delayMs: -1 }, {}, 400, "InvalidArgument"],
    ["fractional delay header", { body: "x" }, { delay: "5.5" }, 400, "InvalidArgument"],
    ["two ways at once", { body: "x", delayMs: 5 }, { "x-delay": "5" }, 400, "InvalidArgument"],
    ["missing body", {}, {}, 400, "InvalidArgument"],
    ["tag too long", { body: "x", tag: "t".repeat(65) }, {}, 400, "InvalidArgument"],
    ["body over 256 KiB", { body: "x".repeat(256 * 1024 + 1) }, {}, 413, "MessageTooLarge"],
    ["not JSON", "{nope", {}, 400, "MalformedJson"],
  ])("rejects %s with a clear 4xx", async (_what, body, headers, status, code) => {
    const r = await call("POST", "/v1/topics/http-bad/messages", body, headers as Record<string, string>);
    expect(r.status).toBe(status);
    expect(r.json.error.code).toBe(code);
    expect(r.json.error.message.length).toBeGreaterThan(10);
  });

  it("rejects bad names, batch sizes and waits, and unknown routes and methods", async () => {
    expect((await call("POST", "/v1/topics/bad%20name/messages", { body: "x" })).json.error.code).toBe("InvalidArgument");
    expect((await call("POST", "/v1/topics/t/groups/g/consume", { max: 17 })).status).toBe(400);
    expect((await call("POST", "/v1/topics/t/groups/g/consume", { waitSeconds: 31 })).status).toBe(400);
    expect((await call("POST", "/v1/topics/t/groups/g/consume", { visibilitySeconds: 0 })).status).toBe(400);
    expect((await call("POST", "/v1/topics/t/groups/g/ack", { receiptHandles: [] })).status).toBe(400);
    expect((await call("GET", "/v1/nope")).status).toBe(404);
    const wrongMethod = await call("GET", "/v1/topics/t/groups/g/ack");
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.json.error.code).toBe("MethodNotAllowed");
  });

  it("answers a long poll on an empty group after waitSeconds with an empty list", async () => {
    const started = Date.now();
    const r = await call("POST", "/v1/topics/http-empty/groups/g/consume", { waitSeconds: 1 });
    expect(r.json).toEqual({ messages: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

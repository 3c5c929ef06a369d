import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { DelayqClient } from "../../client/src/index.js";
import { backoffMs, retryAfterMs } from "../../client/src/retry.js";
import { memoryApp } from "../support/memory-app.js";
import { startSigV4Server } from "../support/sigv4-server.js";

interface Seen {
  method: string;
  url: string;
  at: number;
  body: any;
  headers: IncomingMessage["headers"];
}

/** A real HTTP server answering from a script: one [status, headers, body] per request, the last one repeated. */
async function scripted(answers: [number, Record<string, string>, unknown][]) {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    let text = "";
    for await (const chunk of req) text += chunk;
    seen.push({ method: req.method ?? "", url: req.url ?? "", at: Date.now(), body: text ? JSON.parse(text) : undefined, headers: req.headers });
    const [status, headers, body] = answers[Math.min(seen.length - 1, answers.length - 1)] as [number, Record<string, string>, unknown];
    res.writeHead(status, { "content-type": "application/json", "x-request-id": `r${seen.length}`, ...headers }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const unavailable: [number, Record<string, string>, unknown] = [503, { "retry-after": "1" }, { error: { code: "ServiceUnavailable", message: "DynamoDB is throttling; retry in 1 s" } }];
const published = { messageId: "0".repeat(32), bodyMd5: "0".repeat(32), deliverAt: 1 };

describe("retries", () => {
  it("retries a 503 after its Retry-After, and a publish keeps the dedupId it added itself across attempts", async () => {
    // Prepare
    const server = await scripted([unavailable, [201, {}, published]]);
    const client = new DelayqClient({ endpoint: server.url });
    // Act
    const result = await client.publish("orders", { body: "x" });
    // Assess
    expect(result).toEqual(published);
    expect(server.seen).toHaveLength(2);
    const [a, b] = server.seen as [Seen, Seen];
    expect(a.body.dedupId).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.body.dedupId).toBe(a.body.dedupId);
    expect(b.at - a.at).toBeGreaterThanOrEqual(950);
  });

  it("retries 429 (API Gateway's throttling) with jittered backoff, at most `retries` times, then throws the last error", async () => {
    const server = await scripted([[429, {}, { message: "Too Many Requests" }]]);
    const client = new DelayqClient({ endpoint: server.url, retry: { retries: 2, baseDelayMs: 10, maxDelayMs: 50 } });
    await expect(client.stats("orders")).rejects.toMatchObject({ code: "GatewayError", status: 429 });
    expect(server.seen).toHaveLength(3);
  });

  it("never retries a publish without a dedupId when autoDedupId is off, nor a 400", async () => {
    const server = await scripted([unavailable]);
    const client = new DelayqClient({ endpoint: server.url, autoDedupId: false });
    await expect(client.publish("orders", { body: "x" })).rejects.toMatchObject({ code: "ServiceUnavailable", status: 503, retryAfterSeconds: 1 });
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]!.body.dedupId).toBeUndefined();
    const bad = await scripted([[400, {}, { error: { code: "InvalidArgument", message: "no" } }]]);
    await expect(new DelayqClient({ endpoint: bad.url }).ack("t", "g", ["h"])).rejects.toMatchObject({ code: "InvalidArgument", requestId: "r1" });
    expect(bad.seen).toHaveLength(1);
  });

  it("keeps a caller's dedupId, retries a batch whose every message has one, and adds none with retries off", async () => {
    const server = await scripted([unavailable, [200, {}, { results: [published, published] }]]);
    const client = new DelayqClient({ endpoint: server.url });
    await client.publishBatch("orders", [{ body: "a", dedupId: "mine" }, { body: "b" }]);
    expect(server.seen.map((s) => s.body.messages.map((m: { dedupId: string }) => m.dedupId))).toEqual([
      ["mine", server.seen[0]!.body.messages[1].dedupId],
      ["mine", server.seen[0]!.body.messages[1].dedupId],
    ]);
    const once = await scripted([[201, {}, published]]);
    await new DelayqClient({ endpoint: once.url, retry: false }).publish("orders", { body: "x" });
    expect(once.seen[0]!.body.dedupId).toBeUndefined();
  });

  it("computes full-jitter backoff within [0, min(max, base·2^n)], at least Retry-After, and reads both Retry-After forms", () => {
    const options = { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffMs(0, options, undefined, () => 0.999)).toBeLessThanOrEqual(100);
    expect(backoffMs(3, options, undefined, () => 1)).toBe(800);
    expect(backoffMs(6, options, undefined, () => 1)).toBe(1000);
    expect(backoffMs(0, options, 2000, () => 0.5)).toBe(2000);
    expect(retryAfterMs("2", 0)).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs(null, 0)).toBeUndefined();
  });
});

describe("SigV4 (a local server that verifies signatures with @smithy/signature-v4)", () => {
  const credentials = { accessKeyId: "AKIDLOCALTEST", secretAccessKey: "local/test/secret" };

  it("signs every route's request for execute-api; a wrong secret gets API Gateway's 403 as a typed error", async () => {
    // Prepare
    const app = memoryApp(Date.now()).runtime.app;
    const gateway = await startSigV4Server(app, credentials, "eu-west-1");
    closers.push(gateway.close);
    const client = new DelayqClient({ endpoint: gateway.url, aws: { region: "eu-west-1", credentials } });
    // Act
    const p = await client.publish("signed", { body: "hello", key: "k" });
    await client.putGroup("signed", "g", { tagFilter: "*" });
    const listed = await client.listMessages("signed", { from: 0, limit: 5 });
    const groups = await client.listGroups("signed", { limit: 10 });
    const cancelled = await client.cancelByKey("signed", "k").catch((e: { code: string }) => e.code);
    const wrong = new DelayqClient({ endpoint: gateway.url, aws: { region: "eu-west-1", credentials: { ...credentials, secretAccessKey: "nope" } } });
    // Assess
    expect(client.signing).toBe(true);
    expect(p.messageId).toMatch(/^[0-9A-F]{32}$/);
    expect(listed.messages).toEqual([]);
    expect(groups.groups).toHaveLength(1);
    expect(cancelled).toBeDefined();
    expect(gateway.verified).toBe(5);
    expect(gateway.refused).toBe(0);
    await expect(wrong.stats("signed")).rejects.toMatchObject({ code: "GatewayError", status: 403, message: expect.stringContaining("Forbidden") });
    expect(gateway.refused).toBe(1);
  });

  it("takes credentials from the default chain (here the environment) and the region from the endpoint's name or AWS_REGION", async () => {
    const app = memoryApp(Date.now()).runtime.app;
    const gateway = await startSigV4Server(app, credentials, "us-east-2");
    closers.push(gateway.close);
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: "us-east-2" });
    delete process.env.AWS_PROFILE;
    try {
      const client = new DelayqClient({ endpoint: gateway.url, aws: true });
      expect(await client.stats("env")).toMatchObject({ topic: "env" });
      expect(gateway.verified).toBe(1);
    } finally {
      process.env = saved;
    }
    const deployed = new DelayqClient({ endpoint: "https://abc123.execute-api.eu-west-1.amazonaws.com/", env: {} });
    expect(deployed.signing).toBe(true);
    expect(new DelayqClient({ endpoint: "http://127.0.0.1:8080", env: {} }).signing).toBe(false);
  });
});

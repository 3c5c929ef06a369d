import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "../../core/http/openapi.js";
import { httpHandler } from "../../lambda/apigw.js";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { memoryApp } from "../support/memory-app.js";
import { checkedFetch, openApiChecker } from "../support/openapi.js";
import { type TestServer, startTestServer } from "../support/server.js";

const document = openApiDocument() as Record<string, any>;
let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({}, { schedules: true });
});
afterAll(() => server?.close());

describe("the OpenAPI document", () => {
  it("is a valid OpenAPI 3.1 document (the official schema, @seriousme/openapi-schema-validator)", async () => {
    // Act
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    // Assess
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("compiles every schema in Ajv's strict mode, and every example validates against its schema", () => {
    // Prepare
    const checker = openApiChecker(document);
    const problems: string[] = [];
    // Act
    for (const op of checker.operations) {
      const example = op.spec.requestBody?.content["application/json"].example;
      if (example !== undefined) problems.push(...checker.checkRequest(op, example));
      for (const [status, response] of Object.entries(op.spec.responses as Record<string, any>)) {
        const resolved = checker.resolve(response);
        const ex = resolved.content?.["application/json"]?.example;
        if (ex !== undefined) problems.push(...checker.checkResponseBody(op, status, ex));
        else checker.checkResponseBody(op, status, {}); // compiles it
      }
    }
    for (const [name, schema] of Object.entries(document.components.schemas as Record<string, any>)) {
      for (const ex of schema.examples ?? []) {
        if (!checker.ajv.validate(`openapi.json#/$defs/${name}`, ex)) problems.push(`${name} example ${JSON.stringify(ex)}`);
      }
    }
    // Assess
    expect(problems).toEqual([]);
  });

  it("has an operation for every route of the router, and a route for every operation", () => {
    // Prepare
    const routes = server.runtime.app.routes
      .filter((r) => r.door === "json")
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    // Act
    const operations = openApiChecker(document)
      .operations.map((o) => `${o.method} ${o.path}`)
      .sort();
    // Assess
    expect(operations).toEqual(routes);
    expect(routes.length).toBeGreaterThanOrEqual(25);
  });

  it("is routed by the stack: API Gateway has a route for every operation", async () => {
    const { ROUTES } = await import("../../infra/delay-queue.js");
    const stack = ROUTES.filter((r) => !r.path.startsWith("/topics/")).map((r) => `${r.method} ${r.path}`).sort();
    expect(stack).toEqual(openApiChecker(document).operations.map((o) => `${o.method} ${o.path}`).sort());
  });

  it("gives every operation a unique operationId, tags, and the error answers of its kind", () => {
    const ops = openApiChecker(document).operations;
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    for (const op of ops) {
      expect(op.spec.tags?.length, op.operationId).toBeGreaterThan(0);
      expect(Object.keys(op.spec.responses), op.operationId).toEqual(expect.arrayContaining(["400", "403", "500", "503"]));
      if (op.path.startsWith("/v1/")) expect(Object.keys(op.spec.responses), op.operationId).toEqual(expect.arrayContaining(["401", "429"]));
      else expect(op.spec.security, op.operationId).toEqual([]);
    }
  });

  it("is the file the client package ships (client/openapi.json; regenerate with npm run openapi)", () => {
    const shipped = JSON.parse(readFileSync(join(PROJECT_ROOT, "client/openapi.json"), "utf8"));
    expect(shipped).toEqual(document);
  });
});

describe("GET /openapi.json", () => {
  it("is served by the local server, the in-process App and the Lambda door, unauthenticated", async () => {
    // Prepare: a Lambda event for GET /openapi.json, and a local server requiring an API key
    const app = memoryApp(Date.now()).runtime.app;
    const event = {
      version: "2.0",
      routeKey: "GET /openapi.json",
      rawPath: "/openapi.json",
      rawQueryString: "",
      headers: { host: "abc123.execute-api.eu-west-1.amazonaws.com" },
      requestContext: { http: { method: "GET", path: "/openapi.json", protocol: "HTTP/1.1", sourceIp: "203.0.113.7" }, requestId: "r1", timeEpoch: Date.now() },
      isBase64Encoded: false,
    };
    const keyed = await startHttpServer(server.runtime.app, 0, { apiKey: "k-1" });
    try {
      // Act
      const local = await fetch(`${server.url}/openapi.json`);
      const keyedAnswer = await fetch(`http://127.0.0.1:${(keyed.address() as AddressInfo).port}/openapi.json`);
      const inProcess = await app.fetch(new Request("http://queue.test/openapi.json"));
      const lambda = await httpHandler(async () => app)(event as never);
      // Assess
      expect(local.status).toBe(200);
      expect(local.headers.get("content-type")).toBe("application/json");
      expect(await local.json()).toEqual(document);
      expect(keyedAnswer.status).toBe(200);
      expect(await inProcess.json()).toEqual(document);
      expect(lambda.statusCode).toBe(200);
      const lambdaBody = lambda.isBase64Encoded ? Buffer.from(lambda.body ?? "", "base64").toString() : lambda.body;
      expect(JSON.parse(lambdaBody ?? "")).toEqual(document);
    } finally {
      await closeServer(keyed);
    }
  });
});

describe("every route answers as the document says (local server, DynamoDB Local, Ajv)", () => {
  it("validates the answers of every operation, successes and refusals", async () => {
    // Prepare
    const checker = openApiChecker(document);
    const problems: string[] = [];
    const call = checkedFetch(server.url, checker, problems);
    const t = `oa-${randomUUID().slice(0, 8)}`;
    const V = `/v1/topics/${t}`;
    const G = `${V}/groups/g`;
    const inAnHour = Date.now() + 3_600_000;

    // Act + Assess: operations
    expect((await call("GET", "/healthz")).status).toBe(200);
    expect((await call("GET", "/openapi.json")).status).toBe(200);

    // topic and group settings
    expect((await call("PUT", V, { maxDelayMs: 86_400_000 * 366, overMaxDelay: "reject" })).status).toBe(200);
    expect((await call("GET", V)).json).toMatchObject({ topic: t, overMaxDelay: "reject" });
    expect((await call("PUT", V, { bogus: 1 })).status).toBe(400);
    expect((await call("PUT", V, "{nope")).status).toBe(400);
    expect((await call("PUT", V, { maxDelayMs: 1 }, { "content-type": "text/plain" })).status).toBe(415);
    expect((await call("PUT", G, { maxReceiveCount: 1, retryBackoff: { mode: "exponential", baseSeconds: 1 }, deadLetter: "on" })).status).toBe(200);
    expect((await call("PUT", `${V}/groups/h`, {})).status).toBe(200);
    expect((await call("GET", G)).json).toMatchObject({ maxReceiveCount: 1, deadLetter: "on" });
    expect((await call("GET", `${V}/groups/none`)).status).toBe(404);
    expect((await call("GET", `/v1/topics/bad%20name/groups/g`)).status).toBe(400);
    const page = await call("GET", `${V}/groups?limit=1`);
    expect(page.json.cursor).toBeDefined();
    expect((await call("GET", `${V}/groups?cursor=${encodeURIComponent(page.json.cursor)}`)).json.groups).toHaveLength(1);
    expect((await call("GET", `${V}/groups?limit=0`)).status).toBe(400);
    const topics = await call("GET", "/v1/topics?limit=1000");
    expect(topics.json.topics).toContain(V.replace("/v1/topics/", ""));
    expect((await call("GET", "/v1/topics?limit=0")).status).toBe(400);
    expect((await call("GET", "/v1/topics?cursor=")).status).toBe(400);
    // push groups: configured (secret once), refused targets, rotation, consume refused, back to pull
    const pushed = await call("PUT", `${V}/groups/p`, { push: { type: "http", url: "http://127.0.0.1:9/hook", timeoutMs: 2000 } });
    expect(pushed.json.push).toMatchObject({ type: "http", timeoutMs: 2000, secret: expect.stringMatching(/^whsec_/) });
    expect((await call("GET", `${V}/groups/p`)).json.push.secret).toBeUndefined();
    expect((await call("PUT", `${V}/groups/q`, { push: { type: "http", url: "http://169.254.169.254/" } })).json.error.code).toBe("PushTargetRefused");
    expect((await call("PUT", `${V}/groups/q`, { push: { type: "smtp" } })).json.error.code).toBe("InvalidArgument");
    expect((await call("POST", `${V}/groups/p/push/secret`, { graceSeconds: 60 })).json.secret).toMatch(/^whsec_/);
    expect((await call("POST", `${V}/groups/h/push/secret`, {})).status).toBe(400);
    expect((await call("POST", `${V}/groups/p/consume`, {})).json.error.code).toBe("PushGroup");
    expect((await call("PUT", `${V}/groups/p`, {})).json.push).toBeNull();
    expect((await call("DELETE", `${V}/groups/p`)).status).toBe(200);

    // publish
    const now = await call("POST", `${V}/messages`, { body: "now", key: "k1", tag: "a", properties: { p: "1" }, dedupId: "d1" });
    expect(now.status).toBe(201);
    expect((await call("POST", `${V}/messages`, { body: "now", dedupId: "d1" })).json.duplicate).toBe(true);
    const later = await call("POST", `${V}/messages`, { body: "later", key: "k2", deliverAt: "2027-06-01T09:00", timeZone: "Europe/Paris" });
    expect(later.json).toMatchObject({ deliverAtLocal: "2027-06-01T09:00", timeZone: "Europe/Paris" });
    const header = await call("POST", `${V}/messages`, { body: "by header", key: "k2" }, { "x-delay": "3600000" });
    expect(header.status).toBe(201);
    const second = await call("POST", `${V}/messages`, { body: "second", delayMs: 0 });
    expect((await call("POST", `${V}/messages`, { body: "x", delayMs: -1 })).status).toBe(400);
    expect((await call("POST", `${V}/messages`, { body: "x".repeat(256 * 1024 + 1) })).json.error.code).toBe("MessageTooLarge");
    expect((await call("POST", `${V}/messages`, "body", { "content-type": "text/plain" })).status).toBe(415);
    const batch = await call("POST", `${V}/messages/batch`, { messages: [{ body: "b1", deliverAt: inAnHour }, { body: "b2", tag: "x".repeat(65) }] });
    expect(batch.json.results[1].error.code).toBe("InvalidArgument");
    expect((await call("POST", `${V}/messages/batch`, { messages: [] })).status).toBe(400);

    // look up, list, stats, reschedule, cancel
    expect((await call("GET", `${V}/messages/${later.json.messageId}`)).json).toMatchObject({ state: "scheduled", key: "k2" });
    expect((await call("GET", `${V}/messages/${"0".repeat(32)}`)).status).toBe(404);
    expect((await call("GET", `${V}/messages/nope`)).status).toBe(400);
    const listed = await call("GET", `${V}/messages?state=scheduled&limit=1`);
    expect(listed.json.cursor).toBeDefined();
    expect((await call("GET", `${V}/messages?cursor=${encodeURIComponent(listed.json.cursor)}`)).status).toBe(200);
    for (const json of ["null", "7", "\"x\"", "[]"]) {
      const forged = await call("GET", `${V}/messages?cursor=${Buffer.from(json).toString("base64url")}`);
      expect(forged.status).toBe(400);
      expect(forged.json.error.code).toBe("InvalidArgument");
    }
    expect((await call("GET", `${V}/messages?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`)).status).toBe(400);
    expect((await call("GET", `${V}/stats`)).json.scheduled).toBeGreaterThanOrEqual(3);
    expect((await call("PATCH", `${V}/messages/${header.json.messageId}`, { delayMs: 7_200_000 })).json.outcome).toBe("rescheduled");
    expect((await call("PATCH", `${V}/messages/${header.json.messageId}`, {})).status).toBe(400);
    expect((await call("PATCH", `${V}/messages/${"0".repeat(32)}`, { deliverAt: "now" })).status).toBe(404);
    expect((await call("DELETE", `${V}/messages/${batch.json.results[0].messageId}`)).json.outcome).toBe("cancelled");
    expect((await call("DELETE", `${V}/messages/${"0".repeat(32)}`)).status).toBe(404);
    expect((await call("DELETE", `${V}/messages?key=k2`)).json.results).toHaveLength(2);
    expect((await call("DELETE", `${V}/messages?key=none`)).status).toBe(404);
    expect((await call("DELETE", `${V}/messages`)).status).toBe(400);

    // consume, ack, nack (maxReceiveCount 1: a nack dead-letters), dead letters, redrive
    const got = await call("POST", `${G}/consume`, { max: 16, waitSeconds: 5 });
    const messages = got.json.messages as { messageId: string; receiptHandle: string; body: string }[];
    expect(messages.map((m) => m.body).sort()).toEqual(["now", "second"]);
    const [first, other] = messages as [(typeof messages)[0], (typeof messages)[0]];
    expect((await call("POST", `${G}/consume`)).json.messages).toEqual([]);
    expect((await call("POST", `${G}/consume`, { max: 17 })).status).toBe(400);
    const acked = await call("POST", `${G}/ack`, { receiptHandles: [first.receiptHandle, "bogus"] });
    expect(acked.json).toMatchObject({ acked: 1, failed: [{ receiptHandle: "bogus", code: "ReceiptHandleError" }] });
    expect((await call("POST", `${G}/ack`, { receiptHandles: [] })).status).toBe(400);
    expect((await call("POST", `${G}/nack`, { receiptHandle: other.receiptHandle })).json.outcome).toBe("dead-lettered");
    expect((await call("POST", `${G}/nack`, { receiptHandle: other.receiptHandle })).status).toBe(404);
    expect((await call("POST", `${G}/nack`, { receiptHandle: "bogus" })).json.error.code).toBe("ReceiptHandleError");
    expect((await call("GET", `${G}/dead-letters?limit=10`)).json.deadLetters).toMatchObject([{ messageId: other.messageId, reason: "maxReceiveCount" }]);
    expect((await call("GET", `${G}/dead-letters?limit=1000`)).status).toBe(400);
    expect((await call("POST", `${G}/dead-letters/redrive`, { messageIds: [other.messageId, "0".repeat(32)] })).json).toMatchObject({ redriven: 1, failed: [{ code: "MessageNotExist" }] });
    expect((await call("POST", `${G}/dead-letters/redrive`, { all: true })).json).toMatchObject({ redriven: 0, more: false });
    expect((await call("POST", `${G}/dead-letters/redrive`, {})).status).toBe(400);

    // schedules
    const schedule = { name: `s-${t}`, topic: t, expression: "rate(1 day)", message: { body: "tick", tag: "daily" } };
    expect((await call("POST", "/v1/schedules", schedule)).json).toMatchObject({ timeZone: "UTC" });
    expect((await call("POST", "/v1/schedules", schedule)).status).toBe(409);
    expect((await call("POST", "/v1/schedules", { ...schedule, expression: "every day" })).status).toBe(400);
    expect((await call("GET", "/v1/schedules")).json.schedules).toEqual(expect.arrayContaining([expect.objectContaining({ name: schedule.name })]));
    expect((await call("GET", `/v1/schedules/${schedule.name}`)).status).toBe(200);
    expect((await call("DELETE", `/v1/schedules/${schedule.name}`)).json).toEqual({ name: schedule.name, deleted: true });
    expect((await call("GET", `/v1/schedules/${schedule.name}`)).status).toBe(404);
    expect((await call("DELETE", `/v1/schedules/${schedule.name}`)).status).toBe(404);

    // groups deleted
    expect((await call("DELETE", G)).json).toEqual({ topic: t, group: "g", deleted: true });
    expect((await call("DELETE", G)).status).toBe(404);

    // the local guard's refusals: a missing API key (401), a foreign Origin (403)
    const keyed = await startHttpServer(server.runtime.app, 0, { apiKey: "k-1" });
    try {
      const keyedCall = checkedFetch(`http://127.0.0.1:${(keyed.address() as AddressInfo).port}`, checker, problems);
      expect((await keyedCall("GET", `${V}/stats`)).status).toBe(401);
      expect((await keyedCall("GET", `${V}/stats`, undefined, { "x-api-key": "k-1" })).status).toBe(200);
      expect((await keyedCall("GET", "/healthz", undefined, { origin: "https://evil.example" })).status).toBe(403);
    } finally {
      await closeServer(keyed);
    }

    // Assess: every answer validated, and every operation's success was seen
    expect(problems).toEqual([]);
    const unseen = checker.operations.filter((o) => ![...checker.covered].some((c) => c.startsWith(`${o.operationId} 2`))).map((o) => o.operationId);
    expect(unseen).toEqual([]);
    console.log(`answers validated: ${[...checker.covered].sort().join(", ")}`);
  });
});

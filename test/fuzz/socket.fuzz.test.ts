import { ScanCommand } from "@aws-sdk/client-dynamodb";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RouteInfo } from "../../core/http/context.js";
import type { Logger } from "../../core/ports.js";
import { type Runtime, buildRuntime } from "../../lambda/composition.js";
import { type LocalHttpServer, startHttpServer } from "../../local/server.js";
import { type TestTable, freshTable } from "../support/dynamo.js";
import { FUZZ_SEED, checkAnswer, fuzzParameters, headerValue, hostileBodyText, hostileString, isRejection, malformedBody, pathFor, queryString } from "../support/fuzz.js";
import { rawRequest } from "../support/raw-http.js";

/**
 * The same properties over a real socket, against the local server on DynamoDB Local: hostile request
 * lines, methods, targets, Host and Origin headers, framings (chunked, conflicting lengths, oversized
 * declarations, Expect and Upgrade) and bodies, written byte for byte. Every request gets an HTTP
 * answer — never a dropped connection — that is not a 5xx, has the documented error shape when it is a
 * refusal, and a refusal leaves the table exactly as it was (every item compared).
 */

let table: TestTable;
let runtime: Runtime;
let server: LocalHttpServer;
let port: number;
const failures: string[] = [];
const log: Logger = { info() {}, warn() {}, error: (event, fields) => failures.push(`${event} ${JSON.stringify(fields).slice(0, 500)}`) };

async function tableState(): Promise<string> {
  const items: string[] = [];
  let start: Record<string, any> | undefined;
  do {
    const out = await table.client.send(new ScanCommand({ TableName: table.tableName, ConsistentRead: true, ExclusiveStartKey: start }));
    for (const item of out.Items ?? []) items.push(JSON.stringify(item));
    start = out.LastEvaluatedKey;
  } while (start);
  return items.sort().join("\n");
}

interface RawCase {
  method: string;
  target: string;
  host: string | undefined;
  headers: [string, string][];
  body: Buffer;
  framing: "length" | "chunked" | "bad-chunked" | "both" | "declared-huge" | "none";
}

function serialize(c: RawCase): Buffer {
  const lines = [`${c.method} ${c.target} HTTP/1.1`];
  if (c.host !== undefined) lines.push(`Host: ${c.host}`);
  for (const [k, v] of c.headers) lines.push(`${k}: ${v}`);
  lines.push("Connection: close");
  let body = c.body;
  switch (c.framing) {
    case "length":
      lines.push(`Content-Length: ${body.length}`);
      break;
    case "chunked":
      lines.push("Transfer-Encoding: chunked");
      body = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from(body.length > 0 ? "\r\n0\r\n\r\n" : "\r\n")]);
      break;
    case "bad-chunked":
      lines.push("Transfer-Encoding: chunked");
      body = Buffer.concat([Buffer.from("zz\r\n"), body, Buffer.from("\r\n0\r\n\r\n")]);
      break;
    case "both":
      lines.push(`Content-Length: ${body.length}`, "Transfer-Encoding: chunked");
      break;
    case "declared-huge":
      lines.push(`Content-Length: ${3 * 1024 * 1024}`);
      break;
    case "none":
      body = Buffer.alloc(0);
      break;
  }
  return Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), body]);
}

const rawCase = (route: RouteInfo) =>
  fc.record({
    method: fc.oneof(
      { weight: 12, arbitrary: fc.constant(route.method) },
      { weight: 2, arbitrary: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD") },
      { weight: 2, arbitrary: fc.constantFrom("TRACE", "CONNECT", "TRACK", "get", "PROPFIND", "M-SEARCH", "FOO") },
    ),
    target: fc.oneof(
      { weight: 12, arbitrary: fc.tuple(pathFor(route), fc.oneof(fc.constant(""), queryString)).map(([p, q]) => (q ? `${p}?${q}` : p)) },
      { weight: 1, arbitrary: pathFor(route).map((p) => p.replace(/\/([^/]+)\//, "/$1/../")) },
      { weight: 1, arbitrary: pathFor(route).map((p) => p.replace(/\/([^/]+)\//, "/$1\\")) },
      { weight: 1, arbitrary: fc.constantFrom("*", "http://evil.example/healthz", "//v1/topics/a/messages", "/v1/topics/%2e%2e/messages", `/v1/topics/${"a".repeat(9000)}/messages`) },
    ),
    host: fc.oneof(
      { weight: 10, arbitrary: fc.constant("LOCAL") },
      { weight: 1, arbitrary: fc.constantFrom("localhost", "localhost:1", "[::1]:8080", "127.0.0.2", "app.localhost") },
      { weight: 2, arbitrary: fc.constantFrom("a b", "[::", "x:99999", "user:pw@evil", "evil.example", "", "127.0.0.1:", "127.0.0.1.nip.io") },
      { weight: 1, arbitrary: fc.constant(undefined) },
    ),
    headers: fc.array(
      fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom<[string, string]>(["Content-Type", "application/json"]) },
        { weight: 3, arbitrary: fc.tuple(fc.constantFrom("Content-Type", "Origin", "Expect", "Upgrade", "Authorization", "x-mq-version", "Date", "delay", "x-delay", "Host", "X-Forwarded-Host", "Content-MD5"), headerValue) },
        { weight: 1, arbitrary: fc.constantFrom<[string, string]>(["Expect", "100-continue"], ["Upgrade", "websocket"], ["Connection", "Upgrade"], ["Origin", "http://evil.example"], ["Origin", "http://127.0.0.1:1"], ["X-Big", "x".repeat(20_000)]) },
      ),
      { maxLength: 4 },
    ),
    body: fc.oneof(hostileBodyText, malformedBody, hostileString).map((s) => Buffer.from(s, "utf8")),
    framing: fc.oneof(
      { weight: 10, arbitrary: fc.constant("length" as const) },
      { weight: 1, arbitrary: fc.constantFrom("chunked" as const, "bad-chunked" as const, "both" as const, "declared-huge" as const, "none" as const) },
    ),
  });

beforeAll(async () => {
  console.log(`fuzz seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED})`);
  table = await freshTable();
  // Leases released before each answer (as in Lambda): no lease work goes on between requests to blur the table's before and after.
  runtime = buildRuntime({ env: { TABLE_NAME: table.tableName, MQ_CREDENTIALS: "AK:SK", MAX_WAIT_MS: "0", LEASE_LINGER_MS: "0" }, log, client: table.client });
  server = await startHttpServer(runtime.app, 0);
  port = (server.address() as { port: number }).port;
  const post = (path: string, body: unknown) =>
    fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  await post("/v1/topics/fz/groups/g1/consume", {});
  for (const delayMs of [0, 60_000]) await post("/v1/topics/fz/messages", { body: "seed", key: "k", delayMs });
  await post("/v1/topics/fz/groups/g1/consume", { max: 1 });
});

afterAll(async () => {
  await server?.drain(0);
});

describe("fuzzing both doors over a real socket (local server, DynamoDB Local)", () => {
  it("answers every hostile request on every route, never with a 5xx or a dropped connection, and refusals change nothing", async () => {
    const cases = fc.constantFrom(...runtime.app.routes).chain(rawCase);
    await fc.assert(
      fc.asyncProperty(cases, async (c) => {
        const host = c.host === "LOCAL" ? `127.0.0.1:${port}` : c.host;
        const bytes = serialize({ ...c, host });
        const before = await tableState();
        const answer = await rawRequest(port, bytes);
        const label = `${c.method} ${c.target.slice(0, 120)} (Host ${host}, ${c.framing})`;
        if (answer.status === undefined) throw new Error(`${label}: no answer; received ${JSON.stringify(answer.raw.slice(0, 200))}`);
        const path = c.target.startsWith("/") ? c.target.split("?")[0] ?? "/" : "/";
        const problem = checkAnswer(path, { status: answer.status, headers: answer.headers, text: answer.text }, c.method);
        if (problem) throw new Error(`${label}: ${problem}`);
        if (answer.headers.get("access-control-allow-origin")) throw new Error(`${label}: sent CORS header access-control-allow-origin`);
        if (isRejection(c.method, path, { status: answer.status, headers: answer.headers, text: answer.text }) && (await tableState()) !== before) {
          throw new Error(`${label}: refused with ${answer.status} but the table changed`);
        }
        if (failures.length > 0) throw new Error(`${label}: logged ${failures.splice(0).join("; ")}`);
      }),
      fuzzParameters(150),
    );
  }, 180_000);

  it("answers CONNECT, TRACE and bytes that are not HTTP instead of dropping the connection", async () => {
    const cases = [
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
      "TRACE /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
      "GARBAGE\r\n\r\n",
      "GET / HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${"x".repeat(20_000)}\r\n\r\n`,
    ];
    for (const text of cases) {
      const answer = await rawRequest(port, text);
      expect(answer.status, text.slice(0, 40)).toBeGreaterThanOrEqual(400);
      expect(answer.status, text.slice(0, 40)).toBeLessThan(500);
      expect(JSON.parse(answer.text).error.code).toMatch(/^(MethodNotAllowed|InvalidArgument)$/);
    }
  });
});

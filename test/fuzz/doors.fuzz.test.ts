import { createHash } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../core/clock.js";
import type { RouteInfo } from "../../core/http/context.js";
import { MemoryStore } from "../../core/memory-store.js";
import type { Logger } from "../../core/ports.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { firingToPublish } from "../../core/schedules.js";
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { httpHandler } from "../../lambda/apigw.js";
import { type Runtime, buildRuntime } from "../../lambda/composition.js";
import { LocalScheduleService } from "../../local/local-schedules.js";
import {
  type Answer,
  FUZZ_SEED,
  anyMethod,
  checkAnswer,
  contentType,
  fuzzParameters,
  headerValue,
  hostileBodyText,
  hostileString,
  isRejection,
  malformedBody,
  nestedText,
  pathFor,
  pct,
  queryString,
} from "../support/fuzz.js";

/**
 * Property-based fuzzing of every route of both doors, in process (`app.fetch(new Request(…))`), over the
 * memory store. The route list comes from the routers' own tables, so a route added later is fuzzed
 * without touching this file. Properties: never a 5xx; a refusal has its door's documented error body with
 * a stable code and no internal text; and a refusal changes nothing in the queue (the store's whole state
 * is compared before and after).
 */

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const clock = new ManualClock(T0);
const store = new MemoryStore();
const failures: string[] = [];
const log: Logger = {
  info() {},
  warn() {},
  error: (event, fields) => failures.push(`${event} ${JSON.stringify(fields).slice(0, 500)}`),
};
let schedules: LocalScheduleService | undefined;
let runtime: Runtime;

/** The whole queue state: every map and set of the stores, and the schedules. */
async function snapshot(): Promise<string> {
  const plain = (value: unknown): unknown => {
    if (value instanceof Map) return [...value.entries()].map(([k, v]) => [k, plain(v)]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
    if (value instanceof Set) return [...value].map(plain).sort();
    if (value instanceof MemoryStore) return "(store)";
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
    return value;
  };
  return JSON.stringify({ store: plain({ ...store }), schedules: await schedules?.list() });
}

interface Case {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body?: string;
}

/** Status counts per route pattern, printed with FUZZ_STATS=1 (to see what the generators reach). */
const stats = new Map<string, number>();

async function call(c: Case): Promise<Answer> {
  const target = `${c.path}${c.query ? `?${c.query}` : ""}`;
  const hasBody = c.body !== undefined && c.method !== "GET" && c.method !== "HEAD";
  const request = new Request(`http://queue.test${target}`, {
    method: c.method,
    headers: c.headers,
    ...(hasBody && { body: c.body }),
  });
  const response = await runtime.app.fetch(request, { rawPath: c.path, rawQuery: c.query });
  const key = `${c.method} ${c.path.replace(/\/(fz|g1|nightly|0192F0A1B2C3D4E5F60718293A4B5C6D)(?=\/|$)/g, "/:p").slice(0, 60)} ${response.status}`;
  stats.set(key, (stats.get(key) ?? 0) + 1);
  if (process.env.FUZZ_STATS === "2" && response.status === 400) {
    const text = await response.clone().text();
    const reason = `${c.method} ${c.path.split("/").slice(0, 3).join("/")}… ${(JSON.parse(text).error?.message ?? "").slice(0, 50)}`;
    stats.set(reason, (stats.get(reason) ?? 0) + 1);
  }
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Signs a case as the RocketMQ SDKs do (most of the time), so hostile bodies reach the XML parser. */
function signed(c: Case, sign: boolean, withMd5: boolean): Case {
  if (!sign) return c;
  const date = new Date(clock.nowMs()).toUTCString();
  const type = c.headers["content-type"] ?? "";
  const md5 = withMd5 && c.body !== undefined ? Buffer.from(createHash("md5").update(c.body).digest("hex")).toString("base64") : "";
  const toSign = stringToSign({
    method: c.method,
    contentMd5: md5,
    contentType: type,
    date,
    mqHeaders: { "x-mq-version": "2015-06-06" },
    resource: c.query ? `${c.path}?${c.query}` : c.path,
  });
  return {
    ...c,
    headers: { ...c.headers, date, "x-mq-version": "2015-06-06", authorization: `MQ AK:${signature("SK", toSign)}`, ...(md5 && { "content-md5": md5 }) },
  };
}

/** Problems found: none expected. The refusal must leave the state as it was. */
async function exercise(c: Case): Promise<void> {
  const before = await snapshot();
  const answer = await call(c);
  // In process the App answers HEAD with a body like GET; the server leaves it off the wire.
  const problem = checkAnswer(c.path, answer);
  if (problem) throw new Error(`${c.method} ${c.path}?${c.query}: ${problem}`);
  if (isRejection(c.method, c.path, answer)) {
    const after = await snapshot();
    if (after !== before) throw new Error(`${c.method} ${c.path}: refused with ${answer.status} but the queue changed`);
  }
  if (failures.length > 0) throw new Error(`logged: ${failures.splice(0).join("; ")}`);
}

const xmlText = fc.oneof(hostileString, fc.constantFrom("&amp;", "&#0;", "&#x1F600;", "&bogus;", "<![CDATA[x]]>", "]]>", "\u0001"));
const xmlBody = fc.oneof(
  fc
    .record({ body: xmlText, tag: fc.option(xmlText), props: fc.option(fc.oneof(xmlText, fc.constantFrom("constructor:x|", "__proto__:x|", ":v|", "k:|", "__STARTDELIVERTIME:99999999999999999|", "__TransCheckT:10|", "KEYS:k|a:b:c|"))) })
    .map(({ body, tag, props }) => `<Message><MessageBody>${body}</MessageBody>${tag === null ? "" : `<MessageTag>${tag}</MessageTag>`}${props === null ? "" : `<Properties>${props}</Properties>`}</Message>`),
  fc.array(xmlText, { maxLength: 18 }).map((hs) => `<ReceiptHandles>${hs.map((h) => `<ReceiptHandle>${h}</ReceiptHandle>`).join("")}</ReceiptHandles>`),
  fc.constantFrom(
    '<!DOCTYPE m [<!ENTITY a "b">]><Message><MessageBody>&a;</MessageBody></Message>',
    '<!-- <![CDATA[ --><!DOCTYPE m [<!ENTITY a "b">]><!-- ]]> --><Message><MessageBody>&a;</MessageBody></Message>',
    "<Message><MessageBody><![CDATA[<!DOCTYPE x>]]></MessageBody></Message>",
    "<Message><MessageBody>x</MessageBody><MessageBody>y</MessageBody></Message>",
    "<Message><MessageBody>x</MessageBody>",
    "<?xml version=\"1.0\"?><Message><MessageBody>&constructor;</MessageBody></Message>",
  ),
  fc.integer({ min: 1, max: 5000 }).map((n) => `${"<a>".repeat(n)}x${"</a>".repeat(n)}`),
);

const jsonCase = (route: RouteInfo) =>
  fc.record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: anyMethod }),
    path: fc.oneof({ weight: 19, arbitrary: pathFor(route) }, { weight: 1, arbitrary: pathFor(route).map((p) => p.replace("/v1/", "/v1/topics/x/../")) }),
    query: fc.oneof({ weight: 1, arbitrary: fc.constant("") }, { weight: 2, arbitrary: queryString }),
    headers: fc
      .record({
        "content-type": contentType,
        delay: fc.option(fc.oneof(fc.constantFrom("5000", "0"), headerValue), { freq: 8, nil: undefined }),
        "x-delay": fc.option(fc.oneof(fc.constantFrom("5000", "-1"), headerValue), { freq: 8, nil: undefined }),
        origin: fc.option(fc.constantFrom("http://evil.example", "null"), { freq: 4, nil: undefined }),
      })
      .map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)) as Record<string, string>),
    body: fc.option(fc.oneof({ weight: 6, arbitrary: hostileBodyText }, { weight: 2, arbitrary: malformedBody }), { nil: undefined, freq: 6 }),
  });

const xmlCase = (route: RouteInfo) =>
  fc
    .record({
      method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: anyMethod }),
      path: pathFor(route),
      query: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom("consumer=g1", "consumer=g1&numOfMessages=16&waitseconds=0", "ns=MQ_INST_1", "consumer=g1&ns=MQ_INST_1&tag=a%7C%7Cb") },
        { weight: 2, arbitrary: queryString },
      ),
      headers: fc.record({ "content-type": fc.constantFrom("text/xml;charset=utf-8", "text/xml", "application/json", "") }, { requiredKeys: [] }),
      body: fc.option(fc.oneof({ weight: 5, arbitrary: xmlBody }, { weight: 1, arbitrary: malformedBody }), { nil: undefined, freq: 5 }),
      sign: fc.integer({ min: 0, max: 9 }).map((n) => n < 8),
      md5: fc.boolean(),
    })
    .map(({ sign, md5, ...c }) => signed(c, sign, md5));

beforeAll(async () => {
  console.log(`fuzz seed ${FUZZ_SEED} (replay with FUZZ_SEED=${FUZZ_SEED})`);
  runtime = buildRuntime({
    env: { TABLE_NAME: "memory", MQ_CREDENTIALS: "AK:SK", MAX_WAIT_MS: "0" },
    log,
    store,
    clock,
    schedules: (queue) => {
      schedules = new LocalScheduleService({ clock, log, fire: (f) => queue.publish(firingToPublish(f)) });
      return schedules;
    },
  });
  // Prepare: a topic with a group, scheduled and delivered messages, a schedule.
  const json = { "content-type": "application/json" };
  await call({ method: "POST", path: "/v1/topics/fz/groups/g1/consume", query: "", headers: json, body: "{}" });
  for (const delayMs of [0, 0, 60_000, 86_400_000]) {
    await call({ method: "POST", path: "/v1/topics/fz/messages", query: "", headers: json, body: JSON.stringify({ body: "seed", key: "k", tag: "t", delayMs }) });
  }
  await call({ method: "POST", path: "/v1/topics/fz/groups/g1/consume", query: "", headers: json, body: '{"max":1}' });
  await call({ method: "POST", path: "/v1/schedules", query: "", headers: json, body: JSON.stringify({ name: "nightly", topic: "fz", expression: "cron(0 2 * * ? *)", message: { body: "x" } }) });
});

afterAll(() => {
  schedules?.stopAll();
  if (process.env.FUZZ_STATS) console.log([...stats.entries()].sort().map(([k, n]) => `${n}\t${k}`).join("\n"));
});

describe("fuzzing both doors in process", () => {
  it("derives its routes from the doors' own tables", () => {
    const routes = runtime.app.routes;
    expect(routes.filter((r) => r.door === "json").length).toBeGreaterThanOrEqual(20);
    expect(routes.filter((r) => r.door === "rocketmq").map((r) => r.method).sort()).toEqual(["DELETE", "GET", "POST"]);
  });

  it("answers every route of the JSON API with a documented 2xx/4xx, and a refusal changes nothing", async () => {
    const routes = runtime.app.routes.filter((r) => r.door === "json");
    const cases = fc.constantFrom(...routes).chain(jsonCase);
    await fc.assert(fc.asyncProperty(cases, exercise), fuzzParameters(1500));
  }, 120_000);

  it("answers every route of the RocketMQ XML API with a documented 2xx/4xx, and a refusal changes nothing", async () => {
    const routes = runtime.app.routes.filter((r) => r.door === "rocketmq");
    const cases = fc.constantFrom(...routes).chain(xmlCase);
    await fc.assert(fc.asyncProperty(cases, exercise), fuzzParameters(600));
  }, 120_000);

  it("answers paths and methods that are no route at all in the error shape of the door they fall to", async () => {
    const path = fc.oneof(
      fc.constantFrom("/", "/v1", "/v1/", "/topics", "/topics/", "/healthz/", "/v2/topics/a/messages", "/topics/a/messages/x", "//v1/topics/a/messages", "/v1/topics/a\\b/messages", "/v1/topics/%2e%2e/messages", "/v1/topics/./messages"),
      fc.array(fc.oneof(fc.constantFrom("v1", "topics", "groups", "messages", "dead-letters", "schedules", "..", "."), hostileString.map(pct)), { maxLength: 7 }).map((parts) => `/${parts.join("/")}`),
    );
    const cases = fc.record({
      method: anyMethod,
      path,
      query: fc.oneof(fc.constant(""), queryString),
      headers: fc.record({ "content-type": contentType }, { requiredKeys: [] }),
      body: fc.option(fc.oneof(hostileBodyText, malformedBody), { nil: undefined }),
    });
    await fc.assert(fc.asyncProperty(cases, exercise), fuzzParameters(400));
  }, 120_000);

  it("answers the same hostile cases through the Lambda adapter (API Gateway v2 events), base64 bodies and odd Host values included", async () => {
    const handler = httpHandler(async () => runtime.app);
    const cases = fc.tuple(
      fc.constantFrom(...runtime.app.routes).chain((route) => (route.door === "json" ? jsonCase(route) : xmlCase(route))),
      fc.record({
        base64: fc.boolean(),
        host: fc.constantFrom("abc.execute-api.eu-west-1.amazonaws.com", "a b", "[::", "user:pw@evil", ""),
        method: fc.constantFrom(undefined, "TRACE", "CONNECT", "get"),
      }),
    );
    await fc.assert(
      fc.asyncProperty(cases, async ([c, extra]) => {
        const before = await snapshot();
        const method = extra.method ?? c.method;
        const event = {
          version: "2.0",
          rawPath: c.path,
          rawQueryString: c.query,
          headers: { ...c.headers, host: extra.host },
          requestContext: { http: { method }, requestId: "fuzz" },
          isBase64Encoded: extra.base64,
          ...(c.body !== undefined && { body: extra.base64 ? Buffer.from(c.body).toString("base64") : c.body }),
        } as unknown as APIGatewayProxyEventV2;
        const result = await handler(event);
        const answer = { status: result.statusCode ?? 0, headers: new Headers(result.headers as Record<string, string>), text: String(result.body ?? "") };
        const problem = checkAnswer(c.path, answer);
        if (problem) throw new Error(`${method} ${c.path}?${c.query} via Lambda: ${problem}`);
        if (isRejection(method, c.path, answer) && (await snapshot()) !== before) throw new Error(`${method} ${c.path} via Lambda: refused but the queue changed`);
        if (failures.length > 0) throw new Error(`logged: ${failures.splice(0).join("; ")}`);
      }),
      fuzzParameters(400),
    );
  }, 120_000);

  it("refuses a value 100,000 levels deep in every field whose error message quotes it", async () => {
    const deep = nestedText(100_000, "array");
    const json = { "content-type": "application/json" };
    const fieldsByRoute: [string, string, string[]][] = [
      ["POST", "/v1/topics/fz/messages", ["delayMs", "tag", "key", "deliverAt", "timeZone", "ttlMs", "dedupId", "properties", "body"]],
      ["POST", "/v1/topics/fz/groups/g1/consume", ["max", "visibilitySeconds", "waitSeconds", "tag"]],
      ["POST", "/v1/topics/fz/groups/g1/ack", ["receiptHandles"]],
      ["POST", "/v1/topics/fz/groups/g1/nack", ["delayMs", "receiptHandle"]],
      ["PUT", "/v1/topics/fz", ["maxDelayMs", "overMaxDelay"]],
      ["PUT", "/v1/topics/fz/groups/g1", ["deadLetter", "retryBackoff"]],
      ["PATCH", "/v1/topics/fz/messages/0192F0A1B2C3D4E5F60718293A4B5C6D", ["deliverAt", "delayMs"]],
      ["POST", "/v1/schedules", ["name", "expression"]],
    ];
    for (const [method, path, fields] of fieldsByRoute) {
      for (const field of fields) {
        const body = field === "deliverAt" || field === "timeZone" ? `{"body":"x","deliverAt":"2026-12-01T09:00","${field}":${deep}}` : `{"body":"x","${field}":${deep}}`;
        await exercise({ method, path, query: "", headers: json, body });
        const answer = await call({ method, path, query: "", headers: json, body });
        expect(answer.status, `${method} ${path} ${field}`).toBe(400);
      }
    }
  });
});

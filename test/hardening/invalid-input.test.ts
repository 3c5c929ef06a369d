import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { zoneCacheSize } from "../../core/local-time.js";
import { MemoryStore } from "../../core/memory-store.js";
import { silentLogger } from "../../core/ports.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { parseXml } from "../../core/protocol/rocketmq-xml.js";
import { httpHandler } from "../../lambda/apigw.js";
import { buildRuntime } from "../../lambda/composition.js";
import { memoryApp } from "../support/memory-app.js";
import { rawRequest } from "../support/raw-http.js";
import { type TestServer, startTestServer } from "../support/server.js";

/** The cases issue 11 lists, each as a user would send it: over a socket to the local server on DynamoDB Local. */

let server: TestServer;
let port: number;
beforeAll(async () => {
  server = await startTestServer({ MQ_CREDENTIALS: "AK:SK" });
  port = Number(new URL(server.url).port);
});
afterAll(() => server?.close());

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text.startsWith("{") ? JSON.parse(text) : undefined };
}

function signedXml(method: string, path: string, query: string): { headers: Record<string, string>; url: string } {
  const date = new Date().toUTCString();
  const contentType = "text/xml;charset=utf-8";
  const toSign = stringToSign({ method, contentMd5: "", contentType, date, mqHeaders: { "x-mq-version": "2015-06-06" }, resource: query ? `${path}?${query}` : path });
  return {
    url: `${server.url}${path}${query ? `?${query}` : ""}`,
    headers: { date, "content-type": contentType, "x-mq-version": "2015-06-06", authorization: `MQ AK:${signature("SK", toSign)}` },
  };
}

const cursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("invalid requests get a 4xx with a message saying what to send, and change nothing", () => {
  it("stores the property name constructor faithfully and refuses __proto__ and the empty name", async () => {
    const topic = "hard-props";
    await call("POST", `/v1/topics/${topic}/groups/g/consume`, {});
    const stored = await call("POST", `/v1/topics/${topic}/messages`, { body: "x", properties: { constructor: "c", toString: "t" } });
    const proto = await call("POST", `/v1/topics/${topic}/messages`, '{"body":"x","properties":{"__proto__":"p"}}');
    const empty = await call("POST", `/v1/topics/${topic}/messages`, { body: "x", properties: { "": "e" } });
    const consumed = await call("POST", `/v1/topics/${topic}/groups/g/consume`, { max: 16 });

    expect(stored.status).toBe(201);
    expect(proto).toMatchObject({ status: 400, json: { error: { code: "InvalidArgument", message: expect.stringContaining("__proto__") } } });
    expect(empty).toMatchObject({ status: 400, json: { error: { code: "InvalidArgument", message: expect.stringContaining("must not be empty") } } });
    expect(consumed.json.messages.map((m: { properties: unknown }) => m.properties)).toEqual([{ constructor: "c", toString: "t" }]);
  });

  it("refuses a reversed list window and crafted list and dead-letter cursors with 400", async () => {
    const topic = "hard-cursors";
    const reversed = await call("GET", `/v1/topics/${topic}/messages?from=5&to=1`);
    const crafted = [
      cursor({ v: 1, from: 0, to: 1e300, shards: [[1e300, "0".repeat(32)], 0] }),
      cursor({ v: 1, from: 10, to: 1, shards: [0, 0] }),
      cursor({ v: 1, from: 10, to: 20, shards: [[50, "0192F0A1B2C3D4E5F60718293A4B5C6D"], 0] }),
      cursor({ v: 1, from: 2 ** 60, to: 2 ** 61, shards: [0, 0] }),
    ];
    const lists = await Promise.all(crafted.map((c) => call("GET", `/v1/topics/${topic}/messages?cursor=${c}`)));
    await call("POST", `/v1/topics/${topic}/groups/g/consume`, {});
    const deadLetters = await Promise.all(
      [cursor({ lane: `X#${topic}#g` }), cursor({ lane: `X#${topic}#g`, pk: 1, sk: 2, dueAt: 3 }), "%%%"].map((c) => call("GET", `/v1/topics/${topic}/groups/g/dead-letters?cursor=${c}`)),
    );

    expect(reversed).toMatchObject({ status: 400, json: { error: { code: "InvalidArgument", message: expect.stringContaining("send from ≤ to") } } });
    for (const r of [...lists, ...deadLetters]) expect(r).toMatchObject({ status: 400, json: { error: { code: "InvalidArgument", message: expect.stringContaining("cursor") } } });
  });

  it("refuses impossible calendar dates instead of rolling them over", async () => {
    const topic = "hard-dates";
    const dates = ["2026-02-30T00:00:00Z", "2026-02-01T24:00:00Z", "2026-04-31T10:00:00+02:00", "2026-01-01T10:60:00Z", "2026-01-01T10:00:00+24:00"];
    const published = await Promise.all(dates.map((deliverAt) => call("POST", `/v1/topics/${topic}/messages`, { body: "x", deliverAt })));
    const local = await call("POST", `/v1/topics/${topic}/messages`, { body: "x", deliverAt: "2026-02-29T09:00", timeZone: "Asia/Shanghai" });
    const listed = await call("GET", `/v1/topics/${topic}/messages?from=2026-02-30T00:00:00Z`);
    const leap = await call("POST", `/v1/topics/${topic}/messages`, { body: "x", deliverAt: "2024-02-29T00:00:00Z" });

    for (const r of [...published, local, listed]) expect(r).toMatchObject({ status: 400, json: { error: { code: "InvalidArgument" } } });
    expect(published[0]?.json.error.message).toContain("is not a real calendar date");
    expect(leap.status).toBe(201);
    expect((await call("GET", `/v1/topics/${topic}/stats`)).json.held).toBe(1);
  });

  it("takes deadLetter as the documented strings or JSON booleans, nothing else", async () => {
    const put = (deadLetter: unknown) => call("PUT", "/v1/topics/hard-bool/groups/g", { deadLetter });
    expect((await put(true)).json.deadLetter).toBe("on");
    expect((await put(false)).json.deadLetter).toBe("off");
    expect((await put("on")).json.deadLetter).toBe("on");
    for (const bad of ["true", 1, "yes", "ON"]) {
      expect(await put(bad)).toMatchObject({ status: 400, json: { error: { code: "InvalidArgument", message: expect.stringContaining('"on" or "off"') } } });
    }
  });

  it("refuses dot-segments and backslashes in paths instead of re-routing them", async () => {
    const targets = ["/v1/topics/A/../B/messages", "/v1/topics/A/%2e%2e/B/messages", "/v1/topics/A/%2E./B/messages", "/v1/topics/A\\..\\B/messages", "/v1/topics/B%5cx/messages", "/v1/topics/./B/messages"];
    for (const target of targets) {
      const answer = await rawRequest(port, `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{"body":"x"}`);
      expect(answer.status, target).toBe(400);
      expect(JSON.parse(answer.text).error.message).toContain("dot-segment");
    }
    const xml = await rawRequest(port, "GET /topics/A/../B/messages?consumer=g HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    expect(xml.status).toBe(400);
    expect(xml.text).toContain("<Code>InvalidArgument</Code>");
    expect((await call("GET", "/v1/topics/B/stats")).json.scheduled).toBe(0);
  });

  it("answers a body over the request limit with 413 on both doors, before parsing it", async () => {
    const big = "x".repeat(3 * 1024 * 1024);
    const json = await call("POST", "/v1/topics/hard-big/messages", `{"body":"${big}"}`);
    const { url, headers } = signedXml("POST", "/topics/hard-big/messages", "");
    const xml = await fetch(url, { method: "POST", headers, body: `<Message><MessageBody>${big}</MessageBody></Message>` });
    const declared = await rawRequest(port, `POST /v1/topics/hard-big/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n{`);

    expect(json).toMatchObject({ status: 413, json: { error: { code: "RequestTooLarge", message: expect.stringContaining("2 MiB") } } });
    expect(xml.status).toBe(413);
    expect(await xml.text()).toContain("<Code>RequestTooLarge</Code>");
    expect(declared.status).toBe(413);
    expect((await call("GET", "/v1/topics/hard-big/stats")).json.scheduled).toBe(0);
  });

  it("answers a body over the limit with 413 in the Lambda adapter too, and bad methods with 405", async () => {
    const runtime = buildRuntime({ env: { TABLE_NAME: "t" }, log: silentLogger, store: new MemoryStore() });
    const handler = httpHandler(async () => runtime.app);
    const event = (method: string, body?: string): APIGatewayProxyEventV2 =>
      ({
        version: "2.0",
        rawPath: "/v1/topics/t/messages",
        rawQueryString: "",
        headers: { host: "a b", "content-type": "application/json" },
        requestContext: { http: { method }, requestId: "r1" },
        isBase64Encoded: false,
        ...(body !== undefined && { body }),
      }) as unknown as APIGatewayProxyEventV2;
    const big = await handler(event("POST", `{"body":"${"x".repeat(3 * 1024 * 1024)}"}`));
    const trace = await handler(event("TRACE"));
    const ok = await handler(event("POST", '{"body":"x"}'));
    expect(big.statusCode).toBe(413);
    expect(JSON.parse(big.body as string).error.code).toBe("RequestTooLarge");
    expect(trace.statusCode).toBe(405);
    expect(ok.statusCode).toBe(201);
  });

  it("refuses a JSON body without Content-Type: application/json (415) and stores nothing", async () => {
    const plain = await call("POST", "/v1/topics/hard-ct/messages", '{"body":"x"}', { "content-type": "text/plain" });
    const form = await call("POST", "/v1/topics/hard-ct/messages", "body=x", { "content-type": "application/x-www-form-urlencoded" });
    const charset = await call("POST", "/v1/topics/hard-ct/messages", '{"body":"x"}', { "content-type": "application/json; charset=utf-8" });
    expect(plain).toMatchObject({ status: 415, json: { error: { code: "UnsupportedMediaType", message: expect.stringContaining("Content-Type: application/json") } } });
    expect(form.status).toBe(415);
    expect(charset.status).toBe(201);
    expect((await call("GET", "/v1/topics/hard-ct/stats")).json.held).toBe(1);
  });

  it("refuses a DOCTYPE wherever it hides, comments and CDATA lookalikes included", () => {
    const hidden = [
      '<!-- <![CDATA[ --><!DOCTYPE m [<!ENTITY a "b">]><!-- ]]> --><Message><MessageBody>&a;</MessageBody></Message>',
      '<!----><!DOCTYPE m><Message><MessageBody>x</MessageBody></Message>',
      '<Message><!-- x --><!ENTITY a "b"><MessageBody>x</MessageBody></Message>',
    ];
    for (const xml of hidden) expect(() => parseXml(xml), xml).toThrow(/DOCTYPE, ENTITY and other markup declarations/);
    expect(parseXml("<Message><!-- <!DOCTYPE x> --><MessageBody><![CDATA[<!DOCTYPE y>]]></MessageBody></Message>").children[0]?.text).toBe("<!DOCTYPE y>");
  });

  it("sends no CORS headers, also to a preflight from another origin", async () => {
    const preflight = await rawRequest(
      port,
      "OPTIONS /v1/topics/t/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1:3000\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n",
    );
    expect(preflight.status).toBe(405);
    expect([...preflight.headers.keys()].filter((k) => k.startsWith("access-control-"))).toEqual([]);
  });
});

describe("bounded by design", () => {
  it("keeps one formatter per canonical zone however many spellings arrive, and answers the canonical name", async () => {
    const { call: callMemory } = memoryApp(Date.UTC(2026, 10, 22));
    const variants = Array.from({ length: 3000 }, (_, i) =>
      [..."Asia/Shanghai"].map((ch, j) => ((i >> j) & 1 ? ch.toUpperCase() : ch.toLowerCase())).join(""),
    );
    for (const timeZone of variants) {
      const r = await callMemory("POST", "/v1/topics/tz/messages", { body: "x", deliverAt: "2026-12-01T09:00", timeZone });
      expect(r.json.timeZone).toBe("Asia/Shanghai");
    }
    expect(zoneCacheSize().zones).toBeLessThanOrEqual(5);
    expect(zoneCacheSize().spellings).toBeLessThanOrEqual(1024);
  });
});

describe("RocketMQ door", () => {
  it("refuses __proto__ as a property and an unknown entity named like an Object method", async () => {
    const publish = async (xmlBody: string) => {
      const { url, headers } = signedXml("POST", "/topics/hard-xml/messages", "");
      const r = await fetch(url, { method: "POST", headers, body: xmlBody });
      return { status: r.status, text: await r.text() };
    };
    const proto = await publish("<Message><MessageBody>x</MessageBody><Properties>__proto__:x|</Properties></Message>");
    const entity = await publish("<Message><MessageBody>&constructor;</MessageBody></Message>");
    const ctor = await publish("<Message><MessageBody>x</MessageBody><Properties>constructor:c|</Properties></Message>");
    expect(proto.status).toBe(400);
    expect(proto.text).toContain("__proto__");
    expect(entity.status).toBe(400);
    expect(entity.text).toContain("<Code>MalformedXML</Code>");
    expect(ctor.status).toBe(201);
  });
});

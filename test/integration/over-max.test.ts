import { createHash, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { MQClient, MessageProperties } from "@aliyunmq/mq-http-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DAY_MS } from "../../core/config.js";
import { MemoryStore } from "../../core/memory-store.js";
import type { Logger } from "../../core/ports.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { buildRuntime } from "../../lambda/composition.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { freshTable } from "../support/dynamo.js";

/**
 * A deliver time beyond the topic's maximum, per door, over HTTP on the local runtime: the JSON fields and
 * the RocketMQ door (the real Node SDK) reject it, the RabbitMQ delay headers deliver it now; a topic's
 * explicit setting (or the deployment's OVER_MAX_DELAY) overrides every door's rule.
 */

const AK = "over-max-ak";
const SECRET = "over-max-secret";
const FORTY_DAYS = 40 * DAY_MS;
const OVER = FORTY_DAYS + 60_000;

interface LogLine {
  event: string;
  fields: Record<string, unknown>;
}

interface Running {
  url: string;
  logs: LogLine[];
  close(): Promise<void>;
}

/** The local runtime's HTTP server, with a logger that keeps what it is told. */
async function startServer(env: Record<string, string> = {}, dynamo = true): Promise<Running> {
  const logs: LogLine[] = [];
  const keep = (event: string, fields: Record<string, unknown> = {}) => void logs.push({ event, fields });
  const log: Logger = { info: keep, warn: keep, error: keep };
  const table = dynamo ? await freshTable() : undefined;
  const runtime = buildRuntime({
    env: { TABLE_NAME: table?.tableName ?? "memory", MQ_CREDENTIALS: `${AK}:${SECRET}`, ...env },
    log,
    ...(table ? { client: table.client } : { store: new MemoryStore() }),
  });
  const server = await startHttpServer(runtime.app, 0);
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, logs, close: () => closeServer(server) };
}

const unique = (prefix: string) => `${prefix}_${randomUUID().slice(0, 8)}`;

async function call(
  server: Running,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...headers },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

const consume = (server: Running, topic: string, waitSeconds = 0) =>
  call(server, "POST", `/v1/topics/${topic}/groups/g/consume`, { max: 16, waitSeconds });

const overMaxEvents = (server: Running) => server.logs.filter((l) => l.event === "over-max-delay");

async function sdkError(promise: Promise<unknown>): Promise<{ Code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { Code?: string; message: string };
  }
  throw new Error("expected the SDK call to fail");
}

let server: Running;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
});

describe("JSON API fields beyond the maximum", () => {
  it("rejects delayMs and deliverAt beyond the maximum with 400 naming it and the setting that raises it, storing nothing", async () => {
    // Prepare
    const topic = unique("renewals");
    await consume(server, topic);
    const farLocal = { body: "renewal", deliverAt: "2030-03-10T09:00", timeZone: "America/New_York" };
    // Act
    const local = await call(server, "POST", `/v1/topics/${topic}/messages`, farLocal);
    const delay = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x", delayMs: OVER });
    const epoch = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x", deliverAt: Date.now() + OVER });
    const iso = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x", deliverAt: new Date(Date.now() + OVER).toISOString() });
    const pending = await call(server, "GET", `/v1/topics/${topic}/messages?state=scheduled`);
    const delivered = await consume(server, topic);
    // Assess
    for (const rejected of [local, delay, epoch, iso]) {
      expect(rejected.status).toBe(400);
      expect(rejected.json.error.code).toBe("InvalidArgument");
      expect(rejected.json.error.message).toContain(`beyond the maximum delay of topic ${topic}: 3456000000 ms (40 days)`);
      expect(rejected.json.error.message).toContain(`raise the topic's maxDelayMs setting (PUT /v1/topics/${topic}`);
    }
    expect(local.json.error.message).toMatch(/^deliverAt asks for delivery at 2030-03-10T13:00:00\.000Z/);
    expect(delay.json.error.message).toMatch(/^delayMs asks for delivery/);
    expect(pending.json.messages).toEqual([]);
    expect(delivered.json.messages).toEqual([]);
    expect(overMaxEvents(server)).toEqual([]);
  });

  it("accepts a delay of exactly the maximum and schedules it then", async () => {
    // Prepare
    const topic = unique("edge");
    await consume(server, topic);
    const before = Date.now();
    // Act
    const res = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x", delayMs: FORTY_DAYS });
    const delivered = await consume(server, topic);
    // Assess
    expect(res.status).toBe(201);
    expect(res.json.deliverAt).toBeGreaterThanOrEqual(before + FORTY_DAYS);
    expect(res.json.deliverAt).toBeLessThanOrEqual(Date.now() + FORTY_DAYS);
    expect(res.json.overMaxDelay).toBeUndefined();
    expect(delivered.json.messages).toEqual([]);
  });

  it("keeps the maximum configurable per topic up to 366 days", async () => {
    // Prepare
    const topic = unique("configured");
    await consume(server, topic);
    // Act
    const short = await call(server, "PUT", `/v1/topics/${topic}`, { maxDelayMs: 60_000 });
    const overShort = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x", delayMs: 60_001 });
    const long = await call(server, "PUT", `/v1/topics/${topic}`, { maxDelayMs: 366 * DAY_MS });
    const yearOut = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x", delayMs: 366 * DAY_MS });
    const tooLong = await call(server, "PUT", `/v1/topics/${topic}`, { maxDelayMs: 366 * DAY_MS + 1 });
    // Assess
    expect(short.status).toBe(200);
    expect(overShort.status).toBe(400);
    expect(overShort.json.error.message).toContain("maximum delay of topic");
    expect(overShort.json.error.message).toContain("60000 ms (1 minute)");
    expect(long.json.maxDelayMs).toBe(366 * DAY_MS);
    expect(yearOut.status).toBe(201);
    expect(tooLong.status).toBe(400);
  });
});

describe("RabbitMQ delay headers beyond the maximum", () => {
  it.each(["delay", "x-delay"])("delivers a %s header beyond the maximum now, flags it in the answer and logs it", async (header) => {
    // Prepare
    const topic = unique("headers");
    await consume(server, topic);
    const before = Date.now();
    // Act
    const res = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "now" }, { [header]: String(OVER) });
    const after = Date.now();
    const delivered = await consume(server, topic, 5);
    // Assess
    expect(res.status).toBe(201);
    expect(res.json.overMaxDelay).toBe("delivered-now");
    expect(res.json.deliverAt).toBeGreaterThanOrEqual(before);
    expect(res.json.deliverAt).toBeLessThanOrEqual(after);
    expect(delivered.json.messages.map((m: { body: string }) => m.body)).toEqual(["now"]);
    expect(overMaxEvents(server).filter((e) => e.fields.topic === topic)).toEqual([
      {
        event: "over-max-delay",
        fields: {
          operation: "publish",
          topic,
          messageId: res.json.messageId,
          outcome: "delivered-now",
          source: `header ${header}`,
          convention: "rabbitmq",
          rule: "convention",
          requestedMs: expect.any(Number),
          requestedDelayMs: OVER,
          maxDelayMs: FORTY_DAYS,
        },
      },
    ]);
  });

  it("schedules a header delay within the maximum without a flag", async () => {
    const topic = unique("headers");
    const res = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "x" }, { "x-delay": String(FORTY_DAYS) });
    expect(res.status).toBe(201);
    expect(res.json.overMaxDelay).toBeUndefined();
    expect(res.json.deliverAt).toBeGreaterThan(Date.now() + FORTY_DAYS - 60_000);
  });
});

describe("a topic's explicit overMaxDelay overrides every door's rule", () => {
  it("rejects a header delay when set to reject, delivers a body delay now when set to deliver-now, and goes back when left out", async () => {
    // Prepare
    const topic = unique("explicit");
    await consume(server, topic);
    const unset = await call(server, "GET", `/v1/topics/${topic}`);
    // Act
    const reject = await call(server, "PUT", `/v1/topics/${topic}`, { overMaxDelay: "reject" });
    const header = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "h" }, { delay: String(OVER) });
    const deliverNow = await call(server, "PUT", `/v1/topics/${topic}`, { overMaxDelay: "deliver-now" });
    const field = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "f", delayMs: OVER });
    const delivered = await consume(server, topic, 5);
    const cleared = await call(server, "PUT", `/v1/topics/${topic}`, { maxDelayMs: FORTY_DAYS });
    const fieldAgain = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "f", delayMs: OVER });
    // Assess
    expect(unset.json.overMaxDelay).toBeNull();
    expect(reject.json.overMaxDelay).toBe("reject");
    expect(header.status).toBe(400);
    expect(header.json.error.message).toMatch(/^header delay asks for delivery .* beyond the maximum delay of topic/);
    expect(deliverNow.json.overMaxDelay).toBe("deliver-now");
    expect(field).toMatchObject({ status: 201, json: { overMaxDelay: "delivered-now" } });
    expect(delivered.json.messages.map((m: { body: string }) => m.body)).toEqual(["f"]);
    expect(overMaxEvents(server).find((e) => e.fields.topic === topic)?.fields).toMatchObject({ source: "delayMs", convention: "delayq", rule: "setting" });
    expect(cleared.json.overMaxDelay).toBeNull();
    expect(fieldAgain.status).toBe(400);
  });
});

describe("reschedule follows the rule of the way the new time is given", () => {
  it("rejects body fields beyond the maximum (the message keeps its time) and delivers a delay header beyond it now", async () => {
    // Prepare
    const topic = unique("patch");
    await consume(server, topic);
    const published = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "p", delayMs: 60_000 });
    const path = `/v1/topics/${topic}/messages/${published.json.messageId}`;
    // Act
    const byField = await call(server, "PATCH", path, { delayMs: OVER });
    const byInstant = await call(server, "PATCH", path, { deliverAt: new Date(Date.now() + OVER).toISOString() });
    const unchanged = await call(server, "GET", path);
    const early = await consume(server, topic);
    const byHeader = await call(server, "PATCH", path, {}, { "x-delay": String(OVER) });
    const delivered = await consume(server, topic, 5);
    // Assess
    expect(byField.status).toBe(400);
    expect(byField.json.error.message).toContain("3456000000 ms (40 days)");
    expect(byInstant.status).toBe(400);
    expect(unchanged.json).toMatchObject({ state: "scheduled", deliverAt: published.json.deliverAt });
    expect(early.json.messages).toEqual([]);
    expect(byHeader.status).toBe(200);
    expect(byHeader.json).toMatchObject({ outcome: "rescheduled", overMaxDelay: "delivered-now" });
    expect(byHeader.json.deliverAt).toBeLessThanOrEqual(Date.now());
    expect(delivered.json.messages.map((m: { body: string }) => m.body)).toEqual(["p"]);
    expect(overMaxEvents(server).find((e) => e.fields.topic === topic)?.fields).toMatchObject({
      operation: "reschedule",
      messageId: published.json.messageId,
      source: "header x-delay",
    });
  });

  it("rejects a delay header beyond the maximum when the topic says reject", async () => {
    const topic = unique("patch");
    await call(server, "PUT", `/v1/topics/${topic}`, { overMaxDelay: "reject" });
    const published = await call(server, "POST", `/v1/topics/${topic}/messages`, { body: "p", delayMs: 60_000 });
    const res = await call(server, "PATCH", `/v1/topics/${topic}/messages/${published.json.messageId}`, {}, { delay: String(OVER) });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("InvalidArgument");
  });
});

describe("RocketMQ door beyond the maximum, with the real Node SDK", () => {
  let sdk: MQClient;
  beforeAll(() => {
    sdk = new MQClient(server.url, AK, SECRET);
  });

  /** A publish signed as the SDKs sign it, to read the answer's headers (the SDK does not hand them out). */
  async function rawPublish(topic: string, startDeliverTime: number): Promise<Response> {
    const body = `<Message><MessageBody>raw</MessageBody><Properties>__STARTDELIVERTIME:${startDeliverTime}</Properties></Message>`;
    const headers: Record<string, string> = {
      date: new Date().toUTCString(),
      "x-mq-version": "2015-06-06",
      "content-type": "text/xml;charset=utf-8",
      "content-md5": Buffer.from(createHash("md5").update(body).digest("hex")).toString("base64"),
    };
    const resource = `/topics/${topic}/messages`;
    const toSign = stringToSign({
      method: "POST",
      contentMd5: headers["content-md5"] ?? "",
      contentType: headers["content-type"] ?? "",
      date: headers.date ?? "",
      mqHeaders: { "x-mq-version": "2015-06-06" },
      resource,
    });
    headers.authorization = `MQ ${AK}:${signature(SECRET, toSign)}`;
    return fetch(`${server.url}${resource}`, { method: "POST", headers, body });
  }

  it("rejects a StartDeliverTime beyond the maximum with 400 InvalidArgument naming it; nothing is delivered", async () => {
    // Prepare
    const instance = "MQ_INST_overmax";
    const topic = unique("TopicRenewal");
    const consumer = sdk.getConsumer(instance, topic, "GID_renewal");
    expect((await sdkError(consumer.consumeMessage(1))).Code).toBe("MessageNotExist");
    const far = new MessageProperties();
    far.startDeliverTime(Date.now() + OVER);
    const edge = new MessageProperties();
    edge.startDeliverTime(Date.now() + FORTY_DAYS - 60_000);
    // Act
    const rejected = await sdkError(sdk.getProducer(instance, topic).publishMessage("renewal in 40 days and a minute", "", far));
    const accepted = await sdk.getProducer(instance, topic).publishMessage("renewal in 40 days", "", edge);
    const nothing = await sdkError(consumer.consumeMessage(16, 1));
    // Assess
    expect(rejected.Code).toBe("InvalidArgument");
    expect(rejected.message).toMatch(/failed with 400/);
    expect(rejected.message).toContain(`__STARTDELIVERTIME asks for delivery at`);
    expect(rejected.message).toContain(`beyond the maximum delay of topic ${instance}~${topic}: 3456000000 ms (40 days)`);
    expect(accepted.code).toBe(201);
    expect(nothing.Code).toBe("MessageNotExist");
  });

  it("delivers now when the topic is set to deliver-now, flagging it in the answer's headers", async () => {
    // Prepare
    const topic = unique("TopicLenient");
    await call(server, "PUT", `/v1/topics/${topic}`, { overMaxDelay: "deliver-now" });
    const consumer = sdk.getConsumer("", topic, "GID_lenient");
    expect((await sdkError(consumer.consumeMessage(1))).Code).toBe("MessageNotExist");
    const far = new MessageProperties();
    far.startDeliverTime(Date.now() + OVER);
    // Act
    const published = await sdk.getProducer("", topic).publishMessage("early by choice", "", far);
    const raw = await rawPublish(topic, Date.now() + OVER);
    const within = await rawPublish(topic, Date.now() + 60_000);
    const received = await consumer.consumeMessage(16, 5);
    // Assess
    expect(published.code).toBe(201);
    expect(raw.status).toBe(201);
    expect(raw.headers.get("x-delayq-over-max-delay")).toBe("delivered-now");
    expect(Number(raw.headers.get("x-delayq-deliver-at"))).toBeLessThanOrEqual(Date.now());
    expect(within.headers.get("x-delayq-over-max-delay")).toBeNull();
    expect(Number(within.headers.get("x-delayq-deliver-at"))).toBeGreaterThan(Date.now());
    expect(received.body.map((m) => m.MessageBody).sort()).toEqual(["early by choice", "raw"]);
    expect(overMaxEvents(server).filter((e) => e.fields.topic === topic).map((e) => e.fields.convention)).toEqual(["rocketmq", "rocketmq"]);
  });
});

describe("OVER_MAX_DELAY: one rule for every topic without its own, through every door", () => {
  it("reject makes the delay headers reject; deliver-now makes the JSON fields and the RocketMQ door deliver now", async () => {
    // Prepare
    const strict = await startServer({ OVER_MAX_DELAY: "reject" }, false);
    const lenient = await startServer({ OVER_MAX_DELAY: "deliver-now" }, false);
    try {
      const far = new MessageProperties();
      far.startDeliverTime(Date.now() + OVER);
      // Act
      const header = await call(strict, "POST", "/v1/topics/t/messages", { body: "x" }, { "x-delay": String(OVER) });
      const field = await call(lenient, "POST", "/v1/topics/t/messages", { body: "x", delayMs: OVER });
      const mq = await new MQClient(lenient.url, AK, SECRET).getProducer("", "t").publishMessage("x", "", far);
      const settings = await call(lenient, "GET", "/v1/topics/t");
      // Assess
      expect(header.status).toBe(400);
      expect(field).toMatchObject({ status: 201, json: { overMaxDelay: "delivered-now" } });
      expect(mq.code).toBe(201);
      expect(settings.json.overMaxDelay).toBe("deliver-now");
      expect(overMaxEvents(lenient).map((e) => e.fields.rule)).toEqual(["setting", "setting"]);
    } finally {
      await strict.close();
      await lenient.close();
    }
  });
});

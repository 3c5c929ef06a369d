import { createHash, randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { MQClient, MessageProperties, type MqMessage } from "@aliyunmq/mq-http-sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { type QueueStore, silentLogger } from "../../core/ports.js";
import { MemoryStore } from "../../core/memory-store.js";
import { signature, stringToSign } from "../../core/protocol/mq-signature.js";
import { buildRuntime } from "../../lambda/composition.js";
import { closeServer, startHttpServer } from "../../local/server.js";
import { freshTable } from "../support/dynamo.js";

const AK = "test-ak";
const SECRET = "test-secret";

interface Running {
  url: string;
  close(): Promise<void>;
}

/** The local runtime (in-memory store) on a free port, configured like `npm start` through env. */
async function startRuntime(env: Record<string, string>, store: QueueStore = new MemoryStore()): Promise<Running> {
  const runtime = buildRuntime({ env: { TABLE_NAME: "t", MQ_CREDENTIALS: `${AK}:${SECRET},other-ak:other-secret`, ...env }, log: silentLogger, store });
  const server = await startHttpServer(runtime.app, 0);
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

/** Unique names per test, so tests never share a topic. */
const unique = (prefix: string) => `${prefix}_${randomUUID().slice(0, 8)}`;

async function errorOf(promise: Promise<unknown>): Promise<{ Code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { Code?: string; message: string };
  }
  throw new Error("expected the SDK call to fail");
}

/** Registers the consumer's group (a group receives the messages released after it first polls). */
async function subscribe(consumer: { consumeMessage(n: number, w?: number): Promise<unknown> }): Promise<void> {
  const error = await errorOf(consumer.consumeMessage(1));
  expect(error.Code).toBe("MessageNotExist");
}

const md5Upper = (text: string) => createHash("md5").update(text, "utf8").digest("hex").toUpperCase();

/** The Go SDK's scheduled-message sample, step for step, through the Node SDK. */
async function goSampleFlow(sdk: MQClient, leadMs: number): Promise<void> {
  // Prepare
  const instance = "MQ_INST_sample";
  const topic = unique("TopicSample");
  const producer = sdk.getProducer(instance, topic);
  const consumer = sdk.getConsumer(instance, topic, "GID_sample");
  const startDeliverTime = Date.now() + leadMs;
  const published: string[] = [];
  for (let i = 0; i < 4; i++) {
    const props = new MessageProperties();
    props.putProperty("a", String(i));
    props.messageKey(`MessageKey${i}`);
    props.startDeliverTime(startDeliverTime);
    const res = await producer.publishMessage(`hello mq timer! ${i}`, "", props);
    expect(res.code).toBe(201);
    expect(res.body.MessageBodyMD5).toBe(md5Upper(`hello mq timer! ${i}`));
    published.push(res.body.MessageId);
  }

  // Act
  const received: { message: MqMessage; atMs: number }[] = [];
  // Before the deliver time there is nothing to take; a machine slow enough to pass it while publishing
  // may get the messages here, but never before their time.
  let tooEarly: { Code?: string } = { Code: "MessageNotExist" };
  try {
    const early = await consumer.consumeMessage(3);
    const atMs = Date.now();
    for (const message of early.body) received.push({ message, atMs });
    expect((await consumer.ackMessage(early.body.map((m) => m.ReceiptHandle))).code).toBe(204);
  } catch (error) {
    tooEarly = error as { Code?: string };
  }
  while (received.length < 4 && Date.now() < startDeliverTime + 10_000) {
    try {
      const res = await consumer.consumeMessage(3, 5);
      const atMs = Date.now();
      for (const message of res.body) received.push({ message, atMs });
      const ack = await consumer.ackMessage(res.body.map((m) => m.ReceiptHandle));
      expect(ack.code).toBe(204);
    } catch (error) {
      if ((error as { Code?: string }).Code !== "MessageNotExist") throw error;
    }
  }
  const after = await errorOf(consumer.consumeMessage(3));

  // Assess
  expect(tooEarly.Code).toBe("MessageNotExist");
  expect(received.map((r) => r.message.MessageId).sort()).toEqual([...published].sort());
  for (const { message, atMs } of received) {
    expect(atMs).toBeGreaterThanOrEqual(startDeliverTime);
    expect(Number(message.FirstConsumeTime)).toBeGreaterThanOrEqual(startDeliverTime);
    // (a publish that reached the server after the start time was delivered at once, as the service does)
    if (Number(message.PublishTime) < startDeliverTime) expect(message.StartDeliverTime).toBe(startDeliverTime);
    expect(message.ConsumedTimes).toBe("1");
    const i = message.MessageBody.slice(-1);
    expect(message.MessageKey).toBe(`MessageKey${i}`);
    expect(message.Properties).toEqual({ a: i });
    expect(Number(message.NextConsumeTime) - Number(message.FirstConsumeTime)).toBe(300_000);
  }
  expect(after.Code).toBe("MessageNotExist");
  expect(after.message).toMatch(/failed with 404/);
}

let main: Running;
let client: MQClient;

beforeAll(async () => {
  main = await startRuntime({});
  client = new MQClient(main.url, AK, SECRET);
});
afterAll(async () => {
  await main?.close();
});

describe("RocketMQ HTTP door with the real Node SDK", () => {
  it("runs the Go scheduled-message sample: 4 messages, delivered no earlier than StartDeliverTime, acked, then MessageNotExist", async () => {
    await goSampleFlow(client, 3000);
  });

  it("round-trips body, tag, key and properties, and filters by tag", async () => {
    // Prepare
    const topic = unique("TopicTags");
    const producer = client.getProducer("", topic);
    const filtered = client.getConsumer("", topic, "GID_filtered", "TagA||TagB");
    const all = client.getConsumer("", topic, "GID_all");
    await subscribe(filtered);
    await subscribe(all);
    const body = `<order id="42"> & 'quotes' ✓ 😀\nsecond line`;
    const props = new MessageProperties();
    props.messageKey("order-42");
    props.putProperty("region", "cn-hangzhou");
    props.putProperty("amount", "100.5");
    await producer.publishMessage(body, "TagA", props);
    await producer.publishMessage("b", "TagB");
    await producer.publishMessage("c", "TagC");

    // Act
    const some = await filtered.consumeMessage(16, 1);
    const every = await all.consumeMessage(16, 1);

    // Assess
    expect(some.body.map((m) => m.MessageTag).sort()).toEqual(["TagA", "TagB"]);
    expect(every.body.map((m) => m.MessageTag).sort()).toEqual(["TagA", "TagB", "TagC"]);
    const a = every.body.find((m) => m.MessageTag === "TagA");
    expect(a?.MessageBody).toBe(body);
    expect(a?.MessageBodyMD5).toBe(md5Upper(body));
    expect(a?.MessageKey).toBe("order-42");
    expect(a?.Properties).toEqual({ region: "cn-hangzhou", amount: "100.5" });
    expect(a?.StartDeliverTime).toBeUndefined();
    expect(Number(a?.PublishTime)).toBeGreaterThan(0);
  });

  it("keeps the same topic name under two instance ids apart", async () => {
    const topic = unique("TopicShared");
    for (const ns of ["MQ_INST_one", "MQ_INST_two", ""]) await subscribe(client.getConsumer(ns, topic, "GID_x"));
    await client.getProducer("MQ_INST_one", topic).publishMessage("for one");
    await client.getProducer("MQ_INST_two", topic).publishMessage("for two");
    await client.getProducer("", topic).publishMessage("for none");

    const one = await client.getConsumer("MQ_INST_one", topic, "GID_x").consumeMessage(16, 1);
    const two = await client.getConsumer("MQ_INST_two", topic, "GID_x").consumeMessage(16, 1);
    const none = await client.getConsumer("", topic, "GID_x").consumeMessage(16, 1);

    expect(one.body.map((m) => m.MessageBody)).toEqual(["for one"]);
    expect(two.body.map((m) => m.MessageBody)).toEqual(["for two"]);
    expect(none.body.map((m) => m.MessageBody)).toEqual(["for none"]);
  });

  it("reports a partial ack failure as 404 Errors with one Error per failed handle", async () => {
    // Prepare
    const topic = unique("TopicAck");
    const consumer = client.getConsumer("MQ_INST_ack", topic, "GID_ack");
    await subscribe(consumer);
    await client.getProducer("MQ_INST_ack", topic).publishMessage("ack me");
    const [message] = (await consumer.consumeMessage(1, 1)).body;

    // Act
    const res = await consumer.ackMessage([message?.ReceiptHandle ?? "", "bogus-handle"]);
    const again = await consumer.ackMessage([message?.ReceiptHandle ?? ""]);

    // Assess
    expect(res.code).toBe(404);
    expect(res.body).toEqual([{ ErrorCode: "ReceiptHandleError", ErrorMessage: expect.any(String), ReceiptHandle: "bogus-handle" }]);
    expect(again.code).toBe(404);
    expect(again.body?.[0]?.ErrorCode).toBe("MessageNotExist");
    expect((await errorOf(consumer.consumeMessage(1, 0))).Code).toBe("MessageNotExist");
  });

  it("answers 403 SignatureDoesNotMatch for a wrong secret and InvalidAccessKeyId for an unknown key", async () => {
    const topic = unique("TopicAuth");
    const wrongSecret = await errorOf(new MQClient(main.url, AK, "not-the-secret").getProducer("", topic).publishMessage("x"));
    const unknownKey = await errorOf(new MQClient(main.url, "nobody", SECRET).getConsumer("", topic, "GID_a").consumeMessage(1, 0));
    const otherKey = await new MQClient(main.url, "other-ak", "other-secret").getProducer("", topic).publishMessage("x");

    expect(wrongSecret.Code).toBe("SignatureDoesNotMatch");
    expect(wrongSecret.message).toMatch(/failed with 403/);
    expect(unknownKey.Code).toBe("InvalidAccessKeyId");
    expect(unknownKey.message).toMatch(/failed with 403/);
    expect(otherKey.code).toBe(201);
  });

  it("answers 408 TimeExpired when the client's Date is more than 15 minutes off", async () => {
    const skewed = new Date(Date.now() - 20 * 60_000).toUTCString();
    const spy = vi.spyOn(Date.prototype as unknown as { toGMTString(): string }, "toGMTString").mockReturnValue(skewed);
    try {
      const error = await errorOf(client.getProducer("", unique("TopicSkew")).publishMessage("late"));
      expect(error.Code).toBe("TimeExpired");
      expect(error.message).toMatch(/failed with 408/);
    } finally {
      spy.mockRestore();
    }
  });

  it("answers 400 InvalidArgument naming ordered and transactional messages as unsupported", async () => {
    const topic = unique("TopicUnsupported");
    const orderly = await errorOf(client.getConsumer("", topic, "GID_o").consumeMessageOrderly(1, 0));
    const props = new MessageProperties();
    props.transCheckImmunityTime(10);
    const trans = await errorOf(client.getTransProducer("", topic, "GID_t").publishMessage("half", "", props));

    expect(orderly.Code).toBe("InvalidArgument");
    expect(orderly.message).toMatch(/failed with 400.*trans=order/);
    expect(trans.Code).toBe("InvalidArgument");
    expect(trans.message).toMatch(/transactional/);
  });

  it("shares one queue with the JSON door in both directions", async () => {
    // Prepare
    const topic = unique("TopicBridge");
    const xmlConsumer = client.getConsumer("", topic, "GID_xml", "T1");
    await subscribe(xmlConsumer);
    await fetch(`${main.url}/v1/topics/${topic}/groups/GID_json/consume`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    const deliverAt = Date.now() + 200;
    const viaJson = await fetch(`${main.url}/v1/topics/${topic}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ body: "from json", tag: "T1", key: "k1", properties: { p: "v" }, deliverAt }),
    });
    expect(viaJson.status).toBe(201);
    await client.getProducer("", topic).publishMessage("from xml", "T2");

    // Act
    const xml = await xmlConsumer.consumeMessage(1, 3);
    const json = await fetch(`${main.url}/v1/topics/${topic}/groups/GID_json/consume`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ max: 16, waitSeconds: 3, tag: "T2" }),
    });

    // Assess
    const [fromJson] = xml.body;
    expect(fromJson?.MessageBody).toBe("from json");
    expect(fromJson?.MessageKey).toBe("k1");
    expect(fromJson?.Properties).toEqual({ p: "v" });
    expect(fromJson?.StartDeliverTime).toBe(deliverAt);
    const { messages } = (await json.json()) as { messages: { body: string; tag: string }[] };
    expect(messages.map((m) => [m.body, m.tag])).toEqual([["from xml", "T2"]]);
  });
});

describe("RocketMQ HTTP door: redelivery", () => {
  let fast: Running;
  beforeAll(async () => {
    fast = await startRuntime({ MQ_VISIBILITY_SECONDS: "1" });
  });
  afterAll(async () => {
    await fast?.close();
  });

  it("redelivers an unacked message after its visibility with a new handle and ConsumedTimes + 1", async () => {
    // Prepare
    const sdk = new MQClient(fast.url, AK, SECRET);
    const topic = unique("TopicRetry");
    const consumer = sdk.getConsumer("MQ_INST_r", topic, "GID_r");
    await subscribe(consumer);
    await sdk.getProducer("MQ_INST_r", topic).publishMessage("retry me");

    // Act
    const [first] = (await consumer.consumeMessage(1, 1)).body;
    const [second] = (await consumer.consumeMessage(1, 5)).body;
    const stale = await consumer.ackMessage([first?.ReceiptHandle ?? ""]);
    const fresh = await consumer.ackMessage([second?.ReceiptHandle ?? ""]);

    // Assess
    expect(second?.MessageId).toBe(first?.MessageId);
    expect(second?.ReceiptHandle).not.toBe(first?.ReceiptHandle);
    expect(first?.ConsumedTimes).toBe("1");
    expect(second?.ConsumedTimes).toBe("2");
    expect(second?.FirstConsumeTime).toBe(first?.FirstConsumeTime);
    expect(Number(second?.NextConsumeTime)).toBeGreaterThanOrEqual(Number(first?.NextConsumeTime) + 1000);
    expect(Number(first?.NextConsumeTime)).toBeLessThanOrEqual(Date.now());
    expect(stale.code).toBe(404);
    expect(stale.body?.[0]?.ErrorCode).toBe("MessageNotExist");
    expect(fresh.code).toBe(204);
  });
});

describe("RocketMQ HTTP door: raw requests", () => {
  const date = () => new Date().toUTCString();

  function signed(method: string, pathAndQuery: string, body?: string, extra: Record<string, string> = {}): Request {
    const headers: Record<string, string> = { date: date(), "x-mq-version": "2015-06-06", "content-type": "text/xml;charset=utf-8", ...extra };
    if (body !== undefined && headers["content-md5"] === undefined) {
      headers["content-md5"] = Buffer.from(createHash("md5").update(body).digest("hex")).toString("base64");
    }
    const [path = "", query = ""] = pathAndQuery.split("?");
    const toSign = stringToSign({
      method,
      contentMd5: headers["content-md5"] ?? "",
      contentType: headers["content-type"] ?? "",
      date: headers.date ?? "",
      mqHeaders: { "x-mq-version": "2015-06-06" },
      resource: query ? `${path}?${query}` : path,
    });
    headers.authorization = `MQ ${AK}:${signature(SECRET, toSign)}`;
    const sendBody = body !== undefined && method !== "GET";
    return new Request(`${main.url}${pathAndQuery}`, { method, headers, ...(sendBody && { body }) });
  }

  async function send(request: Request): Promise<{ status: number; headers: Headers; text: string }> {
    const res = await fetch(request);
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  it("puts x-mq-request-id, x-mq-version and text/xml on every response", async () => {
    const res = await send(signed("POST", `/topics/${unique("TopicRaw")}/messages?ns=MQ_INST_raw`, "<Message><MessageBody>hi</MessageBody></Message>"));
    expect(res.status).toBe(201);
    expect(res.headers.get("x-mq-request-id")).toMatch(/.+/);
    expect(res.headers.get("x-mq-version")).toBe("2015-06-06");
    expect(res.headers.get("content-type")).toBe("text/xml;charset=utf-8");
    expect(res.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Message xmlns="http:\/\/mq.aliyuncs.com\/doc\/v1\/"><MessageId>[0-9A-F]{32}<\/MessageId>/);
  });

  it("answers 400 InvalidDigest for a wrong Content-MD5 and accepts base64 of the raw digest", async () => {
    const body = "<Message><MessageBody>hi</MessageBody></Message>";
    const topic = unique("TopicDigest");
    const wrong = await send(signed("POST", `/topics/${topic}/messages`, body, { "content-md5": Buffer.from("0".repeat(32)).toString("base64") }));
    const raw = await send(signed("POST", `/topics/${topic}/messages`, body, { "content-md5": createHash("md5").update(body).digest("base64") }));
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain("<Code>InvalidDigest</Code>");
    expect(wrong.text).toContain('<Error xmlns="http://mq.aliyuncs.com/doc/v1">');
    expect(raw.status).toBe(201);
  });

  it("answers 400 MalformedXML for a DOCTYPE body, never expanding it", async () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><Message><MessageBody>&x;</MessageBody></Message>';
    const res = await send(signed("POST", `/topics/${unique("TopicXxe")}/messages`, xxe));
    expect(res.status).toBe(400);
    expect(res.text).toContain("<Code>MalformedXML</Code>");
  });

  it("checks numOfMessages, waitseconds and the consumer", async () => {
    const topic = unique("TopicArgs");
    for (const q of ["consumer=G&numOfMessages=17", "consumer=G&numOfMessages=0", "consumer=G&numOfMessages=1&waitseconds=31", "numOfMessages=1"]) {
      const res = await send(signed("GET", `/topics/${topic}/messages?${q}`));
      expect(res.status, q).toBe(400);
      expect(res.text, q).toContain("<Code>InvalidArgument</Code>");
    }
  });

  it("decodes the tag query with form rules and accepts waitseconds=0 and Content-MD5 on GET (Go)", async () => {
    const topic = unique("TopicForm");
    expect((await send(signed("GET", `/topics/${topic}/messages?consumer=G`))).status).toBe(404);
    expect((await send(signed("POST", `/topics/${topic}/messages`, "<Message><MessageBody>x</MessageBody><MessageTag>a b</MessageTag></Message>"))).status).toBe(201);
    const res = await send(signed("GET", `/topics/${topic}/messages?waitseconds=0&tag=a+b%7C%7Cc&numOfMessages=2&consumer=G`, "", {}));
    expect(res.status).toBe(200);
    expect(res.text).toContain("<MessageTag>a b</MessageTag>");
  });

  it("answers trans=pop, commit and rollback with 400 InvalidArgument naming the transaction step", async () => {
    const topic = unique("TopicTrans");
    for (const [method, trans] of [["GET", "pop"], ["DELETE", "commit"], ["DELETE", "rollback"]] as const) {
      const body = method === "DELETE" ? "<ReceiptHandles><ReceiptHandle>h</ReceiptHandle></ReceiptHandles>" : undefined;
      const res = await send(signed(method, `/topics/${topic}/messages?consumer=GID_t&trans=${trans}&numOfMessages=1`, body));
      expect(res.status, trans).toBe(400);
      expect(res.text, trans).toContain("<Code>InvalidArgument</Code>");
      expect(res.text, trans).toContain(`trans=${trans}`);
    }
  });

  it("answers an empty ack with 400 MissingReceiptHandle", async () => {
    const res = await send(signed("DELETE", `/topics/${unique("TopicEmpty")}/messages?consumer=G`, "<ReceiptHandles></ReceiptHandles>"));
    expect(res.status).toBe(400);
    expect(res.text).toContain("<Code>MissingReceiptHandle</Code>");
  });
});

describe("RocketMQ HTTP door over DynamoDB Local", () => {
  let dynamo: Running;
  let sdk: MQClient;
  beforeAll(async () => {
    const table = await freshTable();
    dynamo = await startRuntime({}, table.store);
    sdk = new MQClient(dynamo.url, AK, SECRET);
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  it("runs the Go scheduled-message sample on the DynamoDB store", async () => {
    await goSampleFlow(sdk, 4000);
  });
});

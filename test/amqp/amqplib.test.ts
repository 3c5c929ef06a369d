import { randomUUID } from "node:crypto";
import amqplib, { type Channel, type ChannelModel, type ConsumeMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AmqpTestServer, LATE_TOLERANCE_MS, startAmqpTestServer } from "../support/amqp.js";
import { waitFor } from "../support/wait.js";

/** Polls an async condition until it holds. */
async function eventually(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * amqplib (the Node client most RabbitMQ applications use) against the AMQP door over real sockets on
 * DynamoDB Local: the two seed flows with real delays, acks, requeues, prefetch, confirms, basic.get,
 * the default exchange, server-named queues, channel errors and the JSON API reading what AMQP published.
 */

let server: AmqpTestServer;
const open: ChannelModel[] = [];

async function connect(url = server.url): Promise<ChannelModel> {
  const c = await amqplib.connect(url);
  c.on("error", () => {});
  open.push(c);
  return c;
}

const name = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

/** Messages a consumer receives, with their arrival times. */
function collect(ch: Channel, queue: string, options: { noAck?: boolean } = {}) {
  const got: { m: ConsumeMessage; atMs: number }[] = [];
  const ready = ch.consume(queue, (m) => {
    if (m) got.push({ m, atMs: Date.now() });
  }, { noAck: options.noAck ?? false });
  return { got, ready };
}

beforeAll(async () => {
  server = await startAmqpTestServer();
});

afterAll(async () => {
  for (const c of open) await c.close().catch(() => undefined);
  await server?.close();
});

describe("amqplib against the AMQP door", () => {
  it("seed flow 1: the delay header on an ordinary direct exchange delivers each message after its delay, never before", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const exchange = name("orders");
    const queue = name("orders-delayed");
    await ch.assertExchange(exchange, "direct", { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, "close");
    const { got, ready } = collect(ch, queue);
    await ready;
    // Act
    const sent: Record<string, number> = {};
    for (const [id, delay] of [["a", 1500], ["b", 500], ["c", 1000]] as const) {
      sent[id] = Date.now();
      ch.publish(exchange, "close", Buffer.from(`order ${id}`), { messageId: id, headers: { delay: String(delay) } });
    }
    await ch.waitForConfirms();
    await waitFor(() => got.length === 3, 10_000 + LATE_TOLERANCE_MS, "three deliveries");
    // Assess
    // Each after its own delay (the order among them is the engine test's: a loaded machine may hand several out in one look).
    expect(got.map((g) => g.m.properties.messageId).sort()).toEqual(["a", "b", "c"]);
    for (const { m, atMs } of got) {
      const id = m.properties.messageId as string;
      const delay = Number(m.properties.headers?.delay);
      expect(atMs - (sent[id] as number)).toBeGreaterThanOrEqual(delay);
      expect(atMs - (sent[id] as number)).toBeLessThan(delay + LATE_TOLERANCE_MS);
      expect(m.content.toString()).toBe(`order ${id}`);
      expect(m.fields.exchange).toBe(exchange);
      expect(m.fields.routingKey).toBe("close");
      expect(m.fields.redelivered).toBe(false);
      ch.ack(m);
    }
  });

  it("seed flow 2: an x-delayed-message exchange (x-delayed-type direct) delays by x-delay; confirms come once stored", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const exchange = name("delayed");
    const queue = name("reminders");
    await ch.assertExchange(exchange, "x-delayed-message", { durable: true, arguments: { "x-delayed-type": "direct" } });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, "remind");
    const { got, ready } = collect(ch, queue);
    await ready;
    // Act
    const sentMs = Date.now();
    const confirmed: string[] = [];
    for (const [id, delay] of [["int", 1200], ["float", 800.9], ["text", "600"], ["none", undefined]] as const) {
      ch.publish(exchange, "remind", Buffer.from(id), { messageId: id, headers: delay === undefined ? {} : { "x-delay": delay } }, (err) => {
        if (!err) confirmed.push(id);
      });
    }
    await ch.waitForConfirms();
    await waitFor(() => got.length === 4, 10_000 + LATE_TOLERANCE_MS, "four deliveries");
    // Assess
    expect(confirmed.sort()).toEqual(["float", "int", "none", "text"]);
    expect(got.map((g) => g.m.properties.messageId).sort()).toEqual(["float", "int", "none", "text"]);
    const at = Object.fromEntries(got.map((g) => [g.m.properties.messageId, g.atMs - sentMs]));
    expect(at.text).toBeGreaterThanOrEqual(600);
    expect(at.float).toBeGreaterThanOrEqual(800);
    expect(at.int).toBeGreaterThanOrEqual(1200);
    expect(at.int).toBeLessThan(1200 + LATE_TOLERANCE_MS);
    expect(got.find((g) => g.m.properties.messageId === "int")?.m.properties.headers?.["x-delay"]).toBe(1200);
    for (const g of got) ch.ack(g.m);
  });

  it("nack with requeue redelivers with redelivered=true; reject without requeue dead-letters (listed over the JSON API)", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createChannel();
    const queue = name("work");
    await ch.assertQueue(queue);
    const { got, ready } = collect(ch, queue);
    await ready;
    ch.sendToQueue(queue, Buffer.from("job"), { messageId: "job-1" });
    await waitFor(() => got.length === 1, 10_000, "first delivery");
    // Act
    ch.nack((got[0] as { m: ConsumeMessage }).m, false, true);
    await waitFor(() => got.length === 2, 10_000, "redelivery");
    const again = (got[1] as { m: ConsumeMessage }).m;
    ch.reject(again, false);
    // Assess
    expect(again.fields.redelivered).toBe(true);
    expect(again.content.toString()).toBe("job");
    let dead: { deadLetters: { messageId: string; reason: string; consumedTimes: number }[] } = { deadLetters: [] };
    await eventually(async () => {
      dead = await (await fetch(`${server.httpUrl}/v1/topics/${queue}/groups/amqp/dead-letters`)).json();
      return dead.deadLetters.length === 1;
    }, 10_000, "the dead letter");
    expect(dead.deadLetters[0]).toMatchObject({ reason: "rejected", consumedTimes: 2 });
  });

  it("prefetch 1 holds the next delivery until the previous one is acked; closing a channel requeues its unacked deliveries", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createChannel();
    const queue = name("prefetch");
    await ch.assertQueue(queue);
    for (let i = 0; i < 3; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`));
    await ch.prefetch(1);
    const { got, ready } = collect(ch, queue);
    await ready;
    await waitFor(() => got.length === 1, 10_000, "first delivery");
    await new Promise((r) => setTimeout(r, 700));
    // Assess: one at a time
    expect(got).toHaveLength(1);
    ch.ack((got[0] as { m: ConsumeMessage }).m);
    await waitFor(() => got.length === 2, 10_000, "second delivery");
    // Act: close the channel with the second unacked; another channel receives it again
    await ch.close();
    const ch2 = await c.createChannel();
    const second = collect(ch2, queue);
    await second.ready;
    await waitFor(() => second.got.length === 2, 10_000, "the requeued and the third");
    const bodies = second.got.map((g) => [g.m.content.toString(), g.m.fields.redelivered]);
    expect(bodies).toContainEqual([(got[1] as { m: ConsumeMessage }).m.content.toString(), true]);
    for (const g of second.got) ch2.ack(g.m);
  });

  it("basic.get answers empty, then the message; the default exchange routes to the queue named by the routing key", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createChannel();
    const queue = name("get");
    await ch.assertQueue(queue);
    // Act
    const empty = await ch.get(queue);
    ch.publish("", queue, Buffer.from("hello"), { contentType: "text/plain", headers: { n: 1 } });
    let m: Awaited<ReturnType<Channel["get"]>> = false;
    await eventually(async () => {
      m = await ch.get(queue);
      return m !== false;
    }, 10_000, "basic.get to find the message");
    // Assess
    expect(empty).toBe(false);
    const got = m as unknown as ConsumeMessage;
    expect(got.content.toString()).toBe("hello");
    expect(got.properties.contentType).toBe("text/plain");
    expect(got.properties.headers).toEqual({ n: 1 });
    expect(got.fields.routingKey).toBe(queue);
    ch.ack(got);
  });

  it("a server-named exclusive queue (amq.gen-…) receives from a fanout exchange and goes with its connection", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createChannel();
    const exchange = name("events");
    await ch.assertExchange(exchange, "fanout", { durable: false });
    const { queue } = await ch.assertQueue("", { exclusive: true });
    await ch.bindQueue(queue, exchange, "");
    const { got, ready } = collect(ch, queue, { noAck: true });
    await ready;
    // Act
    ch.publish(exchange, "anything", Buffer.from("fan"));
    await waitFor(() => got.length === 1, 10_000, "the fanout delivery");
    // Assess
    expect(queue).toMatch(/^amq\.gen-[A-Za-z0-9_-]{22}$/);
    const other = await (await connect()).createChannel();
    let refused: unknown;
    other.on("error", (e) => {
      refused = e;
    });
    await other.checkQueue(queue).catch((e: unknown) => {
      refused = e;
    });
    expect(String(refused)).toMatch(/405|RESOURCE_LOCKED/);
    await c.close();
    const third = await (await connect()).createChannel();
    third.on("error", () => {});
    await expect(third.checkQueue(queue)).rejects.toThrow(/404|NOT_FOUND/);
  });

  it("an inequivalent re-declare closes the channel with 406; an identical one is idempotent", async () => {
    const c = await connect();
    const ch = await c.createChannel();
    ch.on("error", () => {});
    const exchange = name("x");
    await ch.assertExchange(exchange, "direct", { durable: true });
    await ch.assertExchange(exchange, "direct", { durable: true });
    await expect(ch.assertExchange(exchange, "topic", { durable: true })).rejects.toThrow(/406|PRECONDITION_FAILED/);
  });

  it("a mandatory publish no queue takes comes back as basic.return, and is still confirmed", async () => {
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const exchange = name("nowhere");
    await ch.assertExchange(exchange, "direct");
    const returned: string[] = [];
    ch.on("return", (m: ConsumeMessage) => returned.push(m.content.toString()));
    ch.publish(exchange, "none", Buffer.from("lost"), { mandatory: true, headers: { delay: "60000" } });
    await ch.waitForConfirms();
    await waitFor(() => returned.length === 1, 5000, "the return");
    expect(returned).toEqual(["lost"]);
  });

  it("published over AMQP, consumed and counted over the JSON API: body, headers and the AMQP queue's group", async () => {
    // Prepare
    const c = await connect();
    const ch = await c.createConfirmChannel();
    const queue = name("cross");
    await ch.assertQueue(queue);
    // Act
    ch.sendToQueue(queue, Buffer.from("over the door"), { messageId: "k-1", headers: { delay: "600", tenant: "acme" } });
    await ch.waitForConfirms();
    const stats = await (await fetch(`${server.httpUrl}/v1/topics/${queue}/stats`)).json();
    const consumed = await (
      await fetch(`${server.httpUrl}/v1/topics/${queue}/groups/amqp/consume`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ waitSeconds: 5 }) })
    ).json();
    // Assess
    expect(JSON.stringify(stats)).toContain("scheduled");
    expect(consumed.messages).toHaveLength(1);
    expect(consumed.messages[0]).toMatchObject({ body: "over the door", key: "k-1", properties: { tenant: "acme", delay: "600", "amqp-exchange": "", "amqp-routing-key": queue } });
    expect(consumed.messages[0].deliverAt - consumed.messages[0].publishedAt).toBe(600);
  });

  it("AMQPLAIN logs in too; frame-max 4096 carries a 100 KB body in many frames; heartbeat 1 s keeps an idle connection open", async () => {
    // Prepare
    const plain = await amqplib.connect(server.url, { credentials: amqplib.credentials.amqplain("guest", "guest") });
    await plain.close();
    const c = await connect(`${server.url}?frameMax=4096&heartbeat=1`);
    const ch = await c.createConfirmChannel();
    const queue = name("big");
    await ch.assertQueue(queue);
    const body = Buffer.from(Array.from({ length: 100 * 1024 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(""));
    const binary = Buffer.from([0, 255, 128, 1, 2, 3, 0xc3, 0x28]);
    // Act
    ch.sendToQueue(queue, body);
    ch.sendToQueue(queue, binary, { contentType: "application/octet-stream" });
    await ch.waitForConfirms();
    await new Promise((r) => setTimeout(r, 3000));
    const { got, ready } = collect(ch, queue, { noAck: true });
    await ready;
    await waitFor(() => got.length === 2, 10_000, "both bodies");
    // Assess
    const bodies = got.map((g) => g.m.content);
    expect(bodies.some((b) => b.equals(body))).toBe(true);
    expect(bodies.some((b) => b.equals(binary))).toBe(true);
  });

  it("wrong credentials are refused with 403 ACCESS_REFUSED", async () => {
    await expect(amqplib.connect(server.url.replace("guest:guest", "guest:wrong"))).rejects.toThrow(/403|ACCESS.REFUSED/);
  });
});

import { randomUUID } from "node:crypto";
import { AMQPClient, type AMQPMessage } from "@cloudamqp/amqp-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AmqpTestServer, LATE_TOLERANCE_MS, startAmqpTestServer } from "../support/amqp.js";
import { waitFor } from "../support/wait.js";

/** A second client with its own codec (@cloudamqp/amqp-client) against the AMQP door over real sockets on DynamoDB Local. */

let server: AmqpTestServer;
const clients: AMQPClient[] = [];

async function connect() {
  const client = new AMQPClient(server.url);
  clients.push(client);
  return client.connect();
}

const name = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  server = await startAmqpTestServer();
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  await server?.close();
});

describe("@cloudamqp/amqp-client against the AMQP door", () => {
  it("both seed flows: delay on a direct exchange and x-delay on an x-delayed-message exchange, each after its delay; publishes resolve on their confirm", async () => {
    // Prepare
    const conn = await connect();
    const ch = await conn.channel();
    await ch.confirmSelect();
    await ch.basicQos(16);
    const direct = name("orders");
    const delayed = name("delayed");
    await ch.exchangeDeclare(direct, "direct", { durable: true });
    await ch.exchangeDeclare(delayed, "x-delayed-message", { durable: true }, { "x-delayed-type": "direct" });
    const q = await ch.queueDeclare(name("both"), { durable: true });
    await ch.queueBind(q.name, direct, "k");
    await ch.queueBind(q.name, delayed, "k");
    const got: { m: AMQPMessage; atMs: number }[] = [];
    await ch.basicConsume(q.name, { noAck: false }, async (m) => {
      got.push({ m, atMs: Date.now() });
      await m.ack();
    });
    // Act
    const sentMs = Date.now();
    await Promise.all([
      ch.basicPublish(direct, "k", "d-1000", { messageId: "d-1000", headers: { delay: "1000" } }),
      ch.basicPublish(delayed, "k", "x-500", { messageId: "x-500", headers: { "x-delay": 500 } }),
      ch.basicPublish(delayed, "k", "x-ignored-on-direct", { messageId: "now", headers: {} }),
      ch.basicPublish(direct, "k", "x-on-direct", { messageId: "x-on-direct", headers: { "x-delay": 5000 } }),
    ]);
    await waitFor(() => got.length === 4, 10_000 + LATE_TOLERANCE_MS, "four deliveries");
    // Assess: x-delay counts only on the delayed exchange; delay on any exchange
    const at = Object.fromEntries(got.map((g) => [g.m.properties.messageId, g.atMs - sentMs]));
    const stored = async (key: string) => {
      const [id] = await server.runtime.store.messageIdsByKey(q.name, key);
      const m = (await server.runtime.store.readMessages(q.name, [id as string])).get(id as string);
      return (m?.content.deliverAtMs ?? Number.NaN) - (m?.content.publishedAtMs ?? Number.NaN);
    };
    expect(await Promise.all(["now", "x-on-direct", "x-500", "d-1000"].map(stored))).toEqual([0, 0, 500, 1000]);
    expect(at["x-500"]).toBeGreaterThanOrEqual(500);
    expect(at["d-1000"]).toBeGreaterThanOrEqual(1000);
    expect(at["d-1000"]).toBeLessThan(1000 + LATE_TOLERANCE_MS);
    expect(got.map((g) => g.m.bodyToString()).sort()).toEqual(["d-1000", "x-500", "x-ignored-on-direct", "x-on-direct"]);
  });

  it("nack with requeue comes back redelivered; basic.get after it; topic exchange patterns route by * and #", async () => {
    // Prepare
    const conn = await connect();
    const ch = await conn.channel();
    const topic = name("t");
    await ch.exchangeDeclare(topic, "topic");
    const eu = await ch.queueDeclare(name("eu"));
    const all = await ch.queueDeclare(name("all"));
    await ch.queueBind(eu.name, topic, "order.*.eu");
    await ch.queueBind(all.name, topic, "order.#");
    // Act
    await ch.basicPublish(topic, "order.created.eu", "a");
    await ch.basicPublish(topic, "order.created.us", "b");
    await ch.basicPublish(topic, "invoice.created.eu", "c");
    let first: AMQPMessage | null = null;
    const deadline = Date.now() + 10_000;
    while (!first && Date.now() < deadline) first = await ch.basicGet(eu.name, { noAck: false });
    await first?.nack(true);
    let again: AMQPMessage | null = null;
    while (!again && Date.now() < deadline) again = await ch.basicGet(eu.name, { noAck: false });
    const bodies: string[] = [];
    for (let i = 0; i < 40 && bodies.length < 2; i++) {
      const m = await ch.basicGet(all.name, { noAck: true });
      if (m) bodies.push(m.bodyToString() ?? "");
      else await new Promise((r) => setTimeout(r, 50));
    }
    // Assess
    expect(first?.redelivered).toBe(false);
    expect(again?.bodyToString()).toBe("a");
    expect(again?.redelivered).toBe(true);
    await again?.ack();
    expect(bodies.sort()).toEqual(["a", "b"]);
  });

  it("headers exchanges match x-match all and any; an x-delayed-message exchange over headers delays and routes by headers", async () => {
    // Prepare
    const conn = await connect();
    const ch = await conn.channel();
    await ch.confirmSelect();
    const ex = name("h");
    await ch.exchangeDeclare(ex, "x-delayed-message", {}, { "x-delayed-type": "headers" });
    const all = await ch.queueDeclare(name("all"));
    const any = await ch.queueDeclare(name("any"));
    await ch.queueBind(all.name, ex, "", { "x-match": "all", region: "eu", kind: "order" });
    await ch.queueBind(any.name, ex, "", { "x-match": "any", region: "eu", kind: "order" });
    // Act
    const sentMs = Date.now();
    await ch.basicPublish(ex, "", "both", { headers: { region: "eu", kind: "order", "x-delay": 400 } });
    await ch.basicPublish(ex, "", "one", { headers: { region: "eu", kind: "invoice" } });
    const take = async (queue: string, n: number) => {
      const out: string[] = [];
      while (out.length < n && Date.now() - sentMs < 10_000) {
        const m = await ch.basicGet(queue, { noAck: true });
        if (m) out.push(m.bodyToString() === "both" ? `both@${Date.now() - sentMs >= 400 ? "after-its-delay" : "early"}` : String(m.bodyToString()));
        else await new Promise((r) => setTimeout(r, 25));
      }
      return out;
    };
    // Assess
    expect(await take(all.name, 1)).toEqual(["both@after-its-delay"]);
    expect((await take(any.name, 2)).sort()).toEqual(["both@after-its-delay", "one"]);
  });
  it("x-max-length: reject-publish rejects the confirm of a publish to a full queue; drop-head keeps the newest", async () => {
    // Prepare
    const conn = await connect();
    const ch = await conn.channel();
    await ch.confirmSelect();
    const strict = await ch.queueDeclare(name("strict"), { durable: true }, { "x-max-length": 1, "x-overflow": "reject-publish" });
    const capped = await ch.queueDeclare(name("capped"), { durable: true }, { "x-max-length": 1 });
    // Act
    const first = await ch.basicPublish("", strict.name, "first").then(() => "ack", () => "nack");
    const second = await ch.basicPublish("", strict.name, "second").then(() => "ack", () => "nack");
    for (const body of ["old", "new"]) {
      await ch.basicPublish("", capped.name, body);
      await new Promise((r) => setTimeout(r, 50));
    }
    const take = async (queue: string) => {
      const out: string[] = [];
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        const m = await ch.basicGet(queue, { noAck: true });
        if (m) out.push(String(m.bodyToString()));
        else await new Promise((r) => setTimeout(r, 50));
      }
      return out;
    };
    await new Promise((r) => setTimeout(r, 500));
    // Assess
    expect([first, second]).toEqual(["ack", "nack"]);
    expect(await take(strict.name)).toEqual(["first"]);
    expect(await take(capped.name)).toEqual(["new"]);
  });
});

import { randomUUID } from "node:crypto";
import { AMQPClient } from "@cloudamqp/amqp-client";
import amqplib, { type Channel, type ChannelModel, type ConsumeMessage, type GetMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AmqpTestServer, LATE_TOLERANCE_MS, startAmqpTestServer } from "../support/amqp.js";
import { waitFor } from "../support/wait.js";

/**
 * Dead-letter exchanges, exchange-to-exchange bindings, queue.purge and transactions over real sockets
 * (amqplib, and @cloudamqp/amqp-client for tx, which amqplib does not speak) on DynamoDB Local.
 */

let server: AmqpTestServer;
const open: ChannelModel[] = [];
const clients: AMQPClient[] = [];

async function channel(): Promise<Channel> {
  const c = await amqplib.connect(server.url);
  c.on("error", () => {});
  open.push(c);
  const ch = await c.createChannel();
  ch.on("error", () => {});
  return ch;
}

const name = (p: string) => `${p}-${randomUUID().slice(0, 8)}`;

function collect(ch: Channel, queue: string) {
  const got: { m: ConsumeMessage; atMs: number }[] = [];
  const ready = ch.consume(queue, (m) => {
    if (m) {
      got.push({ m, atMs: Date.now() });
      ch.ack(m);
    }
  });
  return { got, ready };
}

/** The channel's close, as the client reports it (code and text). */
function closed(ch: Channel): Promise<string> {
  return new Promise((resolve) => ch.once("error", (e: Error) => resolve(e.message)));
}

beforeAll(async () => {
  server = await startAmqpTestServer();
});

afterAll(async () => {
  for (const c of open) await c.close().catch(() => undefined);
  for (const c of clients) await c.close().catch(() => undefined);
  await server?.close();
});

describe("dead-letter exchanges", () => {
  it("a rejected message is republished to the dead-letter exchange with its x-death history; a nack with requeue is not", async () => {
    // Prepare
    const ch = await channel();
    const dlx = name("dlx");
    const work = name("work");
    const dead = name("dead");
    await ch.assertExchange(dlx, "fanout", { durable: true });
    await ch.assertQueue(dead, { durable: true });
    await ch.bindQueue(dead, dlx, "");
    await ch.assertQueue(work, { durable: true, arguments: { "x-dead-letter-exchange": dlx } });
    const deadLetters = collect(ch, dead);
    await deadLetters.ready;
    ch.sendToQueue(work, Buffer.from("bad order"), { messageId: "m-1", headers: { tenant: "acme" }, contentType: "text/plain" });
    ch.sendToQueue(work, Buffer.from("retry me"), { messageId: "m-2" });
    // Act: reject one without requeue, nack the other with requeue (it comes back, then is acked)
    const seen: string[] = [];
    await ch.consume(work, (m) => {
      if (!m) return;
      seen.push(`${m.properties.messageId}:${m.fields.redelivered}`);
      if (m.properties.messageId === "m-1") ch.reject(m, false);
      else if (!m.fields.redelivered) ch.nack(m, false, true);
      else ch.ack(m);
    });
    await waitFor(() => deadLetters.got.length === 1 && seen.includes("m-2:true"), LATE_TOLERANCE_MS, "the rejected message at the dead-letter queue");
    await new Promise((r) => setTimeout(r, 500));
    // Assess
    expect(deadLetters.got).toHaveLength(1);
    const { m } = deadLetters.got[0] as { m: ConsumeMessage };
    expect(m.content.toString()).toBe("bad order");
    expect(m.properties.messageId).toBe("m-1");
    expect(m.properties.contentType).toBe("text/plain");
    expect(m.fields.exchange).toBe(dlx);
    expect(m.fields.routingKey).toBe(work);
    const headers = m.properties.headers as Record<string, unknown>;
    expect(headers.tenant).toBe("acme");
    const [death] = headers["x-death"] as Record<string, unknown>[];
    expect(death).toMatchObject({ count: 1, reason: "rejected", queue: work, exchange: "", "routing-keys": [work] });
    expect(Math.abs(Number((death?.time as { value: number }).value) * 1000 - Date.now())).toBeLessThan(LATE_TOLERANCE_MS + 2000);
    expect(headers).toMatchObject({ "x-first-death-reason": "rejected", "x-first-death-queue": work, "x-first-death-exchange": "" });
    // the dead letter left the queue's dead letters for the exchange's queue
    const res = await fetch(`${server.httpUrl}/v1/topics/${work}/groups/amqp/dead-letters`);
    expect(((await res.json()) as { deadLetters: unknown[] }).deadLetters).toEqual([]);
  });

  it("TTL + dead-letter exchange (the retry-later pattern): each message moves on at its expiry, never before, counted up in x-death each round", async () => {
    // Prepare: a wait queue nobody consumes, expiring into the work exchange with a new routing key
    const ch = await channel();
    const workX = name("work-x");
    const wait = name("wait");
    const work = name("work");
    await ch.assertExchange(workX, "direct", { durable: true });
    await ch.assertQueue(work, { durable: true });
    await ch.bindQueue(work, workX, "process");
    await ch.assertQueue(wait, { durable: true, arguments: { "x-message-ttl": 1500, "x-dead-letter-exchange": workX, "x-dead-letter-routing-key": "process" } });
    const arrived = collect(ch, work);
    await arrived.ready;
    // Act: one message on the queue's TTL, one with a lower per-message expiration
    const sentMs = Date.now();
    ch.sendToQueue(wait, Buffer.from("queue-ttl"), { messageId: "q" });
    ch.sendToQueue(wait, Buffer.from("message-ttl"), { messageId: "e", expiration: "700" });
    await waitFor(() => arrived.got.length === 2, 1500 + LATE_TOLERANCE_MS, "both expired messages at the work queue");
    // Assess
    const at = (id: string) => arrived.got.find((g) => g.m.properties.messageId === id) as { m: ConsumeMessage; atMs: number };
    expect(at("q").atMs - sentMs).toBeGreaterThanOrEqual(1500);
    expect(at("e").atMs - sentMs).toBeGreaterThanOrEqual(700);
    expect(at("e").m.properties.expiration).toBeUndefined();
    const deathOf = (m: ConsumeMessage) => (m.properties.headers as Record<string, Record<string, unknown>[]>)["x-death"] as Record<string, unknown>[];
    expect(deathOf(at("e").m)[0]).toMatchObject({ count: 1, reason: "expired", queue: wait, "original-expiration": "700", "routing-keys": [wait] });
    expect(at("q").m.fields.routingKey).toBe("process");
    // A second round with the headers it came back with: the same (queue, reason) entry counts 2
    const again = Date.now();
    ch.sendToQueue(wait, at("q").m.content, { messageId: "q2", headers: at("q").m.properties.headers });
    await waitFor(() => arrived.got.length === 3, 1500 + LATE_TOLERANCE_MS, "the second round");
    const second = at("q2");
    expect(second.atMs - again).toBeGreaterThanOrEqual(1500);
    const deaths = deathOf(second.m);
    expect(deaths).toHaveLength(1);
    expect(deaths[0]).toMatchObject({ count: 2, reason: "expired", queue: wait });
  });

  it("a cycle of expiries without a rejection is dropped, and a dead-letter exchange that does not exist drops the message", async () => {
    // Prepare
    const ch = await channel();
    const loop = name("loop");
    const orphan = name("orphan");
    await ch.assertQueue(loop, { durable: true, arguments: { "x-message-ttl": 200, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": loop } });
    await ch.assertQueue(orphan, { durable: true, arguments: { "x-dead-letter-exchange": name("missing") } });
    // Act
    ch.sendToQueue(loop, Buffer.from("round and round"));
    ch.sendToQueue(orphan, Buffer.from("nowhere to go"));
    const m = await (async () => {
      for (let i = 0; i < 100; i++) {
        const got = await ch.get(orphan);
        if (got) return got;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("the orphan message never arrived");
    })();
    ch.reject(m, false);
    // Assess: both leave their queue's dead letters and arrive nowhere
    const deadLetters = async (q: string) =>
      ((await (await fetch(`${server.httpUrl}/v1/topics/${q}/groups/amqp/dead-letters`)).json()) as { deadLetters: unknown[] }).deadLetters.length;
    const stats = async (q: string) => (await (await fetch(`${server.httpUrl}/v1/topics/${q}/stats`)).json()) as { groups: Record<string, { ready: number }> };
    const deadline = Date.now() + LATE_TOLERANCE_MS;
    while ((await deadLetters(loop)) + (await deadLetters(orphan)) > 0 || (await stats(loop)).groups.amqp?.ready !== 0) {
      if (Date.now() > deadline) throw new Error("the dead letters were not dropped");
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(await ch.get(loop)).toBe(false);
    expect(await ch.get(orphan)).toBe(false);
    expect(await deadLetters(loop)).toBe(0);
  });

  it("dead-letter arguments RabbitMQ refuses close the channel with 406", async () => {
    // Prepare
    const a = await channel();
    const b = await channel();
    // Act
    const notAString = closed(a);
    a.assertQueue(name("bad"), { arguments: { "x-dead-letter-exchange": 42 } }).catch(() => undefined);
    const keyWithoutExchange = closed(b);
    b.assertQueue(name("bad"), { arguments: { "x-dead-letter-routing-key": "k" } }).catch(() => undefined);
    // Assess
    expect(await notAString).toMatch(/406.*x-dead-letter-exchange/);
    expect(await keyWithoutExchange).toMatch(/406.*routing_key_but_no_dlx_defined/);
  });
});

describe("exchange-to-exchange bindings", () => {
  it("route on through the destination exchange by its own type, once per queue, through cycles, and stop at unbind or delete", async () => {
    // Prepare: topic "events" → fanout "audit" (by pattern) → queue; "audit" → "events" closes a cycle
    const ch = await channel();
    const events = name("events");
    const audit = name("audit");
    const direct = name("direct");
    await ch.assertExchange(events, "topic", { durable: true });
    await ch.assertExchange(audit, "fanout", { durable: false });
    await ch.assertExchange(direct, "direct", { durable: true });
    const auditQ = name("audit-q");
    const orderQ = name("order-q");
    await ch.assertQueue(auditQ, { durable: true });
    await ch.assertQueue(orderQ, { durable: true });
    await ch.bindExchange(audit, events, "order.*");
    await ch.bindExchange(events, audit, "");
    await ch.bindQueue(auditQ, audit, "");
    await ch.bindQueue(orderQ, events, "order.#");
    await ch.bindExchange(audit, direct, "k");
    const auditGot = collect(ch, auditQ);
    const orderGot = collect(ch, orderQ);
    await Promise.all([auditGot.ready, orderGot.ready]);
    // Act
    ch.publish(events, "order.created", Buffer.from("1"));
    ch.publish(events, "user.created", Buffer.from("2"));
    ch.publish(direct, "k", Buffer.from("3"));
    ch.publish(direct, "other", Buffer.from("4"));
    await waitFor(() => auditGot.got.length === 2 && orderGot.got.length === 1, LATE_TOLERANCE_MS, "the routed copies");
    await ch.unbindExchange(audit, events, "order.*");
    await ch.deleteExchange(direct);
    ch.publish(events, "order.updated", Buffer.from("5"));
    await waitFor(() => orderGot.got.length === 2, LATE_TOLERANCE_MS, "the copy after the unbind");
    await new Promise((r) => setTimeout(r, 500));
    // Assess: each queue got each message once, even though the cycle leads back to "events"
    expect(auditGot.got.map((g) => g.m.content.toString()).sort()).toEqual(["1", "3"]);
    expect(orderGot.got.map((g) => g.m.content.toString()).sort()).toEqual(["1", "5"]);
  });

  it("a copy routed through an x-delayed-message exchange takes its x-delay; a direct copy of the same publish does not", async () => {
    // Prepare
    const ch = await channel();
    const front = name("front");
    const delayed = name("delayed");
    await ch.assertExchange(front, "fanout", { durable: true });
    await ch.assertExchange(delayed, "x-delayed-message", { durable: true, arguments: { "x-delayed-type": "fanout" } });
    await ch.bindExchange(delayed, front, "");
    const later = name("later");
    const now = name("now");
    await ch.assertQueue(later, { durable: true });
    await ch.assertQueue(now, { durable: true });
    await ch.bindQueue(later, delayed, "");
    await ch.bindQueue(now, front, "");
    const laterGot = collect(ch, later);
    const nowGot = collect(ch, now);
    await Promise.all([laterGot.ready, nowGot.ready]);
    // Act
    const sentMs = Date.now();
    ch.publish(front, "", Buffer.from("x"), { headers: { "x-delay": 1200 } });
    await waitFor(() => laterGot.got.length === 1 && nowGot.got.length === 1, 1200 + LATE_TOLERANCE_MS, "both copies");
    // Assess
    expect((laterGot.got[0] as { atMs: number }).atMs - sentMs).toBeGreaterThanOrEqual(1200);
    expect((nowGot.got[0] as { atMs: number }).atMs - sentMs).toBeLessThan((laterGot.got[0] as { atMs: number }).atMs - sentMs);
  });
});

/** Takes every ready message of the queue with basic.get (acking each), waiting until `count` came or the time ran out. */
async function drain(ch: Channel, queue: string, count: number, withinMs: number): Promise<GetMessage[]> {
  const got: GetMessage[] = [];
  const until = Date.now() + withinMs;
  while (got.length < count && Date.now() < until) {
    const m = await ch.get(queue);
    if (m) {
      got.push(m);
      ch.ack(m);
    } else await new Promise((r) => setTimeout(r, 50));
  }
  return got;
}

describe("x-max-length and x-overflow", () => {
  it("drop-head keeps the newest ready messages, immediate and delayed alike, and dead-letters the dropped ones with reason maxlen", async () => {
    // Prepare
    const ch = await amqplib.connect(server.url).then(async (c) => {
      open.push(c);
      c.on("error", () => {});
      return c.createConfirmChannel();
    });
    const dlx = name("dlx");
    const q = name("capped");
    const dead = name("dropped");
    await ch.assertExchange(dlx, "fanout", { durable: true });
    await ch.assertQueue(dead, { durable: true });
    await ch.bindQueue(dead, dlx, "");
    await ch.assertQueue(q, { durable: true, arguments: { "x-max-length": 2, "x-dead-letter-exchange": dlx } });
    // Act: five published one after another (each confirmed), then three more that enter the queue 800 ms later
    for (let i = 1; i <= 5; i++) {
      ch.sendToQueue(q, Buffer.from(`m${i}`), { messageId: `m${i}` });
      await ch.waitForConfirms();
      await new Promise((r) => setTimeout(r, 30));
    }
    const check = await channel();
    const droppedNow = await drain(check, dead, 3, LATE_TOLERANCE_MS + 2000);
    const kept = await drain(check, q, 2, 1000);
    for (let i = 6; i <= 8; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { messageId: `m${i}`, headers: { delay: String(800 + i * 20) } });
    await ch.waitForConfirms();
    const droppedLater = await drain(check, dead, 1, 800 + 160 + LATE_TOLERANCE_MS + 2000);
    const keptLater = await drain(check, q, 2, 1000);
    await new Promise((r) => setTimeout(r, 300));
    // Assess
    expect(droppedNow.map((m) => m.content.toString()).sort()).toEqual(["m1", "m2", "m3"]);
    expect(kept.map((m) => m.content.toString()).sort()).toEqual(["m4", "m5"]);
    const [death] = (droppedNow[0]?.properties.headers as Record<string, Record<string, unknown>[]>)["x-death"] as Record<string, unknown>[];
    expect(death).toMatchObject({ count: 1, reason: "maxlen", queue: q });
    expect(droppedLater.map((m) => m.content.toString())).toEqual(["m6"]);
    expect(keptLater.map((m) => m.content.toString()).sort()).toEqual(["m7", "m8"]);
    expect(await check.get(q)).toBe(false);
    expect(await check.get(dead)).toBe(false);
  });

  it("reject-publish nacks a publish to a full queue and keeps what it holds; reject-publish-dlx also dead-letters the refused message", async () => {
    // Prepare
    const conn = await amqplib.connect(server.url);
    open.push(conn);
    conn.on("error", () => {});
    const ch = await conn.createConfirmChannel();
    const dlx = name("dlx");
    const dead = name("refused");
    const strict = name("strict");
    const strictDlx = name("strict-dlx");
    await ch.assertExchange(dlx, "fanout", { durable: true });
    await ch.assertQueue(dead, { durable: true });
    await ch.bindQueue(dead, dlx, "");
    await ch.assertQueue(strict, { durable: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } });
    await ch.assertQueue(strictDlx, { durable: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": dlx } });
    const confirmOf = (queue: string, body: string) =>
      new Promise<"ack" | "nack">((resolve) => ch.sendToQueue(queue, Buffer.from(body), { messageId: body }, (err) => resolve(err ? "nack" : "ack")));
    // Act
    const outcomes = [await confirmOf(strict, "first"), await confirmOf(strict, "second"), await confirmOf(strictDlx, "one"), await confirmOf(strictDlx, "two")];
    const check = await channel();
    const refused = await drain(check, dead, 1, LATE_TOLERANCE_MS + 1000);
    const held = [...(await drain(check, strict, 1, 1000)), ...(await drain(check, strictDlx, 1, 1000))];
    const afterDrain = await confirmOf(strict, "third");
    // Assess
    expect(outcomes).toEqual(["ack", "nack", "ack", "nack"]);
    expect(held.map((m) => m.content.toString())).toEqual(["first", "one"]);
    expect(refused.map((m) => m.content.toString())).toEqual(["two"]);
    expect((refused[0]?.properties.headers as Record<string, Record<string, unknown>[]>)["x-death"]?.[0]).toMatchObject({ reason: "maxlen", queue: strictDlx });
    expect(afterDrain).toBe("ack");
    expect(await check.get(strict)).not.toBe(false);
  });

  it("length arguments RabbitMQ refuses close the channel with 406", async () => {
    // Prepare
    const a = await channel();
    const b = await channel();
    // Act
    const badOverflow = closed(a);
    a.assertQueue(name("bad"), { arguments: { "x-max-length": 5, "x-overflow": "drop-tail" } }).catch(() => undefined);
    const negative = closed(b);
    b.assertQueue(name("bad"), { arguments: { "x-max-length": -1 } }).catch(() => undefined);
    // Assess
    expect(await badOverflow).toMatch(/406.*x-overflow/);
    expect(await negative).toMatch(/406.*x-max-length/);
  });
});

describe("queue.purge", () => {
  it("takes the ready messages and answers their count; held and still-delayed messages stay", async () => {
    // Prepare
    const ch = await channel();
    const q = name("purge");
    await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < 20; i++) ch.sendToQueue(q, Buffer.from(`ready-${i}`));
    ch.sendToQueue(q, Buffer.from("later"), { headers: { delay: "2500" } });
    let held: GetMessage | false = false;
    for (let i = 0; i < 100 && !held; i++) {
      held = await ch.get(q);
      if (!held) await new Promise((r) => setTimeout(r, 50));
    }
    expect(held).not.toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    // Act
    const { messageCount } = await ch.purgeQueue(q);
    // Assess
    expect(messageCount).toBe(19);
    expect(await ch.get(q)).toBe(false);
    await ch.close();
    const again = await channel();
    const got = collect(again, q);
    await got.ready;
    await waitFor(() => got.got.length === 2, 2500 + LATE_TOLERANCE_MS, "the held message back and the delayed one");
    expect(got.got.map((g) => g.m.content.toString()).sort()).toEqual(["later", (held as GetMessage).content.toString()].sort());
  });
});

describe("transactions (tx.select)", () => {
  it("publishes and acks take effect at tx.commit and are forgotten at tx.rollback; tx and confirms exclude each other", async () => {
    // Prepare
    const client = new AMQPClient(server.url);
    clients.push(client);
    const conn = await client.connect();
    const ch = await conn.channel();
    const q = await ch.queueDeclare(name("tx"), { durable: true });
    await ch.txSelect();
    // Act: a rolled-back publish, then two committed ones
    await ch.basicPublish("", q.name, "rolled back");
    await ch.txRollback();
    await ch.basicPublish("", q.name, "one");
    await ch.basicPublish("", q.name, "two");
    await new Promise((r) => setTimeout(r, 300));
    const beforeCommit = await (await channel()).get(q.name);
    await ch.txCommit();
    // Assess
    expect(beforeCommit).toBe(false);
    const bodies: string[] = [];
    for (let i = 0; i < 100 && bodies.length < 2; i++) {
      const m = await ch.basicGet(q.name, { noAck: false });
      if (m) {
        bodies.push(m.bodyToString() ?? "");
        // an ack inside the transaction: rolled back first (the message stays held), then committed
        await ch.basicAck(m.deliveryTag);
        if (bodies.length === 1) {
          await ch.txRollback();
          await ch.basicAck(m.deliveryTag);
        }
        await ch.txCommit();
      } else await new Promise((r) => setTimeout(r, 50));
    }
    expect(bodies.sort()).toEqual(["one", "two"]);
    await ch.close();
    const check = await channel();
    await new Promise((r) => setTimeout(r, 300));
    expect(await check.get(q.name)).toBe(false);
    const confirmCh = await conn.channel();
    await confirmCh.txSelect();
    await expect(confirmCh.confirmSelect()).rejects.toThrow(/406|tx to confirm/);
  });
});

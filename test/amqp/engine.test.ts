import { describe, expect, it } from "vitest";
import { AmqpProperty } from "../../core/amqp/broker.js";
import { FrameType, HEARTBEAT_FRAME, Method, PROTOCOL_HEADER, encodeMethod } from "../../core/amqp/codec.js";
import { readCredentials } from "../../core/amqp/engine.js";
import { ManualClock } from "../../core/clock.js";
import { MemoryStore } from "../../core/memory-store.js";
import { delayHeaderMs, headersMatch, publishTiming, topicMatches, xDelayMs } from "../../core/amqp/routing.js";
import { amqpPeer, settle } from "../support/amqp-peer.js";

/** The protocol engine without a socket, over the memory store and a manual clock. */

const T0 = Date.UTC(2026, 11, 1);

async function channelWithQueue(queue = "q", exchange?: { name: string; type: string; args?: Record<string, unknown> }) {
  const peer = amqpPeer({ startMs: T0 });
  await peer.handshake();
  peer.send(1, Method.ChannelOpen);
  if (exchange) peer.send(1, Method.ExchangeDeclare, { exchange: exchange.name, type: exchange.type, durable: true, arguments: exchange.args ?? {} });
  peer.send(1, Method.QueueDeclare, { queue, durable: true, arguments: {} });
  if (exchange) peer.send(1, Method.QueueBind, { queue, exchange: exchange.name, routingKey: "k", arguments: {} });
  await settle();
  peer.methods();
  return peer;
}

function deliveries(peer: ReturnType<typeof amqpPeer>) {
  const frames = peer.frames();
  const out: { fields: Record<string, unknown>; body: string; headers: Record<string, unknown> | undefined }[] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    if (f?.type === FrameType.Method && (f.id === Method.BasicDeliver || f.id === Method.BasicGetOk)) {
      const h = frames[i + 1];
      const b = frames[i + 2];
      out.push({
        fields: f.fields,
        headers: h?.type === FrameType.Header ? h.properties.headers : undefined,
        body: b?.type === FrameType.Body ? b.content.toString() : "",
      });
    }
  }
  return out;
}

describe("AMQP engine: handshake and connection errors", () => {
  it("answers a wrong protocol header with the header it speaks and closes", () => {
    const peer = amqpPeer();
    peer.conn.receive(Buffer.from("HTTP/1.1 GET /\r\n"));
    expect(peer.raw().equals(PROTOCOL_HEADER)).toBe(true);
    expect(peer.ended()).toBe(true);
  });

  it("offers PLAIN and AMQPLAIN, tunes frame-max, channel-max and heartbeat, opens the default vhost", async () => {
    const peer = amqpPeer();
    peer.conn.receive(PROTOCOL_HEADER);
    const [start] = peer.methods();
    expect(start?.id).toBe(Method.ConnectionStart);
    expect(String(start?.fields.mechanisms)).toBe("PLAIN AMQPLAIN");
    peer.send(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: "PLAIN", response: Buffer.from("\0guest\0guest"), locale: "en_US" });
    const [tune] = peer.methods();
    expect(tune).toMatchObject({ id: Method.ConnectionTune, fields: { channelMax: 2047, frameMax: 131072, heartbeat: 60 } });
    peer.send(0, Method.ConnectionTuneOk, { channelMax: 10, frameMax: 4096, heartbeat: 0 });
    peer.send(0, Method.ConnectionOpen, { virtualHost: "/" });
    await settle();
    expect(peer.methods().map((m) => m.id)).toEqual([Method.ConnectionOpenOk]);
    peer.send(11, Method.ChannelOpen);
    expect(peer.methods()[0]).toMatchObject({ id: Method.ConnectionClose, fields: { replyCode: 504 } });
  });

  it("vhosts are namespaces: the same queue name in two vhosts is two topics; a vhost that is no namespace name is refused with 530", async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const a = amqpPeer({ store, clock });
    const b = amqpPeer({ store, clock });
    await a.handshake({}, undefined, "tenant-a");
    await b.handshake({}, undefined, "/tenant-b");
    for (const [peer, body] of [[a, "for a"], [b, "for b"]] as const) {
      peer.send(1, Method.ChannelOpen);
      peer.send(1, Method.QueueDeclare, { queue: "jobs", arguments: {} });
      await settle();
      peer.publish(1, "", "jobs", {}, body);
      await settle();
    }
    const inA = (await a.queue?.consume({ topic: "tenant-a~jobs", group: "amqp", max: 5 })) ?? [];
    const inB = (await a.queue?.consume({ topic: "tenant-b~jobs", group: "amqp", max: 5 })) ?? [];
    expect([inA.map((m) => m.body), inB.map((m) => m.body)]).toEqual([["for a"], ["for b"]]);
    const bad = amqpPeer();
    await bad.handshake({}, undefined, "no/such vhost");
    expect(bad.methods().find((m) => m.id === Method.ConnectionClose)?.fields).toMatchObject({ replyCode: 530 });
  });

  it("refuses wrong credentials with connection.close 403 ACCESS_REFUSED and ends", async () => {
    const peer = amqpPeer();
    peer.conn.receive(PROTOCOL_HEADER);
    peer.send(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: "PLAIN", response: Buffer.from("\0guest\0nope"), locale: "en_US" });
    const close = peer.methods().find((m) => m.id === Method.ConnectionClose);
    expect(close?.fields).toMatchObject({ replyCode: 403 });
    expect(String(close?.fields.replyText)).toMatch(/^ACCESS_REFUSED/);
    expect(peer.ended()).toBe(true);
  });

  it("reads AMQPLAIN's LOGIN/PASSWORD table and PLAIN's \\0user\\0password", () => {
    const table = encodeMethod(0, Method.ConnectionStartOk, { clientProperties: { LOGIN: "u", PASSWORD: "p" }, mechanism: "X", response: Buffer.alloc(0), locale: "" });
    // The client-properties table of that frame, without its 4-byte length, is an AMQPLAIN response.
    const len = table.readUInt32BE(11);
    expect(readCredentials("AMQPLAIN", table.subarray(15, 15 + len))).toEqual({ user: "u", password: "p" });
    expect(readCredentials("PLAIN", Buffer.from("\0a\0b"))).toEqual({ user: "a", password: "b" });
    expect(readCredentials("PLAIN", Buffer.from("ab"))).toBeUndefined();
    expect(readCredentials("EXTERNAL", Buffer.from("\0a\0b"))).toBeUndefined();
  });

  it("closes with 501 FRAME_ERROR on a frame above frame-max and on a bad frame-end; 505 on a body without a publish", async () => {
    const big = amqpPeer();
    await big.handshake({ frameMax: 4096 });
    big.methods();
    const frame = Buffer.alloc(5000 + 8);
    frame.writeUInt8(1, 0);
    frame.writeUInt32BE(5000, 3);
    big.conn.receive(frame);
    expect(big.methods()[0]).toMatchObject({ id: Method.ConnectionClose, fields: { replyCode: 501 } });

    const bad = amqpPeer();
    await bad.handshake();
    bad.methods();
    const open = encodeMethod(1, Method.ChannelOpen, {});
    open.writeUInt8(0x00, open.length - 1);
    bad.conn.receive(open);
    expect(bad.methods()[0]).toMatchObject({ id: Method.ConnectionClose, fields: { replyCode: 501 } });

    const body = amqpPeer();
    await body.handshake();
    body.send(1, Method.ChannelOpen);
    body.methods();
    body.conn.receive(Buffer.from([3, 0, 1, 0, 0, 0, 1, 65, 0xce]));
    expect(body.methods()[0]).toMatchObject({ id: Method.ConnectionClose, fields: { replyCode: 505 } });
  });

  it("heartbeats: sends one after half the interval of silence, gives up on a peer silent for two", async () => {
    const peer = amqpPeer({ startMs: T0 });
    await peer.handshake({ heartbeat: 2 });
    peer.frames();
    peer.clock.advance(1000);
    peer.conn.tick(peer.clock.nowMs());
    expect(peer.raw().subarray(-8).equals(HEARTBEAT_FRAME)).toBe(true);
    peer.conn.receive(HEARTBEAT_FRAME);
    peer.clock.advance(4001);
    peer.conn.tick(peer.clock.nowMs());
    expect(peer.ended()).toBe(true);
  });

  it("a handshake that never finishes is ended after the handshake timeout", () => {
    const peer = amqpPeer({ startMs: T0, limits: { handshakeTimeoutMs: 1000 } });
    peer.conn.receive(PROTOCOL_HEADER);
    peer.clock.advance(1000);
    peer.conn.tick(peer.clock.nowMs());
    expect(peer.ended()).toBe(true);
  });
});

describe("AMQP engine: channels, declares and publishes", () => {
  it("re-declares idempotently; an inequivalent one closes the channel with 406; a passive one of a missing queue with 404", async () => {
    const peer = await channelWithQueue("orders");
    peer.send(1, Method.QueueDeclare, { queue: "orders", durable: true, arguments: {} });
    await settle();
    expect(peer.methods().map((m) => m.id)).toEqual([Method.QueueDeclareOk]);
    peer.send(1, Method.QueueDeclare, { queue: "orders", durable: false, arguments: {} });
    await settle();
    expect(peer.methods()[0]).toMatchObject({ id: Method.ChannelClose, fields: { replyCode: 406 } });
    peer.send(1, Method.ChannelCloseOk);
    peer.send(2, Method.ChannelOpen);
    peer.send(2, Method.QueueDeclare, { queue: "missing", passive: true, arguments: {} });
    await settle();
    expect(peer.methods().map((m) => [m.id, m.fields.replyCode])).toEqual([
      [Method.ChannelOpenOk, undefined],
      [Method.ChannelClose, 404],
    ]);
  });

  it("an x-delayed-message exchange needs x-delayed-type; publishing to a missing exchange closes the channel with 404", async () => {
    const peer = await channelWithQueue();
    peer.send(1, Method.ExchangeDeclare, { exchange: "d", type: "x-delayed-message", arguments: {} });
    await settle();
    expect(peer.methods()[0]).toMatchObject({ id: Method.ChannelClose, fields: { replyCode: 406 } });
    peer.send(1, Method.ChannelCloseOk);
    peer.send(2, Method.ChannelOpen);
    peer.publish(2, "nope", "k", {}, "x");
    await settle();
    expect(peer.methods().map((m) => [m.id, m.fields.replyCode])).toEqual([
      [Method.ChannelOpenOk, undefined],
      [Method.ChannelClose, 404],
    ]);
  });

  it("x-delay holds a message until its time and not a millisecond before (manual clock); a later delay does not hold an earlier one back", async () => {
    // Prepare
    const peer = await channelWithQueue("q", { name: "d", type: "x-delayed-message", args: { "x-delayed-type": "direct" } });
    peer.send(1, Method.BasicConsume, { queue: "q", consumerTag: "c", noAck: false, arguments: {} });
    await settle();
    peer.methods();
    // Act
    peer.publish(1, "d", "k", { headers: { "x-delay": 5000 } }, "late");
    peer.publish(1, "d", "k", { headers: { "x-delay": 2000 } }, "early");
    await settle();
    peer.clock.advance(1999);
    await settle();
    const before = deliveries(peer);
    peer.clock.advance(1);
    await settle();
    const atTwo = deliveries(peer);
    peer.clock.advance(2999);
    await settle();
    const beforeFive = deliveries(peer);
    peer.clock.advance(1);
    await settle();
    const atFive = deliveries(peer);
    // Assess
    expect(before).toEqual([]);
    expect(atTwo.map((d) => d.body)).toEqual(["early"]);
    expect(beforeFive).toEqual([]);
    expect(atFive.map((d) => [d.body, d.headers?.["x-delay"]])).toEqual([["late", 5000]]);
  });

  it("the delay header counts on any exchange; above the topic's maximum a RabbitMQ-convention delay is delivered at once", async () => {
    const peer = await channelWithQueue("q", { name: "e", type: "direct" });
    await peer.queue?.groups.putTopic("q", { maxDelayMs: 10_000 });
    peer.send(1, Method.BasicConsume, { queue: "q", consumerTag: "c", noAck: true, arguments: {} });
    await settle();
    peer.methods();
    peer.publish(1, "e", "k", { headers: { delay: "60000" } }, "over-max");
    peer.publish(1, "e", "k", { headers: { delay: "3000" } }, "three");
    await settle();
    expect(deliveries(peer).map((d) => d.body)).toEqual(["over-max"]);
    peer.clock.advance(3000);
    await settle();
    expect(deliveries(peer).map((d) => d.body)).toEqual(["three"]);
  });

  it("x-message-ttl is the queue's TTL counted after the delay; a lower expiration wins; an expired message is never delivered and is a dead letter", async () => {
    // Prepare
    const peer = amqpPeer({ startMs: T0 });
    await peer.handshake();
    peer.send(1, Method.ChannelOpen);
    peer.send(1, Method.QueueDeclare, { queue: "ttl", durable: true, arguments: { "x-message-ttl": 1000 } });
    await settle();
    peer.methods();
    // Act: due at +2000, expiring at +3000 (queue TTL) and at +2500 (its own expiration)
    peer.publish(1, "", "ttl", { headers: { delay: "2000" } }, "queue-ttl");
    peer.publish(1, "", "ttl", { headers: { delay: "2000" }, expiration: "500" }, "own-ttl");
    await settle();
    peer.clock.advance(2700);
    await settle();
    peer.send(1, Method.BasicConsume, { queue: "ttl", consumerTag: "c", noAck: true, arguments: {} });
    await settle();
    const got = deliveries(peer);
    peer.clock.advance(400);
    await settle();
    // Assess
    expect(got.map((d) => d.body)).toEqual(["queue-ttl"]);
    const dead = await peer.queue?.retry.listDeadLetters({ topic: "ttl", group: "amqp" });
    expect(dead?.deadLetters.map((d) => d.reason)).toEqual(["expired"]);
    peer.send(1, Method.QueueDeclare, { queue: "bad-ttl", durable: true, arguments: { "x-message-ttl": "soon" } });
    await settle();
    expect(peer.methods().find((m) => m.id === Method.ChannelClose)?.fields).toMatchObject({ replyCode: 406 });
  });

  it("confirms ack each publish in order once stored; a publish the queue refuses (bad expiration) closes the channel with 406", async () => {
    const peer = await channelWithQueue("q", { name: "e", type: "direct" });
    peer.send(1, Method.ConfirmSelect, { nowait: false });
    peer.publish(1, "e", "k", {}, "a");
    peer.publish(1, "e", "unrouted", {}, "b");
    peer.publish(1, "e", "k", { headers: { delay: "1000" } }, "c");
    await settle();
    expect(peer.methods().map((m) => [m.id, m.fields.deliveryTag])).toEqual([
      [Method.ConfirmSelectOk, undefined],
      [Method.BasicAck, 1],
      [Method.BasicAck, 2],
      [Method.BasicAck, 3],
    ]);
    peer.publish(1, "e", "k", { expiration: "soon" }, "d");
    await settle();
    expect(peer.methods().map((m) => [m.id, m.fields.replyCode ?? m.fields.deliveryTag])).toEqual([
      [Method.BasicNack, 4],
      [Method.ChannelClose, 406],
    ]);
  });

  it("a publish the store could not take is nacked to a confirming publisher; the channel stays open", async () => {
    // Prepare
    let failing = false;
    class FlakyStore extends MemoryStore {
      override async insertMessages(messages: Parameters<MemoryStore["insertMessages"]>[0]): Promise<void> {
        if (failing) throw new Error("ProvisionedThroughputExceededException");
        return super.insertMessages(messages);
      }
    }
    const peer = amqpPeer({ startMs: T0, store: new FlakyStore() });
    await peer.handshake();
    peer.send(1, Method.ChannelOpen);
    peer.send(1, Method.QueueDeclare, { queue: "q", arguments: {} });
    peer.send(1, Method.ConfirmSelect, {});
    await settle();
    peer.methods();
    // Act
    peer.publish(1, "", "q", {}, "stored");
    await settle();
    failing = true;
    peer.publish(1, "", "q", {}, "lost");
    await settle();
    failing = false;
    peer.publish(1, "", "q", {}, "stored again");
    await settle();
    // Assess
    expect(peer.methods().map((m) => [m.id, m.fields.deliveryTag])).toEqual([
      [Method.BasicAck, 1],
      [Method.BasicNack, 2],
      [Method.BasicAck, 3],
    ]);
  });

  it("stores what the JSON API shows: body, string headers, exchange, routing key, message-id as key, properties byte-exact", async () => {
    const peer = await channelWithQueue("q", { name: "e", type: "direct" });
    peer.publish(1, "e", "k", { messageId: "m-1", contentType: "text/plain", headers: { tenant: "acme", n: 7 } }, "hello");
    await settle();
    const [m] = (await peer.queue?.consume({ topic: "q", group: "json" })) ?? [];
    expect(m).toMatchObject({ body: "hello", key: "m-1", tag: "k", properties: { tenant: "acme", n: "7", [AmqpProperty.exchange]: "e", [AmqpProperty.routingKey]: "k" } });
    expect(m?.properties[AmqpProperty.properties]).toBeTypeOf("string");
  });

  it("prefetch bounds unacked deliveries; a closed channel's unacked deliveries come back redelivered on another channel", async () => {
    const peer = await channelWithQueue();
    for (const body of ["1", "2", "3"]) peer.publish(1, "", "q", {}, body);
    await settle();
    peer.send(1, Method.BasicQos, { prefetchCount: 2, prefetchSize: 0, global: false });
    peer.send(1, Method.BasicConsume, { queue: "q", consumerTag: "c", noAck: false, arguments: {} });
    await settle();
    // Messages due in the same millisecond come in no set order (they live in different shards).
    const first = deliveries(peer);
    expect(first).toHaveLength(2);
    peer.send(1, Method.BasicAck, { deliveryTag: 1, multiple: false });
    await settle();
    const third = deliveries(peer);
    expect(third).toHaveLength(1);
    expect([...first, ...third].map((d) => d.body).sort()).toEqual(["1", "2", "3"]);
    const unacked = [first[1]?.body, third[0]?.body].sort();
    peer.send(1, Method.ChannelClose, { replyCode: 200, replyText: "bye", classId: 0, methodId: 0 });
    await settle();
    expect(peer.methods().map((m) => m.id)).toContain(Method.ChannelCloseOk);
    peer.send(2, Method.ChannelOpen);
    peer.send(2, Method.BasicConsume, { queue: "q", consumerTag: "c2", noAck: false, arguments: {} });
    await settle();
    const again = deliveries(peer);
    expect(again.map((d) => [d.body, d.fields.redelivered]).sort()).toEqual(unacked.map((b) => [b, true]));
  });

  it("a held delivery's lease is renewed while its connection lives; a connection that vanishes without a close gives it back after one lease", async () => {
    // Prepare: two connections on one broker and clock, leases of 3 s
    const limits = { deliveryLeaseSeconds: 3 };
    const a = amqpPeer({ startMs: T0, limits });
    const b = amqpPeer({ shared: { broker: a.broker, clock: a.clock }, limits });
    await a.handshake();
    await b.handshake();
    a.send(1, Method.ChannelOpen);
    a.send(1, Method.QueueDeclare, { queue: "lease", arguments: {} });
    await settle();
    a.publish(1, "", "lease", {}, "held");
    a.send(1, Method.BasicConsume, { queue: "lease", consumerTag: "a", noAck: false, arguments: {} });
    await settle();
    expect(deliveries(a).map((d) => d.body)).toEqual(["held"]);
    b.send(1, Method.ChannelOpen);
    b.send(1, Method.BasicConsume, { queue: "lease", consumerTag: "b", noAck: false, arguments: {} });
    await settle();
    // Act: a's ticks renew for 10 s; then a's connection stops ticking, as a crashed door's would
    for (let i = 0; i < 10; i++) {
      a.clock.advance(1000);
      a.conn.tick(a.clock.nowMs());
      await settle();
    }
    const whileHeld = [...deliveries(a), ...deliveries(b)];
    a.clock.advance(5000);
    await settle();
    // Assess: nobody got it again while a renewed it; once a stopped renewing, it came back (to a consumer still polling)
    expect(whileHeld).toEqual([]);
    expect([...deliveries(a), ...deliveries(b)].map((d) => [d.body, d.fields.redelivered])).toEqual([["held", true]]);
  });

  it("durable exchanges, queues and bindings outlive the door process; transient and exclusive ones do not", async () => {
    // Prepare: a process declares, then stops; another starts on the same table
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const first = amqpPeer({ store, clock });
    await first.handshake();
    first.send(1, Method.ChannelOpen);
    first.send(1, Method.ExchangeDeclare, { exchange: "orders", type: "x-delayed-message", durable: true, arguments: { "x-delayed-type": "direct", n: 5, nested: { a: [1, "x", true] } } });
    first.send(1, Method.ExchangeDeclare, { exchange: "tmp", type: "fanout", durable: false, arguments: {} });
    first.send(1, Method.QueueDeclare, { queue: "jobs", durable: true, arguments: {} });
    first.send(1, Method.QueueDeclare, { queue: "mine", durable: true, exclusive: true, arguments: {} });
    first.send(1, Method.QueueBind, { queue: "jobs", exchange: "orders", routingKey: "k", arguments: {} });
    await settle();
    first.methods();
    first.conn.transportClosed();
    await first.queue?.close();
    // Act
    const second = amqpPeer({ store, clock });
    await second.handshake();
    second.send(1, Method.ChannelOpen);
    second.send(1, Method.BasicConsume, { queue: "jobs", consumerTag: "c", noAck: true, arguments: {} });
    second.publish(1, "orders", "k", { headers: { "x-delay": 1000 } }, "routed after a restart");
    second.send(1, Method.ExchangeDeclare, { exchange: "orders", type: "x-delayed-message", durable: true, arguments: { "x-delayed-type": "direct", n: 5, nested: { a: [1, "x", true] } } });
    await settle();
    clock.advance(1000);
    await settle();
    const got = deliveries(second);
    second.send(1, Method.ExchangeDeclare, { exchange: "tmp", type: "fanout", passive: true, arguments: {} });
    await settle();
    second.send(1, Method.ChannelCloseOk);
    second.send(2, Method.ChannelOpen);
    second.send(2, Method.QueueDeclare, { queue: "mine", passive: true, arguments: {} });
    await settle();
    // Assess: the re-declare was equivalent (arguments kept exactly: channel 1 stayed open for the passive
    // declare's 404), the transient exchange and the exclusive queue are gone
    expect(got.map((d) => d.body)).toEqual(["routed after a restart"]);
    expect(second.methods().map((m) => [m.channel, m.id, m.fields.replyCode])).toEqual([
      [1, Method.ChannelClose, 404],
      [2, Method.ChannelOpenOk, undefined],
      [2, Method.ChannelClose, 404],
    ]);
  });

  it("what one door process declares or deletes, another on the same table sees: at once for names it does not know, within 5 s otherwise", async () => {
    // Prepare: two processes on one table
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const a = amqpPeer({ store, clock });
    const b = amqpPeer({ store, clock });
    await a.handshake();
    await b.handshake();
    a.send(1, Method.ChannelOpen);
    b.send(1, Method.ChannelOpen);
    a.send(1, Method.ExchangeDeclare, { exchange: "events", type: "fanout", durable: true, arguments: {} });
    a.send(1, Method.QueueDeclare, { queue: "audit", durable: true, arguments: {} });
    a.send(1, Method.QueueBind, { queue: "audit", exchange: "events", routingKey: "", arguments: {} });
    await settle();
    // Act: b publishes to an exchange it has never seen, then a unbinds and b publishes again
    b.send(1, Method.ConfirmSelect, {});
    b.publish(1, "events", "", {}, "one");
    await settle();
    a.send(1, Method.QueueUnbind, { queue: "audit", exchange: "events", routingKey: "", arguments: {} });
    await settle();
    b.publish(1, "events", "", {}, "two (still routed: b's copy is fresh)");
    await settle();
    clock.advance(5000);
    b.publish(1, "events", "", {}, "three (routed: the refresh is under way)");
    await settle();
    b.publish(1, "events", "", {}, "four (unrouted)");
    await settle();
    const got = (await a.queue?.consume({ topic: "audit", group: "amqp", max: 10 })) ?? [];
    // Assess
    expect(b.methods().filter((m) => m.id === Method.BasicAck)).toHaveLength(4);
    expect(got.map((m) => m.body.split(" ")[0]).sort()).toEqual(["one", "three", "two"]);
  });

  it("an ack of an unknown delivery tag closes the channel with 406", async () => {
    const peer = await channelWithQueue();
    peer.send(1, Method.BasicAck, { deliveryTag: 99, multiple: false });
    await settle();
    expect(peer.methods()[0]).toMatchObject({ id: Method.ChannelClose, fields: { replyCode: 406 } });
  });

  it("a publish above the body limit closes the channel with 406 before its body is read", async () => {
    const peer = await channelWithQueue();
    const header = Buffer.concat([encodeMethod(1, Method.BasicPublish, { exchange: "", routingKey: "q" })]);
    peer.conn.receive(header);
    const props = Buffer.alloc(7 + 14 + 1);
    props.writeUInt8(2, 0);
    props.writeUInt16BE(1, 1);
    props.writeUInt32BE(14, 3);
    props.writeUInt16BE(60, 7);
    props.writeBigUInt64BE(BigInt(10 * 1024 * 1024), 11);
    props.writeUInt8(0xce, 21);
    peer.conn.receive(props);
    await settle();
    expect(peer.methods()[0]).toMatchObject({ id: Method.ChannelClose, fields: { replyCode: 406 } });
  });
});

describe("AMQP delay and routing rules", () => {
  it("x-delay: integers, truncated floats and numeric strings; at once when missing, ≤ 0, not a number or above 2^32−1", () => {
    expect([5000, 5000.9, "5000", " 250 ", 1, 2 ** 32 - 1].map(xDelayMs)).toEqual([5000, 5000, 5000, 250, 1, 2 ** 32 - 1]);
    expect([0, -5, 0.5, 2 ** 32, "soon", "", null, undefined, Number.NaN, true].map(xDelayMs)).toEqual(Array(10).fill(undefined));
  });

  it("delay: a string (or integer) of non-negative ms on any exchange; x-delay only on a delayed exchange", () => {
    expect(["3000", 3000, "0", "-1", "1.5", "abc"].map(delayHeaderMs)).toEqual([3000, 3000, undefined, undefined, undefined, undefined]);
    expect(publishTiming(false, { delay: "3000" })).toMatchObject({ kind: "delay", delayMs: 3000, source: "header delay", convention: "rabbitmq" });
    expect(publishTiming(false, { "x-delay": 3000 })).toEqual({ kind: "now" });
    expect(publishTiming(true, { "x-delay": 3000, delay: "9000" })).toMatchObject({ kind: "delay", delayMs: 3000, source: "header x-delay" });
    expect(publishTiming(true, { delay: "9000" })).toMatchObject({ kind: "delay", delayMs: 9000 });
    expect(publishTiming(true, { "x-delay": -1 })).toEqual({ kind: "now" });
  });

  it("topic patterns: * one word, # zero or more; headers: x-match all (default) or any", () => {
    expect(topicMatches("order.*.eu", "order.created.eu")).toBe(true);
    expect(topicMatches("order.*.eu", "order.created.big.eu")).toBe(false);
    expect(topicMatches("order.#", "order")).toBe(true);
    expect(topicMatches("#.eu", "a.b.eu")).toBe(true);
    expect(topicMatches("#", "")).toBe(true);
    expect(topicMatches("a.#.b", "a.b")).toBe(true);
    expect(headersMatch({ a: "1", b: "2" }, { a: "1", b: "2", c: "3" })).toBe(true);
    expect(headersMatch({ a: "1", b: "2" }, { a: "1" })).toBe(false);
    expect(headersMatch({ "x-match": "any", a: "1", b: "2" }, { b: "2" })).toBe(true);
    expect(headersMatch({ "x-match": "any", a: "1" }, {})).toBe(false);
  });
});

import amqplib, { type ChannelModel } from "amqplib";
import { AmqpBroker } from "../../core/amqp/broker.js";
import { parseAmqpCredentials } from "../../core/amqp/credentials.js";
import { systemClock } from "../../core/clock.js";
import { silentLogger } from "../../core/ports.js";
import { startAmqpServer } from "../../local/amqp-server.js";
import { type BenchContext, freshQueue } from "../lib/context.js";
import { distribution, round, sleep } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";

export interface AmqpShape {
  messages: number;
  maxDelayMs: number;
  consumers: number;
  prefetch: number;
  /** Messages of the throughput run (no delay). */
  throughputMessages: number;
  /** Unconfirmed publishes the precision run's producer keeps in flight (the JSON precision scenario's 4 producers). */
  precisionWindow: number;
  /** Unconfirmed publishes the throughput run's producer keeps in flight. */
  window: number;
}

export function amqpShape(ctx: BenchContext): AmqpShape {
  return ctx.quick
    ? { messages: 10, maxDelayMs: 400, consumers: 2, prefetch: 16, throughputMessages: 40, precisionWindow: 4, window: 16 }
    : { messages: 1000, maxDelayMs: 10_000, consumers: 4, prefetch: 16, throughputMessages: 3000, precisionWindow: 4, window: 256 };
}

/**
 * The precision and throughput scenarios over the AMQP door, as a RabbitMQ application runs them:
 * amqplib on a real socket to the door (in process, over DynamoDB Local), `x-delay` on an
 * `x-delayed-message` exchange, `basic.consume` with manual acks and prefetch 16, publisher confirms.
 * Lateness = when the consumer's callback ran − the message's deliver time as stored (looked up by its
 * message-id, which is the message's key). The precision run's producer keeps 4 publishes unconfirmed, as the
 * JSON precision scenario runs 4 producers: a deeper window (the throughput run's 256) puts that many
 * writes ahead of every delivery's requests on the one DynamoDB Local, and the messages due while it
 * drains are late by the queue's length (measured: p90 700 ms, p99 1.2 s with 256).
 */
export async function amqpScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const shape = amqpShape(ctx);
  const q = await freshQueue(ctx);
  const stopSweeper = q.startSweeper(ctx.sweepEveryMs);
  const server = await startAmqpServer({ broker: new AmqpBroker(q.runtime.queue, silentLogger, { store: q.runtime.store }), clock: systemClock, log: silentLogger, users: parseAmqpCredentials(undefined), port: 0 });
  const url = `amqp://guest:guest@127.0.0.1:${server.port}/`;
  const connections: ChannelModel[] = [];
  const connect = async () => {
    const c = await amqplib.connect(url);
    c.on("error", () => {});
    connections.push(c);
    return c;
  };
  try {
    const setup = await (await connect()).createChannel();
    await setup.assertExchange("bench.delayed", "x-delayed-message", { durable: true, arguments: { "x-delayed-type": "direct" } });
    await setup.assertQueue("bench-precision", { durable: true });
    await setup.bindQueue("bench-precision", "bench.delayed", "p");
    await setup.assertQueue("bench-throughput", { durable: true });

    // Precision: consumers first, then the publishes with delays uniform in [0, maxDelay].
    const received = new Map<string, number>();
    let duplicates = 0;
    for (let i = 0; i < shape.consumers; i++) {
      const ch = await (await connect()).createChannel();
      await ch.prefetch(shape.prefetch);
      await ch.consume("bench-precision", (m) => {
        if (!m) return;
        const at = Date.now();
        const id = m.properties.messageId as string;
        if (received.has(id)) duplicates++;
        else received.set(id, at);
        ch.ack(m);
      });
    }
    const producer = await (await connect()).createConfirmChannel();
    const bar = ctx.bar("amqp precision", shape.messages);
    for (let i = 0; i < shape.messages; i++) {
      producer.publish("bench.delayed", "p", Buffer.from(`m${i}`), { messageId: `p-${i}`, headers: { "x-delay": Math.floor(Math.random() * shape.maxDelayMs) } });
      if (i % shape.precisionWindow === shape.precisionWindow - 1) await producer.waitForConfirms();
    }
    await producer.waitForConfirms();
    const deadline = Date.now() + shape.maxDelayMs + 30_000;
    while (received.size < shape.messages && Date.now() < deadline) {
      bar.set(received.size);
      await sleep(50);
    }
    bar.set(received.size);
    bar.finish();
    const lateness: number[] = [];
    let early = 0;
    for (const [key, atMs] of received) {
      const [id] = await q.store.messageIdsByKey("bench-precision", key);
      const stored = id === undefined ? undefined : (await q.store.readMessages("bench-precision", [id])).get(id);
      if (!stored) continue;
      const late = atMs - stored.content.deliverAtMs;
      if (late < 0) early++;
      lateness.push(late);
    }
    const d = distribution(lateness);
    const missing = shape.messages - received.size;

    // Throughput: publish-confirm rate with `window` unconfirmed publishes in flight.
    const tp = await (await connect()).createConfirmChannel();
    const t0 = performance.now();
    for (let i = 0; i < shape.throughputMessages; i++) {
      tp.sendToQueue("bench-throughput", Buffer.from(`t${i}`));
      if (i % shape.window === shape.window - 1) await tp.waitForConfirms();
    }
    await tp.waitForConfirms();
    const seconds = (performance.now() - t0) / 1000;
    const rate = round(shape.throughputMessages / seconds, 0);
    return {
      name: "amqp",
      title: "Precision and throughput over AMQP",
      method: `amqplib over a real socket to the AMQP door (in process, on DynamoDB Local): ${shape.messages} messages with x-delay uniform in [0, ${shape.maxDelayMs}] ms on an x-delayed-message exchange, ${shape.consumers} consumers (basic.consume, manual ack, prefetch ${shape.prefetch}), the producer keeping ${shape.precisionWindow} publishes unconfirmed; lateness = consumer callback − stored deliver time. Throughput: ${shape.throughputMessages} publishes with confirms, ${shape.window} unconfirmed in flight, one channel.`,
      repetitions: 1,
      rows: [
        { scenario: "amqp", metric: "early deliveries", target: "0", measured: String(early), pass: early === 0 },
        { scenario: "amqp", metric: "lateness p50 / p90", target: "—", measured: `${round(d.p50, 1)} / ${round(d.p90, 1)} ms`, pass: null },
        { scenario: "amqp", metric: "lateness p99", target: "≤ 100 ms", measured: `${round(d.p99, 1)} ms`, pass: d.p99 <= 100 },
        { scenario: "amqp", metric: "lost / duplicate", target: "0 / 0", measured: `${missing} / ${duplicates}`, pass: missing === 0 && duplicates === 0 },
        { scenario: "amqp", metric: "publish-confirm throughput", target: "—", measured: `${rate} msg/s`, pass: null },
      ],
      data: { shape, lateness: d, early, missing, duplicates, confirmsPerSecond: rate },
    };
  } finally {
    for (const c of connections) await c.close().catch(() => undefined);
    await server.drain(1000);
    stopSweeper();
    await q.runtime.queue.close();
  }
}

import { AmqpBroker } from "../../core/amqp/broker.js";
import { type BasicProperties, type Frame, FrameType, Method, PROTOCOL_HEADER, encodeBody, encodeHeader, encodeMethod, readFrame } from "../../core/amqp/codec.js";
import { type AmqpLimits, AmqpConnection } from "../../core/amqp/engine.js";
import { ManualClock } from "../../core/clock.js";
import { MemoryStore } from "../../core/memory-store.js";
import { type QueueStore, silentLogger } from "../../core/ports.js";
import { buildRuntime } from "../../lambda/composition.js";

/** Lets every pending promise and immediate run (the engine's async steps over the memory store). */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A peer talking to one AmqpConnection without a socket: frames in through `receive`, the engine's
 * output parsed back into frames. Over the memory store and a manual clock.
 */
export function amqpPeer(
  options: {
    startMs?: number;
    limits?: Partial<AmqpLimits>;
    env?: Record<string, string>;
    /** The store (another process on the same table, when shared with another peer's). */
    store?: QueueStore;
    clock?: ManualClock;
    /** The same broker and clock as another peer: another connection to the same door process. */
    shared?: { broker: AmqpBroker; clock: ManualClock };
  } = {},
) {
  const clock = options.shared?.clock ?? options.clock ?? new ManualClock(options.startMs ?? Date.UTC(2026, 11, 1));
  const runtime = options.shared ? undefined : buildRuntime({ env: options.env ?? {}, log: silentLogger, store: options.store ?? new MemoryStore(), clock });
  const broker =
    options.shared?.broker ??
    new AmqpBroker((runtime as NonNullable<typeof runtime>).queue, silentLogger, { store: (runtime as NonNullable<typeof runtime>).store, clock });
  let out: Buffer = Buffer.alloc(0);
  let raw: Buffer = Buffer.alloc(0);
  let ended = false;
  let paused = false;
  const conn = new AmqpConnection({
    broker,
    clock,
    log: silentLogger,
    authenticate: (u, p) => u === "guest" && p === "guest",
    write: (b) => {
      out = Buffer.concat([out, b]);
      raw = Buffer.concat([raw, b]);
    },
    end: () => {
      ended = true;
    },
    pause: (p) => {
      paused = p;
    },
    ...(options.limits && { limits: options.limits }),
  });
  const peer = {
    clock,
    broker,
    conn,
    queue: runtime?.queue,
    ended: () => ended,
    paused: () => paused,
    /** Every byte the engine wrote so far. */
    raw: () => raw,
    /** The frames written since the last call (the protocol header, if written, is skipped). */
    frames(): Frame[] {
      if (out.subarray(0, 4).toString("latin1") === "AMQP") out = out.subarray(8);
      const frames: Frame[] = [];
      for (;;) {
        const r = readFrame(out, 1 << 20);
        if (!r) break;
        frames.push(r.frame);
        out = r.rest;
      }
      return frames;
    },
    /** Method frames since the last call, as [id, fields]. */
    methods(): { channel: number; id: number; fields: Record<string, unknown> }[] {
      return peer.frames().flatMap((f) => (f.type === FrameType.Method ? [{ channel: f.channel, id: f.id, fields: f.fields }] : []));
    },
    send(channel: number, id: number, fields: Record<string, unknown> = {}): void {
      conn.receive(encodeMethod(channel, id, fields));
    },
    publish(channel: number, exchange: string, routingKey: string, properties: BasicProperties, body: Buffer | string, extra: { mandatory?: boolean } = {}): void {
      const content = typeof body === "string" ? Buffer.from(body) : body;
      conn.receive(
        Buffer.concat([
          encodeMethod(channel, Method.BasicPublish, { exchange, routingKey, mandatory: extra.mandatory ?? false, immediate: false }),
          encodeHeader(channel, content.length, properties),
          ...(content.length > 0 ? [encodeBody(channel, content)] : []),
        ]),
      );
    },
    async handshake(tune: { frameMax?: number; channelMax?: number; heartbeat?: number } = {}, login = { user: "guest", password: "guest" }, vhost = "/"): Promise<void> {
      conn.receive(PROTOCOL_HEADER);
      peer.send(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: "PLAIN", response: Buffer.from(`\0${login.user}\0${login.password}`), locale: "en_US" });
      peer.send(0, Method.ConnectionTuneOk, { channelMax: tune.channelMax ?? 0, frameMax: tune.frameMax ?? 131_072, heartbeat: tune.heartbeat ?? 0 });
      peer.send(0, Method.ConnectionOpen, { virtualHost: vhost, capabilities: "", insist: false });
      await settle();
    },
  };
  return peer;
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameError, FrameType, Method, PROTOCOL_HEADER, encodeBody, encodeHeader, encodeMethod, readFrame } from "../../core/amqp/codec.js";
import { amqpPeer, settle } from "../support/amqp-peer.js";
import { FUZZ_SEED, fuzzParameters } from "../support/fuzz.js";

/**
 * Fuzz of the frame reader and the protocol engine: arbitrary bytes, and plausible sessions of frames
 * with arbitrary fields, mutated (bytes flipped, cut, inserted) and split at arbitrary points. The engine
 * never throws out of `receive`, leaves no rejected promise behind, writes only well-formed frames, and
 * ends every session either still running or closing with connection.close (or the protocol header).
 */

console.log(`AMQP fuzz seed ${FUZZ_SEED} (FUZZ_SEED=${FUZZ_SEED} reproduces)`);

const shortStr = fc.oneof(fc.constantFrom("", "q", "x", "amq.direct", "amq.gen-x", "k", "d"), fc.string({ maxLength: 12 }));
const table = fc.oneof(
  fc.constant({}),
  fc.dictionary(fc.constantFrom("x-delay", "delay", "x-delayed-type", "x-match", "a"), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.boolean()), { maxKeys: 3 }),
);

/** One frame a client could send after the handshake (some fields out of range on purpose). */
const frameArb: fc.Arbitrary<readonly Buffer[]> = fc.oneof<fc.Arbitrary<readonly Buffer[]>[]>(
  fc.record({ ch: fc.integer({ min: 0, max: 3 }) }).map(({ ch }) => [encodeMethod(ch, Method.ChannelOpen, {})]),
  fc.record({ ch: fc.integer({ min: 0, max: 3 }), ex: shortStr, type: fc.constantFrom("direct", "fanout", "topic", "headers", "x-delayed-message", "bogus"), args: table }).map(({ ch, ex, type, args }) => [
    encodeMethod(ch, Method.ExchangeDeclare, { exchange: ex, type, durable: false, arguments: args }),
  ]),
  fc.record({ ch: fc.integer({ min: 0, max: 3 }), q: shortStr, exclusive: fc.boolean(), passive: fc.boolean() }).map(({ ch, q, exclusive, passive }) => [
    encodeMethod(ch, Method.QueueDeclare, { queue: q, exclusive, passive, arguments: {} }),
  ]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), q: shortStr, ex: shortStr, rk: shortStr, args: table }).map(({ ch, q, ex, rk, args }) => [
    encodeMethod(ch, Method.QueueBind, { queue: q, exchange: ex, routingKey: rk, arguments: args }),
  ]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), ex: shortStr, rk: shortStr, headers: table, body: fc.uint8Array({ maxLength: 64 }), mandatory: fc.boolean(), size: fc.option(fc.integer({ min: 0, max: 100 })) }).map(
    ({ ch, ex, rk, headers, body, mandatory, size }) => [
      encodeMethod(ch, Method.BasicPublish, { exchange: ex, routingKey: rk, mandatory }),
      encodeHeader(ch, size ?? body.length, { headers }),
      ...(body.length > 0 ? [encodeBody(ch, Buffer.from(body))] : []),
    ],
  ),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), q: shortStr, noAck: fc.boolean(), tag: shortStr }).map(({ ch, q, noAck, tag }) => [
    encodeMethod(ch, Method.BasicConsume, { queue: q, consumerTag: tag, noAck, arguments: {} }),
  ]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), q: shortStr }).map(({ ch, q }) => [encodeMethod(ch, Method.BasicGet, { queue: q, noAck: false })]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), tag: fc.integer({ min: 0, max: 5 }), multiple: fc.boolean(), requeue: fc.boolean(), which: fc.constantFrom(Method.BasicAck, Method.BasicNack, Method.BasicReject) }).map(
    ({ ch, tag, multiple, requeue, which }) => [encodeMethod(ch, which, { deliveryTag: tag, multiple, requeue })],
  ),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 0, max: 5 }) }).map(({ ch, n }) => [encodeMethod(ch, Method.BasicQos, { prefetchCount: n, prefetchSize: 0, global: false })]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }) }).map(({ ch }) => [encodeMethod(ch, Method.ConfirmSelect, { nowait: false })]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), tag: shortStr }).map(({ ch, tag }) => [encodeMethod(ch, Method.BasicCancel, { consumerTag: tag })]),
  fc.record({ ch: fc.integer({ min: 0, max: 3 }) }).map(({ ch }) => [encodeMethod(ch, Method.ChannelClose, { replyCode: 200, replyText: "", classId: 0, methodId: 0 })]),
  fc.record({ ch: fc.integer({ min: 0, max: 3 }) }).map(({ ch }) => [encodeMethod(ch, Method.ChannelCloseOk, {})]),
  fc.record({ ch: fc.integer({ min: 0, max: 3 }), q: shortStr }).map(({ ch, q }) => [encodeMethod(ch, Method.QueueDelete, { queue: q })]),
  fc.constant([encodeMethod(0, Method.ConnectionClose, { replyCode: 200, replyText: "", classId: 0, methodId: 0 })]),
  fc.constant([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce])]),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => [Buffer.from(b)]),
);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

function mutate(bytes: Buffer, mutations: readonly fc.Arbitrary<unknown>[] | { kind: string; at: number; value?: number; bytes?: Uint8Array }[]): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations as { kind: string; at: number; value?: number; bytes?: Uint8Array }[]) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === "flip") out[at] = m.value as number;
    else if (m.kind === "cut") out = out.subarray(0, at);
    else out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes as Uint8Array), out.subarray(at)]);
  }
  return out;
}

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(bytes.subarray(from, p));
    from = p;
  }
  parts.push(bytes.subarray(from));
  return parts.filter((p) => p.length > 0);
}

/** Every byte the engine wrote is the protocol header or whole frames; returns the method ids written. */
function writtenMethods(raw: Buffer): number[] {
  let rest = raw.subarray(0, 8).equals(PROTOCOL_HEADER) ? raw.subarray(8) : raw;
  const ids: number[] = [];
  for (;;) {
    const r = readFrame(rest, 1 << 20);
    if (!r) break;
    if (r.frame.type === FrameType.Method) ids.push(r.frame.id);
    rest = r.rest;
  }
  expect(rest.length).toBe(0);
  return ids;
}

describe("AMQP fuzz: the frame reader", () => {
  it("arbitrary bytes give a frame, 'more bytes needed' or a FrameError — nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 8, max: 4096 }), (bytes, max) => {
        try {
          readFrame(Buffer.from(bytes), max);
        } catch (error) {
          expect(error).toBeInstanceOf(FrameError);
        }
      }),
      fuzzParameters(2000),
    );
  });
});

describe("AMQP fuzz: the engine", () => {
  it("arbitrary bytes before, during and after the handshake never throw and end in a close or keep running", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0, 1, 2, 3), async (bytes, stage) => {
        const peer = amqpPeer();
        if (stage > 0) peer.conn.receive(PROTOCOL_HEADER);
        if (stage > 1) peer.send(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: "PLAIN", response: Buffer.from("\0guest\0guest"), locale: "en_US" });
        if (stage > 2) {
          peer.send(0, Method.ConnectionTuneOk, { channelMax: 0, frameMax: 4096, heartbeat: 0 });
          peer.send(0, Method.ConnectionOpen, { virtualHost: "/" });
        }
        expect(() => peer.conn.receive(Buffer.from(bytes))).not.toThrow();
        await settle(5);
        const ids = writtenMethods(peer.raw());
        const state = peer.conn.status.state;
        expect(["header", "start", "tune", "open", "opening", "running", "closing", "closed"]).toContain(state);
        if (state === "closing" || state === "closed") {
          expect(peer.raw().equals(PROTOCOL_HEADER) || ids.includes(Method.ConnectionClose) || ids.includes(Method.ConnectionCloseOk) || peer.ended()).toBe(true);
        }
      }),
      fuzzParameters(300),
    );
  });

  it("plausible sessions, mutated and split anywhere, never throw; the engine answers with whole frames and closes properly", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { maxLength: 14 }), fc.array(mutation, { maxLength: 3 }), fc.array(fc.nat(), { maxLength: 6 }), async (frames, mutations, cuts) => {
        const peer = amqpPeer();
        await peer.handshake({ frameMax: 4096 });
        const session = mutate(Buffer.concat(frames.flat()), mutations);
        for (const part of split(session, cuts)) expect(() => peer.conn.receive(part)).not.toThrow();
        await settle(10);
        const ids = writtenMethods(peer.raw());
        const state = peer.conn.status.state;
        if (state !== "running") expect(ids.includes(Method.ConnectionClose) || ids.includes(Method.ConnectionCloseOk)).toBe(true);
        // Whatever happened, a close from the peer ends in close-ok — or, when the session left a partial
        // frame behind that the close's bytes now complete into garbage, in a connection.close of its own.
        if (state === "running") {
          peer.send(0, Method.ConnectionClose, { replyCode: 200, replyText: "", classId: 0, methodId: 0 });
          await settle(10);
          const after = writtenMethods(peer.raw());
          expect(after.includes(Method.ConnectionCloseOk) || after.includes(Method.ConnectionClose) || peer.conn.status.state === "running").toBe(true);
          if (after.includes(Method.ConnectionCloseOk)) expect(peer.ended()).toBe(true);
        }
        peer.conn.transportClosed();
        await peer.queue?.close();
      }),
      fuzzParameters(150),
    );
  });
});

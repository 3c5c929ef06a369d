import fc from "fast-check";
import { expect } from "vitest";
import { FrameType, Method, PROTOCOL_HEADER, encodeBody, encodeHeader, encodeMethod, readFrame } from "../../core/amqp/codec.js";

/** Frames a client could send after the handshake, with fields out of range on purpose, and ways to damage a session. */
export const shortStr = fc.oneof(fc.constantFrom("", "q", "x", "amq.direct", "amq.gen-x", "k", "d"), fc.string({ maxLength: 12 }));
export const table = fc.oneof(
  fc.constant({}),
  fc.dictionary(fc.constantFrom("x-delay", "delay", "x-delayed-type", "x-match", "a"), fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.boolean()), { maxKeys: 3 }),
);

/** One frame a client could send after the handshake (some fields out of range on purpose). */
export const frameArb: fc.Arbitrary<readonly Buffer[]> = fc.oneof<fc.Arbitrary<readonly Buffer[]>[]>(
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
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), q: shortStr, dlx: fc.option(fc.oneof(shortStr, fc.integer())), dlrk: fc.option(shortStr), ttl: fc.option(fc.integer({ min: -5, max: 50 })) }).map(({ ch, q, dlx, dlrk, ttl }) => [
    encodeMethod(ch, Method.QueueDeclare, {
      queue: q,
      arguments: { ...(dlx !== null && { "x-dead-letter-exchange": dlx }), ...(dlrk !== null && { "x-dead-letter-routing-key": dlrk }), ...(ttl !== null && { "x-message-ttl": ttl }) },
    }),
  ]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), src: shortStr, dst: shortStr, rk: shortStr, args: table, unbind: fc.boolean() }).map(({ ch, src, dst, rk, args, unbind }) => [
    encodeMethod(ch, unbind ? Method.ExchangeUnbind : Method.ExchangeBind, { source: src, destination: dst, routingKey: rk, arguments: args }),
  ]),
  fc.record({ ch: fc.integer({ min: 1, max: 3 }), q: shortStr }).map(({ ch, q }) => [encodeMethod(ch, Method.QueuePurge, { queue: q })]),
  fc.record({ ch: fc.integer({ min: 0, max: 3 }), which: fc.constantFrom(Method.TxSelect, Method.TxCommit, Method.TxRollback) }).map(({ ch, which }) => [encodeMethod(ch, which, {})]),
  fc.constant([encodeMethod(0, Method.ConnectionClose, { replyCode: 200, replyText: "", classId: 0, methodId: 0 })]),
  fc.constant([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce])]),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => [Buffer.from(b)]),
);

export const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);

export function mutate(bytes: Buffer, mutations: readonly fc.Arbitrary<unknown>[] | { kind: string; at: number; value?: number; bytes?: Uint8Array }[]): Buffer {
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

export function split(bytes: Buffer, cuts: number[]): Buffer[] {
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


/** Every byte the server wrote is the protocol header or whole frames; returns the method ids written, in order. */
export function writtenMethods(raw: Buffer): number[] {
  let rest = raw.subarray(0, 8).equals(PROTOCOL_HEADER) ? raw.subarray(8) : raw;
  const ids: number[] = [];
  for (;;) {
    const r = readFrame(rest, 1 << 20);
    if (!r) break;
    if (r.frame.type === FrameType.Method) ids.push(r.frame.id);
    rest = r.rest;
  }
  expect(rest.length, "a partial frame was written").toBe(0);
  return ids;
}

import { randomUUID } from "node:crypto";
import { type Socket, connect } from "node:net";
import amqplib, { type Channel, type ChannelModel } from "amqplib";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Method, PROTOCOL_HEADER, encodeMethod } from "../../core/amqp/codec.js";
import { type AmqpTestServer, LATE_TOLERANCE_MS, startAmqpTestServer } from "../support/amqp.js";
import { frameArb, mutate, mutation, split, writtenMethods } from "../support/amqp-fuzz.js";
import { FUZZ_SEED, fuzzParameters } from "../support/fuzz.js";
import { waitFor } from "../support/wait.js";

/**
 * The AMQP door over real sockets, on DynamoDB Local: hostile sessions (arbitrary bytes, and plausible
 * frame sequences mutated and split into separate writes) from raw TCP clients while a well-behaved
 * amqplib client keeps publishing and consuming. Every hostile connection gets only whole frames back and
 * ends in a close (or stays usable); the healthy client never notices; the process keeps serving.
 */

console.log(`AMQP socket fuzz seed ${FUZZ_SEED} (FUZZ_SEED=${FUZZ_SEED} reproduces)`);

let server: AmqpTestServer;
let healthy: ChannelModel;
let ch: Channel;
const queue = `healthy-${randomUUID().slice(0, 8)}`;
const received: string[] = [];
const sockets = new Set<Socket>();

beforeAll(async () => {
  server = await startAmqpTestServer();
  healthy = await amqplib.connect(server.url);
  ch = await healthy.createChannel();
  await ch.assertQueue(queue, { durable: true });
  await ch.consume(queue, (m) => {
    if (!m) return;
    received.push(m.content.toString());
    ch.ack(m);
  });
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await healthy?.close().catch(() => undefined);
  await server?.close();
});

const handshake = Buffer.concat([
  PROTOCOL_HEADER,
  encodeMethod(0, Method.ConnectionStartOk, { clientProperties: {}, mechanism: "PLAIN", response: Buffer.from("\0guest\0guest"), locale: "en_US" }),
  encodeMethod(0, Method.ConnectionTuneOk, { channelMax: 0, frameMax: 4096, heartbeat: 0 }),
  encodeMethod(0, Method.ConnectionOpen, { virtualHost: "/" }),
]);

/** Writes the parts with a pause between them, then reads until the server closes or goes quiet. */
async function session(parts: Buffer[], quietMs: number): Promise<{ bytes: Buffer; closedByServer: boolean }> {
  const socket = connect(server.port, "127.0.0.1");
  sockets.add(socket);
  const chunks: Buffer[] = [];
  let closedByServer = false;
  let last = Date.now();
  socket.on("data", (c: Buffer) => {
    chunks.push(c);
    last = Date.now();
  });
  socket.on("error", () => undefined);
  const ended = new Promise<void>((r) =>
    socket.once("close", () => {
      closedByServer = true;
      r();
    }),
  );
  await new Promise<void>((r, j) => {
    socket.once("connect", () => r());
    socket.once("error", j);
  });
  for (const p of parts) {
    if (socket.destroyed) break;
    socket.write(p);
    await new Promise((r) => setTimeout(r, 2));
  }
  const start = Date.now();
  while (!closedByServer && Date.now() - start < 3000 && Date.now() - last < quietMs) await Promise.race([ended, new Promise((r) => setTimeout(r, 20))]);
  const wasClosed = closedByServer;
  socket.destroy();
  sockets.delete(socket);
  return { bytes: Buffer.concat(chunks), closedByServer: wasClosed };
}

async function healthyRoundTrip(tag: string): Promise<void> {
  ch.sendToQueue(queue, Buffer.from(tag));
  await waitFor(() => received.includes(tag), LATE_TOLERANCE_MS, `the healthy client's message ${tag}`);
}

describe("AMQP fuzz over real sockets", () => {
  it("arbitrary bytes at any stage of the handshake: whole frames back, a close, and the healthy client unaffected", async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(0, 1, 4), fc.array(fc.nat(), { maxLength: 4 }), async (bytes, stage, cuts) => {
        const prefix = stage === 0 ? Buffer.alloc(0) : stage === 1 ? PROTOCOL_HEADER : handshake;
        const { bytes: answer } = await session(split(Buffer.concat([prefix, Buffer.from(bytes)]), cuts), 300);
        writtenMethods(answer);
        if (++round % 10 === 0) await healthyRoundTrip(`bytes-${round}`);
      }),
      fuzzParameters(40),
    );
    await healthyRoundTrip("after-bytes");
  }, 600_000);

  it("plausible sessions mutated and split into separate writes: whole frames back, errors answered with closes, and the healthy client unaffected", async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { minLength: 1, maxLength: 12 }), fc.array(mutation, { maxLength: 2 }), fc.array(fc.nat(), { maxLength: 6 }), async (frames, mutations, cuts) => {
        const body = mutate(Buffer.concat(frames.flat()), mutations);
        const { bytes: answer, closedByServer } = await session(split(Buffer.concat([handshake, body]), cuts), 400);
        const ids = writtenMethods(answer);
        // The handshake is answered; a connection the server closed said why first (or answered a close).
        expect(ids.slice(0, 2)).toEqual([Method.ConnectionStart, Method.ConnectionTune]);
        if (closedByServer) expect(ids.includes(Method.ConnectionClose) || ids.includes(Method.ConnectionCloseOk)).toBe(true);
        if (++round % 10 === 0) await healthyRoundTrip(`session-${round}`);
      }),
      fuzzParameters(60),
    );
    await healthyRoundTrip("after-sessions");
    // Every hostile connection is gone from the server (none left half-open behind the fuzz)
    await waitFor(() => server.amqp.connections() === 1, 10_000, "only the healthy connection to remain");
  }, 600_000);
});

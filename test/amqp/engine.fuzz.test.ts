import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameError, Method, PROTOCOL_HEADER, readFrame } from "../../core/amqp/codec.js";
import { amqpPeer, settle } from "../support/amqp-peer.js";
import { frameArb, mutate, mutation, split, writtenMethods } from "../support/amqp-fuzz.js";
import { FUZZ_SEED, fuzzParameters } from "../support/fuzz.js";

/**
 * Fuzz of the frame reader and the protocol engine: arbitrary bytes, and plausible sessions of frames
 * with arbitrary fields, mutated (bytes flipped, cut, inserted) and split at arbitrary points. The engine
 * never throws out of `receive`, leaves no rejected promise behind, writes only well-formed frames, and
 * ends every session either still running or closing with connection.close (or the protocol header).
 */

console.log(`AMQP fuzz seed ${FUZZ_SEED} (FUZZ_SEED=${FUZZ_SEED} reproduces)`);

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

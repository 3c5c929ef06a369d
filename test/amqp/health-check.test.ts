import { connect } from "node:net";
import amqplib from "amqplib";
import { afterAll, describe, expect, it } from "vitest";
import { AmqpBroker } from "../../core/amqp/broker.js";
import { parseAmqpCredentials } from "../../core/amqp/credentials.js";
import { systemClock } from "../../core/clock.js";
import type { Logger } from "../../core/ports.js";
import { buildRuntime } from "../../lambda/composition.js";
import { startAmqpServer } from "../../local/amqp-server.js";
import { freshTable } from "../support/dynamo.js";
import { waitFor } from "../support/wait.js";

/**
 * A Network Load Balancer's TCP health check opens a connection and closes it (with a FIN, or a reset)
 * without sending a byte. The door must treat that as nothing happened: no log line, no connection left
 * open, and the next real client served as before.
 */

const logged: { level: string; event: string }[] = [];
const log: Logger = {
  info: (event) => logged.push({ level: "info", event }),
  warn: (event) => logged.push({ level: "warn", event }),
  error: (event) => logged.push({ level: "error", event }),
};

const table = await freshTable();
const runtime = buildRuntime({ env: { TABLE_NAME: table.tableName }, log, client: table.client });
const amqp = await startAmqpServer({
  broker: new AmqpBroker(runtime.queue, log, { store: runtime.store }),
  clock: systemClock,
  log,
  users: parseAmqpCredentials("svc:pw"),
  port: 0,
  tickMs: 50,
});
afterAll(async () => {
  await amqp.drain(1000);
  await runtime.queue.close();
});

/** Opens a TCP connection, waits until the door has accepted it, then closes it the given way. */
async function probe(close: "end" | "reset"): Promise<void> {
  const socket = connect(amqp.port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  await waitFor(() => amqp.connections() >= 1, 5000, "the door to accept the probe");
  if (close === "end") socket.end();
  else socket.resetAndDestroy();
  await new Promise<void>((resolve) => socket.once("close", () => resolve()));
}

describe("TCP health checks against the door", () => {
  it.each(["end", "reset"] as const)("a connect-then-close (%s) logs nothing and leaves no connection open", async (how) => {
    // Act: what the load balancer does every health-check interval, a few times over.
    for (let i = 0; i < 5; i++) await probe(how);
    await waitFor(() => amqp.connections() === 0, 5000, "the probes' connections to be gone");
    // A tick or two of the heartbeat/handshake timer after the close.
    await new Promise((r) => setTimeout(r, 200));
    // Assess
    expect(amqp.connections()).toBe(0);
    expect(logged).toEqual([]);
  });

  it("a real client is served right after the probes, and nothing above info is logged", async () => {
    for (let i = 0; i < 3; i++) await probe("end");
    const conn = await amqplib.connect(`amqp://svc:pw@127.0.0.1:${amqp.port}/`);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue("after-probes");
    ch.sendToQueue("after-probes", Buffer.from("ok"));
    await ch.waitForConfirms();
    let got: false | { content: Buffer } = false;
    for (let i = 0; i < 50 && !got; i++) got = await ch.get("after-probes", { noAck: true });
    expect(got && got.content.toString()).toBe("ok");
    await conn.close();
    await waitFor(() => amqp.connections() === 0, 5000, "the client's connection to be gone");
    expect(logged.filter((l) => l.level !== "info")).toEqual([]);
  });
});

import amqplib, { type ConsumeMessage } from "amqplib";
import { afterAll, describe, expect, it } from "vitest";
import { LATE_TOLERANCE_MS } from "../support/amqp.js";
import { alive, startLocal, stopAllLocal } from "../support/local-process.js";
import { waitFor } from "../support/wait.js";

/**
 * The AMQP door of `npm start` itself (embedded DynamoDB Local): the printed connection URL, both seed
 * flows from amqplib with only the URL changed, AMQP_CREDENTIALS, and SIGTERM closing AMQP connections
 * with 320 CONNECTION_FORCED while draining.
 */

afterAll(() => stopAllLocal());

describe("npm start: the AMQP door", () => {
  it("prints the connection URL, runs both seed flows, refuses other credentials, closes AMQP connections on SIGTERM, and keeps the durable topology across a restart", async () => {
    // Prepare
    const local = await startLocal({ env: { AMQP_CREDENTIALS: "app:s3cret,ops:0ps" } });
    const url = `amqp://app:s3cret@127.0.0.1:${local.amqpPort}/`;
    expect(local.output()).toContain(`amqp://app:<password>@127.0.0.1:${local.amqpPort}/`);
    const conn = await amqplib.connect(url);
    const closed: string[] = [];
    conn.on("error", (e: Error) => closed.push(e.message));
    conn.on("close", (e?: Error) => closed.push(`close ${e?.message ?? ""}`));
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange("orders", "direct", { durable: true });
    await ch.assertExchange("orders.delayed", "x-delayed-message", { durable: true, arguments: { "x-delayed-type": "direct" } });
    await ch.assertQueue("orders.close", { durable: true });
    await ch.bindQueue("orders.close", "orders", "close");
    await ch.bindQueue("orders.close", "orders.delayed", "close");
    const got: { m: ConsumeMessage; atMs: number }[] = [];
    await ch.consume("orders.close", (m) => {
      if (m) {
        got.push({ m, atMs: Date.now() });
        ch.ack(m);
      }
    });
    // Act
    const sentMs = Date.now();
    ch.publish("orders", "close", Buffer.from("native"), { messageId: "native", headers: { delay: "1000" } });
    ch.publish("orders.delayed", "close", Buffer.from("plugin"), { messageId: "plugin", headers: { "x-delay": 700 } });
    await ch.waitForConfirms();
    await waitFor(() => got.length === 2, 15_000 + LATE_TOLERANCE_MS, "both deliveries");
    // Assess
    const at = Object.fromEntries(got.map((g) => [g.m.properties.messageId, g.atMs - sentMs]));
    expect(at.plugin).toBeGreaterThanOrEqual(700);
    expect(at.native).toBeGreaterThanOrEqual(1000);
    expect(at.native).toBeLessThan(1000 + LATE_TOLERANCE_MS);
    await expect(amqplib.connect(`amqp://guest:guest@127.0.0.1:${local.amqpPort}/`)).rejects.toThrow(/403|ACCESS.REFUSED/);
    const ops = await amqplib.connect(`amqp://ops:0ps@127.0.0.1:${local.amqpPort}/`);
    await ops.close();
    // Act: SIGTERM drains (the data directory stays for the restart below)
    local.child.kill("SIGTERM");
    await waitFor(() => closed.some((c) => c.startsWith("close")), 15_000, "the AMQP connection to be closed by the server");
    await waitFor(() => local.child.exitCode !== null, 20_000, "npm start to exit");
    expect(closed.join(" ")).toMatch(/320|CONNECTION.FORCED/);
    expect(local.output()).toContain('"forcedAmqpConnections":0');
    for (const pid of local.javaPids) await waitFor(() => !alive(pid), 15_000, "DynamoDB Local to stop");

    // Act: npm start again on the same data; the durable topology is there without any declare
    const again = await startLocal({ dataDir: local.dataDir, env: { AMQP_CREDENTIALS: "app:s3cret" } });
    const conn2 = await amqplib.connect(`amqp://app:s3cret@127.0.0.1:${again.amqpPort}/`);
    conn2.on("error", () => {});
    const ch2 = await conn2.createConfirmChannel();
    const after: ConsumeMessage[] = [];
    await ch2.consume("orders.close", (m) => {
      if (m) {
        after.push(m);
        ch2.ack(m);
      }
    });
    const resentMs = Date.now();
    ch2.publish("orders.delayed", "close", Buffer.from("after restart"), { messageId: "restart", headers: { "x-delay": 500 } });
    await ch2.waitForConfirms();
    await waitFor(() => after.length === 1, 15_000 + LATE_TOLERANCE_MS, "the delivery after the restart");
    // Assess
    expect(after[0]?.content.toString()).toBe("after restart");
    expect(Date.now() - resentMs).toBeGreaterThanOrEqual(500);
    await conn2.close();
  }, 300_000);
});

import { type ChildProcess, spawn } from "node:child_process";
import amqplib from "amqplib";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../local/dynamo-local.js";
import { freshTable } from "../support/dynamo.js";
import { waitFor } from "../support/wait.js";

/** local/amqp-main.ts, the door alone as a container runs it, over a DynamoDB table. */

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGKILL");
});

function run(env: Record<string, string>) {
  const base: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of ["AMQP_CREDENTIALS", "TABLE_NAME"]) if (!(k in env)) delete base[k];
  const child = spawn(process.execPath, ["--import", "tsx", "local/amqp-main.ts"], { env: base, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
  return { child, out: () => out };
}

describe("the AMQP door's container entry point", () => {
  it("refuses to start without TABLE_NAME and AMQP_CREDENTIALS, naming both", async () => {
    const p = run({});
    await waitFor(() => p.child.exitCode !== null, 30_000, "the entry point to exit");
    expect(p.child.exitCode).toBe(1);
    expect(p.out()).toMatch(/TABLE_NAME is required.*AMQP_CREDENTIALS is required/);
  });

  it("serves AMQP on the configured port over the table, and drains on SIGTERM", async () => {
    const table = await freshTable();
    const port = await freePort();
    const p = run({ TABLE_NAME: table.tableName, DYNAMODB_ENDPOINT: table.endpoint, AMQP_CREDENTIALS: "svc:pw", AMQP_HOST: "127.0.0.1", AMQP_PORT: String(port) });
    await waitFor(() => p.out().includes("amqp-listening") || p.child.exitCode !== null, 30_000, `the entry point to listen: ${p.out()}`);
    const conn = await amqplib.connect(`amqp://svc:pw@127.0.0.1:${port}/`);
    conn.on("error", () => {});
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue("entry");
    const sentMs = Date.now();
    ch.sendToQueue("entry", Buffer.from("x"), { headers: { delay: "500" } });
    await ch.waitForConfirms();
    let got: false | { content: Buffer } = false;
    while (!got && Date.now() - sentMs < 10_000) got = await ch.get("entry", { noAck: true });
    expect(Date.now() - sentMs).toBeGreaterThanOrEqual(500);
    expect(got && got.content.toString()).toBe("x");
    p.child.kill("SIGTERM");
    await waitFor(() => p.child.exitCode !== null, 15_000, "the entry point to exit");
    expect(p.child.exitCode).toBe(0);
    expect(p.out()).toContain('"forcedConnections":0');
  });
});

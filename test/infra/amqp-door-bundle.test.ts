import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import amqplib from "amqplib";
import { afterAll, describe, expect, it } from "vitest";
import { AMQP_DOOR_BUNDLE_FILE, bundleAmqpDoor } from "../../infra/amqp-door-bundle.js";
import { freePort } from "../../local/dynamo-local.js";
import { freshTable } from "../support/dynamo.js";
import { waitFor } from "../support/wait.js";
import { synthesize } from "./synth.js";

/**
 * What the ECS task runs: the esbuild bundle of local/amqp-main.ts, alone in a directory outside the
 * repository (no node_modules to fall back on), started by plain `node` as the container's command.
 */

const dir = mkdtempSync(join(tmpdir(), "delayq-door-"));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.pid && c.exitCode === null) process.kill(c.pid, "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("the AMQP door's bundle", () => {
  it("is one self-contained file that serves AMQP over the table with credentials as a generated secret's JSON", async () => {
    // Prepare
    const bundle = await bundleAmqpDoor(dir);
    expect(readdirSync(dir)).toEqual([AMQP_DOOR_BUNDLE_FILE]);
    const table = await freshTable();
    const port = await freePort();
    const env: Record<string, string | undefined> = {
      ...process.env,
      TABLE_NAME: table.tableName,
      DYNAMODB_ENDPOINT: table.endpoint,
      AMQP_CREDENTIALS: JSON.stringify({ username: "delayq", password: "Gen3rated" }),
      AMQP_HOST: "127.0.0.1",
      AMQP_PORT: String(port),
      NODE_PATH: undefined,
    };
    // Act: the container's command, from a directory without node_modules.
    const child = spawn(process.execPath, ["--enable-source-maps", bundle], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
    await waitFor(() => out.includes("amqp-listening") || child.exitCode !== null, 30_000, "the bundle to listen");
    expect(out).toContain("amqp-listening");
    const conn = await amqplib.connect(`amqp://delayq:Gen3rated@127.0.0.1:${port}/`);
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange("bundle.delayed", "x-delayed-message", { arguments: { "x-delayed-type": "direct" } });
    await ch.assertQueue("bundle.q");
    await ch.bindQueue("bundle.q", "bundle.delayed", "k");
    const sentMs = Date.now();
    ch.publish("bundle.delayed", "k", Buffer.from("from the bundle"), { headers: { "x-delay": 300 } });
    await ch.waitForConfirms();
    let got: false | { content: Buffer } = false;
    while (!got && Date.now() - sentMs < 15_000) got = await ch.get("bundle.q", { noAck: true });
    // Assess
    expect(Date.now() - sentMs).toBeGreaterThanOrEqual(300);
    expect(got && got.content.toString()).toBe("from the bundle");
    await conn.close();
    child.kill("SIGTERM");
    await waitFor(() => child.exitCode !== null, 15_000, "the bundle to exit");
    expect(child.exitCode).toBe(0);
  });

  it("is what synthesis stages and uploads: a single .mjs file asset, bundled without Docker", () => {
    // Act: a synthesis that bundles (the functions' and the door's assets).
    const synthesized = synthesize({ bundle: true, queue: { amqp: { certificate: "arn:aws:acm:eu-west-1:123456789012:certificate/x" } } });
    try {
      const door = synthesized.stack.queue.amqp!;
      // Assess
      expect(door.bundle.s3ObjectKey).toMatch(/^[0-9a-f]{64}\.mjs$/);
      const staged = join(synthesized.outdir, `asset.${door.bundle.s3ObjectKey}`);
      expect(existsSync(staged) && statSync(staged).isFile()).toBe(true);
      expect(statSync(staged).size).toBeGreaterThan(100_000);
    } finally {
      synthesized.cleanup();
    }
  });
});

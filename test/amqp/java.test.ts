import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AmqpTestServer, LATE_TOLERANCE_MS, startAmqpTestServer } from "../support/amqp.js";
import { waitFor } from "../support/wait.js";

/** The RabbitMQ Java client (Debian's librabbitmq-client-java, which .ci/run installs) running the seed flows unchanged. */
const JAR = "/usr/share/java/amqp-client.jar";
const CLASSPATH = [JAR, "/usr/share/java/slf4j-api.jar", "/usr/share/java/slf4j-nop.jar"];
const missing = ["javac", "java"].filter((tool) => {
  try {
    execFileSync(tool, ["-version"], { stdio: "ignore" });
    return false;
  } catch {
    return true;
  }
});
const absent = [...missing, ...CLASSPATH.filter((p) => !existsSync(p))];
const SOURCE = fileURLToPath(new URL("./java/SeedFlows.java", import.meta.url));
const RETRY_SOURCE = fileURLToPath(new URL("./java/RetryLater.java", import.meta.url));

let server: AmqpTestServer;
let java: ChildProcess | undefined;
let dir: string | undefined;

beforeAll(async () => {
  if (absent.length > 0) return;
  server = await startAmqpTestServer({ credentials: "app:s3cret" });
  dir = mkdtempSync(join(tmpdir(), "delayq-java-"));
  execFileSync("javac", ["-cp", CLASSPATH.join(":"), "-d", dir, SOURCE, RETRY_SOURCE], { stdio: "pipe" });
});

afterAll(async () => {
  if (java?.pid && java.exitCode === null) process.kill(java.pid, "SIGKILL");
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(absent.length > 0)(`the RabbitMQ Java client${absent.length > 0 ? ` (skipped: ${absent.join(", ")} not found; .ci/run installs librabbitmq-client-java)` : ""}`, () => {
  it("runs both seed flows unchanged: every message after its delay and never before, confirms, basic.get with nack, automatic recovery re-declaring its topology", async () => {
    // Prepare
    let out = "";
    java = spawn("java", ["-cp", [dir as string, ...CLASSPATH].join(":"), "SeedFlows", "127.0.0.1", String(server.port), "app", "s3cret", "j" + Date.now()], { stdio: ["pipe", "pipe", "pipe"] });
    java.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    java.stderr?.on("data", (c: Buffer) => (out += c.toString()));
    const delivered = () => [...out.matchAll(/^DELIVERED (\S+) (\S+) (-?\d+) (true|false) (.*)$/gm)].map((m) => ({ flow: m[1], id: m[2], elapsedMs: Number(m[3]), redelivered: m[4] === "true", body: m[5] }));
    // Act: the first part, then a forced close the client recovers from
    await waitFor(() => out.includes("READY-FOR-RECOVERY") || java?.exitCode !== null, 30_000, `the Java program to reach recovery: ${out}`);
    await waitFor(() => delivered().length >= 4 || java?.exitCode !== null, 15_000 + LATE_TOLERANCE_MS, `four deliveries: ${out}`);
    server.amqp.closeConnections("recovery test");
    java.stdin?.write("go\n");
    await waitFor(() => delivered().some((d) => d.id === "r-600") || java?.exitCode !== null, 30_000 + LATE_TOLERANCE_MS, `the delivery after recovery: ${out}`);
    java.stdin?.write("done\n");
    await waitFor(() => java?.exitCode !== null, 15_000, `the Java program to exit: ${out}`);
    // Assess
    expect(out).toContain("CONFIRMED 4");
    expect(out).toContain("RECOVERED");
    expect(out).toContain("DONE");
    expect(java.exitCode).toBe(0);
    const byId = Object.fromEntries(delivered().map((d) => [d.id, d]));
    for (const [id, ms] of [["d-500", 500], ["d-1500", 1500], ["x-700", 700], ["x-1200", 1200], ["r-600", 600]] as const) {
      expect(byId[id]?.elapsedMs, `${id} elapsed`).toBeGreaterThanOrEqual(ms);
      expect(byId[id]?.elapsedMs, `${id} elapsed`).toBeLessThan(ms + LATE_TOLERANCE_MS);
      expect(byId[id]?.body).toBe(`body ${id}`);
    }
    expect([byId["d-500"]?.flow, byId["x-700"]?.flow]).toEqual(["delay", "x-delay"]);
    expect(out).toMatch(/^GET amq\.gen-\S+ false true got$/m);
  }, 180_000);

  it("runs the retry-later pattern (x-message-ttl + dead-letter exchanges, basicReject) reading x-death as Spring AMQP does, and a transaction", async () => {
    // Prepare
    let out = "";
    const child = spawn("java", ["-cp", [dir as string, ...CLASSPATH].join(":"), "RetryLater", "127.0.0.1", String(server.port), "app", "s3cret", "r" + Date.now()], { stdio: ["ignore", "pipe", "pipe"] });
    java = child;
    child.stdout?.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
    // Act
    await waitFor(() => child.exitCode !== null, 60_000 + LATE_TOLERANCE_MS, `the Java program to exit: ${out}`);
    // Assess: two rounds through the wait queue, each after its TTL, the count a Long and the time a Date
    expect(child.exitCode, out).toBe(0);
    const deaths = [...out.matchAll(/^DEATH (\S+) (\S+) (\S+) (\d+) (\d+)$/gm)].map((m) => ({ reason: m[1], countClass: m[2], timeClass: m[3], count: Number(m[4]), elapsedMs: Number(m[5]) }));
    expect(deaths.map((d) => [d.reason, d.countClass, d.timeClass, d.count])).toEqual([
      ["expired", "Long", "Date", 1],
      ["expired", "Long", "Date", 2],
    ]);
    expect(deaths[0]?.elapsedMs).toBeGreaterThanOrEqual(800);
    expect(deaths[1]?.elapsedMs).toBeGreaterThanOrEqual(1600);
    expect(out).toMatch(/^TX committed$/m);
    expect(out).toContain("DONE");
  }, 120_000);
});

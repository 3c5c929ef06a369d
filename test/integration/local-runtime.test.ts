import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "../../local/dynamo-local.js";
import { waitFor } from "../support/wait.js";

const started: { child: ChildProcess; javaPid: number; dir: string }[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `npm start` as a user runs it (one node process with the tsx loader), with embedded DynamoDB Local. */
async function startLocal(): Promise<{ child: ChildProcess; javaPid: number; url: string; output: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), "delayq-local-"));
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env, AMQP_PORT: String(await freePort()) };
  delete env.DYNAMODB_ENDPOINT;
  const child = spawn(process.execPath, ["--import", "tsx", "local/main.ts", "--port", String(port), "--data-dir", dir], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes("listening on") || child.exitCode !== null, 60_000, "npm start to listen");
  const javaPid = Number(/pid (\d+)/.exec(output)?.[1]);
  started.push({ child, javaPid, dir });
  return { child, javaPid, url: `http://127.0.0.1:${port}`, output: () => output };
}

afterEach(() => {
  for (const { child, javaPid, dir } of started.splice(0)) {
    if (child.exitCode === null) child.kill("SIGKILL");
    if (alive(javaPid)) process.kill(javaPid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("npm start", () => {
  it("serves the API, prints a curl example, and stops DynamoDB Local on SIGTERM", async () => {
    const local = await startLocal();
    expect(local.output()).toContain("curl -s -XPOST");
    expect(alive(local.javaPid)).toBe(true);
    expect(await (await fetch(`${local.url}/healthz`)).json()).toEqual({ ok: true });
    local.child.kill("SIGTERM");
    await waitFor(() => local.child.exitCode !== null, 15_000, "npm start to exit");
    await waitFor(() => !alive(local.javaPid), 15_000, "DynamoDB Local to stop");
  }, 90_000);

  it("leaves no Java process behind when the node process is killed outright", async () => {
    const local = await startLocal();
    expect(alive(local.javaPid)).toBe(true);
    local.child.kill("SIGKILL");
    await waitFor(() => !alive(local.javaPid), 15_000, "the watchdog to stop DynamoDB Local");
  }, 90_000);
});

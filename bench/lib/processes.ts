import { type ChildProcess, fork } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { FromWorker, ToWorker, WorkerDelivery, WorkerRun } from "./consumer-worker.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface WorkerResult {
  pid: number;
  meter: Extract<FromWorker, { type: "done" }>["meter"];
  errors: number;
  firstError?: string;
}

/**
 * Consumer processes: bench/lib/consumer-worker.ts bundled once by esbuild (packages from node_modules
 * left external), each a `node` child of its own with an IPC channel. Stopped by their own PIDs.
 */
export class ConsumerProcesses {
  private constructor(
    private readonly children: ChildProcess[],
    readonly pids: number[],
    private readonly dir: string,
  ) {}

  static async start(count: number): Promise<ConsumerProcesses> {
    const dir = resolve(ROOT, ".bench-tmp", `workers-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "consumer-worker.mjs");
    await build({
      entryPoints: [join(ROOT, "bench", "lib", "consumer-worker.ts")],
      outfile: file,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      minify: true,
      mainFields: ["module", "main"],
      banner: { js: "import { createRequire as __benchCreateRequire } from 'node:module'; const require = __benchCreateRequire(import.meta.url);" },
      logLevel: "error",
    });
    const children: ChildProcess[] = [];
    const pids: number[] = [];
    try {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const child = fork(file, [], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe", "ipc"], env: { ...process.env, NODE_NO_WARNINGS: "1" } });
          children.push(child);
          let stderr = "";
          child.stderr?.on("data", (d: Buffer) => {
            stderr = (stderr + d.toString()).slice(-4000);
          });
          await new Promise<void>((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`consumer process did not start in 120 s: ${stderr}`)), 120_000);
            child.once("exit", (code) => rej(new Error(`consumer process exited (${code}) before it was ready: ${stderr}`)));
            child.on("message", (m: FromWorker) => {
              if (m.type !== "ready") return;
              clearTimeout(timer);
              pids.push(m.pid);
              res();
            });
          });
        }),
      );
    } catch (error) {
      for (const c of children) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return new ConsumerProcesses(children, pids, dir);
  }

  /**
   * Starts every process consuming; `onGot` sees each batch a process received (and acked) as it comes.
   * Resolves once all of them are polling.
   */
  async run(spec: Omit<WorkerRun, "type">, onGot: (items: WorkerDelivery[], processIndex: number) => void): Promise<{ stop(): Promise<WorkerResult[]> }> {
    const done: Promise<WorkerResult>[] = [];
    const started: Promise<void>[] = [];
    this.children.forEach((child, i) => {
      const listeners: ((m: FromWorker) => void)[] = [];
      const detach = () => {
        for (const l of listeners) child.off("message", l);
      };
      started.push(
        new Promise((res) => {
          const l = (m: FromWorker) => {
            if (m.type === "started") res();
          };
          listeners.push(l);
          child.on("message", l);
        }),
      );
      const onMessage = (m: FromWorker) => {
        if (m.type === "got") onGot(m.items, i);
      };
      listeners.push(onMessage);
      child.on("message", onMessage);
      done.push(
        new Promise((res, rej) => {
          const l = (m: FromWorker) => {
            if (m.type !== "done") return;
            detach();
            res({ pid: this.pids[i] ?? 0, meter: m.meter, errors: m.errors, ...(m.firstError !== undefined && { firstError: m.firstError }) });
          };
          listeners.push(l);
          child.on("message", l);
          child.once("exit", (code) => rej(new Error(`consumer process ${child.pid} exited (${code}) during a run`)));
        }),
      );
      child.send({ type: "run", ...spec } satisfies ToWorker);
    });
    await Promise.all(started);
    return {
      stop: async () => {
        for (const child of this.children) child.send({ type: "stop" } satisfies ToWorker);
        return Promise.all(done);
      },
    };
  }

  /** Asks each process to exit, then ends any still running by its PID; removes the bundle. */
  async close(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((res) => {
            if (child.exitCode !== null || child.signalCode !== null) return res();
            const timer = setTimeout(() => {
              if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
              res();
            }, 10_000);
            child.once("exit", () => {
              clearTimeout(timer);
              res();
            });
            if (child.connected) child.send({ type: "exit" } satisfies ToWorker);
            else if (child.pid !== undefined) process.kill(child.pid, "SIGTERM");
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

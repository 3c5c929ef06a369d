import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildOptions, build } from "esbuild";
import type { BenchContext } from "../lib/context.js";
import { median, round } from "../lib/stats.js";
import type { ScenarioResult } from "../lib/types.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const HANDLERS = ["publish", "consume", "ack", "sweeper"] as const;

/** esbuild options of a handler's bundle as the stack builds it (infra/queue-function.ts): ESM, minified, node22, @aws-sdk/* left to the runtime. */
export function handlerBuildOptions(name: string): BuildOptions {
  return {
    entryPoints: [join(ROOT, "lambda", `${name}.ts`)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    minify: true,
    mainFields: ["module", "main"],
    external: ["@aws-sdk/*"],
    banner: {
      js: "import { createRequire as __delayqCreateRequire } from 'node:module'; const require = __delayqCreateRequire(import.meta.url);",
    },
    logLevel: "error",
  };
}

async function bundle(name: string, outDir: string): Promise<string> {
  const outfile = join(outDir, name, "index.mjs");
  await build({ ...handlerBuildOptions(name), outfile });
  return outfile;
}

/** Module-init time: a fresh node process imports the bundle (the AWS SDK from node_modules, as the Lambda runtime provides it). */
function importMs(file: string): number {
  const script = `const t0 = performance.now(); await import(${JSON.stringify(`file://${file}`)}); process.stdout.write(String(performance.now() - t0));`;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NODE_NO_WARNINGS: "1" },
  });
  if (out.status !== 0) throw new Error(`importing ${file} failed: ${out.stderr}`);
  return Number(out.stdout);
}

export async function coldStartScenario(ctx: BenchContext): Promise<ScenarioResult> {
  const reps = ctx.quick ? 1 : 7;
  const outDir = resolve(ROOT, ".bench-tmp", `bundles-${process.pid}`);
  mkdirSync(outDir, { recursive: true });
  const bar = ctx.bar("cold start", HANDLERS.length * (reps + 1));
  const handlers: {
    name: string;
    bytes: number;
    kb: number;
    initMs: number;
    initRunsMs: number[];
  }[] = [];
  try {
    for (const name of HANDLERS) {
      const file = await bundle(name, outDir);
      bar.tick();
      const bytes = statSync(file).size;
      const runs: number[] = [];
      for (let r = 0; r < reps; r++) {
        runs.push(importMs(file));
        bar.tick();
      }
      handlers.push({
        name,
        bytes,
        kb: round(bytes / 1024, 1),
        initMs: round(median(runs), 1),
        initRunsMs: runs.map((x) => round(x, 1)),
      });
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  bar.finish();
  const rows: ScenarioResult["rows"] = [];
  for (const h of handlers) {
    rows.push(
      {
        scenario: "cold start",
        metric: `${h.name}: bundle size`,
        target: "≤ 150 KB",
        measured: `${h.kb} KB`,
        pass: h.kb <= 150,
      },
      {
        scenario: "cold start",
        metric: `${h.name}: module init`,
        target: "≤ 150 ms",
        measured: `${h.initMs} ms`,
        pass: h.initMs <= 150,
      },
    );
  }
  return {
    name: "cold-start",
    title: "Cold start",
    method: `Each lambda/<handler>.ts bundled by esbuild with the stack's options (ESM, minified, target node22, @aws-sdk/* external; size of index.mjs without its source map). Module init = time for a fresh \`node\` (${process.version}) process to import the bundle, including loading the external @aws-sdk/* packages from node_modules; median of ${reps} processes per handler.`,
    repetitions: reps,
    rows,
    data: { node: process.version, handlers },
  };
}

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type DynamoLocal, startDynamoLocal } from "../local/dynamo-local.js";
import { type Series, latenessChart } from "./lib/chart.js";
import { makeContext } from "./lib/context.js";
import { machineInfo } from "./lib/machine.js";
import { markdownReport, type Report, textTable } from "./lib/report.js";
import { median } from "./lib/stats.js";
import type { ScenarioResult } from "./lib/types.js";
import { warmUp } from "./lib/warmup.js";
import { amqpScenario } from "./scenarios/amqp.js";
import { coldStartScenario } from "./scenarios/cold-start.js";
import { contentionScenario } from "./scenarios/contention.js";
import { costScenario } from "./scenarios/cost.js";
import { idleScenario } from "./scenarios/idle.js";
import { backlogScenario, precisionScenario } from "./scenarios/precision.js";
import { pushScenario } from "./scenarios/push.js";
import { throughputScenario } from "./scenarios/throughput.js";

export const SCENARIOS = ["precision", "backlog", "throughput", "contention", "cost", "idle", "cold-start", "amqp", "push"] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: readonly ScenarioName[];
  quick: boolean;
  /** Where the JSON, Markdown and PNG go. */
  outDir: string;
  /** Use this DynamoDB (Local) instead of starting one. */
  endpoint?: string;
  progress: boolean;
  reps?: number;
  command?: string;
}

export interface BenchOutcome {
  report: Report;
  files: { json: string; markdown: string; chart?: string };
}

const HELP = `npm run bench [-- options]
  --scenario NAME   run one scenario (repeatable): ${SCENARIOS.join(", ")}
  --quick           a small version of each scenario (a smoke test, not a measurement)
  --reps N          repetitions per measurement (default 3; 1 with --quick)
  --out DIR         where to write <date>.json, .md and .png (default bench/results)
Environment: DYNAMODB_ENDPOINT to use a running DynamoDB Local instead of starting one.`;

/** Runs the chosen scenarios against one DynamoDB Local and writes the report. */
export async function runBench(options: BenchOptions, dynamoLocalLabel = "DynamoDB Local"): Promise<BenchOutcome> {
  if (!options.endpoint) throw new Error("runBench needs a DynamoDB endpoint");
  const ctx = makeContext({
    endpoint: options.endpoint,
    quick: options.quick,
    progress: options.progress,
    ...(options.reps && { reps: options.reps }),
  });
  const startedAt = new Date();
  const machine = machineInfo();
  const results: ScenarioResult[] = [];
  let precisionLateness: Record<string, number[]> | undefined;
  let backlogLateness: number[] | undefined;
  let baselineLateness: number[] | undefined;
  // A smoke run measures nothing, so it skips the warm-up.
  if (!options.quick) ctx.note("▶ warming DynamoDB Local up");
  const warm = options.quick ? undefined : await warmUp(ctx);
  for (const name of SCENARIOS.filter((s) => options.scenarios.includes(s))) {
    ctx.note(`▶ ${name}`);
    const t0 = performance.now();
    const load: number[] = [loadavg()[0] ?? 0];
    const sampler = setInterval(() => load.push(loadavg()[0] ?? 0), 5000);
    try {
      if (name === "precision") {
        const out = await precisionScenario(ctx);
        precisionLateness = out.lateness;
        results.push(out.result);
      } else if (name === "backlog") {
        const out = await backlogScenario(ctx);
        backlogLateness = out.lateness;
        baselineLateness = out.baseline;
        results.push(out.result);
      } else if (name === "throughput") results.push(await throughputScenario(ctx));
      else if (name === "contention") results.push(await contentionScenario(ctx));
      else if (name === "cost") results.push(await costScenario(ctx));
      else if (name === "idle") results.push(await idleScenario(ctx));
      else if (name === "amqp") results.push(await amqpScenario(ctx));
      else if (name === "push") results.push(await pushScenario(ctx));
      else results.push(await coldStartScenario(ctx));
    } finally {
      clearInterval(sampler);
    }
    load.push(loadavg()[0] ?? 0);
    const last = results[results.length - 1];
    if (last) {
      last.seconds = Math.round((performance.now() - t0) / 100) / 10;
      const r2 = (x: number) => Math.round(x * 100) / 100;
      last.loadAverage = { min: r2(Math.min(...load)), median: r2(median(load)), max: r2(Math.max(...load)) };
    }
  }
  const finishedAt = new Date();
  const date = startedAt.toISOString().slice(0, 10);
  const base = `${date}${options.quick ? "-quick" : ""}`;
  mkdirSync(options.outDir, { recursive: true });
  const files: BenchOutcome["files"] = {
    json: join(options.outDir, `${base}.json`),
    markdown: join(options.outDir, `${base}.md`),
  };
  let chart: string | undefined;
  if (precisionLateness || baselineLateness || backlogLateness) {
    const series: Series[] = [];
    const groupColors = ["#1f77b4", "#9467bd", "#17becf", "#8c564b"];
    Object.entries(precisionLateness ?? {}).forEach(([group, values], i) =>
      series.push({ label: `group ${group}`, values, color: groupColors[i % groupColors.length] as string }),
    );
    if (baselineLateness) series.push({ label: "empty table, paired", values: baselineLateness, color: "#2ca02c" });
    if (backlogLateness) series.push({ label: "with backlog", values: backlogLateness, color: "#ff7f0e" });
    chart = `${base}-lateness.png`;
    files.chart = join(options.outDir, chart);
    const drawn = await latenessChart(series, "delayq lateness: receive time − deliver time");
    writeFileSync(files.chart, drawn.png);
    writeFileSync(join(options.outDir, `${base}-lateness.svg`), drawn.svg);
  }
  const report: Report = {
    date,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    command: options.command ?? "npm run bench",
    code: codeVersion(),
    quick: options.quick,
    machine,
    dynamoLocal: dynamoLocalLabel,
    ...(warm && { warmUp: warm }),
    scenarios: results,
    rows: results.flatMap((r) => r.rows),
    ...(chart && { chart }),
  };
  writeFileSync(files.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(files.markdown, markdownReport(report));
  return { report, files };
}

/** The commit measured (BENCH_COMMIT when run from an exported tree), marked when the working tree has changes. */
function codeVersion(): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    const git = (...args: string[]) =>
      execFileSync("git", args, {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const head = git("rev-parse", "--short", "HEAD");
    return git("status", "--porcelain", "--untracked-files=no").length > 0 ? `${head}+changes` : head;
  } catch {
    return "unknown";
  }
}

function parseArgs(argv: readonly string[]): BenchOptions & { help: boolean } {
  const scenarios: ScenarioName[] = [];
  let quick = false;
  let help = false;
  let reps: number | undefined;
  let outDir = resolve(fileURLToPath(new URL(".", import.meta.url)), "results");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") quick = true;
    else if (a === "--help" || a === "-h") help = true;
    else if (a === "--scenario") {
      const name = argv[++i] as ScenarioName;
      if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario "${name}"; one of ${SCENARIOS.join(", ")}`);
      scenarios.push(name);
    } else if (a === "--reps") reps = Number(argv[++i]);
    else if (a === "--out") outDir = resolve(argv[++i] ?? ".");
    else throw new Error(`unknown option "${a}"\n${HELP}`);
  }
  return {
    scenarios: scenarios.length > 0 ? scenarios : [...SCENARIOS],
    quick,
    help,
    outDir,
    progress: true,
    ...(reps && reps > 0 && { reps }),
    ...(process.env.DYNAMODB_ENDPOINT && {
      endpoint: process.env.DYNAMODB_ENDPOINT,
    }),
    command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`,
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  if (options.help) {
    console.log(HELP);
    return;
  }
  let dynamo: DynamoLocal | undefined;
  const onSignal = (sig: string) => {
    process.stderr.write(`\n${sig}: stopping DynamoDB Local\n`);
    void (dynamo?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  let label = `DynamoDB at ${options.endpoint}`;
  try {
    if (!options.endpoint) {
      dynamo = await startDynamoLocal();
      options.endpoint = dynamo.endpoint;
      label = "embedded DynamoDB Local (in memory, -sharedDb, JVM -Xmx512m), started by the benchmark";
    }
    const { report, files } = await runBench(options, label);
    console.log(`\n${textTable(report.rows)}\n`);
    console.log(`wrote ${files.json}\n      ${files.markdown}${files.chart ? `\n      ${files.chart}` : ""}`);
  } finally {
    await dynamo?.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Exit when done: an SDK keep-alive socket or a scenario's timer must not keep a finished run alive.
  main().then(
    () => process.exit(process.exitCode ?? 0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

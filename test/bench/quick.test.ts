import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Report } from "../../bench/lib/report.js";
import { runBench, SCENARIOS } from "../../bench/main.js";
import { costCases } from "../../bench/scenarios/cost.js";

const outDir = mkdtempSync(join(tmpdir(), "delayq-bench-"));

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

/** The report's rows of one scenario whose metric matches. */
function rowsOf(report: Report, scenario: string, metric: RegExp) {
  return report.rows.filter((r) => r.scenario === scenario && metric.test(r.metric));
}

describe("npm run bench -- --quick", () => {
  // Figures, not timing: a loaded 2-core machine may run this several times slower than an idle one.
  it("runs a tiny version of every scenario and writes a complete report with every figure next to its target", { timeout: 480_000 }, async () => {
    // Prepare
    const endpoint = inject("dynamoEndpoint");

    // Act
    const { report, files } = await runBench({
      scenarios: [...SCENARIOS],
      quick: true,
      outDir,
      endpoint,
      progress: false,
      command: "quick smoke",
    });

    // Assess: the report's shape
    expect(report.scenarios.map((s) => s.name)).toEqual([...SCENARIOS]);
    for (const scenario of report.scenarios) {
      expect(scenario.rows.length, scenario.name).toBeGreaterThan(0);
      expect(scenario.repetitions, scenario.name).toBeGreaterThanOrEqual(1);
      expect(scenario.method.length, scenario.name).toBeGreaterThan(20);
    }
    for (const row of report.rows) {
      expect(typeof row.metric).toBe("string");
      expect(typeof row.target).toBe("string");
      expect(row.measured, row.metric).not.toMatch(/NaN|undefined|Infinity/);
      expect([true, false, null]).toContain(row.pass);
    }
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.cpuModel.length).toBeGreaterThan(0);

    // Assess: the figures of issue 10, each with a target and a verdict
    const judged = (rows: Report["rows"]) => rows.every((r) => r.pass !== null && r.target !== "—");
    // Cost: write units and requests for every one-group case, and each extra group's write units.
    const oneGroup = costCases().filter((c) => c.groups === 1).length;
    expect(rowsOf(report, "cost", /write units\/msg \(billed; Local reports/)).toHaveLength(oneGroup);
    expect(rowsOf(report, "cost", /DynamoDB requests\/msg/)).toHaveLength(oneGroup);
    expect(judged(rowsOf(report, "cost", /write units\/msg \(billed|DynamoDB requests\/msg/))).toBe(true);
    const extra = rowsOf(report, "cost", /^each extra group/);
    expect(extra).toHaveLength(costCases().filter((c) => c.groups === 3).length);
    expect(judged(extra)).toBe(true);
    expect(rowsOf(report, "cost", /^\$ per million/)).toHaveLength(1);
    // Throughput: the request ratio against N=1 and the share of the raw bound at the highest N, both variants.
    expect(rowsOf(report, "throughput", /requests\/msg vs N=1/).length).toBeGreaterThanOrEqual(2);
    expect(judged(rowsOf(report, "throughput", /requests\/msg vs N=1/))).toBe(true);
    expect(rowsOf(report, "throughput", /share of raw bound/).filter((r) => r.pass !== null)).toHaveLength(2);
    // Contention: failed conditional writes per delivered message and delivery correctness, every lease mode.
    const failed = rowsOf(report, "contention", /failed conditional writes per delivered message/);
    expect(failed).toHaveLength(3);
    expect(judged(failed)).toBe(true);
    expect(rowsOf(report, "contention", /lost \/ redelivered early or after ack/)).toHaveLength(3);
    // Precision: p99 and max for every group (at least two).
    const p99 = rowsOf(report, "precision", /^group .*: lateness p99$/);
    const max = rowsOf(report, "precision", /^group .*: lateness max$/);
    expect(p99.length).toBeGreaterThanOrEqual(2);
    expect(max).toHaveLength(p99.length);
    expect(judged([...p99, ...max])).toBe(true);
    // Sweeper: its per-run cost with many idle topics, against the constant.
    const sweeper = rowsOf(report, "idle", /^sweeper per run, \d+ idle topics/);
    expect(sweeper).toHaveLength(1);
    expect(judged(sweeper)).toBe(true);
    expect(sweeper[0]?.measured).toMatch(/^\d+ requests, [\d.]+ RCU, [\d.]+ WCU per run/);

    // Assess: the files
    const json = JSON.parse(readFileSync(files.json, "utf8")) as Report;
    expect(json.rows).toEqual(report.rows);
    expect(json.quick).toBe(true);
    const markdown = readFileSync(files.markdown, "utf8");
    expect(markdown).toContain("## Results");
    expect(markdown).toContain("| scenario | metric | target | measured | result |");
    expect(markdown).toContain(report.machine.cpuModel);
    expect(files.chart && existsSync(files.chart)).toBe(true);
    const png = readFileSync(files.chart as string);
    expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");

    // Assess: what the data behind the rows holds
    const precision = json.scenarios.find((s) => s.name === "precision")?.data as { missing: number; pooled: { count: number }; byGroup: { group: string }[] };
    expect(precision.missing).toBe(0);
    expect(precision.pooled.count).toBeGreaterThan(0);
    expect(precision.byGroup.length).toBeGreaterThanOrEqual(2);
    const cost = json.scenarios.find((s) => s.name === "cost")?.data as {
      cases: { perMessage: { requests: number; billedWriteUnits: number; writeUnits: number }; byKind: { kind: string }[] }[];
    };
    expect(cost.cases).toHaveLength(costCases().length);
    for (const c of cost.cases) {
      expect(c.perMessage.requests).toBeGreaterThan(0);
      expect(c.perMessage.billedWriteUnits).toBeGreaterThan(0);
      expect(c.byKind.map((k) => k.kind)).toEqual(expect.arrayContaining(["publish (PutItem / BatchWriteItem)", "claim (conditional PutItem)", "ack (conditional UpdateItem)"]));
    }
    const contention = json.scenarios.find((s) => s.name === "contention")?.data as { runs: { lost: number; published: number }[] };
    for (const run of contention.runs) {
      expect(run.published).toBeGreaterThan(0);
      expect(run.lost).toBe(0);
    }
  });
});

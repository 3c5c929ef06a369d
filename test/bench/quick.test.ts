import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Report } from "../../bench/lib/report.js";
import { runBench, SCENARIOS } from "../../bench/main.js";

const outDir = mkdtempSync(join(tmpdir(), "delayq-bench-"));

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

describe("npm run bench -- --quick", () => {
  it("runs a tiny version of every scenario and writes a complete report", {
    timeout: 60_000,
  }, async () => {
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

    // Assess
    expect(report.scenarios.map((s) => s.name)).toEqual([...SCENARIOS]);
    for (const scenario of report.scenarios) {
      expect(scenario.rows.length, scenario.name).toBeGreaterThan(0);
      expect(scenario.repetitions, scenario.name).toBeGreaterThanOrEqual(1);
      expect(scenario.method.length, scenario.name).toBeGreaterThan(20);
    }
    for (const row of report.rows) {
      expect(typeof row.metric).toBe("string");
      expect(typeof row.target).toBe("string");
      expect(row.measured).not.toMatch(/NaN|undefined/);
      expect([true, false, null]).toContain(row.pass);
    }
    expect(report.rows.filter((r) => r.pass !== null).length).toBeGreaterThanOrEqual(10);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.cpuModel.length).toBeGreaterThan(0);

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

    const precision = json.scenarios.find((s) => s.name === "precision");
    const data = precision?.data as {
      missing: number;
      duplicates: number;
      pooled: { count: number };
    };
    expect(data.missing).toBe(0);
    expect(data.pooled.count).toBeGreaterThan(0);
    const cost = json.scenarios.find((s) => s.name === "cost")?.data as {
      cases: { perMessage: { requests: number } }[];
    };
    expect(cost.cases).toHaveLength(8);
    for (const c of cost.cases) expect(c.perMessage.requests).toBeGreaterThan(0);
  });
});

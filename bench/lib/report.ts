import type { MachineInfo } from "./machine.js";
import type { ScenarioResult, TargetRow } from "./types.js";

export interface Report {
  date: string;
  startedAt: string;
  finishedAt: string;
  command: string;
  /** The code measured: a commit, with `+changes` when the working tree differed from it. */
  code: string;
  quick: boolean;
  machine: MachineInfo;
  dynamoLocal: string;
  /** Requests sent to DynamoDB Local before the first scenario, to warm its JVM up. */
  warmUp?: { requests: number; seconds: number };
  scenarios: ScenarioResult[];
  rows: TargetRow[];
  chart?: string;
}

const mark = (pass: boolean | null) => (pass === null ? "info" : pass ? "PASS" : "FAIL");

/** The final table as plain text for the terminal. */
export function textTable(rows: readonly TargetRow[]): string {
  const head = ["scenario", "metric", "target", "measured", "result"];
  const body = rows.map((r) => [r.scenario, r.metric, r.target, r.measured, mark(r.pass)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [fmt(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(fmt)].join("\n");
}

export function markdownTable(rows: readonly TargetRow[]): string {
  let md = "| scenario | metric | target | measured | result |\n|---|---|---|---|---|\n";
  for (const r of rows)
    md += `| ${r.scenario} | ${r.metric} | ${r.target} | ${r.measured} | ${r.pass === null ? "—" : r.pass ? "pass" : "**FAIL**"} |\n`;
  return md;
}

export function markdownReport(report: Report): string {
  const m = report.machine;
  let md = `# delayq benchmark — ${report.date}${report.quick ? " (quick)" : ""}\n\n`;
  md += `- Command: \`${report.command}\`\n`;
  md += `- Code: ${report.code}\n`;
  md += `- Run: ${report.startedAt} → ${report.finishedAt}\n`;
  md += `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB memory, ${m.os}, Node ${m.node}; load average at start ${m.loadAverage1m} (a shared, noisy machine: figures are medians of repetitions)\n`;
  md += `- Store: ${report.dynamoLocal}${report.warmUp ? `; warmed up with ${report.warmUp.requests} requests (${report.warmUp.seconds} s) before the first scenario` : ""}\n`;
  md += `- Repetitions: ${report.scenarios.map((s) => `${s.name} ${s.repetitions}`).join(", ")}\n`;
  md += `- Wall time and load average (1 min, min–max while it ran): ${report.scenarios.map((s) => `${s.name} ${s.seconds ?? "?"} s${s.loadAverage ? ` (${s.loadAverage.min}–${s.loadAverage.max})` : ""}`).join(", ")}\n\n`;
  md += `## Results\n\n${markdownTable(report.rows)}\n`;
  if (report.chart) md += `![lateness distribution](${report.chart})\n\n`;
  for (const s of report.scenarios) {
    md += `## ${s.title}\n\n${s.method}\n\n`;
    if (s.markdown) md += `${s.markdown}\n\n`;
  }
  return md;
}

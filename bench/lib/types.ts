/** One line of the final table: a target, what was measured, and whether it was met (null: informational). */
export interface TargetRow {
  scenario: string;
  metric: string;
  target: string;
  measured: string;
  pass: boolean | null;
}

export interface ScenarioResult {
  name: string;
  title: string;
  /** How the figures were obtained, in a sentence or two, for the report. */
  method: string;
  repetitions: number;
  /** Wall time of the scenario. */
  seconds?: number;
  /** The machine's 1-minute load average, sampled every 5 s while the scenario ran (other work shares it). */
  loadAverage?: { min: number; median: number; max: number };
  rows: TargetRow[];
  /** Everything measured, for the JSON report. */
  data: Record<string, unknown>;
  /** Extra Markdown for the report (tables), optional. */
  markdown?: string;
}

import Table from "cli-table3";

/** How results are shown: tables and sentences for people, JSON for scripts (--json). */
export interface Output {
  json: boolean;
  /** The result of a command: JSON, or `human()` printed for people. */
  result(value: unknown, human: () => string): void;
  /** A line for people on stderr (never mixed into --json output). */
  note(text: string): void;
}

export function output(json: boolean): Output {
  return {
    json,
    result(value, human) {
      process.stdout.write(`${json ? JSON.stringify(value) : human()}\n`);
    },
    note(text) {
      process.stderr.write(`${text}\n`);
    },
  };
}

export function table(head: string[], rows: (string | number | undefined)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map((c) => (c === undefined ? "" : String(c))));
  return t.toString();
}

export function pairs(rows: [string, string | number | boolean | undefined | null][]): string {
  const t = new Table({ style: { head: [], border: [] } });
  for (const [k, v] of rows) if (v !== undefined) t.push({ [k]: v === null ? "—" : String(v) });
  return t.toString();
}

/** 2026-12-24T08:00:00.000Z (in 3.0 s) */
export function when(atMs: number | undefined, nowMs = Date.now()): string {
  if (atMs === undefined) return "";
  return `${new Date(atMs).toISOString()} (${relative(atMs - nowMs)})`;
}

export function relative(deltaMs: number): string {
  const abs = Math.abs(deltaMs);
  const text =
    abs < 1000 ? `${abs} ms` : abs < 60_000 ? `${(abs / 1000).toFixed(1)} s` : abs < 3_600_000 ? `${(abs / 60_000).toFixed(1)} min` : abs < 86_400_000 ? `${(abs / 3_600_000).toFixed(1)} h` : `${(abs / 86_400_000).toFixed(1)} d`;
  return deltaMs >= 0 ? `in ${text}` : `${text} ago`;
}

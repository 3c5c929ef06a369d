import type { Logger } from "./ports.js";

/** One JSON object per line: what CloudWatch Logs Insights and `jq` read. */
export function jsonLogger(base: Record<string, unknown> = {}, minLevel: "info" | "warn" | "error" = "info"): Logger {
  const order = { info: 0, warn: 1, error: 2 } as const;
  const write = (level: keyof typeof order) => (event: string, fields: Record<string, unknown> = {}) => {
    if (order[level] < order[minLevel]) return;
    const line = JSON.stringify({ level, event, time: new Date().toISOString(), ...base, ...fields });
    if (level === "error") console.error(line);
    else console.log(line);
  };
  return { info: write("info"), warn: write("warn"), error: write("error") };
}

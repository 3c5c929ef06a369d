/** "in 3.2 s", "12 min ago": a time relative to now, for people. */
export function relative(atMs: number, nowMs: number = Date.now()): string {
  const d = atMs - nowMs;
  const a = Math.abs(d);
  const text =
    a < 1000 ? `${Math.round(a)} ms` : a < 60_000 ? `${(a / 1000).toFixed(1)} s` : a < 3_600_000 ? `${Math.round(a / 60_000)} min` : a < 86_400_000 ? `${(a / 3_600_000).toFixed(1)} h` : `${(a / 86_400_000).toFixed(1)} d`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

/** A duration in ms for people: "140 ms", "3.2 s", "5 min". */
export function duration(ms: number): string {
  return relative(Date.now() + ms).replace(/^in /, "");
}

export function iso(ms: number | undefined): string {
  return ms === undefined ? "—" : new Date(ms).toISOString().replace(".000Z", "Z");
}

/** The value of an <input type="datetime-local"> for an instant (local time, minutes). */
export function localInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** "30s", "10m", "2h", "1d" or plain ms → ms; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? "ms").toLowerCase();
  const factor = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" || unit === "min" ? 60_000 : unit === "h" ? 3_600_000 : 86_400_000;
  return Math.round(n * factor);
}

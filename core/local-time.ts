import { invalid, quote } from "./errors.js";
import { type Timing, isCalendarDateTime, parseInstant } from "./rules.js";

/** A wall-clock time without offset: `2026-12-01T09:00`, `…T09:00:30`, `…T09:00:30.250`. */
const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;

/** How a wall-clock time was resolved to an instant. */
export const LocalTimeFit = {
  /** The wall-clock time occurs once. */
  Exact: "exact",
  /** It falls in a spring-forward gap: moved forward by the gap's length (02:30 → 03:30). */
  Gap: "gap",
  /** It occurs twice (fall back): the earlier occurrence, at the offset in force before the change. */
  Overlap: "overlap",
} as const;
export type LocalTimeFit = (typeof LocalTimeFit)[keyof typeof LocalTimeFit];

export interface ResolvedLocalTime {
  instantMs: number;
  fit: LocalTimeFit;
}

/** Most zones one process keeps a formatter for (the IANA database has about 600 canonical ids). */
export const ZONE_CACHE_MAX = 1024;

function newFormatter(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/**
 * Formatters by canonical zone id (`Asia/Shanghai`, however the caller spelled it), least recently used
 * first. Bounded: a caller cannot grow it by sending spellings, aliases or offsets.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();
/** Spellings seen (lower-cased) → canonical id; bounded the same way. */
const canonicalIds = new Map<string, string>();

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > ZONE_CACHE_MAX) map.delete(map.keys().next().value as string);
}

/** The cached formatter of a zone, by any spelling the runtime accepts; throws RangeError for an unknown zone. */
function formatter(timeZone: string): Intl.DateTimeFormat {
  const spelling = timeZone.toLowerCase();
  const known = canonicalIds.get(spelling);
  const cached = known === undefined ? undefined : formatters.get(known);
  if (known !== undefined && cached) {
    remember(canonicalIds, spelling, known);
    remember(formatters, known, cached);
    return cached;
  }
  const probe = newFormatter(timeZone);
  const canonical = probe.resolvedOptions().timeZone;
  const f = formatters.get(canonical) ?? probe;
  remember(canonicalIds, spelling, canonical);
  remember(formatters, canonical, f);
  return f;
}

/** How many zones and spellings the formatter cache holds (bounded by ZONE_CACHE_MAX each). */
export function zoneCacheSize(): { zones: number; spellings: number } {
  return { zones: formatters.size, spellings: canonicalIds.size };
}

/**
 * An IANA time zone name the runtime knows (`Asia/Shanghai`, `UTC`, in any letter case), returned in its
 * canonical spelling; 400 otherwise.
 */
export function assertTimeZone(value: unknown, source = "timeZone"): string {
  if (typeof value === "string" && value.length > 0 && value.length <= 64) {
    try {
      return formatter(value).resolvedOptions().timeZone;
    } catch {
      // not a zone the runtime knows: the error below names what to send
    }
  }
  throw invalid(`${source} must be an IANA time zone name such as "Asia/Shanghai" or "UTC"; got ${quote(value)}`);
}

/** The zone's offset from UTC at `instantMs`, in ms (east positive), to the second. */
export function zoneOffsetMs(timeZone: string, instantMs: number): number {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(instantMs))) {
    if (p.type !== "literal") parts[p.type] = Number(p.value);
  }
  const wallAsUtc = Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return wallAsUtc - Math.floor(instantMs / 1000) * 1000;
}

/**
 * The instant a wall-clock time in `timeZone` names. Daylight-saving rules, as java.time and Temporal's
 * "compatible" disambiguation: a time skipped by a spring-forward gap moves forward by the gap's length;
 * a time that occurs twice in a fall-back overlap is the earlier occurrence.
 */
export function resolveLocalTime(wallClock: string, timeZone: string, source = "deliverAt"): ResolvedLocalTime {
  const match = LOCAL_DATE_TIME.exec(wallClock);
  if (!match) {
    throw invalid(
      `${source} with timeZone must be a local date-time without offset, e.g. "2026-12-01T09:00"; got ${quote(wallClock)}`,
    );
  }
  const [, y, mo, d, h, mi, s, frac] = match;
  const fields = [y, mo, d, h, mi, s ?? "0"].map(Number) as [number, number, number, number, number, number];
  const [year, month, day, hour, minute, second] = fields;
  const ms = frac === undefined ? 0 : Number(frac.padEnd(3, "0"));
  const wallAsUtc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (!isCalendarDateTime(year, month, day, hour, minute, second)) {
    throw invalid(`${source} ${quote(wallClock)} is not a valid calendar date and time`);
  }
  const zone = assertTimeZone(timeZone);
  // Offsets in force a day either side cover any single transition near this wall-clock time.
  const before = zoneOffsetMs(zone, wallAsUtc - 86_400_000);
  const after = zoneOffsetMs(zone, wallAsUtc + 86_400_000);
  const candidates = [...new Set([before, after])]
    .map((offset) => wallAsUtc - offset)
    .filter((instant) => instant + zoneOffsetMs(zone, instant) === wallAsUtc)
    .sort((a, b) => a - b);
  const [first] = candidates;
  if (first !== undefined) return { instantMs: first, fit: candidates.length > 1 ? LocalTimeFit.Overlap : LocalTimeFit.Exact };
  return { instantMs: wallAsUtc - before, fit: LocalTimeFit.Gap };
}

/**
 * `deliverAt` of a publish or reschedule: epoch ms or an ISO-8601 instant with offset; with `timeZone`, a
 * local wall-clock time in that zone, resolved by the rules of resolveLocalTime and kept beside the instant.
 */
export function decodeDeliverAt(deliverAt: unknown, timeZone: unknown, source = "deliverAt"): Extract<Timing, { kind: "at" }> {
  if (timeZone === undefined || timeZone === null) return { kind: "at", deliverAtMs: parseInstant(deliverAt, source), source };
  const zone = assertTimeZone(timeZone);
  if (typeof deliverAt !== "string") {
    throw invalid(`${source} with timeZone must be a local date-time string such as "2026-12-01T09:00"; got ${quote(deliverAt)}`);
  }
  const { instantMs } = resolveLocalTime(deliverAt, zone, source);
  return { kind: "at", deliverAtMs: instantMs, source, local: { wallClock: deliverAt, timeZone: zone } };
}

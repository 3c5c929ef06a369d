import { type DelayPolicy, type OverMaxReport, type TimingConvention, applyDelayLimit } from "./delay-limit.js";
import { ErrorCode, QueueError, invalid, quote } from "./errors.js";
import type { LocalDeliverAt, NewMessage } from "./message.js";
import type { LaneEntry } from "./ports.js";

/** Names of topics and groups (also RocketMQ instance ids). */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const LIMITS = {
  bodyBytes: 256 * 1024,
  propertiesBytes: 16 * 1024,
  tagChars: 64,
  keyChars: 128,
  batchMax: 16,
  waitSecondsMax: 30,
  visibilitySecondsMax: 43_200,
} as const;

/** Separates an instance namespace from a topic name in a topic key (`ns~topic`); not allowed in names. */
const NS_SEPARATOR = "~";

export function assertName(kind: "topic" | "group" | "namespace", value: unknown): string {
  if (typeof value !== "string" || !NAME_PATTERN.test(value)) {
    throw invalid(`${kind} must match ${NAME_PATTERN.source} (1-64 letters, digits, '_', '.', '-'); got ${quote(value)}`);
  }
  return value;
}

/** The key a topic is stored under: its name, or `namespace~name` for a RocketMQ instance's topic. */
export function topicKey(name: string, namespace?: string): string {
  assertName("topic", name);
  if (namespace === undefined || namespace === "") return name;
  return `${assertName("namespace", namespace)}${NS_SEPARATOR}${name}`;
}

export function assertTopicKey(key: string): string {
  const parts = key.split(NS_SEPARATOR);
  if (parts.length === 1) return topicKey(key);
  if (parts.length === 2) return topicKey(parts[1] as string, parts[0]);
  throw invalid(`topic ${quote(key)} is not a valid topic`);
}

/**
 * When to deliver, as the caller asked for it (already decoded from its wire form). `convention` names the
 * system whose rule applies beyond the topic's maximum delay (see delay-limit.ts); absent: delayq's (reject).
 */
export type Timing =
  | { kind: "now" }
  | { kind: "delay"; delayMs: number; source: string; convention?: TimingConvention }
  | { kind: "at"; deliverAtMs: number; source: string; local?: LocalDeliverAt; convention?: TimingConvention };

export type { DelayPolicy } from "./delay-limit.js";

/** The effective deliver time, and what the maximum did to it (see applyDelayLimit). A past instant means now. */
export function decideDeliverAt(timing: Timing, nowMs: number, policy: DelayPolicy, topic?: string): { deliverAtMs: number; overMax?: OverMaxReport } {
  if (timing.kind === "now") return { deliverAtMs: nowMs };
  const requestedMs = timing.kind === "delay" ? nowMs + timing.delayMs : timing.deliverAtMs;
  return applyDelayLimit({ source: timing.source, requestedMs, ...(timing.convention && { convention: timing.convention }) }, nowMs, policy, topic);
}

/** The effective deliver time (decideDeliverAt without its report). */
export function resolveDeliverAt(timing: Timing, nowMs: number, policy: DelayPolicy, topic?: string): number {
  return decideDeliverAt(timing, nowMs, policy, topic).deliverAtMs;
}

/** A non-negative integer count of milliseconds, from a JSON number. */
export function parseDelayNumber(value: unknown, source: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${source} must be a non-negative integer number of milliseconds, e.g. 5000; got ${quote(value)}`);
  }
  return value;
}

/** A non-negative integer count of milliseconds, from a header's text (`"5000"`). */
export function parseDelayText(value: string, source: string): number {
  const text = value.trim();
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw invalid(`${source} must be a non-negative integer number of milliseconds, e.g. "5000"; got ${quote(value)}`);
  }
  return Number(text);
}

const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

/**
 * True when the fields name a real calendar date and a time of day: month 1-12, a day that month has
 * (no 2026-02-30), hours 0-23 (no T24:00), minutes and seconds 0-59, offsets up to ±23:59.
 */
export function isCalendarDateTime(year: number, month: number, day: number, hour: number, minute: number, second = 0): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  // Day 0 of the next month is the last day of this one; setUTCFullYear keeps years 0-99 as given.
  const probe = new Date(0);
  probe.setUTCFullYear(year, month, 0);
  return day <= probe.getUTCDate() && hour <= 23 && minute <= 59 && second <= 59;
}

/** `deliverAt`: epoch ms (integer ≥ 0) or an ISO-8601 instant with an offset. */
export function parseInstant(value: unknown, source: string): number {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw invalid(`${source} must be epoch milliseconds (a non-negative integer) or an ISO-8601 instant with offset; got ${value}`);
    }
    return value;
  }
  const match = typeof value === "string" ? ISO_WITH_OFFSET.exec(value) : null;
  if (match) {
    const [y, mo, d, h, mi, s, oh, om] = match.slice(1).map((part) => (part === undefined ? 0 : Number(part))) as number[];
    if (!isCalendarDateTime(y ?? 0, mo ?? 0, d ?? 0, h ?? 0, mi ?? 0, s ?? 0) || (oh ?? 0) > 23 || (om ?? 0) > 59) {
      throw invalid(`${source} ${quote(value)} is not a real calendar date and time (months 01-12, days the month has, hours 00-23, minutes and seconds 00-59); send e.g. "2026-02-28T23:59:59Z"`);
    }
    const ms = Date.parse(value as string);
    if (Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw invalid(
    `${source} must be epoch milliseconds or an ISO-8601 instant with an offset, e.g. "2026-12-01T09:00:00+08:00"; got ${quote(value)}`,
  );
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

export function assertBody(body: unknown): string {
  if (typeof body !== "string") throw invalid(`body is required and must be a string; got ${typeof body}`);
  const bytes = utf8Bytes(body);
  if (bytes > LIMITS.bodyBytes) {
    throw new QueueError(ErrorCode.MessageTooLarge, `body is ${bytes} bytes; the limit is ${LIMITS.bodyBytes} bytes (256 KiB)`);
  }
  return body;
}

export function assertTag(tag: unknown): string | undefined {
  if (tag === undefined || tag === null) return undefined;
  if (typeof tag !== "string" || tag.length === 0 || tag.length > LIMITS.tagChars || tag.includes("|")) {
    throw invalid(`tag must be a string of 1-${LIMITS.tagChars} characters without '|'; got ${quote(tag)}`);
  }
  return tag;
}

export function assertKey(key: unknown): string | undefined {
  if (key === undefined || key === null) return undefined;
  if (typeof key !== "string" || key.length === 0 || key.length > LIMITS.keyChars) {
    throw invalid(`key must be a string of 1-${LIMITS.keyChars} characters; got ${quote(key)}`);
  }
  return key;
}

export function assertProperties(properties: unknown): Record<string, string> {
  if (properties === undefined || properties === null) return {};
  if (typeof properties !== "object" || Array.isArray(properties)) {
    throw invalid("properties must be an object of string values");
  }
  let bytes = 0;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(properties as Record<string, unknown>)) {
    assertPropertyName(k);
    if (typeof v !== "string") throw invalid(`properties[${quote(k)}] must be a string; got ${typeof v}`);
    bytes += utf8Bytes(k) + utf8Bytes(v);
    out[k] = v;
  }
  if (bytes > LIMITS.propertiesBytes) {
    throw invalid(`properties total ${bytes} bytes; the limit is ${LIMITS.propertiesBytes} bytes (16 KiB)`);
  }
  return out;
}

/**
 * A property name is stored and returned exactly as sent, with two exceptions refused with a 400 (never
 * dropped): the empty name (DynamoDB cannot store it) and `__proto__` (JavaScript clients, this server's
 * JSON decoders among them, cannot carry it as a plain key). `constructor`, `toString` and the like are
 * ordinary names.
 */
export function assertPropertyName(name: string): void {
  if (name === "") throw invalid("a property name must not be empty; send 1 or more characters");
  if (name === "__proto__") throw invalid('the property name "__proto__" cannot be stored; rename the property');
}

/** `a||b` → ["a","b"]; empty or `*` → undefined (no filter). */
export function parseTagFilter(filter: unknown): string[] | undefined {
  if (filter === undefined || filter === null || filter === "" || filter === "*") return undefined;
  if (typeof filter !== "string") throw invalid(`tag filter must be a string like "a||b"; got ${typeof filter}`);
  const tags = filter.split("||").map((t) => t.trim()).filter((t) => t.length > 0);
  if (tags.length === 0 || tags.some((t) => t.length > LIMITS.tagChars)) {
    throw invalid(`tag filter must be tags of at most ${LIMITS.tagChars} characters joined by "||"; got ${quote(filter)}`);
  }
  return tags.includes("*") ? undefined : tags;
}

export function matchesTags(tag: string | undefined, filter: readonly string[] | undefined): boolean {
  return filter === undefined || (tag !== undefined && filter.includes(tag));
}

export function assertIntInRange(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer from ${min} to ${max}; got ${quote(value)}`);
  }
  return value;
}

/** Shard of a message: stable, from the random part of its id. */
export function shardOf(messageId: string, shards: number): number {
  let h = 0;
  for (let i = 0; i < messageId.length; i++) h = (h * 31 + messageId.charCodeAt(i)) >>> 0;
  return h % shards;
}

/** Partitions of the sweeper's work index: one query each per run, however many topics exist. */
export const WORK_SHARDS = 4;

/** Work shard of a group's cursors: stable, from the topic and group names. */
export function workShardOf(topic: string, group: string): number {
  return shardOf(`${topic}\n${group}`, WORK_SHARDS);
}

/** A message's entry in its topic's lane (due at its deliver time). */
export function topicLaneEntry(m: NewMessage): LaneEntry {
  return {
    messageId: m.messageId,
    dueAtMs: m.deliverAtMs,
    deliverAtMs: m.deliverAtMs,
    expiresAtMs: m.expiresAtMs,
    ...(m.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: m.ttlExpiresAtMs }),
    ...(m.tag !== undefined && { tag: m.tag }),
    consumedTimes: 0,
  };
}

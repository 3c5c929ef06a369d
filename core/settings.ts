import { DAY_MS, OverMaxDelay, type QueueConfig } from "./config.js";
import { invalid, quote } from "./errors.js";
import { type PushSettings, encodePushTarget, parsePushTarget } from "./push/target.js";
import { LIMITS, parseTagFilter } from "./rules.js";

/**
 * Per-topic and per-group settings. What the store keeps is exactly what a PUT gave (`*Input`: absent
 * fields stay absent); defaults are filled in when read (`resolve*`), so a changed default applies to
 * every topic and group that did not set the field.
 */

export const BackoffMode = { Fixed: "fixed", Exponential: "exponential" } as const;
export type BackoffMode = (typeof BackoffMode)[keyof typeof BackoffMode];

export interface RetryBackoff {
  mode: BackoffMode;
  /** Fixed: every retry waits this long. Exponential: the first retry waits this long, then doubling. */
  baseSeconds: number;
  /** Exponential: no retry waits longer than this. */
  capSeconds: number;
}

export interface TopicSettingsInput {
  maxDelayMs?: number;
  overMaxDelay?: OverMaxDelay;
  messageTtlMs?: number;
  retentionMs?: number;
}

export interface TopicSettings {
  maxDelayMs: number;
  /** The topic's rule beyond the maximum (else the deployment's); undefined: each door's own (delay-limit.ts). */
  overMaxDelay: OverMaxDelay | undefined;
  /** Default TTL of the topic's messages; undefined: no TTL (only retention). */
  messageTtlMs: number | undefined;
  retentionMs: number;
}

export interface GroupSettingsInput {
  visibilitySeconds?: number;
  maxReceiveCount?: number;
  retryBackoff?: RetryBackoff;
  deadLetter?: boolean;
  /** Subscription: the tags this group receives; absent means every message. */
  tagFilter?: string[];
  /** A push group: its target (and, for HTTP, its signing secrets); absent: a pull group. */
  push?: PushSettings;
}

export interface GroupSettings {
  /** undefined: the consume call's, else the door's default (30 s on the JSON API). */
  visibilitySeconds: number | undefined;
  maxReceiveCount: number;
  retryBackoff: RetryBackoff;
  deadLetter: boolean;
  tagFilter: string[] | undefined;
  push: PushSettings | undefined;
}

export interface GroupEntry {
  group: string;
  settings: GroupSettingsInput;
}

export const GROUP_DEFAULTS = {
  maxReceiveCount: 16,
  retryBackoff: { mode: BackoffMode.Fixed, baseSeconds: 0, capSeconds: 0 },
  deadLetter: true,
} as const;

export const SETTINGS_LIMITS = {
  maxDelayMsMax: 366 * DAY_MS,
  messageTtlMsMax: 366 * DAY_MS,
  retentionMsMin: 60_000,
  retentionMsMax: 366 * DAY_MS,
  maxReceiveCountMax: 1000,
  backoffSecondsMax: LIMITS.visibilitySecondsMax,
} as const;

export function resolveTopicSettings(input: TopicSettingsInput | undefined, config: QueueConfig): TopicSettings {
  return {
    maxDelayMs: input?.maxDelayMs ?? config.maxDelayMs,
    overMaxDelay: input?.overMaxDelay ?? config.overMaxDelay,
    messageTtlMs: input?.messageTtlMs,
    retentionMs: input?.retentionMs ?? config.retentionMs,
  };
}

export function resolveGroupSettings(input: GroupSettingsInput | undefined): GroupSettings {
  return {
    visibilitySeconds: input?.visibilitySeconds,
    maxReceiveCount: input?.maxReceiveCount ?? GROUP_DEFAULTS.maxReceiveCount,
    retryBackoff: input?.retryBackoff ?? { ...GROUP_DEFAULTS.retryBackoff },
    deadLetter: input?.deadLetter ?? GROUP_DEFAULTS.deadLetter,
    tagFilter: input?.tagFilter,
    push: input?.push,
  };
}

type Body = Record<string, unknown>;

function onlyKnown(body: Body, known: readonly string[], what: string): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalid(`unknown ${what} field(s) ${unknown.join(", ")}; known fields are ${known.join(", ")}`);
}

const given = (v: unknown) => v !== undefined && v !== null;

function int(body: Body, name: string, min: number, max: number, unit: string): number | undefined {
  const v = body[name];
  if (!given(v)) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`${name} must be an integer number of ${unit} from ${min} to ${max}; got ${quote(v)}`);
  }
  return v;
}

/** The body of `PUT /v1/topics/{topic}`: every field optional, anything else or out of range is 400. */
export function parseTopicSettings(body: Body): TopicSettingsInput {
  onlyKnown(body, ["maxDelayMs", "overMaxDelay", "messageTtlMs", "retentionMs"], "topic setting");
  const out: TopicSettingsInput = {};
  const maxDelayMs = int(body, "maxDelayMs", 0, SETTINGS_LIMITS.maxDelayMsMax, "milliseconds");
  if (maxDelayMs !== undefined) out.maxDelayMs = maxDelayMs;
  const over = body.overMaxDelay;
  if (given(over)) {
    if (over !== OverMaxDelay.DeliverNow && over !== OverMaxDelay.Reject) {
      throw invalid(`overMaxDelay must be "deliver-now", "reject", or null for each door's own rule; got ${quote(over)}`);
    }
    out.overMaxDelay = over;
  }
  const ttl = int(body, "messageTtlMs", 1, SETTINGS_LIMITS.messageTtlMsMax, "milliseconds");
  if (ttl !== undefined) out.messageTtlMs = ttl;
  const retention = int(body, "retentionMs", SETTINGS_LIMITS.retentionMsMin, SETTINGS_LIMITS.retentionMsMax, "milliseconds");
  if (retention !== undefined) out.retentionMs = retention;
  return out;
}

/** The body of `PUT /v1/topics/{topic}/groups/{group}`. */
export function parseGroupSettings(body: Body): GroupSettingsInput {
  onlyKnown(body, ["visibilitySeconds", "maxReceiveCount", "retryBackoff", "deadLetter", "tagFilter", "push"], "group setting");
  const out: GroupSettingsInput = {};
  const visibility = int(body, "visibilitySeconds", 1, LIMITS.visibilitySecondsMax, "seconds");
  if (visibility !== undefined) out.visibilitySeconds = visibility;
  const maxReceive = int(body, "maxReceiveCount", 1, SETTINGS_LIMITS.maxReceiveCountMax, "deliveries");
  if (maxReceive !== undefined) out.maxReceiveCount = maxReceive;
  if (given(body.retryBackoff)) out.retryBackoff = parseRetryBackoff(body.retryBackoff);
  const dl = body.deadLetter;
  if (given(dl)) {
    if (dl === "on" || dl === true) out.deadLetter = true;
    else if (dl === "off" || dl === false) out.deadLetter = false;
    else throw invalid(`deadLetter must be "on" or "off" (or the JSON booleans true and false); got ${quote(dl)}`);
  }
  if (given(body.tagFilter)) {
    const tags = parseTagFilter(body.tagFilter);
    if (tags !== undefined) out.tagFilter = tags;
  }
  if (given(body.push)) out.push = { target: parsePushTarget(body.push) };
  return out;
}

function parseRetryBackoff(value: unknown): RetryBackoff {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`retryBackoff must be an object like {"mode": "exponential", "baseSeconds": 1, "capSeconds": 8}`);
  }
  const body = value as Body;
  onlyKnown(body, ["mode", "baseSeconds", "capSeconds"], "retryBackoff");
  const mode = body.mode ?? BackoffMode.Fixed;
  if (mode !== BackoffMode.Fixed && mode !== BackoffMode.Exponential) {
    throw invalid(`retryBackoff.mode must be "fixed" or "exponential"; got ${quote(mode)}`);
  }
  const max = SETTINGS_LIMITS.backoffSecondsMax;
  const baseSeconds = int(body, "baseSeconds", 0, max, "seconds") ?? 0;
  const capSeconds = int(body, "capSeconds", 0, max, "seconds") ?? (mode === BackoffMode.Fixed ? baseSeconds : max);
  if (capSeconds < baseSeconds) {
    throw invalid(`retryBackoff.capSeconds (${capSeconds}) must be at least baseSeconds (${baseSeconds})`);
  }
  return { mode, baseSeconds, capSeconds };
}

/** The JSON form of resolved settings (GET and PUT answers); `overMaxDelay` null: each door's own rule. */
export function encodeTopicSettings(topic: string, s: TopicSettings) {
  return { topic, maxDelayMs: s.maxDelayMs, overMaxDelay: s.overMaxDelay ?? null, messageTtlMs: s.messageTtlMs ?? null, retentionMs: s.retentionMs };
}

export function encodeGroupSettings(topic: string, group: string, s: GroupSettings, defaultVisibilitySeconds: number) {
  return {
    topic,
    group,
    visibilitySeconds: s.visibilitySeconds ?? defaultVisibilitySeconds,
    maxReceiveCount: s.maxReceiveCount,
    retryBackoff: s.retryBackoff,
    deadLetter: s.deadLetter ? "on" : "off",
    tagFilter: s.tagFilter?.join("||") ?? "*",
    push: s.push ? encodePushTarget(s.push.target) : null,
  };
}

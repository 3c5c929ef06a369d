import type { QueueConfig } from "./config.js";
import { ErrorCode, QueueError, invalid, quote } from "./errors.js";
import { MESSAGE_ID_PATTERN } from "./ids.js";
import {
  CancelOutcome,
  type LanePosition,
  type ManageStore,
  type MessageRecord,
  RescheduleOutcome,
  type ScheduledEntry,
  type ScheduledWindow,
} from "./manage-ports.js";
import type { LocalDeliverAt } from "./message.js";
import type { Clock, MessageStore } from "./ports.js";
import { type Timing, assertIntInRange, assertKey, assertTag, assertTopicKey, parseInstant, resolveDeliverAt } from "./rules.js";
import { SettingsCache } from "./settings-cache.js";
import type { ArrivalSignals } from "./signals.js";

export const LIST_LIMIT = { default: 100, max: 1000 } as const;

/** Forecast windows of the stats: how many fall due within each, from now. */
export const FORECAST_WINDOWS_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 } as const;

export interface CancelResult {
  messageId: string;
  outcome: Exclude<CancelOutcome, "not-found">;
}

export interface RescheduleResult {
  messageId: string;
  outcome: Exclude<RescheduleOutcome, "not-found">;
  deliverAtMs?: number;
  local?: LocalDeliverAt;
}

export interface ListQuery {
  state?: string | null;
  from?: string | null;
  to?: string | null;
  tag?: string | null;
  limit?: string | null;
  cursor?: string | null;
}

export interface ListResult {
  messages: ScheduledEntry[];
  cursor?: string;
}

export interface GroupStats {
  /** Released to the group and visible now: a consumer may take them (first deliveries and redeliveries). */
  ready: number;
  /** Taken by a consumer and invisible until their visibility ends (or acked). */
  inFlight: number;
  /** Size of the group's dead-letter lane; null where the store keeps none. */
  deadLettered: number | null;
  /** Age of the group's oldest ready delivery, 0 when none. */
  oldestReadyAgeMs: number;
}

export interface TopicStats {
  topic: string;
  atMs: number;
  /** Scheduled and not released: in the topic's lanes of the due index, due or not. */
  scheduled: number;
  /** Scheduled messages already due but not yet released to the groups (the next consume or sweep does). */
  dueUnreleased: number;
  /** Age of the oldest due message not yet taken by any consumer, over the topic's and every group's lanes. */
  oldestDueAgeMs: number;
  /** Scheduled messages falling due after now and within the next minute / hour / day / week. */
  dueWithin: Record<keyof typeof FORECAST_WINDOWS_MS, number>;
  groups: Record<string, GroupStats>;
  /** Lanes of the due index read for this answer (each one paginated Query). */
  lanesRead: number;
}

/** One shard's place in a listing: where to continue, or done. */
type ShardCursor = LanePosition | "done" | null;

interface ListCursor {
  v: 1;
  from: number;
  to: number;
  tag?: string;
  shards: ShardCursor[];
}

export interface MessageControlDeps {
  store: MessageStore;
  manage: ManageStore;
  clock: Clock;
  config: QueueConfig;
  signals?: ArrivalSignals;
}

/** Control over a message between publish and delivery: look up, list, count, cancel, reschedule. */
export class MessageControl {
  /** The topic's delay policy and retention, as publish reads them (same cache lifetime). */
  private readonly settings: SettingsCache;

  constructor(private readonly deps: MessageControlDeps) {
    this.settings = new SettingsCache(deps.store, deps.clock, deps.config);
  }

  async cancel(topicKey: string, messageId: unknown): Promise<CancelResult> {
    const topic = assertTopicKey(topicKey);
    const id = assertMessageId(messageId);
    const outcome = await this.deps.manage.cancel(topic, id, this.deps.clock.nowMs());
    if (outcome === CancelOutcome.NotFound) throw notFound(topic, id);
    return { messageId: id, outcome };
  }

  /** Cancels every message published with `key` that still exists; 404 when there is none. */
  async cancelByKey(topicKey: string, key: unknown): Promise<{ key: string; results: CancelResult[] }> {
    const topic = assertTopicKey(topicKey);
    const k = assertKey(key);
    if (k === undefined) throw invalid("key is required: DELETE /v1/topics/{topic}/messages?key=<key>");
    const ids = await this.deps.manage.messageIdsByKey(topic, k);
    const nowMs = this.deps.clock.nowMs();
    const outcomes = await Promise.all(ids.map(async (id) => ({ messageId: id, outcome: await this.deps.manage.cancel(topic, id, nowMs) })));
    const results = outcomes.filter((r): r is CancelResult => r.outcome !== CancelOutcome.NotFound);
    if (results.length === 0) throw new QueueError(ErrorCode.MessageNotExist, `no message with key ${quote(k)} in topic ${topic}`);
    return { key: k, results };
  }

  /** Moves a scheduled message's deliver time; `{kind: "now"}` delivers it now. Same rules as publish. */
  async reschedule(topicKey: string, messageId: unknown, timing: Timing): Promise<RescheduleResult> {
    const topic = assertTopicKey(topicKey);
    const id = assertMessageId(messageId);
    const policy = await this.settings.topic(topic);
    const nowMs = this.deps.clock.nowMs();
    const deliverAtMs = resolveDeliverAt(timing, nowMs, policy);
    const local = timing.kind === "at" ? timing.local : undefined;
    const outcome = await this.deps.manage.reschedule(
      topic,
      id,
      { deliverAtMs, expiresAtMs: deliverAtMs + policy.retentionMs, ...(local && { local }) },
      nowMs,
    );
    if (outcome === RescheduleOutcome.NotFound) throw notFound(topic, id);
    if (outcome !== RescheduleOutcome.Rescheduled) return { messageId: id, outcome };
    this.deps.signals?.notify(topic, deliverAtMs);
    return { messageId: id, outcome, deliverAtMs, ...(local && { local }) };
  }

  /** The message as stored, with the time it was read at (a delivery's visibility is judged against it). */
  async get(topicKey: string, messageId: unknown): Promise<{ record: MessageRecord; nowMs: number }> {
    const topic = assertTopicKey(topicKey);
    const id = assertMessageId(messageId);
    const nowMs = this.deps.clock.nowMs();
    const record = await this.deps.manage.inspect(topic, id);
    if (!record) throw notFound(topic, id);
    return { record, nowMs };
  }

  /**
   * Scheduled messages due in [from, to], in deliver-time order, from the topic's lanes of the due index:
   * each page reads up to `limit` entries per shard and merges them; the cursor holds every shard's place.
   */
  async list(topicKey: string, query: ListQuery): Promise<ListResult> {
    const topic = assertTopicKey(topicKey);
    const state = query.state ?? "scheduled";
    if (state !== "scheduled") throw invalid(`state must be "scheduled" (messages waiting for their deliver time); got ${quote(state)}`);
    const limit = query.limit == null ? LIST_LIMIT.default : assertIntInRange(Number(query.limit), "limit", 1, LIST_LIMIT.max);
    const asked: ScheduledWindow = {
      fromMs: query.from == null ? 0 : parseInstant(/^\d+$/.test(query.from) ? Number(query.from) : query.from, "from"),
      toMs: query.to == null ? Number.MAX_SAFE_INTEGER : parseInstant(/^\d+$/.test(query.to) ? Number(query.to) : query.to, "to"),
      ...(query.tag != null && { tag: assertTag(query.tag) as string }),
    };
    if (asked.fromMs > asked.toMs) throw invalid(`from (${asked.fromMs}) is after to (${asked.toMs}); send from ≤ to`);
    const shards = this.deps.config.shards;
    const cursor = query.cursor == null ? undefined : decodeCursor(query.cursor, shards);
    if (cursor && (cursor.from !== asked.fromMs && query.from != null || cursor.to !== asked.toMs && query.to != null || cursor.tag !== asked.tag && query.tag != null)) {
      throw invalid("cursor belongs to another listing: repeat the query that returned it, or leave from, to and tag out");
    }
    const window: ScheduledWindow = cursor ? { fromMs: cursor.from, toMs: cursor.to, ...(cursor.tag !== undefined && { tag: cursor.tag }) } : asked;
    const positions: ShardCursor[] = cursor?.shards ?? Array.from({ length: shards }, () => null);

    const pages = await Promise.all(
      positions.map(async (position, shard) =>
        position === "done"
          ? undefined
          : this.deps.manage.scheduledPage(topic, shard, window, position ?? undefined, limit),
      ),
    );
    const merged = mergeLanes(pages.map((page) => page?.entries ?? []), limit);
    const next: ShardCursor[] = positions.map((position, shard) => {
      const page = pages[shard];
      if (position === "done" || !page) return "done";
      const taken = merged.filter((m) => m.shard === shard);
      const last = taken[taken.length - 1]?.entry;
      if (taken.length === page.entries.length) return page.next ?? "done";
      return last ? { dueAtMs: last.deliverAtMs, messageId: last.messageId } : position;
    });
    const nowMs = this.deps.clock.nowMs();
    const messages = merged.map((m) => m.entry).filter((e) => e.expiresAtMs > nowMs);
    const more = next.some((p) => p !== "done");
    return {
      messages,
      ...(more && { cursor: encodeCursor({ v: 1, from: window.fromMs, to: window.toMs, ...(window.tag !== undefined && { tag: window.tag }), shards: next }) }),
    };
  }

  /**
   * Counts from the due index: each lane of the topic (one per shard) and of every group (one per group
   * and shard) is read once, in parallel; nothing is kept in counters.
   */
  async stats(topicKey: string): Promise<TopicStats> {
    const topic = assertTopicKey(topicKey);
    const { manage, store, clock, config } = this.deps;
    const nowMs = clock.nowMs();
    const groups = await store.listGroups(topic);
    const windows = Object.entries(FORECAST_WINDOWS_MS) as [keyof typeof FORECAST_WINDOWS_MS, number][];
    const shards = Array.from({ length: config.shards }, (_, s) => s);
    const topicLanes = await Promise.all(
      shards.map((shard) => manage.dueHistogram({ topic, shard }, [nowMs, ...windows.map(([, ms]) => nowMs + ms)])),
    );
    const groupLanes = await Promise.all(
      groups.map((group) => Promise.all(shards.map((shard) => manage.dueHistogram({ topic, shard, group }, [nowMs])))),
    );
    const deadLetters = await Promise.all(groups.map((group) => manage.countDeadLetters?.(topic, group)));
    const age = (earliest: number | undefined) => (earliest !== undefined && earliest <= nowMs ? nowMs - earliest : 0);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const dueUnreleased = sum(topicLanes.map((h) => h.atOrBefore[0] ?? 0));
    const dueWithin = Object.fromEntries(
      windows.map(([name], i) => [name, sum(topicLanes.map((h) => (h.atOrBefore[i + 1] ?? 0) - (h.atOrBefore[0] ?? 0)))]),
    ) as TopicStats["dueWithin"];
    const groupStats: Record<string, GroupStats> = {};
    let oldestDueAgeMs = Math.max(0, ...topicLanes.map((h) => age(h.earliestDueAtMs)));
    groups.forEach((group, i) => {
      const lanes = groupLanes[i] ?? [];
      const ready = sum(lanes.map((h) => h.atOrBefore[0] ?? 0));
      const oldestReadyAgeMs = Math.max(0, ...lanes.map((h) => age(h.earliestDueAtMs)));
      oldestDueAgeMs = Math.max(oldestDueAgeMs, oldestReadyAgeMs);
      groupStats[group] = { ready, inFlight: sum(lanes.map((h) => h.total)) - ready, deadLettered: deadLetters[i] ?? null, oldestReadyAgeMs };
    });
    return {
      topic,
      atMs: nowMs,
      scheduled: sum(topicLanes.map((h) => h.total)),
      dueUnreleased,
      oldestDueAgeMs,
      dueWithin,
      groups: groupStats,
      lanesRead: shards.length * (1 + groups.length) + (manage.countDeadLetters ? groups.length : 0),
    };
  }
}

/**
 * Merges lanes in deliver-time order, taking from each lane a prefix in the lane's own order (so a lane's
 * place can be kept as its last taken entry), up to `limit` entries.
 */
function mergeLanes(lanes: readonly ScheduledEntry[][], limit: number): { entry: ScheduledEntry; shard: number }[] {
  const heads = lanes.map(() => 0);
  const out: { entry: ScheduledEntry; shard: number }[] = [];
  while (out.length < limit) {
    let best: { entry: ScheduledEntry; shard: number } | undefined;
    lanes.forEach((lane, shard) => {
      const entry = lane[heads[shard] ?? 0];
      if (!entry) return;
      if (!best || entry.deliverAtMs < best.entry.deliverAtMs || (entry.deliverAtMs === best.entry.deliverAtMs && entry.messageId < best.entry.messageId)) {
        best = { entry, shard };
      }
    });
    if (!best) break;
    const chosen: { entry: ScheduledEntry; shard: number } = best;
    heads[chosen.shard] = (heads[chosen.shard] ?? 0) + 1;
    out.push(chosen);
  }
  return out;
}

function assertMessageId(value: unknown): string {
  if (typeof value !== "string" || !MESSAGE_ID_PATTERN.test(value)) {
    throw invalid(`messageId must be the 32 upper-case hex characters a publish returned; got ${quote(value)}`);
  }
  return value;
}

function notFound(topic: string, messageId: string): QueueError {
  return new QueueError(ErrorCode.MessageNotExist, `no message ${messageId} in topic ${topic} (never published here, or expired)`);
}

function encodeCursor(cursor: ListCursor): string {
  const shards = cursor.shards.map((p) => (p === null ? 0 : p === "done" ? 1 : [p.dueAtMs, p.messageId]));
  return Buffer.from(JSON.stringify({ ...cursor, shards })).toString("base64url");
}

function decodeCursor(text: string, shardCount: number): ListCursor {
  const bad = () => invalid("cursor is not one this API returned; send the cursor of the previous page unchanged");
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  const c = raw as { v?: unknown; from?: unknown; to?: unknown; tag?: unknown; shards?: unknown };
  const inWindow = (ms: unknown): ms is number => Number.isSafeInteger(ms) && (ms as number) >= (c.from as number) && (ms as number) <= (c.to as number);
  if (c.v !== 1 || !Number.isSafeInteger(c.from) || !Number.isSafeInteger(c.to) || (c.from as number) > (c.to as number) || !Array.isArray(c.shards)) throw bad();
  if (c.tag !== undefined && typeof c.tag !== "string") throw bad();
  if (c.shards.length !== shardCount) throw invalid("the shard count changed since this cursor was made; start the listing again");
  const shards = c.shards.map((p: unknown): ShardCursor => {
    if (p === 0) return null;
    if (p === 1) return "done";
    if (Array.isArray(p) && p.length === 2 && inWindow(p[0]) && typeof p[1] === "string" && MESSAGE_ID_PATTERN.test(p[1])) {
      return { dueAtMs: p[0], messageId: p[1] };
    }
    throw bad();
  });
  return { v: 1, from: c.from as number, to: c.to as number, ...(c.tag !== undefined && { tag: c.tag as string }), shards };
}

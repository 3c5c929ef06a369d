import type { QueueConfig } from "./config.js";
import { ErrorCode, QueueError, invalid, quote } from "./errors.js";
import type { Groups } from "./groups.js";
import { MESSAGE_ID_PATTERN } from "./ids.js";
import type { LocalDeliverAt } from "./message.js";
import type { QueueMetrics } from "./metrics.js";
import {
  CancelOutcome,
  type Clock,
  type Logger,
  type DueHistogram,
  type GroupRecord,
  type LaneEntry,
  type LaneRange,
  type LanePosition,
  type MessageRecord,
  type QueueStore,
  RescheduleOutcome,
} from "./ports.js";
import { type Timing, assertIntInRange, assertKey, assertTag, assertTopicKey, decideDeliverAt, parseInstant } from "./rules.js";

export const LIST_LIMIT = { default: 100, max: 1000 } as const;
/** Groups a topic's stats report on (the first ones by name); per-group figures beyond them: the group's own stats. */
export const STATS_GROUPS_MAX = 100;

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
  /** Set when the asked time was beyond the topic's maximum and the rule in force delivers it now. */
  overMaxDelay?: "delivered-now";
}

export interface ListQuery {
  state?: string | null;
  from?: string | null;
  to?: string | null;
  tag?: string | null;
  limit?: string | null;
  cursor?: string | null;
}

/** One scheduled message as the due index lists it. */
export interface ScheduledEntry {
  messageId: string;
  deliverAtMs: number;
  expiresAtMs: number;
  tag?: string;
}

export interface ListResult {
  messages: ScheduledEntry[];
  cursor?: string;
}

export interface GroupStats {
  /** Due and not yet taken by the group: ahead of its cursor, or visible again in its lane. */
  ready: number;
  /** Taken by a consumer and invisible until their visibility ends (or acked). */
  inFlight: number;
  deadLettered: number;
  /** Age of the group's oldest ready message, 0 when none. */
  oldestReadyAgeMs: number;
}

export interface TopicStats {
  topic: string;
  atMs: number;
  /** Messages whose deliver time is still ahead. */
  scheduled: number;
  /** Due messages of a topic that has no group yet, kept for its first group (0 when it has groups). */
  held: number;
  /** Age of the oldest due message some group has not taken yet, over the reported groups. */
  oldestDueAgeMs: number;
  /** Scheduled messages falling due after now and within the next minute / hour / day / week. */
  dueWithin: Record<keyof typeof FORECAST_WINDOWS_MS, number>;
  groups: Record<string, GroupStats>;
  /** More groups exist than the stats report on. */
  groupsTruncated: boolean;
  /** Lanes of the due index read for this answer (each one paginated Query). */
  lanesRead: number;
}

/** One shard's place in a listing: where to continue, or done. */
type ShardCursor = LanePosition | "done" | null;

interface ListCursor {
  v: 2;
  from: number;
  to: number;
  tag?: string;
  shards: ShardCursor[];
}

export interface LifecycleDeps {
  store: QueueStore;
  groups: Groups;
  clock: Clock;
  config: QueueConfig;
  log: Logger;
  metrics: QueueMetrics;
  /** A message of the topic now falls due at this time (wakes this process's dispatchers). */
  rescheduled(topic: string, deliverAtMs: number): void;
}

/** A message between publish and delivery: look up, list, count, cancel, reschedule. */
export class Lifecycle {
  constructor(private readonly deps: LifecycleDeps) {}

  /** The latest instant a message may still be due at for a cancel or reschedule to succeed now. */
  private notAfterMs(nowMs: number): number {
    return nowMs + this.deps.config.cancelMarginMs;
  }

  async cancel(topicKey: string, messageId: unknown): Promise<CancelResult> {
    const topic = assertTopicKey(topicKey);
    const id = assertMessageId(messageId);
    const nowMs = this.deps.clock.nowMs();
    const outcome = await this.deps.store.cancel(topic, id, nowMs, this.notAfterMs(nowMs));
    if (outcome === CancelOutcome.NotFound) throw notFound(topic, id);
    if (outcome === CancelOutcome.Cancelled) this.deps.metrics.cancelled(topic, 1);
    return { messageId: id, outcome };
  }

  /** Cancels every message published with `key` that still exists; 404 when there is none. */
  async cancelByKey(topicKey: string, key: unknown): Promise<{ key: string; results: CancelResult[] }> {
    const topic = assertTopicKey(topicKey);
    const k = assertKey(key);
    if (k === undefined) throw invalid("key is required: DELETE /v1/topics/{topic}/messages?key=<key>");
    const ids = await this.deps.store.messageIdsByKey(topic, k);
    const nowMs = this.deps.clock.nowMs();
    const outcomes = await Promise.all(
      ids.map(async (id) => ({ messageId: id, outcome: await this.deps.store.cancel(topic, id, nowMs, this.notAfterMs(nowMs)) })),
    );
    const results = outcomes.filter((r): r is CancelResult => r.outcome !== CancelOutcome.NotFound);
    if (results.length === 0) throw new QueueError(ErrorCode.MessageNotExist, `no message with key ${quote(k)} in topic ${topic}`);
    const cancelled = results.filter((r) => r.outcome === CancelOutcome.Cancelled).length;
    if (cancelled > 0) this.deps.metrics.cancelled(topic, cancelled);
    return { key: k, results };
  }

  /** Moves a scheduled message's deliver time; `{kind: "now"}` delivers it now. Same rules as publish. */
  async reschedule(topicKey: string, messageId: unknown, timing: Timing): Promise<RescheduleResult> {
    const topic = assertTopicKey(topicKey);
    const id = assertMessageId(messageId);
    const policy = await this.deps.groups.topicSettings(topic);
    const nowMs = this.deps.clock.nowMs();
    const { deliverAtMs, overMax } = decideDeliverAt(timing, nowMs, policy, topic);
    const local = timing.kind === "at" ? timing.local : undefined;
    const outcome = await this.deps.store.reschedule(
      topic,
      id,
      { deliverAtMs, expiresAtMs: deliverAtMs + policy.retentionMs, ...(local && { local }) },
      nowMs,
      this.notAfterMs(nowMs),
    );
    if (outcome === RescheduleOutcome.NotFound) throw notFound(topic, id);
    if (outcome !== RescheduleOutcome.Rescheduled) return { messageId: id, outcome };
    this.deps.rescheduled(topic, deliverAtMs);
    if (overMax) this.deps.log.warn("over-max-delay", { operation: "reschedule", topic, messageId: id, ...overMax });
    return { messageId: id, outcome, deliverAtMs, ...(local && { local }), ...(overMax && { overMaxDelay: overMax.outcome }) };
  }

  /** The message as stored, with the time it was read at (states are judged against it). */
  async get(topicKey: string, messageId: unknown): Promise<{ record: MessageRecord; nowMs: number; gens: Map<string, string> }> {
    const topic = assertTopicKey(topicKey);
    const id = assertMessageId(messageId);
    const nowMs = this.deps.clock.nowMs();
    const record = await this.deps.store.inspect(topic, id);
    if (!record) throw notFound(topic, id);
    const gens = new Map<string, string>();
    await Promise.all(
      [...new Set(record.deliveries.map((d) => d.group))].map(async (group) => {
        const g = await this.deps.groups.find(topic, group);
        if (g) gens.set(group, g.gen);
      }),
    );
    return { record: { ...record, deliveries: record.deliveries.filter((d) => gens.get(d.group) === d.gen) }, nowMs, gens };
  }

  /**
   * Scheduled messages (deliver time still ahead) due in [from, to], in deliver-time order, from the
   * topic's lanes of the due index: each page reads up to `limit` entries per shard and merges them;
   * the cursor holds every shard's place.
   */
  async list(topicKey: string, query: ListQuery): Promise<ListResult> {
    const topic = assertTopicKey(topicKey);
    const state = query.state ?? "scheduled";
    if (state !== "scheduled") throw invalid(`state must be "scheduled" (messages waiting for their deliver time); got ${quote(state)}`);
    const limit = query.limit == null ? LIST_LIMIT.default : assertIntInRange(Number(query.limit), "limit", 1, LIST_LIMIT.max);
    const asked = {
      fromMs: query.from == null ? 0 : parseInstant(/^\d+$/.test(query.from) ? Number(query.from) : query.from, "from"),
      toMs: query.to == null ? Number.MAX_SAFE_INTEGER : parseInstant(/^\d+$/.test(query.to) ? Number(query.to) : query.to, "to"),
      ...(query.tag != null && { tag: assertTag(query.tag) as string }),
    };
    if (asked.fromMs > asked.toMs) throw invalid(`from (${asked.fromMs}) is after to (${asked.toMs}); send from ≤ to`);
    const shards = this.deps.config.shards;
    const cursor = query.cursor == null ? undefined : decodeCursor(query.cursor, shards);
    if (
      cursor &&
      ((cursor.from !== asked.fromMs && query.from != null) || (cursor.to !== asked.toMs && query.to != null) || (cursor.tag !== asked.tag && query.tag != null))
    ) {
      throw invalid("cursor belongs to another listing: repeat the query that returned it, or leave from, to and tag out");
    }
    const window = cursor ? { fromMs: cursor.from, toMs: cursor.to, ...(cursor.tag !== undefined && { tag: cursor.tag }) } : asked;
    const positions: ShardCursor[] = cursor?.shards ?? Array.from({ length: shards }, () => null);
    const nowMs = this.deps.clock.nowMs();
    const fromMs = Math.max(window.fromMs, nowMs + 1);

    const pages = await Promise.all(
      positions.map(async (position, shard) => {
        if (position === "done" || fromMs > window.toMs) return undefined;
        const read = await this.deps.store.readLane(
          { kind: "topic", topic, shard },
          { fromMs, toMs: window.toMs, ...(position && { after: position }) },
          limit,
        );
        const entries = read.entries.filter((e) => e.expiresAtMs > nowMs && (window.tag === undefined || e.tag === window.tag));
        const last = read.entries.at(-1);
        return { entries, next: read.more && last ? { dueAtMs: last.dueAtMs, messageId: last.messageId } : undefined };
      }),
    );
    const merged = mergeLanes(pages.map((page) => page?.entries ?? []), limit);
    const next: ShardCursor[] = positions.map((position, shard) => {
      const page = pages[shard];
      if (position === "done" || !page) return "done";
      const taken = merged.filter((m) => m.shard === shard);
      const last = taken[taken.length - 1]?.entry;
      if (taken.length === page.entries.length) return page.next ?? "done";
      return last ? { dueAtMs: last.dueAtMs, messageId: last.messageId } : position;
    });
    const more = next.some((p) => p !== "done");
    return {
      messages: merged.map((m) => scheduledEntry(m.entry)),
      ...(more && { cursor: encodeCursor({ v: 2, from: window.fromMs, to: window.toMs, ...(window.tag !== undefined && { tag: window.tag }), shards: next }) }),
    };
  }

  /**
   * Counts from the due index, nothing kept in counters: the topic's lanes once, and for each reported
   * group its lanes and the topic lane after its cursor.
   */
  async stats(topicKey: string): Promise<TopicStats> {
    const topic = assertTopicKey(topicKey);
    const { store, clock, config } = this.deps;
    const nowMs = clock.nowMs();
    const page = await store.listGroups(topic, STATS_GROUPS_MAX);
    const windows = Object.entries(FORECAST_WINDOWS_MS) as [keyof typeof FORECAST_WINDOWS_MS, number][];
    const shards = Array.from({ length: config.shards }, (_, s) => s);
    const retentionMs = (await this.deps.groups.topicSettings(topic)).retentionMs;
    // Without groups, what is due waits for the first one: counted too (a topic with groups has its
    // due history behind its cursors, which the per-group figures cover).
    const holding = page.groups.length === 0;
    const topicLanes = await Promise.all(
      shards.map((shard) =>
        store.laneHistogram({ kind: "topic", topic, shard }, { fromMs: holding ? nowMs - retentionMs : nowMs + 1 }, [nowMs, ...windows.map(([, ms]) => nowMs + ms)]),
      ),
    );
    let lanesRead = shards.length;
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const age = (earliest: number | undefined) => (earliest !== undefined && earliest <= nowMs ? nowMs - earliest : 0);
    const groupStats: Record<string, GroupStats> = {};
    const held = holding ? sum(topicLanes.map((h) => h.atOrBefore[0] ?? 0)) : 0;
    let oldestDueAgeMs = holding ? Math.max(0, ...topicLanes.map((h) => age(h.earliestDueAtMs))) : 0;
    await Promise.all(
      page.groups.map(async (g) => {
        const { ready, inFlight, oldestReadyAgeMs } = await this.groupCounts(topic, g, nowMs, retentionMs);
        const deadLettered = await store.countDeadLetters(topic, g.group, g.gen);
        lanesRead += shards.length * 2 + 1;
        oldestDueAgeMs = Math.max(oldestDueAgeMs, oldestReadyAgeMs);
        groupStats[g.group] = { ready, inFlight, deadLettered, oldestReadyAgeMs };
      }),
    );
    return {
      topic,
      atMs: nowMs,
      scheduled: sum(topicLanes.map((h) => h.total - (h.atOrBefore[0] ?? 0))),
      held,
      oldestDueAgeMs,
      dueWithin: Object.fromEntries(
        windows.map(([name], i) => [name, sum(topicLanes.map((h) => (h.atOrBefore[i + 1] ?? 0) - (h.atOrBefore[0] ?? 0)))]),
      ) as TopicStats["dueWithin"],
      groups: groupStats,
      groupsTruncated: page.cursor !== undefined,
      lanesRead,
    };
  }

  /**
   * How many of the group's messages are ready (due, not held by a consumer, not acked), counting no
   * further than `cap`, for limits such as AMQP's `x-max-length`: per shard the group lane's entries
   * visible again (up to `cap`), and the topic lane's due entries after the saved cursor that were not
   * passed. While a consumer holds the shard's lease it may have taken entries it has not saved yet:
   * those entries are then told by the group's deliveries of them (read by id), so the count is exact.
   */
  async readyCount(topicKey: string, group: string, cap: number): Promise<number> {
    const topic = assertTopicKey(topicKey);
    const { store, clock, config } = this.deps;
    const g = await this.deps.groups.find(topic, group);
    if (!g) return 0;
    const nowMs = clock.nowMs();
    const retentionMs = (await this.deps.groups.topicSettings(topic)).retentionMs;
    const leases = new Map((await store.listLeases(topic, g.group)).filter((l) => l.gen === g.gen).map((l) => [l.shard, l]));
    const floor = Math.max(g.startMs, nowMs - retentionMs);
    let ready = 0;
    for (let shard = 0; shard < config.shards && ready < cap; shard++) {
      const visibleAgain = await store.laneHistogram({ kind: "group", topic, group: g.group, shard }, { fromMs: 0 }, [nowMs], { toMs: nowMs, cap: cap - ready });
      ready += visibleAgain.total;
      const lease = leases.get(shard);
      const pos = lease?.pos;
      const passed = new Set(lease?.passed.map((p) => p.messageId));
      // A holder may have taken entries after its saved cursor: those are told by their deliveries.
      const held = lease?.holder !== undefined && (lease.untilMs ?? 0) > nowMs;
      let range: LaneRange = pos && pos.dueAtMs >= floor ? { fromMs: floor, toMs: nowMs, after: pos } : { fromMs: floor, toMs: nowMs };
      while (ready < cap) {
        const page = await store.readLane({ kind: "topic", topic, shard }, range, 100);
        const live = page.entries.filter((e) => !passed.has(e.messageId) && e.expiresAtMs > nowMs && (e.ttlExpiresAtMs === undefined || e.ttlExpiresAtMs > nowMs));
        const taken = held && live.length > 0 ? await store.readDeliveries(topic, g.group, live.map((e) => e.messageId)) : new Map<string, { gen: string }>();
        ready += live.filter((e) => taken.get(e.messageId)?.gen !== g.gen).length;
        const last = page.entries.at(-1);
        if (!page.more || !last) break;
        range = { ...range, after: { dueAtMs: last.dueAtMs, messageId: last.messageId } };
      }
    }
    return Math.min(ready, cap);
  }

  /** A group's ready and in-flight counts for stats: the topic lane after its saved cursors, and its own lanes. */
  private async groupCounts(topic: string, g: GroupRecord, nowMs: number, retentionMs: number): Promise<{ ready: number; inFlight: number; oldestReadyAgeMs: number }> {
    const { store, config } = this.deps;
    const shards = Array.from({ length: config.shards }, (_, s) => s);
    const leases = new Map((await store.listLeases(topic, g.group)).filter((l) => l.gen === g.gen).map((l) => [l.shard, l.pos]));
    const perShard = await Promise.all(
      shards.map(async (shard) => {
        const floor = Math.max(g.startMs, nowMs - retentionMs);
        const pos = leases.get(shard);
        const from = pos && pos.dueAtMs >= floor ? { fromMs: floor, after: pos } : { fromMs: floor };
        const [ahead, lane] = await Promise.all([
          store.laneHistogram({ kind: "topic", topic, shard }, from, [nowMs]),
          store.laneHistogram({ kind: "group", topic, group: g.group, shard }, { fromMs: 0 }, [nowMs]),
        ]);
        return { ahead, lane };
      }),
    );
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const age = (earliest: number | undefined) => (earliest !== undefined && earliest <= nowMs ? nowMs - earliest : 0);
    return {
      ready: sum(perShard.map((p) => (p.ahead.atOrBefore[0] ?? 0) + (p.lane.atOrBefore[0] ?? 0))),
      inFlight: sum(perShard.map((p) => p.lane.total - (p.lane.atOrBefore[0] ?? 0))),
      oldestReadyAgeMs: Math.max(0, ...perShard.flatMap((p) => [age(p.ahead.earliestDueAtMs), age(p.lane.earliestDueAtMs)])),
    };
  }
}

function scheduledEntry(e: LaneEntry): ScheduledEntry {
  return { messageId: e.messageId, deliverAtMs: e.dueAtMs, expiresAtMs: e.expiresAtMs, ...(e.tag !== undefined && { tag: e.tag }) };
}

/**
 * Merges lanes in deliver-time order, taking from each lane a prefix in the lane's own order (so a lane's
 * place can be kept as its last taken entry), up to `limit` entries.
 */
function mergeLanes(lanes: readonly LaneEntry[][], limit: number): { entry: LaneEntry; shard: number }[] {
  const heads = lanes.map(() => 0);
  const out: { entry: LaneEntry; shard: number }[] = [];
  while (out.length < limit) {
    let best: { entry: LaneEntry; shard: number } | undefined;
    lanes.forEach((lane, shard) => {
      const entry = lane[heads[shard] ?? 0];
      if (!entry) return;
      if (!best || entry.dueAtMs < best.entry.dueAtMs || (entry.dueAtMs === best.entry.dueAtMs && entry.messageId < best.entry.messageId)) {
        best = { entry, shard };
      }
    });
    if (!best) break;
    const chosen: { entry: LaneEntry; shard: number } = best;
    heads[chosen.shard] = (heads[chosen.shard] ?? 0) + 1;
    out.push(chosen);
  }
  return out;
}

export function assertMessageId(value: unknown): string {
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
  if (typeof raw !== "object" || raw === null) throw bad();
  const c = raw as { v?: unknown; from?: unknown; to?: unknown; tag?: unknown; shards?: unknown };
  const safe = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
  if (c.v !== 2 || !safe(c.from) || !safe(c.to) || c.from > c.to || !Array.isArray(c.shards)) throw bad();
  if (c.tag !== undefined && (typeof c.tag !== "string" || assertTag(c.tag) === undefined)) throw bad();
  if (c.shards.length !== shardCount) throw invalid("the shard count changed since this cursor was made; start the listing again");
  const shards = c.shards.map((p: unknown): ShardCursor => {
    if (p === 0) return null;
    if (p === 1) return "done";
    if (Array.isArray(p) && p.length === 2 && safe(p[0]) && p[0] >= (c.from as number) && p[0] <= (c.to as number) && typeof p[1] === "string" && MESSAGE_ID_PATTERN.test(p[1])) {
      return { dueAtMs: p[0], messageId: p[1] };
    }
    throw bad();
  });
  return { v: 2, from: c.from, to: c.to, ...(c.tag !== undefined && { tag: c.tag as string }), shards };
}

export type { DueHistogram };

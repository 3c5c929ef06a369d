import { invalid } from "./errors.js";
import type { Delivery, LocalDeliverAt, NewMessage, StoredMessage } from "./message.js";
import { MessageState } from "./message.js";
import {
  AckOutcome,
  CancelOutcome,
  type ClaimSpec,
  type DeadLetterPage,
  type DedupRecord,
  type DeliveryState,
  type DueHistogram,
  type HistogramBound,
  type GroupPage,
  type GroupRecord,
  type Lane,
  type LaneEntry,
  type LanePosition,
  type LaneRange,
  type LaneRead,
  type LeaseKey,
  type LeaseOutcome,
  type LeaseSave,
  type LeaseView,
  type MessageRecord,
  type ExtendSpec,
  type NackSpec,
  type NewDelivery,
  type ParkedDelivery,
  type DispatcherHold,
  type PushRoutePage,
  type QueueStore,
  RescheduleOutcome,
  type RetireReason,
  type RetireSpec,
  comparePositions,
} from "./ports.js";
import type { GroupSettingsInput, TopicSettingsInput } from "./settings.js";
import { topicLaneEntry, workShardOf } from "./rules.js";

interface MessageRow {
  message: NewMessage;
  state: typeof MessageState.Scheduled | typeof MessageState.Cancelled;
  cancelledAtMs?: number;
}

interface DeliveryRow {
  topic: string;
  group: string;
  gen: string;
  messageId: string;
  shard: number;
  st: "active" | "acked" | "dead" | "dropped";
  dueAtMs: number;
  deliverAtMs: number;
  expiresAtMs: number;
  ttlExpiresAtMs?: number;
  tag?: string;
  receiptHandle?: string;
  visibleUntilMs?: number;
  consumedTimes: number;
  firstConsumedAtMs?: number;
  lastConsumedAtMs?: number;
  ackedAtMs?: number;
  reason?: string;
  lane?: string;
  nackedTimes?: number;
}

interface LeaseRow extends LeaseKey {
  pos: LanePosition;
  recent: number;
  passed: LanePosition[];
  owner?: string;
  untilMs?: number;
  workAtMs?: number;
  /** Who released the lease last (unset while it is held). */
  releasedBy?: string;
}

const k = (...parts: (string | number)[]) => parts.join("\n");

function page<T>(items: T[], limit: number, cursorOf: (t: T) => string, cursor?: string, shape: RegExp = /^[A-Za-z0-9_.~-]{1,160}$/): { items: T[]; cursor?: string } {
  let start = 0;
  if (cursor !== undefined) {
    const after = Buffer.from(cursor, "base64url").toString("utf8");
    if (!shape.test(after)) throw invalid("cursor is not one this listing returned; send the cursor of the previous page unchanged");
    start = items.findIndex((t) => cursorOf(t) > after);
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + limit);
  const more = start + limit < items.length;
  const last = slice.at(-1);
  return { items: slice, ...(more && last !== undefined && { cursor: Buffer.from(cursorOf(last)).toString("base64url") }) };
}

/**
 * The QueueStore in memory: same contract as the DynamoDB store (it passes the same suite), no
 * persistence and an index that is always consistent. Used by `npm start -- --in-memory` and fast tests.
 */
export class MemoryStore implements QueueStore {
  private readonly topics = new Set<string>();
  private readonly topology = new Map<string, Map<string, string>>();
  private readonly topicSettings = new Map<string, TopicSettingsInput>();
  private readonly groups = new Map<string, Map<string, GroupRecord>>();
  private readonly messages = new Map<string, MessageRow>();
  private readonly deliveries = new Map<string, DeliveryRow>();
  private readonly lanes = new Map<string, Map<string, MessageRow | DeliveryRow>>();
  private readonly leases = new Map<string, LeaseRow>();
  private readonly dedup = new Map<string, DedupRecord>();
  private readonly keyPointers = new Map<string, Set<string>>();
  private readonly pushRoutes = new Set<string>();
  private readonly dispatcherLeases = new Map<number, { holder?: string; untilMs?: number; coverUntilMs?: number; armedAtMs?: number }>();

  async ping(): Promise<void> {}

  async registerTopic(topic: string): Promise<void> {
    this.topics.add(topic);
  }

  async putTopology(scope: string, id: string, spec: string): Promise<void> {
    let entries = this.topology.get(scope);
    if (!entries) this.topology.set(scope, (entries = new Map()));
    entries.set(id, spec);
  }

  async deleteTopology(scope: string, id: string): Promise<void> {
    this.topology.get(scope)?.delete(id);
  }

  async listTopology(scope: string): Promise<{ id: string; spec: string }[]> {
    return [...(this.topology.get(scope) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, spec]) => ({ id, spec }));
  }

  async listTopics(limit: number, cursor?: string): Promise<{ topics: string[]; cursor?: string }> {
    const p = page([...this.topics].sort(), limit, (t) => t, cursor);
    return { topics: p.items, ...(p.cursor !== undefined && { cursor: p.cursor }) };
  }

  async getTopicSettings(topic: string): Promise<TopicSettingsInput | undefined> {
    const s = this.topicSettings.get(topic);
    return s && structuredClone(s);
  }

  async putTopicSettings(topic: string, settings: TopicSettingsInput): Promise<void> {
    this.topicSettings.set(topic, structuredClone(settings));
  }

  async registerGroup(topic: string, fresh: GroupRecord): Promise<GroupRecord> {
    let groups = this.groups.get(topic);
    if (!groups) {
      groups = new Map();
      this.groups.set(topic, groups);
    }
    const record = groups.get(fresh.group) ?? structuredClone(fresh);
    groups.set(fresh.group, record);
    return structuredClone(record);
  }

  async putGroupSettings(topic: string, group: string, settings: GroupSettingsInput): Promise<GroupRecord | undefined> {
    const record = this.groups.get(topic)?.get(group);
    if (!record) return undefined;
    record.settings = structuredClone(settings);
    return structuredClone(record);
  }

  async getGroup(topic: string, group: string): Promise<GroupRecord | undefined> {
    const g = this.groups.get(topic)?.get(group);
    return g && structuredClone(g);
  }

  async hasGroups(topic: string): Promise<boolean> {
    return (this.groups.get(topic)?.size ?? 0) > 0;
  }

  async listGroups(topic: string, limit: number, cursor?: string): Promise<GroupPage> {
    const all = [...(this.groups.get(topic)?.values() ?? [])].sort((a, b) => (a.group < b.group ? -1 : 1));
    const p = page(all, limit, (g) => g.group, cursor);
    return { groups: p.items.map((g) => structuredClone(g)), ...(p.cursor !== undefined && { cursor: p.cursor }) };
  }

  async deleteGroup(topic: string, group: string, gen: string): Promise<boolean> {
    const groups = this.groups.get(topic);
    if (groups?.get(group)?.gen !== gen) return false;
    groups.delete(group);
    for (const [key, lease] of this.leases) if (lease.topic === topic && lease.group === group) this.leases.delete(key);
    return true;
  }

  async insertMessages(messages: readonly NewMessage[]): Promise<void> {
    for (const message of messages) {
      const key = k(message.topic, message.messageId);
      if (this.messages.has(key)) continue;
      const row: MessageRow = { message: structuredClone(message), state: MessageState.Scheduled };
      this.messages.set(key, row);
      this.place(row, laneKey({ kind: "topic", topic: message.topic, shard: message.shard }), message.messageId);
    }
  }

  async readMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, StoredMessage>> {
    const out = new Map<string, StoredMessage>();
    for (const id of messageIds) {
      const row = this.messages.get(k(topic, id));
      if (row) out.set(id, stored(row));
    }
    return out;
  }

  async readLane(lane: Lane, range: LaneRange, limit: number): Promise<LaneRead> {
    const entries = this.laneEntries(lane).filter((e) => e.dueAtMs >= range.fromMs && e.dueAtMs <= range.toMs && isAfter(e, range.after));
    return { entries: entries.slice(0, limit), more: entries.length > limit };
  }

  async laneHistogram(lane: Lane, from: { fromMs: number; after?: LanePosition }, boundariesMs: readonly number[], bound: HistogramBound = {}): Promise<DueHistogram> {
    const entries = this.laneEntries(lane)
      .filter((e) => e.dueAtMs >= from.fromMs && isAfter(e, from.after) && (bound.toMs === undefined || e.dueAtMs <= bound.toMs))
      .slice(0, bound.cap ?? Number.POSITIVE_INFINITY);
    return {
      total: entries.length,
      atOrBefore: boundariesMs.map((b) => entries.filter((e) => e.dueAtMs <= b).length),
      earliestDueAtMs: entries[0]?.dueAtMs,
    };
  }

  private laneEntries(lane: Lane): LaneEntry[] {
    const rows = [...(this.lanes.get(laneKey(lane))?.values() ?? [])];
    const entries = rows.map((row) => ("message" in row ? topicEntry(row) : deliveryEntry(row)));
    return entries.sort(comparePositions);
  }

  /** Moves a row between lanes (`to` undefined: out of every lane). */
  private place(row: MessageRow | DeliveryRow, to: string | undefined, id: string): void {
    const current = "message" in row ? (row.state === MessageState.Scheduled ? laneKey({ kind: "topic", topic: row.message.topic, shard: row.message.shard }) : undefined) : row.lane;
    for (const key of new Set([current, to])) if (key !== undefined) this.lanes.get(key)?.delete(id);
    if ("message" in row === false) (row as DeliveryRow).lane = to;
    if (to === undefined) return;
    let lane = this.lanes.get(to);
    if (!lane) {
      lane = new Map();
      this.lanes.set(to, lane);
    }
    lane.set(id, row);
  }

  private placeDelivery(row: DeliveryRow): void {
    const to =
      row.st === "active"
        ? laneKey({ kind: "group", topic: row.topic, group: row.group, shard: row.shard })
        : row.st === "dead"
          ? laneKey({ kind: "dead", topic: row.topic, group: row.group })
          : undefined;
    this.place(row, to, row.messageId);
  }

  // Leases.

  async acquireLease(key: LeaseKey, owner: string, nowMs: number, untilMs: number, start: LanePosition): Promise<LeaseOutcome> {
    const lk = k(key.topic, key.group, key.shard);
    let row = this.leases.get(lk);
    if (!row || row.gen !== key.gen) {
      row = { ...key, pos: { ...start }, recent: 0, passed: [] };
      this.leases.set(lk, row);
    }
    if (row.owner !== undefined && row.owner !== owner && (row.untilMs ?? 0) > nowMs) return { ok: false, holder: row.owner, untilMs: row.untilMs ?? 0 };
    const takenOver = row.owner !== undefined && row.owner !== owner;
    const resumed = row.owner === undefined && row.releasedBy === owner;
    row.owner = owner;
    row.untilMs = untilMs;
    const workAtMs = row.workAtMs;
    return {
      ok: true,
      lease: { pos: { ...row.pos }, recent: row.recent, takenOver, passed: row.passed.map((p) => ({ ...p })), resumed, ...(workAtMs !== undefined && { workAtMs }) },
    };
  }

  async saveLease(key: LeaseKey, owner: string, save: LeaseSave): Promise<boolean> {
    const row = this.leases.get(k(key.topic, key.group, key.shard));
    if (!row || row.gen !== key.gen || row.owner !== owner) return false;
    row.pos = { ...save.pos };
    row.recent = save.recent;
    row.passed = save.passed.map((p) => ({ ...p }));
    if (save.untilMs === undefined) {
      delete row.owner;
      delete row.untilMs;
      row.releasedBy = owner;
    } else {
      row.untilMs = save.untilMs;
      delete row.releasedBy;
    }
    if (save.keepWork) return true;
    if (save.workAtMs === undefined) delete row.workAtMs;
    else row.workAtMs = save.workAtMs;
    return true;
  }

  async peekLease(key: LeaseKey): Promise<{ holder: string; untilMs: number } | undefined> {
    const row = this.leases.get(k(key.topic, key.group, key.shard));
    return row?.owner !== undefined && row.gen === key.gen ? { holder: row.owner, untilMs: row.untilMs ?? 0 } : undefined;
  }

  async listLeases(topic: string, group: string): Promise<LeaseView[]> {
    return [...this.leases.values()].filter((l) => l.topic === topic && l.group === group).map(leaseView);
  }

  async dueWork(workShard: number, nowMs: number, limit: number): Promise<LeaseView[]> {
    return [...this.leases.values()]
      .filter((l) => l.workAtMs !== undefined && l.workAtMs <= nowMs && workShardOf(l.topic, l.group) === workShard)
      .sort((a, b) => (a.workAtMs ?? 0) - (b.workAtMs ?? 0))
      .slice(0, limit)
      .map(leaseView);
  }

  async setWork(key: LeaseKey, workAtMs: number | undefined): Promise<boolean> {
    const row = this.leases.get(k(key.topic, key.group, key.shard));
    if (!row || row.gen !== key.gen) return false;
    if (workAtMs === undefined) delete row.workAtMs;
    else row.workAtMs = workAtMs;
    return true;
  }

  // Deliveries.

  private delivery(topic: string, group: string, messageId: string): DeliveryRow | undefined {
    return this.deliveries.get(k(topic, group, messageId));
  }

  async claimNew(d: NewDelivery): Promise<Delivery | undefined> {
    const current = this.delivery(d.topic, d.group, d.message.messageId);
    if (current && current.gen === d.gen) return undefined;
    const row = newRow(d, d.claim.nowMs);
    applyClaim(row, d.claim);
    this.setDelivery(row, current);
    return toDelivery(row);
  }

  async putAcked(d: NewDelivery, ackedAtMs: number): Promise<boolean> {
    const current = this.delivery(d.topic, d.group, d.message.messageId);
    if (current && current.gen === d.gen) return false;
    const row = newRow(d, d.claim.nowMs);
    applyClaim(row, d.claim);
    row.st = "acked";
    row.ackedAtMs = ackedAtMs;
    this.setDelivery(row, current);
    return true;
  }

  async parkNew(d: ParkedDelivery, nowMs: number): Promise<boolean> {
    const current = this.delivery(d.topic, d.group, d.message.messageId);
    if (current && current.gen === d.gen) return false;
    this.setDelivery(newRow(d, nowMs), current);
    return true;
  }

  private setDelivery(row: DeliveryRow, replaced: DeliveryRow | undefined): void {
    if (replaced) this.place(replaced, undefined, replaced.messageId);
    this.deliveries.set(k(row.topic, row.group, row.messageId), row);
    this.placeDelivery(row);
  }

  async claimAgain(topic: string, group: string, gen: string, entry: LaneEntry, spec: ClaimSpec): Promise<Delivery | undefined> {
    const row = this.delivery(topic, group, entry.messageId);
    const now = spec.nowMs;
    if (
      !row ||
      row.gen !== gen ||
      row.st !== "active" ||
      row.dueAtMs > now ||
      row.consumedTimes !== entry.consumedTimes ||
      row.expiresAtMs <= now ||
      (row.ttlExpiresAtMs !== undefined && row.ttlExpiresAtMs <= now)
    ) {
      return undefined;
    }
    applyClaim(row, spec);
    return toDelivery(row);
  }

  async ack(topic: string, group: string, messageId: string, receiptHandle: string, nowMs: number): Promise<AckOutcome> {
    const row = this.delivery(topic, group, messageId);
    if (!row) return AckOutcome.Unknown;
    if (row.st !== "active" || row.receiptHandle !== receiptHandle || (row.visibleUntilMs ?? row.dueAtMs) <= nowMs) return AckOutcome.Stale;
    row.st = "acked";
    row.ackedAtMs = nowMs;
    this.placeDelivery(row);
    return AckOutcome.Acked;
  }

  async nack(topic: string, group: string, messageId: string, spec: NackSpec): Promise<boolean> {
    const row = this.delivery(topic, group, messageId);
    if (!row || row.st !== "active" || row.receiptHandle !== spec.receiptHandle || row.consumedTimes !== spec.consumedTimes) return false;
    if ((row.visibleUntilMs ?? row.dueAtMs) <= spec.nowMs) return false;
    row.dueAtMs = spec.redeliverAtMs;
    row.nackedTimes = (row.nackedTimes ?? 0) + 1;
    delete row.receiptHandle;
    delete row.visibleUntilMs;
    return true;
  }

  async extendVisibility(topic: string, group: string, messageId: string, spec: ExtendSpec): Promise<boolean> {
    const row = this.delivery(topic, group, messageId);
    if (!row || row.st !== "active" || row.receiptHandle !== spec.receiptHandle || row.consumedTimes !== spec.consumedTimes) return false;
    if ((row.visibleUntilMs ?? row.dueAtMs) <= spec.nowMs) return false;
    row.visibleUntilMs = spec.visibleUntilMs;
    row.dueAtMs = spec.redeliverAtMs;
    return true;
  }

  async retireDelivery(topic: string, group: string, messageId: string, spec: RetireSpec): Promise<boolean> {
    const row = this.delivery(topic, group, messageId);
    if (!row || row.st !== "active") return false;
    const when = spec.when;
    if (when.kind === "due") {
      if (row.dueAtMs !== when.dueAtMs || row.dueAtMs > spec.nowMs || row.consumedTimes !== when.consumedTimes) return false;
    } else if (row.receiptHandle !== when.receiptHandle || row.consumedTimes !== when.consumedTimes || (row.visibleUntilMs ?? 0) <= spec.nowMs) {
      return false;
    }
    if (when.kind === "held") row.nackedTimes = (row.nackedTimes ?? 0) + 1;
    row.st = spec.deadLetter ? "dead" : "dropped";
    row.dueAtMs = spec.failedAtMs;
    row.reason = spec.reason;
    delete row.receiptHandle;
    delete row.visibleUntilMs;
    this.placeDelivery(row);
    return true;
  }

  async putDeadLetter(topic: string, group: string, gen: string, message: LaneEntry & { shard: number }, failedAtMs: number, reason: RetireReason): Promise<boolean> {
    const current = this.delivery(topic, group, message.messageId);
    if (current && current.gen === gen) return false;
    const row = newRow({ topic, group, gen, message }, failedAtMs);
    row.st = "dead";
    row.reason = reason;
    this.setDelivery(row, current);
    return true;
  }

  async dropForeign(topic: string, group: string, messageId: string, gen: string): Promise<boolean> {
    const row = this.delivery(topic, group, messageId);
    if (!row || row.gen !== gen || row.st !== "active") return false;
    row.st = "dropped";
    this.placeDelivery(row);
    return true;
  }

  async readDelivery(topic: string, group: string, messageId: string): Promise<DeliveryState | undefined> {
    const row = this.delivery(topic, group, messageId);
    return row && deliveryState(row);
  }

  async readDeliveries(topic: string, group: string, messageIds: readonly string[]): Promise<Map<string, DeliveryState>> {
    const out = new Map<string, DeliveryState>();
    for (const id of messageIds) {
      const row = this.delivery(topic, group, id);
      if (row) out.set(id, deliveryState(row));
    }
    return out;
  }

  async listDeadLetters(topic: string, group: string, gen: string, limit: number, nowMs: number, cursor?: string): Promise<DeadLetterPage> {
    const dead = this.laneEntries({ kind: "dead", topic, group }).filter((e) => e.gen === gen);
    const key = (e: LaneEntry) => `${String(e.dueAtMs).padStart(16, "0")}#${e.messageId}`;
    const p = page(dead, limit, key, cursor, /^\d{16}#[0-9A-F]{32}$/);
    return {
      deadLetters: p.items
        .filter((e) => e.expiresAtMs > nowMs)
        .map((e) => ({
          messageId: e.messageId,
          failedAtMs: e.dueAtMs,
          consumedTimes: e.consumedTimes,
          deliverAtMs: e.deliverAtMs,
          ...(e.tag !== undefined && { tag: e.tag }),
          ...(e.reason !== undefined && { reason: e.reason }),
        })),
      ...(p.cursor !== undefined && { cursor: p.cursor }),
    };
  }

  async countDeadLetters(topic: string, group: string, gen: string): Promise<number> {
    return this.laneEntries({ kind: "dead", topic, group }).filter((e) => e.gen === gen).length;
  }

  async discardDeadLetter(topic: string, group: string, gen: string, messageId: string, nowMs: number): Promise<boolean> {
    const row = this.delivery(topic, group, messageId);
    if (!row || row.st !== "dead" || row.gen !== gen) return false;
    row.st = "dropped";
    row.ackedAtMs = nowMs;
    this.placeDelivery(row);
    return true;
  }

  async redrive(topic: string, group: string, gen: string, messageId: string, _shard: number, nowMs: number): Promise<boolean> {
    const row = this.delivery(topic, group, messageId);
    if (!row || row.st !== "dead" || row.gen !== gen) return false;
    row.st = "active";
    row.dueAtMs = nowMs;
    row.consumedTimes = 0;
    delete row.ttlExpiresAtMs;
    delete row.reason;
    delete row.firstConsumedAtMs;
    delete row.lastConsumedAtMs;
    this.placeDelivery(row);
    return true;
  }

  // Managing messages.

  async claimDedup(topic: string, dedupId: string, record: DedupRecord, nowMs: number): Promise<DedupRecord> {
    const key = k(topic, dedupId);
    const current = this.dedup.get(key);
    if (current && current.expiresAtMs > nowMs) return { ...current };
    this.dedup.set(key, { ...record });
    return { ...record };
  }

  async addKeyPointer(topic: string, messageKey: string, messageId: string): Promise<void> {
    const key = k(topic, messageKey);
    let ids = this.keyPointers.get(key);
    if (!ids) {
      ids = new Set();
      this.keyPointers.set(key, ids);
    }
    ids.add(messageId);
  }

  async messageIdsByKey(topic: string, messageKey: string): Promise<string[]> {
    return [...(this.keyPointers.get(k(topic, messageKey)) ?? [])].sort();
  }

  async cancel(topic: string, messageId: string, nowMs: number, notAfterMs: number): Promise<CancelOutcome> {
    const row = this.messages.get(k(topic, messageId));
    if (!row || row.message.expiresAtMs <= nowMs) return CancelOutcome.NotFound;
    if (row.state === MessageState.Cancelled) return CancelOutcome.Cancelled;
    if (row.message.deliverAtMs <= notAfterMs) return CancelOutcome.AlreadyDelivered;
    this.place(row, undefined, messageId);
    row.state = MessageState.Cancelled;
    row.cancelledAtMs = nowMs;
    return CancelOutcome.Cancelled;
  }

  async reschedule(
    topic: string,
    messageId: string,
    change: { deliverAtMs: number; expiresAtMs: number; local?: LocalDeliverAt },
    nowMs: number,
    notAfterMs: number,
  ): Promise<RescheduleOutcome> {
    const row = this.messages.get(k(topic, messageId));
    if (!row || row.message.expiresAtMs <= nowMs) return RescheduleOutcome.NotFound;
    if (row.state === MessageState.Cancelled) return RescheduleOutcome.Cancelled;
    if (row.message.deliverAtMs <= notAfterMs) return RescheduleOutcome.AlreadyDelivered;
    const m = row.message;
    if (m.ttlExpiresAtMs !== undefined) m.ttlExpiresAtMs += change.deliverAtMs - m.deliverAtMs;
    m.deliverAtMs = change.deliverAtMs;
    m.expiresAtMs = change.expiresAtMs;
    if (change.local) m.local = { ...change.local };
    else delete m.local;
    this.place(row, laneKey({ kind: "topic", topic, shard: m.shard }), messageId);
    return RescheduleOutcome.Rescheduled;
  }

  async inspect(topic: string, messageId: string): Promise<MessageRecord | undefined> {
    const row = this.messages.get(k(topic, messageId));
    if (!row) return undefined;
    const deliveries = [...this.deliveries.values()]
      .filter((d) => d.topic === topic && d.messageId === messageId && d.st !== "dropped")
      .sort((a, b) => (a.group < b.group ? -1 : 1))
      .map(deliveryState);
    return { message: stored(row), deliveries };
  }

  // Push delivery.

  async putPushRoute(topic: string, group: string): Promise<void> {
    this.pushRoutes.add(`${topic}\u0000${group}`);
  }

  async deletePushRoute(topic: string, group: string): Promise<void> {
    this.pushRoutes.delete(`${topic}\u0000${group}`);
  }

  async listPushRoutes(limit: number, cursor?: string, topic?: string): Promise<PushRoutePage> {
    const all = [...this.pushRoutes]
      .sort()
      .filter((r) => (cursor === undefined || r > cursor) && (topic === undefined || r.startsWith(`${topic}\u0000`)));
    const page = all.slice(0, limit);
    const routes = page.map((r) => {
      const [t = "", g = ""] = r.split("\u0000");
      return { topic: t, group: g };
    });
    return { routes, ...(all.length > limit && { cursor: page[page.length - 1] }) };
  }

  async armDispatcher(shard: number, nowMs: number, coverUntilMs: number, restartGapMs: number): Promise<{ start: boolean }> {
    const row = this.dispatcherLeases.get(shard) ?? {};
    this.dispatcherLeases.set(shard, row);
    row.coverUntilMs = Math.max(row.coverUntilMs ?? 0, coverUntilMs);
    const held = row.holder !== undefined && (row.untilMs ?? 0) > nowMs;
    const recent = row.armedAtMs !== undefined && row.armedAtMs > nowMs - restartGapMs;
    if (held || recent) return { start: false };
    row.armedAtMs = nowMs;
    return { start: true };
  }

  async holdDispatcher(shard: number, owner: string, nowMs: number, untilMs: number): Promise<DispatcherHold> {
    const row = this.dispatcherLeases.get(shard) ?? {};
    this.dispatcherLeases.set(shard, row);
    if (row.holder !== undefined && row.holder !== owner && (row.untilMs ?? 0) > nowMs) return { ok: false, coverUntilMs: row.coverUntilMs ?? 0 };
    row.holder = owner;
    row.untilMs = untilMs;
    return { ok: true, coverUntilMs: row.coverUntilMs ?? 0 };
  }

  async releaseDispatcher(shard: number, owner: string): Promise<{ coverUntilMs: number }> {
    const row = this.dispatcherLeases.get(shard);
    if (!row) return { coverUntilMs: 0 };
    if (row.holder === owner) {
      delete row.holder;
      delete row.untilMs;
      delete row.armedAtMs;
    }
    return { coverUntilMs: row.coverUntilMs ?? 0 };
  }
}

/** After a position: an entry's own place, or a millisecond boundary (empty id: after every entry due by then). */
function isAfter(e: LaneEntry, after: LanePosition | undefined): boolean {
  if (!after) return true;
  if (after.messageId === "") return e.dueAtMs > after.dueAtMs;
  return comparePositions(e, after) > 0;
}

export function laneKey(lane: Lane): string {
  if (lane.kind === "topic") return k("T", lane.topic, lane.shard);
  if (lane.kind === "group") return k("G", lane.topic, lane.group, lane.shard);
  return k("X", lane.topic, lane.group);
}

function stored(row: MessageRow): StoredMessage {
  const { shard, ...content } = structuredClone(row.message);
  return { content, shard, state: row.state, ...(row.cancelledAtMs !== undefined && { cancelledAtMs: row.cancelledAtMs }) };
}

function topicEntry(row: MessageRow): LaneEntry {
  return topicLaneEntry(row.message);
}

function deliveryEntry(d: DeliveryRow): LaneEntry {
  return {
    messageId: d.messageId,
    dueAtMs: d.dueAtMs,
    deliverAtMs: d.deliverAtMs,
    expiresAtMs: d.expiresAtMs,
    ...(d.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: d.ttlExpiresAtMs }),
    ...(d.tag !== undefined && { tag: d.tag }),
    consumedTimes: d.consumedTimes,
    gen: d.gen,
    ...(d.reason !== undefined && { reason: d.reason }),
  };
}

function newRow(d: ParkedDelivery, dueAtMs: number): DeliveryRow {
  const m = d.message;
  return {
    topic: d.topic,
    group: d.group,
    gen: d.gen,
    messageId: m.messageId,
    shard: m.shard,
    st: "active",
    dueAtMs,
    deliverAtMs: m.deliverAtMs,
    expiresAtMs: m.expiresAtMs,
    ...(m.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: m.ttlExpiresAtMs }),
    ...(m.tag !== undefined && { tag: m.tag }),
    consumedTimes: 0,
  };
}

function applyClaim(row: DeliveryRow, spec: ClaimSpec): void {
  row.receiptHandle = spec.receiptHandle;
  row.visibleUntilMs = spec.visibleUntilMs;
  row.dueAtMs = spec.redeliverAtMs;
  row.consumedTimes += 1;
  row.firstConsumedAtMs ??= spec.nowMs;
  row.lastConsumedAtMs = spec.nowMs;
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    messageId: row.messageId,
    group: row.group,
    receiptHandle: row.receiptHandle ?? "",
    consumedTimes: row.consumedTimes,
    firstConsumedAtMs: row.firstConsumedAtMs ?? 0,
    nextVisibleAtMs: row.dueAtMs,
    ...(row.nackedTimes !== undefined && { nackedTimes: row.nackedTimes }),
  };
}

function deliveryState(row: DeliveryRow): DeliveryState {
  return {
    messageId: row.messageId,
    group: row.group,
    gen: row.gen,
    state: row.st,
    receiptHandle: row.receiptHandle,
    consumedTimes: row.consumedTimes,
    visibleUntilMs: row.visibleUntilMs ?? row.dueAtMs,
    dueAtMs: row.dueAtMs,
    shard: row.shard,
    ...(row.firstConsumedAtMs !== undefined && { firstConsumedAtMs: row.firstConsumedAtMs }),
    ...(row.lastConsumedAtMs !== undefined && { lastConsumedAtMs: row.lastConsumedAtMs }),
    ...(row.ackedAtMs !== undefined && { ackedAtMs: row.ackedAtMs }),
  };
}

function leaseView(l: LeaseRow): LeaseView {
  return {
    topic: l.topic,
    group: l.group,
    gen: l.gen,
    shard: l.shard,
    pos: { ...l.pos },
    passed: l.passed.map((p) => ({ ...p })),
    ...(l.owner !== undefined && { holder: l.owner }),
    ...(l.untilMs !== undefined && { untilMs: l.untilMs }),
    ...(l.workAtMs !== undefined && { workAtMs: l.workAtMs }),
  };
}

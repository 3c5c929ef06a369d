import {
  CancelOutcome,
  type DedupRecord,
  type DueHistogram,
  type GroupDeliveryRecord,
  type LanePosition,
  type LocalDeliverAt,
  type ManageStore,
  type MessageRecord,
  RescheduleOutcome,
  type ScheduledEntry,
  type ScheduledPage,
  type ScheduledWindow,
} from "./manage-ports.js";
import { MessageState } from "./message.js";
import { type MemoryStore, key } from "./memory-store.js";
import type { Lane } from "./ports.js";

interface Indexed {
  dueAtMs: number;
  messageId: string;
}

const byDue = (a: Indexed, b: Indexed) => a.dueAtMs - b.dueAtMs || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);

/** ManageStore over a MemoryStore's rows: same contract as the DynamoDB one. */
export class MemoryManageStore implements ManageStore {
  private readonly dedup = new Map<string, DedupRecord>();
  private readonly keyPointers = new Map<string, Set<string>>();
  private readonly cancelledAt = new Map<string, number>();

  constructor(private readonly store: MemoryStore) {}

  async claimDedup(topic: string, dedupId: string, record: DedupRecord, nowMs: number): Promise<DedupRecord> {
    const k = key(topic, dedupId);
    const current = this.dedup.get(k);
    if (current && current.expiresAtMs > nowMs) return { ...current };
    this.dedup.set(k, { ...record });
    return { ...record };
  }

  async addKeyPointer(topic: string, messageKey: string, messageId: string): Promise<void> {
    const k = key(topic, messageKey);
    let ids = this.keyPointers.get(k);
    if (!ids) {
      ids = new Set();
      this.keyPointers.set(k, ids);
    }
    ids.add(messageId);
  }

  async messageIdsByKey(topic: string, messageKey: string): Promise<string[]> {
    return [...(this.keyPointers.get(key(topic, messageKey)) ?? [])].sort();
  }

  async exists(topic: string, messageId: string): Promise<boolean> {
    return this.store.messages.has(key(topic, messageId));
  }

  async cancel(topic: string, messageId: string, nowMs: number): Promise<CancelOutcome> {
    const row = this.store.messages.get(key(topic, messageId));
    if (!row) return CancelOutcome.NotFound;
    if (row.state === MessageState.Released) return CancelOutcome.AlreadyDelivered;
    if (row.state === MessageState.Scheduled) {
      row.state = MessageState.Cancelled;
      this.cancelledAt.set(key(topic, messageId), nowMs);
    }
    return row.state === MessageState.Cancelled ? CancelOutcome.Cancelled : CancelOutcome.NotFound;
  }

  async reschedule(
    topic: string,
    messageId: string,
    change: { deliverAtMs: number; expiresAtMs: number; local?: LocalDeliverAt },
  ): Promise<RescheduleOutcome> {
    const row = this.store.messages.get(key(topic, messageId));
    if (!row) return RescheduleOutcome.NotFound;
    if (row.state === MessageState.Released) return RescheduleOutcome.AlreadyDelivered;
    if (row.state === MessageState.Cancelled) return RescheduleOutcome.Cancelled;
    if (row.state !== MessageState.Scheduled) return RescheduleOutcome.NotFound;
    row.message.deliverAtMs = change.deliverAtMs;
    row.message.expiresAtMs = change.expiresAtMs;
    if (change.local) row.message.local = { ...change.local };
    else delete row.message.local;
    if (row.message.dedupId !== undefined) {
      const d = this.dedup.get(key(topic, row.message.dedupId));
      if (d?.messageId === messageId) d.expiresAtMs = change.expiresAtMs;
    }
    return RescheduleOutcome.Rescheduled;
  }

  async inspect(topic: string, messageId: string): Promise<MessageRecord | undefined> {
    const row = this.store.messages.get(key(topic, messageId));
    if (!row) return undefined;
    const { shard: _shard, ...content } = structuredClone(row.message);
    const deliveries: GroupDeliveryRecord[] = [];
    for (const d of this.store.deliveries.values()) {
      if (d.topic !== topic || d.messageId !== messageId) continue;
      deliveries.push({
        group: d.group,
        state: d.acked ? "acked" : "active",
        dueAtMs: d.dueAtMs,
        consumedTimes: d.consumedTimes,
        ...(d.firstConsumedAtMs !== undefined && { firstConsumedAtMs: d.firstConsumedAtMs }),
      });
    }
    deliveries.sort((a, b) => (a.group < b.group ? -1 : 1));
    const cancelledAtMs = this.cancelledAt.get(key(topic, messageId));
    return { content, state: row.state, ...(cancelledAtMs !== undefined && { cancelledAtMs }), deliveries };
  }

  async scheduledPage(
    topic: string,
    shard: number,
    window: ScheduledWindow,
    after: LanePosition | undefined,
    limit: number,
  ): Promise<ScheduledPage> {
    const lane = this.topicLane(topic, shard)
      .filter((e) => e.dueAtMs >= window.fromMs && e.dueAtMs <= window.toMs)
      .filter((e) => !after || byDue(e, after) > 0);
    const matching = lane.filter((e) => window.tag === undefined || e.tag === window.tag);
    const entries = matching.slice(0, limit);
    const last = entries[entries.length - 1];
    const more = matching.length > limit && last !== undefined;
    return {
      entries: entries.map(({ dueAtMs: _d, ...e }) => e),
      next: more ? { dueAtMs: last.dueAtMs, messageId: last.messageId } : undefined,
    };
  }

  async dueHistogram(lane: Lane, boundariesMs: readonly number[]): Promise<DueHistogram> {
    const entries = this.lane(lane);
    return {
      total: entries.length,
      atOrBefore: boundariesMs.map((b) => entries.filter((e) => e.dueAtMs <= b).length),
      earliestDueAtMs: entries[0]?.dueAtMs,
    };
  }

  private lane(lane: Lane): Indexed[] {
    if (lane.group === undefined) return this.topicLane(lane.topic, lane.shard);
    const out: Indexed[] = [];
    for (const d of this.store.deliveries.values()) {
      if (d.acked || d.topic !== lane.topic || d.group !== lane.group || d.shard !== lane.shard) continue;
      out.push({ dueAtMs: d.dueAtMs, messageId: d.messageId });
    }
    return out.sort(byDue);
  }

  private topicLane(topic: string, shard: number): (ScheduledEntry & Indexed)[] {
    const out: (ScheduledEntry & Indexed)[] = [];
    for (const row of this.store.messages.values()) {
      const m = row.message;
      if (row.state !== MessageState.Scheduled || m.topic !== topic || m.shard !== shard) continue;
      out.push({
        messageId: m.messageId,
        dueAtMs: m.deliverAtMs,
        deliverAtMs: m.deliverAtMs,
        expiresAtMs: m.expiresAtMs,
        ...(m.tag !== undefined && { tag: m.tag }),
      });
    }
    return out.sort(byDue);
  }
}

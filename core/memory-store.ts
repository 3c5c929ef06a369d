import type { Delivery, DueEntry, MessageContent, NewMessage } from "./message.js";
import { MessageState } from "./message.js";
import { AckOutcome, type ClaimSpec, type DueScan, type Lane, type MessageStore, ReleaseOutcome } from "./ports.js";

export interface MessageRow {
  message: NewMessage;
  state: MessageState;
}

export interface DeliveryRow {
  topic: string;
  group: string;
  messageId: string;
  shard: number;
  dueAtMs: number;
  deliverAtMs: number;
  expiresAtMs: number;
  tag?: string;
  receiptHandle?: string;
  consumedTimes: number;
  firstConsumedAtMs?: number;
  acked: boolean;
}

export const key = (...parts: (string | number)[]) => parts.join("\n");

/**
 * The MessageStore in memory: same contract as the DynamoDB store (it passes the same suite), no
 * persistence. Used by `npm start -- --in-memory` and by fast tests.
 */
export class MemoryStore implements MessageStore {
  private readonly topics = new Set<string>();
  private readonly groups = new Map<string, Set<string>>();
  /** Read and changed by MemoryManageStore too (cancel, reschedule, inspect). */
  readonly messages = new Map<string, MessageRow>();
  readonly deliveries = new Map<string, DeliveryRow>();

  async ping(): Promise<void> {}

  async registerTopic(topic: string): Promise<void> {
    this.topics.add(topic);
  }

  async listTopics(): Promise<string[]> {
    return [...this.topics].sort();
  }

  async registerGroup(topic: string, group: string): Promise<void> {
    let set = this.groups.get(topic);
    if (!set) this.groups.set(topic, (set = new Set()));
    set.add(group);
  }

  async listGroups(topic: string): Promise<string[]> {
    return [...(this.groups.get(topic) ?? [])].sort();
  }

  async insertMessage(message: NewMessage): Promise<void> {
    const k = key(message.topic, message.messageId);
    if (this.messages.has(k)) throw new Error(`duplicate message id ${message.messageId}`);
    this.messages.set(k, { message: structuredClone(message), state: MessageState.Scheduled });
  }

  async scanDue(lane: Lane, nowMs: number, limit: number): Promise<DueScan> {
    const entries: DueEntry[] = [];
    if (lane.group === undefined) {
      for (const row of this.messages.values()) {
        const m = row.message;
        if (row.state !== MessageState.Scheduled || m.topic !== lane.topic || m.shard !== lane.shard) continue;
        entries.push({
          messageId: m.messageId,
          shard: m.shard,
          dueAtMs: m.deliverAtMs,
          deliverAtMs: m.deliverAtMs,
          expiresAtMs: m.expiresAtMs,
          ...(m.tag !== undefined && { tag: m.tag }),
          consumedTimes: 0,
        });
      }
    } else {
      for (const d of this.deliveries.values()) {
        if (d.acked || d.topic !== lane.topic || d.group !== lane.group || d.shard !== lane.shard) continue;
        entries.push({
          messageId: d.messageId,
          shard: d.shard,
          dueAtMs: d.dueAtMs,
          deliverAtMs: d.deliverAtMs,
          expiresAtMs: d.expiresAtMs,
          ...(d.tag !== undefined && { tag: d.tag }),
          consumedTimes: d.consumedTimes,
        });
      }
    }
    entries.sort((a, b) => a.dueAtMs - b.dueAtMs || a.messageId.localeCompare(b.messageId));
    const page = entries.slice(0, limit);
    const due = page.filter((e) => e.dueAtMs <= nowMs);
    return { due, nextDueAtMs: page.find((e) => e.dueAtMs > nowMs)?.dueAtMs };
  }

  async release(
    topic: string,
    entry: DueEntry,
    groups: readonly string[],
    nowMs: number,
    claim?: ClaimSpec,
  ): Promise<{ outcome: ReleaseOutcome; delivery?: Delivery }> {
    const row = this.messages.get(key(topic, entry.messageId));
    if (!row || row.state !== MessageState.Scheduled || row.message.deliverAtMs > nowMs) return { outcome: ReleaseOutcome.Lost };
    if (groups.length === 0) return { outcome: ReleaseOutcome.Lost };
    row.state = MessageState.Released;
    const m = row.message;
    let delivery: Delivery | undefined;
    for (const group of groups) {
      const d: DeliveryRow = {
        topic,
        group,
        messageId: m.messageId,
        shard: m.shard,
        dueAtMs: m.deliverAtMs,
        deliverAtMs: m.deliverAtMs,
        expiresAtMs: m.expiresAtMs,
        ...(m.tag !== undefined && { tag: m.tag }),
        consumedTimes: 0,
        acked: false,
      };
      if (claim && claim.group === group) {
        applyClaim(d, claim);
        delivery = toDelivery(d);
      }
      this.deliveries.set(key(topic, group, m.messageId), d);
    }
    return { outcome: ReleaseOutcome.Released, ...(delivery && { delivery }) };
  }

  async claim(topic: string, entry: DueEntry, spec: ClaimSpec): Promise<Delivery | undefined> {
    const d = this.deliveries.get(key(topic, spec.group, entry.messageId));
    if (!d || d.acked || d.dueAtMs > spec.nowMs || d.expiresAtMs <= spec.nowMs) return undefined;
    applyClaim(d, spec);
    return toDelivery(d);
  }

  async loadMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, MessageContent>> {
    const out = new Map<string, MessageContent>();
    for (const id of messageIds) {
      const row = this.messages.get(key(topic, id));
      if (!row) continue;
      const { shard: _shard, ...content } = structuredClone(row.message);
      out.set(id, content);
    }
    return out;
  }

  async ack(topic: string, group: string, messageId: string, receiptHandle: string, nowMs: number): Promise<AckOutcome> {
    const d = this.deliveries.get(key(topic, group, messageId));
    if (!d) return AckOutcome.Unknown;
    if (d.acked || d.receiptHandle !== receiptHandle || d.dueAtMs <= nowMs) return AckOutcome.Stale;
    d.acked = true;
    return AckOutcome.Acked;
  }
}

function applyClaim(d: DeliveryRow, spec: ClaimSpec): void {
  d.receiptHandle = spec.receiptHandle;
  d.dueAtMs = spec.visibleUntilMs;
  d.consumedTimes += 1;
  d.firstConsumedAtMs ??= spec.nowMs;
}

function toDelivery(d: DeliveryRow): Delivery {
  return {
    messageId: d.messageId,
    group: d.group,
    receiptHandle: d.receiptHandle as string,
    consumedTimes: d.consumedTimes,
    firstConsumedAtMs: d.firstConsumedAtMs as number,
    nextVisibleAtMs: d.dueAtMs,
  };
}

import type { Delivery, DueEntry, MessageContent, NewMessage } from "./message.js";
import { MessageState } from "./message.js";
import { AckOutcome, type ClaimSpec, type DueScan, type Lane, type MessageStore, ReleaseOutcome } from "./ports.js";
import { type DeadLetterPage, type DeliveryState, type NackSpec, RetireReason, type RetireSpec } from "./retry-ports.js";
import { isExpired } from "./retry-rules.js";
import { invalid } from "./errors.js";
import type { GroupEntry, GroupSettingsInput, TopicSettingsInput } from "./settings.js";

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
  ttlExpiresAtMs?: number;
  /** End of the current delivery's visibility (the handle acks or nacks only before it). */
  visibleUntilMs?: number;
  /** Out of circulation: in the dead-letter lane (`dead`) or dropped. */
  retired?: { dead: boolean; failedAtMs: number; reason: RetireReason };
}

export const key = (...parts: (string | number)[]) => parts.join("\n");

/**
 * The MessageStore in memory: same contract as the DynamoDB store (it passes the same suite), no
 * persistence. Used by `npm start -- --in-memory` and by fast tests.
 */
export class MemoryStore implements MessageStore {
  private readonly topics = new Set<string>();
  private readonly groups = new Map<string, Set<string>>();
  private readonly topicSettings = new Map<string, TopicSettingsInput>();
  private readonly groupSettings = new Map<string, GroupSettingsInput>();
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
    if (!set) {
      set = new Set();
      this.groups.set(topic, set);
    }
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
          ...(m.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: m.ttlExpiresAtMs }),
          ...(m.tag !== undefined && { tag: m.tag }),
          consumedTimes: 0,
        });
      }
    } else {
      for (const d of this.deliveries.values()) {
        if (d.acked || d.retired || d.topic !== lane.topic || d.group !== lane.group || d.shard !== lane.shard) continue;
        entries.push({
          messageId: d.messageId,
          shard: d.shard,
          dueAtMs: d.dueAtMs,
          deliverAtMs: d.deliverAtMs,
          expiresAtMs: d.expiresAtMs,
          ...(d.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: d.ttlExpiresAtMs }),
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
    if (groups.length === 0 || isExpired(row.message.ttlExpiresAtMs, nowMs)) return { outcome: ReleaseOutcome.Lost };
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
        ...(m.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: m.ttlExpiresAtMs }),
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
    if (!d || d.acked || d.retired || d.dueAtMs > spec.nowMs || d.expiresAtMs <= spec.nowMs) return undefined;
    if (isExpired(d.ttlExpiresAtMs, spec.nowMs)) return undefined;
    if (spec.expectConsumedTimes !== undefined && d.consumedTimes !== spec.expectConsumedTimes) return undefined;
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
    if (d.acked || d.retired || d.receiptHandle !== receiptHandle || !withinVisibility(d, nowMs)) return AckOutcome.Stale;
    d.acked = true;
    return AckOutcome.Acked;
  }

  async getTopicSettings(topic: string): Promise<TopicSettingsInput | undefined> {
    const s = this.topicSettings.get(topic);
    return s ? structuredClone(s) : undefined;
  }

  async putTopicSettings(topic: string, settings: TopicSettingsInput): Promise<void> {
    this.topicSettings.set(topic, structuredClone(settings));
  }

  async getGroupSettings(topic: string, group: string): Promise<GroupSettingsInput | undefined> {
    if (!this.groups.get(topic)?.has(group)) return undefined;
    return structuredClone(this.groupSettings.get(key(topic, group)) ?? {});
  }

  async putGroupSettings(topic: string, group: string, settings: GroupSettingsInput): Promise<void> {
    await this.registerGroup(topic, group);
    this.groupSettings.set(key(topic, group), structuredClone(settings));
  }

  async listGroupSettings(topic: string): Promise<GroupEntry[]> {
    const groups = await this.listGroups(topic);
    return groups.map((group) => ({ group, settings: structuredClone(this.groupSettings.get(key(topic, group)) ?? {}) }));
  }

  async retireScheduled(topic: string, entry: DueEntry, deadLetterGroups: readonly string[], reason: RetireReason, nowMs: number): Promise<boolean> {
    const row = this.messages.get(key(topic, entry.messageId));
    if (!row || row.state !== MessageState.Scheduled || row.message.deliverAtMs > nowMs) return false;
    const m = row.message;
    if (reason === RetireReason.Expired && !isExpired(m.ttlExpiresAtMs, nowMs)) return false;
    row.state = MessageState.Retired;
    const failedAtMs = reason === RetireReason.Expired ? (m.ttlExpiresAtMs ?? nowMs) : nowMs;
    for (const group of deadLetterGroups) {
      this.deliveries.set(key(topic, group, m.messageId), {
        topic,
        group,
        messageId: m.messageId,
        shard: m.shard,
        dueAtMs: failedAtMs,
        deliverAtMs: m.deliverAtMs,
        expiresAtMs: m.expiresAtMs,
        ...(m.ttlExpiresAtMs !== undefined && { ttlExpiresAtMs: m.ttlExpiresAtMs }),
        ...(m.tag !== undefined && { tag: m.tag }),
        consumedTimes: 0,
        acked: false,
        retired: { dead: true, failedAtMs, reason },
      });
    }
    return true;
  }

  async retireDelivery(topic: string, group: string, messageId: string, spec: RetireSpec): Promise<boolean> {
    const d = this.deliveries.get(key(topic, group, messageId));
    if (!d || d.acked || d.retired) return false;
    const when = spec.when;
    if (when.kind === "due" && (d.dueAtMs !== when.dueAtMs || d.consumedTimes !== when.consumedTimes)) return false;
    if (when.kind === "expired" && (d.dueAtMs > spec.nowMs || !isExpired(d.ttlExpiresAtMs, spec.nowMs))) return false;
    if (when.kind === "held" && (d.receiptHandle !== when.receiptHandle || d.consumedTimes !== when.consumedTimes || !withinVisibility(d, spec.nowMs))) {
      return false;
    }
    d.retired = { dead: spec.deadLetter, failedAtMs: spec.failedAtMs, reason: spec.reason };
    d.dueAtMs = spec.failedAtMs;
    d.shard = spec.shard;
    delete d.receiptHandle;
    delete d.visibleUntilMs;
    return true;
  }

  async readDelivery(topic: string, group: string, messageId: string): Promise<DeliveryState | undefined> {
    const d = this.deliveries.get(key(topic, group, messageId));
    if (!d) return undefined;
    return {
      messageId,
      group,
      active: !d.acked && !d.retired,
      receiptHandle: d.receiptHandle,
      consumedTimes: d.consumedTimes,
      visibleUntilMs: d.visibleUntilMs ?? d.dueAtMs,
      dueAtMs: d.dueAtMs,
      shard: d.shard,
    };
  }

  async nack(topic: string, group: string, messageId: string, spec: NackSpec): Promise<boolean> {
    const d = this.deliveries.get(key(topic, group, messageId));
    if (!d || d.acked || d.retired || d.receiptHandle !== spec.receiptHandle || d.consumedTimes !== spec.consumedTimes) return false;
    if (!withinVisibility(d, spec.nowMs)) return false;
    d.dueAtMs = spec.redeliverAtMs;
    delete d.receiptHandle;
    delete d.visibleUntilMs;
    return true;
  }

  async listDeadLetters(topic: string, group: string, limit: number, nowMs: number, cursor?: string): Promise<DeadLetterPage> {
    const after = cursor === undefined ? undefined : decodeMemoryCursor(cursor);
    const dead = [...this.deliveries.values()]
      .filter((d) => d.topic === topic && d.group === group && d.retired?.dead === true)
      .sort((a, b) => a.dueAtMs - b.dueAtMs || a.messageId.localeCompare(b.messageId))
      .filter((d) => !after || d.dueAtMs > after.dueAtMs || (d.dueAtMs === after.dueAtMs && d.messageId > after.messageId));
    const page = dead.slice(0, limit);
    const last = page[page.length - 1];
    const more = dead.length > limit && last !== undefined;
    return {
      deadLetters: page
        .filter((d) => d.expiresAtMs > nowMs)
        .map((d) => ({
          messageId: d.messageId,
          failedAtMs: d.dueAtMs,
          consumedTimes: d.consumedTimes,
          deliverAtMs: d.deliverAtMs,
          ...(d.tag !== undefined && { tag: d.tag }),
        })),
      ...(more && { cursor: Buffer.from(JSON.stringify({ dueAtMs: last.dueAtMs, messageId: last.messageId })).toString("base64url") }),
    };
  }

  async redrive(topic: string, group: string, messageId: string, shard: number, nowMs: number): Promise<boolean> {
    const d = this.deliveries.get(key(topic, group, messageId));
    if (d?.retired?.dead !== true) return false;
    delete d.retired;
    delete d.ttlExpiresAtMs;
    delete d.firstConsumedAtMs;
    d.shard = shard;
    d.dueAtMs = nowMs;
    d.consumedTimes = 0;
    return true;
  }
}

function withinVisibility(d: DeliveryRow, nowMs: number): boolean {
  return (d.visibleUntilMs ?? d.dueAtMs) > nowMs;
}

function decodeMemoryCursor(cursor: string): { dueAtMs: number; messageId: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { dueAtMs?: unknown; messageId?: unknown };
    if (typeof v.dueAtMs === "number" && typeof v.messageId === "string") return { dueAtMs: v.dueAtMs, messageId: v.messageId };
  } catch {}
  throw invalid("cursor is not one this listing returned; send the cursor of the previous page unchanged, or none for the first page");
}

function applyClaim(d: DeliveryRow, spec: ClaimSpec): void {
  d.receiptHandle = spec.receiptHandle;
  d.visibleUntilMs = spec.visibleUntilMs;
  d.dueAtMs = spec.redeliverAtMs ?? spec.visibleUntilMs;
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

import type { DueEntry } from "./message.js";
import type { GroupEntry, GroupSettingsInput, TopicSettingsInput } from "./settings.js";

/** Why a message or delivery left circulation without an ack. */
export const RetireReason = {
  /** Its TTL ran out before it was delivered (or while it waited for a redelivery). */
  Expired: "expired",
  /** It was delivered `maxReceiveCount` times without an ack. */
  MaxReceiveCount: "maxReceiveCount",
  /** No group of the topic subscribes to its tag (scheduled messages only). */
  Unsubscribed: "unsubscribed",
} as const;
export type RetireReason = (typeof RetireReason)[keyof typeof RetireReason];

/** The state of one group's delivery, read strongly consistently. */
export interface DeliveryState {
  messageId: string;
  group: string;
  active: boolean;
  receiptHandle: string | undefined;
  consumedTimes: number;
  /** End of the current delivery's visibility: its handle acks or nacks only before this. */
  visibleUntilMs: number;
  dueAtMs: number;
  shard: number;
}

/** Which state of a delivery a retirement is conditional on. */
export type RetireWhen =
  /** Visible again (due) exactly as the index showed it: same due time, same delivery count. */
  | { kind: "due"; dueAtMs: number; consumedTimes: number }
  /** Visible and past its TTL. */
  | { kind: "expired" }
  /** Held by this receipt handle, within its visibility (a nack of the last allowed delivery). */
  | { kind: "held"; receiptHandle: string; consumedTimes: number };

export interface RetireSpec {
  when: RetireWhen;
  /** Move to the group's dead-letter lane; else drop. */
  deadLetter: boolean;
  reason: RetireReason;
  failedAtMs: number;
  shard: number;
  nowMs: number;
}

export interface NackSpec {
  receiptHandle: string;
  consumedTimes: number;
  redeliverAtMs: number;
  nowMs: number;
}

export interface DeadLetter {
  messageId: string;
  /** When the last delivery failed (visibility ran out, or nack) or the TTL ran out. */
  failedAtMs: number;
  /** Deliveries made before it was dead-lettered. */
  consumedTimes: number;
  deliverAtMs: number;
  tag?: string;
}

export interface DeadLetterPage {
  deadLetters: DeadLetter[];
  /** Opaque; pass back to read the next page. Absent on the last page. */
  cursor?: string;
}

/**
 * The store verbs of retries, TTL, dead letters and per-topic / per-group settings. Every state change
 * is one conditional write (or one transaction), read back on a failed condition where a retried write
 * may already have applied it.
 */
export interface RetryStore {
  getTopicSettings(topic: string): Promise<TopicSettingsInput | undefined>;
  /** Replaces the topic's settings (the meta item `T#<topic>`/`C`); a newer concurrent write wins. */
  putTopicSettings(topic: string, settings: TopicSettingsInput, nowMs: number): Promise<void>;
  /** undefined when the group is not registered. */
  getGroupSettings(topic: string, group: string): Promise<GroupSettingsInput | undefined>;
  /** Registers the group if needed and replaces its settings; a newer concurrent write wins. */
  putGroupSettings(topic: string, group: string, settings: GroupSettingsInput, nowMs: number): Promise<void>;
  /** Every registered group with its settings (one strongly consistent read of the registry). */
  listGroupSettings(topic: string): Promise<GroupEntry[]>;

  /**
   * Takes a due scheduled message out of the topic lane without releasing it to any group: if still
   * scheduled and due (and, for `expired`, past its TTL), marks it retired and puts a dead letter for
   * each of `deadLetterGroups`. False when the condition failed (someone else acted first).
   */
  retireScheduled(topic: string, entry: DueEntry, deadLetterGroups: readonly string[], reason: RetireReason, nowMs: number): Promise<boolean>;
  /** Moves one delivery to the group's dead-letter lane (sorted by failure time), or drops it. */
  retireDelivery(topic: string, group: string, messageId: string, spec: RetireSpec): Promise<boolean>;
  readDelivery(topic: string, group: string, messageId: string): Promise<DeliveryState | undefined>;
  /**
   * Makes a held delivery visible at `redeliverAtMs` if `receiptHandle` is still its handle, within its
   * visibility, at `consumedTimes`. The handle is spent. False when the condition failed.
   */
  nack(topic: string, group: string, messageId: string, spec: NackSpec): Promise<boolean>;
  /** One page of the group's dead letters, oldest failure first; expired (retention) ones are skipped. */
  listDeadLetters(topic: string, group: string, limit: number, nowMs: number, cursor?: string): Promise<DeadLetterPage>;
  /** A dead letter back into the group's lane as a fresh delivery (count 0, no TTL), visible at `nowMs`. */
  redrive(topic: string, group: string, messageId: string, shard: number, nowMs: number): Promise<boolean>;
}

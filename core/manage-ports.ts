import type { LocalDeliverAt, MessageContent } from "./message.js";
import type { Lane } from "./ports.js";

export type { LocalDeliverAt };

export const CancelOutcome = {
  Cancelled: "cancelled",
  /** Released to the topic's groups before the cancel: consumers have it (or may take it now). */
  AlreadyDelivered: "already-delivered",
  NotFound: "not-found",
} as const;
export type CancelOutcome = (typeof CancelOutcome)[keyof typeof CancelOutcome];

export const RescheduleOutcome = {
  Rescheduled: "rescheduled",
  AlreadyDelivered: "already-delivered",
  /** Cancelled before: nothing changed. */
  Cancelled: "cancelled",
  NotFound: "not-found",
} as const;
export type RescheduleOutcome = (typeof RescheduleOutcome)[keyof typeof RescheduleOutcome];

/** What a dedup record remembers of the message it guards, so a repeat can answer (and finish) it. */
export interface DedupRecord {
  messageId: string;
  bodyMd5: string;
  publishedAtMs: number;
  deliverAtMs: number;
  expiresAtMs: number;
}

/** One group's delivery of a message, as stored. `state` is the store's own word (active, acked, …). */
export interface GroupDeliveryRecord {
  group: string;
  state: string;
  /** When it is next visible (or was last due). */
  dueAtMs: number;
  consumedTimes: number;
  firstConsumedAtMs?: number;
  lastConsumedAtMs?: number;
  ackedAtMs?: number;
}

export interface MessageRecord {
  content: MessageContent;
  /** scheduled | released | cancelled */
  state: string;
  releasedAtMs?: number;
  cancelledAtMs?: number;
  deliveries: GroupDeliveryRecord[];
}

/** One scheduled message as the due index lists it. */
export interface ScheduledEntry {
  messageId: string;
  deliverAtMs: number;
  expiresAtMs: number;
  tag?: string;
}

/** A position in one lane of the due index: listing continues after it. */
export interface LanePosition {
  dueAtMs: number;
  messageId: string;
}

export interface ScheduledWindow {
  fromMs: number;
  toMs: number;
  tag?: string;
}

export interface ScheduledPage {
  entries: ScheduledEntry[];
  /** Where to continue in this lane; undefined when the lane has nothing more in the window. */
  next: LanePosition | undefined;
}

/** How a lane's entries spread over due time: one read of the lane. */
export interface DueHistogram {
  total: number;
  /** For each boundary given, how many entries fall due at or before it. */
  atOrBefore: number[];
  earliestDueAtMs: number | undefined;
}

/**
 * What managing scheduled messages needs of storage, in queue verbs. Every state change is one
 * conditional write (or one transaction); the outcome of a lost race is a value, never an exception.
 */
export interface ManageStore {
  /**
   * Makes `record` the message of `dedupId` unless a live (unexpired) record exists. Returns the record
   * in force: `record` itself when this call won (or an earlier attempt of it did), else the original.
   */
  claimDedup(topic: string, dedupId: string, record: DedupRecord, nowMs: number): Promise<DedupRecord>;
  /** Makes the message findable by its key (written before the message itself). */
  addKeyPointer(topic: string, key: string, messageId: string, expiresAtMs: number): Promise<void>;
  /** Ids of messages published with `key` that may still exist (pointers outlive nothing but expiry). */
  messageIdsByKey(topic: string, key: string): Promise<string[]>;
  /** Whether the message's schedule record exists (strongly consistent). */
  exists(topic: string, messageId: string): Promise<boolean>;
  /** If the message is still scheduled, marks it cancelled: it leaves the due index and is never released. */
  cancel(topic: string, messageId: string, nowMs: number): Promise<CancelOutcome>;
  /** If the message is still scheduled, moves its deliver time (and expiry). */
  reschedule(
    topic: string,
    messageId: string,
    change: { deliverAtMs: number; expiresAtMs: number; local?: LocalDeliverAt },
    nowMs: number,
  ): Promise<RescheduleOutcome>;
  /** The message, its state and every group's delivery, read strongly consistently. */
  inspect(topic: string, messageId: string): Promise<MessageRecord | undefined>;
  /** Scheduled messages of one topic lane due within the window, in due order, after `after`. */
  scheduledPage(topic: string, shard: number, window: ScheduledWindow, after: LanePosition | undefined, limit: number): Promise<ScheduledPage>;
  /** Reads one lane of the due index once and counts its entries against `boundariesMs`. */
  dueHistogram(lane: Lane, boundariesMs: readonly number[]): Promise<DueHistogram>;
  /** Size of a group's dead-letter lane; absent where the store keeps none. */
  countDeadLetters?(topic: string, group: string): Promise<number>;
}

import type { Delivery, DueEntry, MessageContent, NewMessage } from "./message.js";
import type { RetryStore } from "./retry-ports.js";

/** The only reader of the wall clock. Tests inject a manual one. */
export interface Clock {
  nowMs(): number;
  /** Resolves after `ms` of this clock's time, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** One lane of the due index: a topic's scheduled messages (no group) or one group's deliveries. */
export interface Lane {
  topic: string;
  shard: number;
  group?: string;
}

export interface DueScan {
  /** Entries with dueAtMs ≤ now, oldest first. */
  due: DueEntry[];
  /** The earliest dueAtMs > now this read saw, if any. */
  nextDueAtMs: number | undefined;
}

export interface ClaimSpec {
  group: string;
  receiptHandle: string;
  visibleUntilMs: number;
  nowMs: number;
  /** When the delivery is due again if neither acked nor nacked (visibility plus backoff); default visibleUntilMs. */
  redeliverAtMs?: number;
  /** Claim only if the delivery has been consumed exactly this many times (what the index showed). */
  expectConsumedTimes?: number;
}

export const ReleaseOutcome = {
  Released: "released",
  /** Not scheduled and due any more (someone else released it, or it was rescheduled): nothing done. */
  Lost: "lost",
} as const;
export type ReleaseOutcome = (typeof ReleaseOutcome)[keyof typeof ReleaseOutcome];

export const AckOutcome = {
  Acked: "acked",
  /** The handle's delivery was superseded, its visibility ran out, or it was acked before. */
  Stale: "stale",
  /** No such delivery in this topic and group. */
  Unknown: "unknown",
} as const;
export type AckOutcome = (typeof AckOutcome)[keyof typeof AckOutcome];

/**
 * Storage, spoken in queue verbs. Every state change is one conditional write (or one transaction);
 * losing a race is an outcome, never an exception. Retryable infrastructure faults throw
 * StoreUnavailableError.
 */
export interface MessageStore extends RetryStore {
  ping(): Promise<void>;
  /** Idempotent; makes the topic known to the sweeper. */
  registerTopic(topic: string): Promise<void>;
  listTopics(): Promise<string[]>;
  /** Idempotent; from this moment the group receives every message released on the topic. */
  registerGroup(topic: string, group: string, nowMs: number): Promise<void>;
  listGroups(topic: string): Promise<string[]>;

  insertMessage(message: NewMessage): Promise<void>;
  /** Reads one lane of the due index (eventually consistent): due entries and the next due time. */
  scanDue(lane: Lane, nowMs: number, limit: number): Promise<DueScan>;
  /**
   * Atomically: if the message is still scheduled and due, mark it released and create one delivery per
   * group (the claimer's group's delivery already claimed, when `claim` is given).
   */
  release(
    topic: string,
    entry: DueEntry,
    groups: readonly string[],
    nowMs: number,
    claim?: ClaimSpec,
  ): Promise<{ outcome: ReleaseOutcome; delivery?: Delivery }>;
  /** Claims a delivery if it is visible (due) now; undefined when another consumer won or it is gone. */
  claim(topic: string, entry: DueEntry, spec: ClaimSpec): Promise<Delivery | undefined>;
  /** Reads message contents by id (strongly consistent); missing ids are absent from the map. */
  loadMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, MessageContent>>;
  /** Acks the delivery if `receiptHandle` is its current handle and it is still invisible at `nowMs`. */
  ack(
    topic: string,
    group: string,
    messageId: string,
    receiptHandle: string,
    nowMs: number,
  ): Promise<AckOutcome>;
}

/** Structured log lines (JSON on stdout in Lambda and locally). */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** The message model. Times are epoch milliseconds unless a name says otherwise. */

export const MessageState = {
  /** Waiting in its topic's lane of the due index until its deliver time. */
  Scheduled: "scheduled",
  /** Handed to every group registered at release; consumers now work on per-group deliveries. */
  Released: "released",
  /** Taken out of the topic lane undelivered: expired before release, or no group subscribes to its tag. */
  Retired: "retired",
  /** Cancelled while scheduled: out of the due index, never released. */
  Cancelled: "cancelled",
} as const;
export type MessageState = (typeof MessageState)[keyof typeof MessageState];

/** What a publish stores: the immutable content and the schedule. */
export interface NewMessage {
  topic: string;
  messageId: string;
  body: string;
  bodyMd5: string;
  tag?: string;
  key?: string;
  properties: Record<string, string>;
  publishedAtMs: number;
  deliverAtMs: number;
  /** Write shard of the due index this message (and each of its deliveries) lives in. */
  shard: number;
  /** After this the message is neither delivered nor kept (retention). */
  expiresAtMs: number;
  /** Message TTL: at and after this it is never delivered (absent: no TTL). */
  ttlExpiresAtMs?: number;
  /** The deliver time as a wall-clock time in a time zone, when the publisher gave it so. */
  local?: LocalDeliverAt;
  /** The publisher's idempotency id: a repeat publish with it returns this message. */
  dedupId?: string;
}

/** A wall-clock deliver time as the publisher gave it, with the IANA zone it was read in. */
export interface LocalDeliverAt {
  wallClock: string;
  timeZone: string;
}

/** The immutable content of a message, as consumers read it. */
export type MessageContent = Omit<NewMessage, "shard">;

/** An index entry found due (or nearly due) in one lane. Index reads may be stale: every use is confirmed by a conditional write. */
export interface DueEntry {
  messageId: string;
  shard: number;
  dueAtMs: number;
  deliverAtMs: number;
  expiresAtMs: number;
  ttlExpiresAtMs?: number;
  tag?: string;
  consumedTimes: number;
}

/** One group's copy of a message after a successful claim. */
export interface Delivery {
  messageId: string;
  group: string;
  receiptHandle: string;
  consumedTimes: number;
  firstConsumedAtMs: number;
  nextVisibleAtMs: number;
}

/** What a consumer receives: the content plus this delivery's bookkeeping. */
export type ReceivedMessage = MessageContent & Delivery;

export interface PublishResult {
  messageId: string;
  bodyMd5: string;
  deliverAtMs: number;
  /** A repeat of an earlier publish with the same dedupId: the original message's id and times. */
  duplicate?: boolean;
  local?: LocalDeliverAt;
  /** Set when the asked time was beyond the topic's maximum and the rule in force delivered it now. */
  overMaxDelay?: "delivered-now";
}

export interface AckFailure {
  receiptHandle: string;
  code: "ReceiptHandleError" | "MessageNotExist";
  message: string;
}

export interface AckResult {
  acked: number;
  failed: AckFailure[];
}

export interface SweepReport {
  topics: number;
  released: number;
  /** Due messages of topics that have no group yet: kept until the first group registers. */
  held: number;
  /** Deliveries whose visibility ran out without an ack: visible again, counted here. */
  redeliverable: number;
  /** Taken out of circulation undelivered: expired, past maxReceiveCount (dead-lettered or dropped), or unsubscribed. */
  retired: number;
  lost: number;
  budgetExhausted: boolean;
  durationMs: number;
}

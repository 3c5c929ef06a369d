/** The message model. Times are epoch milliseconds unless a name says otherwise. */

/**
 * A message as stored: scheduled until its deliver time, then due for every group whose subscription
 * started before it (each group takes it through its own cursor), or cancelled before that.
 */
export const MessageState = {
  /** Waiting for its deliver time; may still be cancelled or rescheduled. */
  Scheduled: "scheduled",
  /** Its deliver time has come: the groups take it (a derived state; stored as scheduled). */
  Due: "due",
  /** Cancelled before its deliver time: no group ever receives it. */
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
  /** Write shard of the due index this message lives in (its deliveries live in the same shard of their group's lane). */
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

/** The content of a message, as consumers read it. */
export type MessageContent = Omit<NewMessage, "shard">;

/** A message read from the table (strongly consistent): its content and its current schedule. */
export interface StoredMessage {
  content: MessageContent;
  shard: number;
  /** scheduled (incl. due) or cancelled, as stored. */
  state: typeof MessageState.Scheduled | typeof MessageState.Cancelled;
  cancelledAtMs?: number;
}

/** One group's copy of a message after a successful claim. */
export interface Delivery {
  messageId: string;
  group: string;
  receiptHandle: string;
  consumedTimes: number;
  firstConsumedAtMs: number;
  nextVisibleAtMs: number;
  /**
   * Failures recorded for this delivery so far (nacks, and a last delivery's nack that retired it), kept
   * through redrives: a push's attempt number is this plus one. Absent: none.
   */
  nackedTimes?: number;
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

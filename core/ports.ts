import type { Delivery, LocalDeliverAt, MessageContent, NewMessage, StoredMessage } from "./message.js";
import type { GroupSettingsInput, TopicSettingsInput } from "./settings.js";

/** The only reader of the wall clock. Tests inject a manual one. */
export interface Clock {
  nowMs(): number;
  /** Resolves after `ms` of this clock's time, or at once when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Structured log lines (JSON on stdout in Lambda and locally). */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/**
 * A place in a lane. Entries sort by due time; entries due at the same millisecond come in the store's
 * own order (the memory store's is by message id), so a position is only ever compared with the lane it
 * came from, through `after`.
 */
export interface LanePosition {
  dueAtMs: number;
  messageId: string;
}

export function comparePositions(a: LanePosition, b: LanePosition): number {
  return a.dueAtMs - b.dueAtMs || (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0);
}

/** One lane of the due index. */
export type Lane =
  /** A topic's messages by deliver time: the log every group reads through its own cursor. */
  | { kind: "topic"; topic: string; shard: number }
  /** A group's deliveries by the time they are next visible (in flight, waiting for redelivery, nacked). */
  | { kind: "group"; topic: string; group: string; shard: number }
  /** A group's dead letters by failure time. */
  | { kind: "dead"; topic: string; group: string };

/** What the due index shows of an item. Index reads may be stale: every use is confirmed by a conditional write or a consistent read. */
export interface LaneEntry {
  messageId: string;
  dueAtMs: number;
  deliverAtMs: number;
  expiresAtMs: number;
  ttlExpiresAtMs?: number;
  tag?: string;
  /** Deliveries so far (group and dead lanes). */
  consumedTimes: number;
  /** The group incarnation a delivery belongs to (group and dead lanes). */
  gen?: string;
  /** Why a dead letter died (dead lane). */
  reason?: string;
}

export interface LaneRange {
  /** Entries due at or after this. */
  fromMs: number;
  /** Entries due at or before this. */
  toMs: number;
  /** Only entries after this one, in the lane's order (a position this lane returned). */
  after?: LanePosition;
}

export interface LaneRead {
  entries: LaneEntry[];
  /** More entries may follow in the range after the last one returned (the read was cut by its limit, or by the store's answer size). */
  more: boolean;
}

/** Limits a histogram's read: entries due after `toMs` are not read, and reading stops once `cap` entries were counted. */
export interface HistogramBound {
  toMs?: number;
  cap?: number;
}

/** How a lane's entries spread over due time: one read of the lane. */
export interface DueHistogram {
  total: number;
  /** For each boundary given, how many entries fall due at or before it. */
  atOrBefore: number[];
  earliestDueAtMs: number | undefined;
}

/** A group as registered: settings, incarnation and where its subscription starts. */
export interface GroupRecord {
  group: string;
  /** Incarnation: a group deleted and registered again is a new one, with none of the old one's deliveries. */
  gen: string;
  /** The group receives every message due at or after this (0: every message still retained). */
  startMs: number;
  createdAtMs: number;
  settings: GroupSettingsInput;
}

export interface GroupPage {
  groups: GroupRecord[];
  /** Opaque; pass back for the next page. */
  cursor?: string;
}

/** Which (topic, group, shard) a lease and cursor belong to. */
export interface LeaseKey {
  topic: string;
  group: string;
  gen: string;
  shard: number;
}

/** A group's cursor over one shard of its topic's lane, and who holds the right to move it. */
export interface Lease {
  /** Every entry of the topic lane at or before this has been taken or passed by the group. */
  pos: LanePosition;
  /** How many entries the cursor passed in (pos − horizon, pos]: a later reader tells late index entries by it. */
  recent: number;
  /** Acquired from a holder whose lease ran out (it stopped without saving): entries after `pos` may be claimed already. */
  takenOver: boolean;
  /** Entries after `pos` that were passed already (taken out of the lane's order, or due in the same millisecond as the last one passed). */
  passed: LanePosition[];
  /**
   * The lease was last released by `owner` itself and nobody held it since: what that owner knew of the
   * shard when it released it is still exact (it may go on from there instead of starting afresh).
   */
  resumed: boolean;
  /** The cursor's next sweeper look as saved (absent: none). */
  workAtMs?: number;
}

export type LeaseOutcome = { ok: true; lease: Lease } | { ok: false; holder: string; untilMs: number };

export interface LeaseSave {
  pos: LanePosition;
  recent: number;
  /** Entries after `pos` that were passed already. */
  passed: LanePosition[];
  /** Keeps the lease until then; absent: releases it. */
  untilMs?: number;
  /** When the sweeper should next look at this group's shard (absent: nothing for it to do). */
  workAtMs?: number;
  /** Leaves the sweeper's next look as it is (`workAtMs` is ignored): no change to the due index. */
  keepWork?: boolean;
}

/** A lease as a sweeper or stats reader sees it. */
export interface LeaseView extends LeaseKey {
  pos: LanePosition;
  /** Entries after `pos` that were passed already (as last saved). */
  passed: LanePosition[];
  holder?: string;
  untilMs?: number;
  workAtMs?: number;
}

/** A claim of a delivery for one consumer. */
export interface ClaimSpec {
  receiptHandle: string;
  nowMs: number;
  visibleUntilMs: number;
  /** When the delivery is due again if neither acked nor nacked. */
  redeliverAtMs: number;
}

/** A group's first delivery of a message, created by the claim itself. */
export interface NewDelivery {
  topic: string;
  group: string;
  gen: string;
  message: LaneEntry & { shard: number };
  claim: ClaimSpec;
}

/** A message a group passed without taking (no waiting poll's tag filter wanted it), to wait in the group lane. */
export type ParkedDelivery = Omit<NewDelivery, "claim">;

/** The state of one group's delivery, read strongly consistently. */
export interface DeliveryState {
  messageId: string;
  group: string;
  gen: string;
  /** active (in the group lane), acked, dead (in the dead-letter lane) or dropped. */
  state: string;
  receiptHandle: string | undefined;
  consumedTimes: number;
  /** End of the current delivery's visibility: its handle acks or nacks only before this. */
  visibleUntilMs: number;
  dueAtMs: number;
  shard: number;
  firstConsumedAtMs?: number;
  lastConsumedAtMs?: number;
  ackedAtMs?: number;
}

export const AckOutcome = {
  Acked: "acked",
  /** The handle's delivery was superseded, its visibility ran out, or it was acked before. */
  Stale: "stale",
  /** No such delivery in this topic and group. */
  Unknown: "unknown",
} as const;
export type AckOutcome = (typeof AckOutcome)[keyof typeof AckOutcome];

/** Why a message or delivery left circulation without an ack. */
export const RetireReason = {
  /** Its TTL ran out before it was delivered (or while it waited for a redelivery). */
  Expired: "expired",
  /** It was delivered `maxReceiveCount` times without an ack. */
  MaxReceiveCount: "maxReceiveCount",
  /** A consumer rejected it without asking for a redelivery (AMQP's reject/nack with requeue=false). */
  Rejected: "rejected",
} as const;
export type RetireReason = (typeof RetireReason)[keyof typeof RetireReason];

/** Which state of a delivery a retirement is conditional on. */
export type RetireWhen =
  /** Visible again (due) exactly as the index showed it: same due time, same delivery count. */
  | { kind: "due"; dueAtMs: number; consumedTimes: number }
  /** Held by this receipt handle, within its visibility (a nack of the last allowed delivery). */
  | { kind: "held"; receiptHandle: string; consumedTimes: number };

export interface RetireSpec {
  when: RetireWhen;
  /** Move to the group's dead-letter lane; else drop. */
  deadLetter: boolean;
  reason: RetireReason;
  failedAtMs: number;
  nowMs: number;
}

export interface NackSpec {
  receiptHandle: string;
  consumedTimes: number;
  redeliverAtMs: number;
  nowMs: number;
}

/** A longer visibility for a held delivery: the same handle keeps it until `visibleUntilMs`. */
export interface ExtendSpec {
  receiptHandle: string;
  consumedTimes: number;
  nowMs: number;
  visibleUntilMs: number;
  /** When the delivery is due again if neither acked nor nacked by then. */
  redeliverAtMs: number;
}

export interface DeadLetter {
  messageId: string;
  /** When the last delivery failed (visibility ran out, or nack) or the TTL ran out. */
  failedAtMs: number;
  /** Deliveries made before it was dead-lettered. */
  consumedTimes: number;
  deliverAtMs: number;
  tag?: string;
  reason?: string;
}

export interface DeadLetterPage {
  deadLetters: DeadLetter[];
  /** Opaque; pass back to read the next page. Absent on the last page. */
  cursor?: string;
}

export const CancelOutcome = {
  Cancelled: "cancelled",
  /** Its deliver time has come (or is closer than the cancel margin): the groups have it or take it now. */
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

/** One message with every group's delivery, read strongly consistently. */
export interface MessageRecord {
  message: StoredMessage;
  deliveries: DeliveryState[];
}

/** A push group as the push registry lists it. */
export interface PushRoute {
  topic: string;
  group: string;
}

export interface PushRoutePage {
  routes: PushRoute[];
  /** Opaque; pass back for the next page. */
  cursor?: string;
}

/** A dispatcher's hold on its push shard, and how long it was asked to stay up. */
export interface DispatcherHold {
  ok: boolean;
  /** A dispatcher of this shard should be up until then (set by the sweeper's look-ahead and by publishes). */
  coverUntilMs: number;
}

/**
 * Storage, spoken in queue verbs. Every state change is one conditional write; losing a race is an
 * outcome, never an exception; a write the SDK retried after it had applied is recognised as ours.
 * Retryable infrastructure faults throw StoreUnavailableError.
 */
export interface QueueStore {
  ping(): Promise<void>;

  // Topics.
  /** Idempotent; makes the topic listable. */
  registerTopic(topic: string): Promise<void>;

  // A door's durable routing entities (the AMQP door's exchanges, queues and bindings): opaque specs by id within a scope.
  /** Stores (or replaces) the entity `id` of `scope`. */
  putTopology(scope: string, id: string, spec: string): Promise<void>;
  /** Removes the entity (nothing when it does not exist). */
  deleteTopology(scope: string, id: string): Promise<void>;
  /** Every entity of the scope (strongly consistent), in id order. */
  listTopology(scope: string): Promise<{ id: string; spec: string }[]>;
  listTopics(limit: number, cursor?: string): Promise<{ topics: string[]; cursor?: string }>;
  getTopicSettings(topic: string): Promise<TopicSettingsInput | undefined>;
  /** Replaces the topic's settings; the newer of two concurrent writes wins. */
  putTopicSettings(topic: string, settings: TopicSettingsInput, nowMs: number): Promise<void>;

  // Groups.
  /** Registers the group if it is not (a new incarnation: `fresh`), and returns the group in force. */
  registerGroup(topic: string, fresh: GroupRecord): Promise<GroupRecord>;
  /** Replaces a registered group's settings (the newer of two concurrent writes wins); undefined when not registered. */
  putGroupSettings(topic: string, group: string, settings: GroupSettingsInput, nowMs: number): Promise<GroupRecord | undefined>;
  /** undefined when the group is not registered (strongly consistent). */
  getGroup(topic: string, group: string): Promise<GroupRecord | undefined>;
  /** Whether the topic has any registered group (strongly consistent). */
  hasGroups(topic: string): Promise<boolean>;
  listGroups(topic: string, limit: number, cursor?: string): Promise<GroupPage>;
  /** Removes the group `gen` and its cursors; false when that incarnation is not registered. */
  deleteGroup(topic: string, group: string, gen: string): Promise<boolean>;

  // Messages.
  /** Stores new messages (fresh ids); one request for a batch where the store allows. */
  insertMessages(messages: readonly NewMessage[]): Promise<void>;
  /** Reads messages by id, strongly consistently; missing ids are absent from the map. */
  readMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, StoredMessage>>;

  // The due index.
  /** Reads a lane in due order within the range (eventually consistent). */
  readLane(lane: Lane, range: LaneRange, limit: number): Promise<LaneRead>;
  /** Reads one lane once from `from` on and counts its entries against `boundariesMs`. */
  laneHistogram(lane: Lane, from: { fromMs: number; after?: LanePosition }, boundariesMs: readonly number[], bound?: HistogramBound): Promise<DueHistogram>;

  // Cursors and leases.
  /**
   * Takes the lease on a group's shard until `untilMs` if nobody holds it (or it ran out, or `owner` holds
   * it), creating the cursor at `start` the first time.
   */
  acquireLease(key: LeaseKey, owner: string, nowMs: number, untilMs: number, start: LanePosition): Promise<LeaseOutcome>;
  /** Saves the cursor while `owner` holds the lease: renews it, or releases it. False when the lease was lost. */
  saveLease(key: LeaseKey, owner: string, save: LeaseSave): Promise<boolean>;
  /** Who holds the lease now (eventually consistent; undefined when nobody does). */
  peekLease(key: LeaseKey): Promise<{ holder: string; untilMs: number } | undefined>;
  /** Every cursor of a group (strongly consistent). */
  listLeases(topic: string, group: string): Promise<LeaseView[]>;
  /** Cursors the sweeper should look at now: `workAtMs` ≤ now, oldest first, in one of the work shards. */
  dueWork(workShard: number, nowMs: number, limit: number): Promise<LeaseView[]>;
  /** Moves a cursor's next sweeper look (no lease needed); false when the cursor is gone. */
  setWork(key: LeaseKey, workAtMs: number | undefined): Promise<boolean>;

  // Deliveries.
  /** Creates the group's delivery of a message, claimed: undefined when the group has one already. */
  claimNew(delivery: NewDelivery): Promise<Delivery | undefined>;
  /**
   * Creates the group's delivery of a message already delivered and acked (a push that succeeded before
   * any claim, under the shard's lease): one write outside the due index; false when the group has one already.
   */
  putAcked(delivery: NewDelivery, ackedAtMs: number): Promise<boolean>;
  /** Creates the group's delivery of a message unclaimed, visible at `nowMs` in the group lane: false when the group has one already. */
  parkNew(delivery: ParkedDelivery, nowMs: number): Promise<boolean>;
  /** Claims a delivery of the group lane if it is visible (due) now with the delivery count the index showed. */
  claimAgain(topic: string, group: string, gen: string, entry: LaneEntry, spec: ClaimSpec): Promise<Delivery | undefined>;
  /** Acks the delivery if `receiptHandle` is its current handle and it is still invisible at `nowMs`. */
  ack(topic: string, group: string, messageId: string, receiptHandle: string, nowMs: number): Promise<AckOutcome>;
  /** Makes a held delivery visible at `redeliverAtMs` if the handle still holds it. The handle is spent. */
  nack(topic: string, group: string, messageId: string, spec: NackSpec): Promise<boolean>;
  /** Keeps a held delivery invisible until `spec.visibleUntilMs` if the handle still holds it within its visibility. */
  extendVisibility(topic: string, group: string, messageId: string, spec: ExtendSpec): Promise<boolean>;
  /** Moves a delivery to the group's dead-letter lane, or drops it. */
  retireDelivery(topic: string, group: string, messageId: string, spec: RetireSpec): Promise<boolean>;
  /** A message that expired before the group took it: straight into the dead-letter lane. */
  putDeadLetter(topic: string, group: string, gen: string, message: LaneEntry & { shard: number }, failedAtMs: number, reason: RetireReason): Promise<boolean>;
  /** Takes a delivery of another incarnation of the group out of the group lane. */
  dropForeign(topic: string, group: string, messageId: string, gen: string): Promise<boolean>;
  readDelivery(topic: string, group: string, messageId: string): Promise<DeliveryState | undefined>;
  /** Deliveries of a group by message id, strongly consistently (recovery after a holder stopped). */
  readDeliveries(topic: string, group: string, messageIds: readonly string[]): Promise<Map<string, DeliveryState>>;
  /** One page of the group's dead letters, oldest failure first; expired (retention) ones are skipped. */
  listDeadLetters(topic: string, group: string, gen: string, limit: number, nowMs: number, cursor?: string): Promise<DeadLetterPage>;
  countDeadLetters(topic: string, group: string, gen: string): Promise<number>;
  /** A dead letter back into the group lane as a fresh delivery (count 0, no TTL), visible at `nowMs`. */
  redrive(topic: string, group: string, gen: string, messageId: string, shard: number, nowMs: number): Promise<boolean>;
  /** Takes a dead letter out of the dead letters for good (conditional on it being one of this incarnation); false when it is not. */
  discardDeadLetter(topic: string, group: string, gen: string, messageId: string, nowMs: number): Promise<boolean>;

  // Managing messages before their deliver time.
  /** Makes `record` the message of `dedupId` unless a live record exists; returns the record in force. */
  claimDedup(topic: string, dedupId: string, record: DedupRecord, nowMs: number): Promise<DedupRecord>;
  /** Makes a message findable by its key (written before the message itself). */
  addKeyPointer(topic: string, key: string, messageId: string, expiresAtMs: number): Promise<void>;
  messageIdsByKey(topic: string, key: string): Promise<string[]>;
  /** Cancels a scheduled message if its deliver time is later than `notAfterMs`. */
  cancel(topic: string, messageId: string, nowMs: number, notAfterMs: number): Promise<CancelOutcome>;
  /** Moves a scheduled message's deliver time (and expiry), under the same condition as cancel. */
  reschedule(
    topic: string,
    messageId: string,
    change: { deliverAtMs: number; expiresAtMs: number; ttlExpiresAtMs?: number; local?: LocalDeliverAt },
    nowMs: number,
    notAfterMs: number,
  ): Promise<RescheduleOutcome>;
  /** The message and every group's delivery, read strongly consistently. */
  inspect(topic: string, messageId: string): Promise<MessageRecord | undefined>;

  // Push delivery.
  /** Lists the group in the push registry (idempotent). */
  putPushRoute(topic: string, group: string): Promise<void>;
  /** Takes the group out of the push registry (idempotent). */
  deletePushRoute(topic: string, group: string): Promise<void>;
  /** Push groups by topic then group, strongly consistent; only `topic`'s when given. */
  listPushRoutes(limit: number, cursor?: string, topic?: string): Promise<PushRoutePage>;
  /**
   * Asks for a dispatcher of push shard `shard` up until `coverUntilMs` (never shortening an earlier ask).
   * `start` is true for exactly one caller when no dispatcher holds the shard and none was started in the
   * last `restartGapMs`: that caller starts one.
   */
  armDispatcher(shard: number, nowMs: number, coverUntilMs: number, restartGapMs: number): Promise<{ start: boolean }>;
  /** Takes or renews the shard's dispatcher lease until `untilMs` (free, run out, or held by `owner`). */
  holdDispatcher(shard: number, owner: string, nowMs: number, untilMs: number): Promise<DispatcherHold>;
  /** Gives the lease up (when `owner` holds it) and allows the next arm to start a dispatcher at once; answers the cover asked for. */
  releaseDispatcher(shard: number, owner: string): Promise<{ coverUntilMs: number }>;
}

export type { MessageContent };

import type { QueueConfig } from "./config.js";
import { ErrorCode, QueueError, invalid } from "./errors.js";
import type { Groups } from "./groups.js";
import { MESSAGE_ID_PATTERN, parseReceiptHandle } from "./ids.js";
import { type Clock, type DeadLetter, type QueueStore, RetireReason } from "./ports.js";
import { backoffMs, parseNackDelayMs, redeliverAtMs } from "./retry-rules.js";
import { LIMITS, assertIntInRange, assertName, assertTopicKey, shardOf } from "./rules.js";
import { resolveGroupSettings } from "./settings.js";

export const DEAD_LETTER_PAGE = { defaultLimit: 20, maxLimit: 100 } as const;
/** The most dead letters one `redrive {all}` call moves; `more: true` says to call again. */
export const REDRIVE_ALL_MAX = 1000;
export const REDRIVE_IDS_MAX = 100;

export const NackOutcome = {
  /** Visible again at `nextVisibleAtMs`. */
  Requeued: "requeued",
  /** It was the last allowed delivery: moved to the dead-letter lane. */
  DeadLettered: "dead-lettered",
  /** It was the last allowed delivery and the group keeps no dead letters. */
  Dropped: "dropped",
} as const;
export type NackOutcome = (typeof NackOutcome)[keyof typeof NackOutcome];

export interface NackInput {
  topic: string;
  group: string;
  receiptHandle: unknown;
  /** Absent: the group's backoff for this delivery. */
  delayMs?: unknown;
  /** false: no redelivery — the delivery goes to the dead-letter lane (or is dropped) now, as a last allowed one would. */
  requeue?: boolean;
}

export interface NackResult {
  messageId: string;
  outcome: NackOutcome;
  nextVisibleAtMs?: number;
}

export interface RedriveInput {
  topic: string;
  group: string;
  all?: unknown;
  messageIds?: unknown;
}

export interface RedriveResult {
  redriven: number;
  failed: { messageId: string; code: "MessageNotExist"; message: string }[];
  /** `all` stopped at REDRIVE_ALL_MAX: more dead letters may remain. */
  more: boolean;
}

export interface RetryDeps {
  store: QueueStore;
  clock: Clock;
  config: QueueConfig;
  groups: Groups;
  /** A delivery of the group is visible again at this time (wakes this process's dispatcher). */
  visibleAgain(topic: string, group: string, atMs: number): void;
}

/** Retries and dead letters: nack, the dead-letter listing and redrive. */
export class Retry {
  constructor(private readonly deps: RetryDeps) {}

  /**
   * Gives a held delivery back: visible again after `delayMs` (absent: the group's backoff for this
   * delivery), counted as a delivery. The last allowed delivery goes to the dead-letter lane instead.
   */
  async nack(input: NackInput): Promise<NackResult> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const delayMs = parseNackDelayMs(input.delayMs);
    const parsed = parseReceiptHandle(input.receiptHandle, topic, group);
    if (!parsed.ok) {
      throw new QueueError(
        ErrorCode.ReceiptHandleError,
        parsed.reason === "foreign"
          ? `this receipt handle belongs to another topic or group than ${topic}/${group}`
          : "malformed receipt handle: send the receiptHandle of a consume response unchanged",
      );
    }
    const handle = input.receiptHandle as string;
    const { messageId } = parsed;
    const nowMs = this.deps.clock.nowMs();
    const record = await this.deps.groups.find(topic, group);
    const current = record && (await this.deps.store.readDelivery(topic, group, messageId));
    if (!record || !current || current.gen !== record.gen) {
      throw new QueueError(ErrorCode.ReceiptHandleError, `no delivery of this handle's message in ${topic}/${group}`);
    }
    const settings = resolveGroupSettings(record.settings);
    const stale = () =>
      new QueueError(ErrorCode.MessageNotExist, "receipt handle expired: the message was acked or nacked already, redelivered, or its visibility ran out");
    if (current.state !== "active" || current.receiptHandle !== handle || current.visibleUntilMs <= nowMs) throw stale();

    if (input.requeue === false || current.consumedTimes >= settings.maxReceiveCount) {
      const retired = await this.deps.store.retireDelivery(topic, group, messageId, {
        when: { kind: "held", receiptHandle: handle, consumedTimes: current.consumedTimes },
        deadLetter: settings.deadLetter,
        reason: input.requeue === false ? RetireReason.Rejected : RetireReason.MaxReceiveCount,
        failedAtMs: nowMs,
        nowMs,
      });
      if (!retired) throw stale();
      return { messageId, outcome: settings.deadLetter ? NackOutcome.DeadLettered : NackOutcome.Dropped };
    }
    const nextVisibleAtMs = nowMs + (delayMs ?? backoffMs(settings.retryBackoff, current.consumedTimes));
    const requeued = await this.deps.store.nack(topic, group, messageId, {
      receiptHandle: handle,
      consumedTimes: current.consumedTimes,
      redeliverAtMs: nextVisibleAtMs,
      nowMs,
    });
    if (!requeued) throw stale();
    this.deps.visibleAgain(topic, group, nextVisibleAtMs);
    return { messageId, outcome: NackOutcome.Requeued, nextVisibleAtMs };
  }

  /**
   * Keeps a held delivery invisible for `visibilitySeconds` from now (its handle stays the one that acks
   * it); when that runs out it is due again after the group's backoff, as after any visibility.
   */
  async extendVisibility(input: { topic: string; group: string; receiptHandle: unknown; visibilitySeconds: unknown }): Promise<{ messageId: string; visibleUntilMs: number }> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const visibilitySeconds = assertIntInRange(input.visibilitySeconds, "visibilitySeconds", 1, LIMITS.visibilitySecondsMax);
    const parsed = parseReceiptHandle(input.receiptHandle, topic, group);
    if (!parsed.ok) {
      throw new QueueError(
        ErrorCode.ReceiptHandleError,
        parsed.reason === "foreign"
          ? `this receipt handle belongs to another topic or group than ${topic}/${group}`
          : "malformed receipt handle: send the receiptHandle of a consume response unchanged",
      );
    }
    const handle = input.receiptHandle as string;
    const { messageId } = parsed;
    const nowMs = this.deps.clock.nowMs();
    const record = await this.deps.groups.find(topic, group);
    const current = record && (await this.deps.store.readDelivery(topic, group, messageId));
    if (!record || !current || current.gen !== record.gen) {
      throw new QueueError(ErrorCode.ReceiptHandleError, `no delivery of this handle's message in ${topic}/${group}`);
    }
    const stale = () => new QueueError(ErrorCode.MessageNotExist, "receipt handle expired: the message was acked or nacked already, redelivered, or its visibility ran out");
    if (current.state !== "active" || current.receiptHandle !== handle || current.visibleUntilMs <= nowMs) throw stale();
    const settings = resolveGroupSettings(record.settings);
    const visibleUntilMs = nowMs + visibilitySeconds * 1000;
    const extended = await this.deps.store.extendVisibility(topic, group, messageId, {
      receiptHandle: handle,
      consumedTimes: current.consumedTimes,
      nowMs,
      visibleUntilMs,
      redeliverAtMs: redeliverAtMs(visibleUntilMs, settings.retryBackoff, current.consumedTimes, settings.maxReceiveCount),
    });
    if (!extended) throw stale();
    return { messageId, visibleUntilMs };
  }

  async listDeadLetters(input: { topic: string; group: string; limit?: unknown; cursor?: unknown }): Promise<{ deadLetters: DeadLetter[]; cursor?: string }> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const limit = assertIntInRange(input.limit ?? DEAD_LETTER_PAGE.defaultLimit, "limit", 1, DEAD_LETTER_PAGE.maxLimit);
    const cursor = input.cursor;
    if (cursor !== undefined && (typeof cursor !== "string" || cursor.length === 0 || cursor.length > 2048)) {
      throw invalid("cursor must be the cursor string of the previous page");
    }
    const record = await this.deps.groups.find(topic, group);
    if (!record) {
      if (cursor !== undefined) throw invalid("cursor is not one this listing returned; send the cursor of the previous page unchanged, or none for the first page");
      return { deadLetters: [] };
    }
    return this.deps.store.listDeadLetters(topic, group, record.gen, limit, this.deps.clock.nowMs(), cursor);
  }

  /** Takes one dead letter out for good (it was forwarded elsewhere); false when it is not a dead letter of the group. */
  async discardDeadLetter(input: { topic: string; group: string; messageId: string }): Promise<boolean> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    if (!MESSAGE_ID_PATTERN.test(input.messageId)) return false;
    const record = await this.deps.groups.find(topic, group);
    return record !== undefined && (await this.deps.store.discardDeadLetter(topic, group, record.gen, input.messageId, this.deps.clock.nowMs()));
  }

  /** Dead letters back into the group as fresh deliveries (count 0, no TTL), visible now. */
  async redrive(input: RedriveInput): Promise<RedriveResult> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const all = input.all === true;
    const ids = input.messageIds;
    if (all === (ids !== undefined && ids !== null) || (input.all !== undefined && input.all !== true && input.all !== false)) {
      throw invalid('send either {"all": true} or {"messageIds": ["...", ...]}');
    }
    if (!all && (!Array.isArray(ids) || ids.length < 1 || ids.length > REDRIVE_IDS_MAX || ids.some((id) => typeof id !== "string" || !MESSAGE_ID_PATTERN.test(id)))) {
      throw invalid(`messageIds must be an array of 1-${REDRIVE_IDS_MAX} message ids (32 upper-case hex characters)`);
    }
    const nowMs = this.deps.clock.nowMs();
    const result: RedriveResult = { redriven: 0, failed: [], more: false };
    const record = await this.deps.groups.find(topic, group);
    const redriveOne = async (messageId: string) =>
      record !== undefined && (await this.deps.store.redrive(topic, group, record.gen, messageId, shardOf(messageId, this.deps.config.shards), nowMs));
    if (all) {
      let cursor: string | undefined;
      while (record) {
        const page = await this.deps.store.listDeadLetters(topic, group, record.gen, DEAD_LETTER_PAGE.maxLimit, nowMs, cursor);
        const done = await Promise.all(page.deadLetters.map((d) => redriveOne(d.messageId)));
        result.redriven += done.filter(Boolean).length;
        cursor = page.cursor;
        if (cursor === undefined) break;
        if (result.redriven >= REDRIVE_ALL_MAX) {
          result.more = true;
          break;
        }
      }
    } else {
      const unique = [...new Set(ids as string[])];
      const done = await Promise.all(unique.map(redriveOne));
      unique.forEach((messageId, i) => {
        if (done[i]) result.redriven++;
        else result.failed.push({ messageId, code: "MessageNotExist", message: `${messageId} is not a dead letter of ${topic}/${group}` });
      });
    }
    if (result.redriven > 0) this.deps.visibleAgain(topic, group, nowMs);
    return result;
  }
}

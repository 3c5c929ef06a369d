import type { QueueConfig } from "./config.js";
import { ErrorCode, QueueError, invalid } from "./errors.js";
import { MESSAGE_ID_PATTERN, parseReceiptHandle } from "./ids.js";
import type { Delivery, DueEntry } from "./message.js";
import { type ClaimSpec, type Clock, type Logger, type MessageStore, ReleaseOutcome } from "./ports.js";
import { type DeadLetter, RetireReason } from "./retry-ports.js";
import { backoffMs, isExpired, parseNackDelayMs, redeliverAtMs } from "./retry-rules.js";
import { assertIntInRange, assertName, assertTopicKey, matchesTags, shardOf } from "./rules.js";
import type { SettingsCache } from "./settings-cache.js";
import {
  type GroupEntry,
  type GroupSettings,
  type TopicSettings,
  parseGroupSettings,
  parseTopicSettings,
  resolveGroupSettings,
  resolveTopicSettings,
} from "./settings.js";
import type { ArrivalSignals } from "./signals.js";

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
  store: MessageStore;
  clock: Clock;
  config: QueueConfig;
  settings: SettingsCache;
  signals?: ArrivalSignals | undefined;
  log: Logger;
}

export type ReleaseResult = { outcome: ReleaseOutcome | "retired"; delivery?: Delivery };

/**
 * Retries, TTL, dead letters and settings: the verbs behind nack, the dead-letter routes and the
 * topic/group configuration routes, and the release and claim decisions the queue's consume path and
 * sweeper take through them.
 */
export class RetryQueue {
  constructor(private readonly deps: RetryDeps) {}

  /** A group's visibility when neither it nor the consume call sets one (JSON door). */
  get defaultVisibilitySeconds(): number {
    return this.deps.config.defaultVisibilitySeconds;
  }

  async getTopicSettings(topicKey: string): Promise<TopicSettings> {
    const topic = assertTopicKey(topicKey);
    return resolveTopicSettings(await this.deps.store.getTopicSettings(topic), this.deps.config);
  }

  async putTopicSettings(topicKey: string, body: Record<string, unknown>): Promise<TopicSettings> {
    const topic = assertTopicKey(topicKey);
    const input = parseTopicSettings(body);
    await this.deps.store.registerTopic(topic);
    await this.deps.store.putTopicSettings(topic, input, this.deps.clock.nowMs());
    this.deps.settings.forgetTopic(topic);
    return resolveTopicSettings(input, this.deps.config);
  }

  async getGroupSettings(topicKey: string, groupName: string): Promise<GroupSettings> {
    const topic = assertTopicKey(topicKey);
    const group = assertName("group", groupName);
    const stored = await this.deps.store.getGroupSettings(topic, group);
    if (stored === undefined) {
      throw new QueueError(ErrorCode.NotFound, `group ${group} of topic ${topic} does not exist; its first consume or a PUT creates it`);
    }
    return resolveGroupSettings(stored);
  }

  async putGroupSettings(topicKey: string, groupName: string, body: Record<string, unknown>): Promise<GroupSettings> {
    const topic = assertTopicKey(topicKey);
    const group = assertName("group", groupName);
    const input = parseGroupSettings(body);
    await this.deps.store.registerTopic(topic);
    await this.deps.store.putGroupSettings(topic, group, input, this.deps.clock.nowMs());
    this.deps.settings.forgetGroup(topic, group);
    return resolveGroupSettings(input);
  }

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
    const settings = await this.deps.settings.group(topic, group);
    const current = await this.deps.store.readDelivery(topic, group, messageId);
    if (!current) throw new QueueError(ErrorCode.ReceiptHandleError, `no delivery of this handle's message in ${topic}/${group}`);
    const stale = () =>
      new QueueError(ErrorCode.MessageNotExist, "receipt handle expired: the message was acked or nacked already, redelivered, or its visibility ran out");
    if (!current.active || current.receiptHandle !== handle || current.visibleUntilMs <= nowMs) throw stale();

    if (current.consumedTimes >= settings.maxReceiveCount) {
      const retired = await this.deps.store.retireDelivery(topic, group, messageId, {
        when: { kind: "held", receiptHandle: handle, consumedTimes: current.consumedTimes },
        deadLetter: settings.deadLetter,
        reason: RetireReason.MaxReceiveCount,
        failedAtMs: nowMs,
        shard: current.shard,
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
    this.deps.signals?.notify(topic, nextVisibleAtMs);
    return { messageId, outcome: NackOutcome.Requeued, nextVisibleAtMs };
  }

  async listDeadLetters(input: { topic: string; group: string; limit?: unknown; cursor?: unknown }): Promise<{ deadLetters: DeadLetter[]; cursor?: string }> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const limit = assertIntInRange(input.limit ?? DEAD_LETTER_PAGE.defaultLimit, "limit", 1, DEAD_LETTER_PAGE.maxLimit);
    const cursor = input.cursor;
    if (cursor !== undefined && (typeof cursor !== "string" || cursor.length === 0 || cursor.length > 2048)) {
      throw invalid("cursor must be the cursor string of the previous page");
    }
    return this.deps.store.listDeadLetters(topic, group, limit, this.deps.clock.nowMs(), cursor);
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
    const nowMs = this.deps.clock.nowMs();
    const result: RedriveResult = { redriven: 0, failed: [], more: false };
    const redriveOne = (messageId: string) =>
      this.deps.store.redrive(topic, group, messageId, shardOf(messageId, this.deps.config.shards), nowMs);
    if (all) {
      let cursor: string | undefined;
      do {
        const page = await this.deps.store.listDeadLetters(topic, group, DEAD_LETTER_PAGE.maxLimit, nowMs, cursor);
        const done = await Promise.all(page.deadLetters.map((d) => redriveOne(d.messageId)));
        result.redriven += done.filter(Boolean).length;
        cursor = page.cursor;
        if (result.redriven >= REDRIVE_ALL_MAX && cursor !== undefined) {
          result.more = true;
          break;
        }
      } while (cursor !== undefined);
    } else {
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > REDRIVE_IDS_MAX || ids.some((id) => typeof id !== "string" || !MESSAGE_ID_PATTERN.test(id))) {
        throw invalid(`messageIds must be an array of 1-${REDRIVE_IDS_MAX} message ids (32 upper-case hex characters)`);
      }
      const unique = [...new Set(ids as string[])];
      const done = await Promise.all(unique.map(redriveOne));
      unique.forEach((messageId, i) => {
        if (done[i]) result.redriven++;
        else result.failed.push({ messageId, code: "MessageNotExist", message: `${messageId} is not a dead letter of ${topic}/${group}` });
      });
    }
    if (result.redriven > 0) this.deps.signals?.notify(topic, nowMs);
    return result;
  }

  /**
   * Releases a due scheduled message to the groups that subscribe to its tag; retires it instead when
   * its TTL ran out (dead letters for subscribed groups with a dead-letter lane) or when groups exist
   * but none subscribes. Held (nothing done) while the topic has no group at all.
   */
  async releaseDue(
    topic: string,
    entry: DueEntry,
    groups: readonly GroupEntry[],
    nowMs: number,
    claim?: { spec: ClaimSpec; settings: GroupSettings },
  ): Promise<ReleaseResult> {
    if (groups.length === 0) return { outcome: ReleaseOutcome.Lost };
    const subscribed = groups.filter((g) => matchesTags(entry.tag, resolveGroupSettings(g.settings).tagFilter));
    if (isExpired(entry.ttlExpiresAtMs, nowMs) || subscribed.length === 0) {
      const expired = isExpired(entry.ttlExpiresAtMs, nowMs);
      const deadLetterGroups = expired ? subscribed.filter((g) => resolveGroupSettings(g.settings).deadLetter).map((g) => g.group) : [];
      const reason = expired ? RetireReason.Expired : RetireReason.Unsubscribed;
      const retired = await this.deps.store.retireScheduled(topic, entry, deadLetterGroups, reason, nowMs);
      return { outcome: retired ? "retired" : ReleaseOutcome.Lost };
    }
    const names = subscribed.map((g) => g.group);
    const claimSpec =
      claim && names.includes(claim.spec.group)
        ? {
            ...claim.spec,
            redeliverAtMs: redeliverAtMs(claim.spec.visibleUntilMs, claim.settings.retryBackoff, 1, claim.settings.maxReceiveCount),
          }
        : undefined;
    return this.deps.store.release(topic, entry, names, nowMs, claimSpec);
  }

  /**
   * Claims a due delivery of the group, its next visible time set from the group's policy; a delivery
   * past its TTL or its maxReceiveCount is retired instead (undefined).
   */
  async claimDue(topic: string, entry: DueEntry, spec: ClaimSpec, settings: GroupSettings): Promise<Delivery | undefined> {
    if (await this.retireSpent(topic, spec.group, entry, settings, spec.nowMs)) return undefined;
    if (isExpired(entry.ttlExpiresAtMs, spec.nowMs) || entry.consumedTimes >= settings.maxReceiveCount) return undefined;
    const consumedTimes = entry.consumedTimes + 1;
    return this.deps.store.claim(topic, entry, {
      ...spec,
      expectConsumedTimes: entry.consumedTimes,
      redeliverAtMs: redeliverAtMs(spec.visibleUntilMs, settings.retryBackoff, consumedTimes, settings.maxReceiveCount),
    });
  }

  /** Retires a due delivery that is past its TTL or was delivered maxReceiveCount times; true if this call did. */
  async retireSpent(topic: string, group: string, entry: DueEntry, settings: GroupSettings, nowMs: number): Promise<boolean> {
    if (entry.dueAtMs > nowMs) return false;
    if (isExpired(entry.ttlExpiresAtMs, nowMs)) {
      return this.deps.store.retireDelivery(topic, group, entry.messageId, {
        when: { kind: "expired" },
        deadLetter: settings.deadLetter,
        reason: RetireReason.Expired,
        failedAtMs: entry.ttlExpiresAtMs ?? nowMs,
        shard: entry.shard,
        nowMs,
      });
    }
    if (entry.consumedTimes >= settings.maxReceiveCount) {
      return this.deps.store.retireDelivery(topic, group, entry.messageId, {
        when: { kind: "due", dueAtMs: entry.dueAtMs, consumedTimes: entry.consumedTimes },
        deadLetter: settings.deadLetter,
        reason: RetireReason.MaxReceiveCount,
        failedAtMs: entry.dueAtMs,
        shard: entry.shard,
        nowMs,
      });
    }
    return false;
  }
}

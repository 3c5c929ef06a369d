import { type QueueConfig, effectivePollIntervalMs, effectiveStreamRecheckMs } from "./config.js";
import { type DeliveryOptions, type GroupView, MessageCache, Subscriptions } from "./delivery.js";
import { ErrorCode, QueueError, invalid, quote } from "./errors.js";
import { Groups } from "./groups.js";
import { parseReceiptHandle } from "./ids.js";
import { Lifecycle } from "./lifecycle.js";
import { DeliveryDoor, type QueueMetrics, noMetrics } from "./metrics.js";
import type { AckFailure, AckResult, PublishResult, ReceivedMessage } from "./message.js";
import { AckOutcome, type Clock, type Logger, type QueueStore, silentLogger } from "./ports.js";
import { type BatchOutcome, type PublishInput, Publisher } from "./publish.js";
import { Retry } from "./retry.js";
import { LIMITS, assertIntInRange, assertName, assertTopicKey } from "./rules.js";
import type { PushPolicy } from "./push/target.js";
import { resolveGroupSettings } from "./settings.js";
import { type SweepReport, Sweeper } from "./sweeper.js";

export type { PublishInput };

export interface ConsumeInput {
  topic: string;
  group: string;
  max?: number;
  waitSeconds?: number;
  tags?: readonly string[] | undefined;
  visibilitySeconds?: number | undefined;
  /** Door-specific default visibility (RocketMQ's is 5 minutes); else the configured default. */
  defaultVisibilitySeconds?: number;
  /** Absolute time by which the call must have answered (API Gateway's limit counted from the request's arrival). */
  answerByMs?: number;
  /** The door the call came through: a label of the delivered count only (default json). */
  door?: DeliveryDoor;
  /** Only the oldest ready messages across every shard this process holds (see WaitRequest.ordered). */
  ordered?: boolean;
}

export interface AckInput {
  topic: string;
  group: string;
  receiptHandles: unknown;
}

export interface QueueDeps {
  store: QueueStore;
  clock: Clock;
  config: QueueConfig;
  log?: Logger;
  /** Counters and distributions (default: none kept). */
  metrics?: QueueMetrics;
  /** Which push targets this runtime accepts (default: every type, any host but metadata and link-local ones). */
  pushPolicy?: PushPolicy;
}

/** A long poll stops this long before its answer-by time, so its answer is on the wire in time. */
export const ANSWER_MARGIN_MS = 250;
/** Entries one look reads per lane. */
const SCAN_LIMIT = 500;

/**
 * The queue: publish, consume (long poll), ack, retries, subscriptions, lifecycle and the sweeper over
 * one QueueStore. Knows nothing of HTTP, AWS or which door a request came through.
 */
export class Queue {
  readonly groups: Groups;
  readonly retry: Retry;
  readonly lifecycle: Lifecycle;
  readonly config: QueueConfig;
  readonly pollIntervalMs: number;
  private readonly store: QueueStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  readonly metrics: QueueMetrics;
  private readonly publisher: Publisher;
  private readonly subscriptions: Subscriptions;
  private readonly sweeper: Sweeper;
  private readonly publishListeners: ((topic: string, atMs: number) => Promise<void> | void)[] = [];
  private pendingListeners: Promise<void>[] = [];

  constructor(deps: QueueDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.config = deps.config;
    this.log = deps.log ?? silentLogger;
    this.metrics = deps.metrics ?? noMetrics;
    this.pollIntervalMs = effectivePollIntervalMs(deps.config);
    this.groups = new Groups(deps.store, deps.clock, deps.config, deps.pushPolicy);
    const options: DeliveryOptions = {
      shards: deps.config.shards,
      pollIntervalMs: this.pollIntervalMs,
      streamRecheckMs: effectiveStreamRecheckMs(deps.config),
      leaseMs: deps.config.leaseMs,
      lingerMs: deps.config.leaseLingerMs,
      keepMs: deps.config.leaseLingerMs === 0 ? Math.min(deps.config.leaseKeepMs, deps.config.leaseMs) : 0,
      indexLagMs: deps.config.indexLagMs,
      lateCheckMs: Math.max(250, Math.min(1000, deps.config.indexLagMs / 4)),
      scanLimit: SCAN_LIMIT,
      // A quarter of the cancel margin, at most 250 ms: the clocks may then differ by up to ¾ of the margin.
      prefetchMs: Math.min(250, Math.floor(deps.config.cancelMarginMs / 4)),
      // Claimed as soon as read ahead: a claim then no longer stands between a waiting poll and the due time.
      claimAheadMs: Math.min(250, Math.floor(deps.config.cancelMarginMs / 4)),
    };
    const delivery = { store: deps.store, clock: deps.clock, log: this.log, metrics: this.metrics, options, messages: new MessageCache() };
    this.subscriptions = new Subscriptions(delivery, (topic, group) => this.view(topic, group, true) as Promise<GroupView>);
    this.publisher = new Publisher({
      store: deps.store,
      groups: this.groups,
      config: deps.config,
      log: this.log,
      published: (message) => {
        const { topic, deliverAtMs: atMs } = message;
        this.subscriptions.published(message);
        for (const listener of this.publishListeners) {
          const p = listener(topic, atMs);
          if (p) this.pendingListeners.push(p.catch((error) => this.log.warn("publish-listener-failed", { topic, error: String(error) })));
        }
      },
    });
    this.retry = new Retry({
      store: deps.store,
      clock: deps.clock,
      config: deps.config,
      groups: this.groups,
      metrics: this.metrics,
      visibleAgain: (topic, group, atMs) => this.subscriptions.notifyGroup(topic, group, atMs),
    });
    this.lifecycle = new Lifecycle({
      store: deps.store,
      groups: this.groups,
      clock: deps.clock,
      config: deps.config,
      log: this.log,
      metrics: this.metrics,
      rescheduled: (topic, atMs) => this.subscriptions.notify(topic, atMs),
    });
    this.sweeper = new Sweeper({
      store: deps.store,
      clock: deps.clock,
      config: deps.config,
      log: this.log,
      metrics: this.metrics,
      delivery,
      view: (topic, group) => this.view(topic, group, false),
    });
  }

  /** What a dispatcher needs of its group: registered on first use when `register`. */
  private async view(topic: string, group: string, register: boolean): Promise<GroupView | undefined> {
    const record = register ? await this.groups.ensure(topic, group) : await this.groups.find(topic, group);
    if (!record) return undefined;
    return { gen: record.gen, startMs: record.startMs, settings: resolveGroupSettings(record.settings), topic: await this.groups.topicSettings(topic) };
  }

  async health(): Promise<void> {
    await this.store.ping();
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    const result = await this.publisher.publish(input, this.clock.nowMs());
    if (!result.duplicate) this.metrics.published(input.topic, 1);
    await this.settleListeners();
    return result;
  }

  /** A publish answers once its listeners are done (in Lambda, a frozen container would never finish them). */
  private async settleListeners(): Promise<void> {
    while (this.pendingListeners.length > 0) await Promise.all(this.pendingListeners.splice(0));
  }

  /** 1..16 messages of one topic in one call: one write to the table, each message with its own outcome. */
  async publishBatch(inputs: readonly PublishInput[]): Promise<BatchOutcome[]> {
    const outcomes = await this.publisher.publishBatch(inputs, this.clock.nowMs());
    const stored = new Map<string, number>();
    outcomes.forEach((o, i) => {
      const topic = inputs[i]?.topic;
      if (o.ok && !o.result.duplicate && topic !== undefined) stored.set(topic, (stored.get(topic) ?? 0) + 1);
    });
    for (const [topic, count] of stored) this.metrics.published(topic, count);
    await this.settleListeners();
    return outcomes;
  }

  async consume(input: ConsumeInput, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const max = assertIntInRange(input.max ?? 1, "max", 1, LIMITS.batchMax);
    const waitSeconds = assertIntInRange(input.waitSeconds ?? 0, "waitSeconds", 0, LIMITS.waitSecondsMax);
    if (input.visibilitySeconds !== undefined) assertIntInRange(input.visibilitySeconds, "visibilitySeconds", 1, LIMITS.visibilitySecondsMax);
    const startMs = this.clock.nowMs();
    const record = await this.groups.ensure(topic, group);
    if (record.settings.push) {
      throw new QueueError(
        ErrorCode.PushGroup,
        `group ${group} of topic ${topic} is a push group (its messages go to its ${record.settings.push.target.type} target); PUT the group without "push" to consume it`,
      );
    }
    const visibilitySeconds = assertIntInRange(
      input.visibilitySeconds ?? record.settings.visibilitySeconds ?? input.defaultVisibilitySeconds ?? this.config.defaultVisibilitySeconds,
      "visibilitySeconds",
      1,
      LIMITS.visibilitySecondsMax,
    );
    let deadlineMs = startMs + Math.min(waitSeconds * 1000, this.config.maxWaitMs);
    if (input.answerByMs !== undefined) deadlineMs = Math.min(deadlineMs, input.answerByMs - ANSWER_MARGIN_MS);
    // No time left for even one look: answer at once rather than claim what could not be returned in time.
    if (deadlineMs < startMs) return [];
    const dispatcher = this.subscriptions.dispatcher(topic, group);
    const messages = await dispatcher.wait({
      max,
      tags: input.tags,
      visibilityMs: visibilitySeconds * 1000,
      deadlineMs,
      ...(input.ordered && { ordered: true }),
      ...(signal && { signal }),
    });
    // Without lingering (Lambda), the last poll's answer waits for the leases' release (or, in keep mode, for
    // the choice to leave one that runs out within LEASE_KEEP_MS): a frozen container must not hold them longer.
    if (this.config.leaseLingerMs === 0 && dispatcher.state.waiting === 0) await dispatcher.settled();
    if (messages.length > 0) this.metrics.delivered(topic, input.door ?? DeliveryDoor.Json, messages.length);
    return messages;
  }

  /**
   * The push dispatcher's receive: a long poll of a push group through the same delivery engine (claims
   * are conditional writes), with the push's visibility; answers at `deadlineMs` at the latest.
   */
  async receiveForPush(input: { topic: string; group: string; max: number; visibilityMs: number; deadlineMs: number; signal?: AbortSignal }): Promise<ReceivedMessage[]> {
    const dispatcher = this.subscriptions.dispatcher(input.topic, input.group);
    return dispatcher.wait({
      max: Math.max(1, Math.min(LIMITS.batchMax, input.max)),
      tags: undefined,
      visibilityMs: input.visibilityMs,
      deadlineMs: input.deadlineMs,
      pushFirst: true,
      ...(input.signal && { signal: input.signal }),
    });
  }

  /**
   * Settles a push of a message's first delivery that receiveForPush handed over unclaimed (`unclaimed`):
   * after a success the delivery is written acked; after a failure it is claimed and returned, to be
   * nacked like any delivery. See WaitRequest.pushFirst.
   */
  async settleFirstPush(topic: string, group: string, messageId: string, ok: boolean): Promise<ReceivedMessage | undefined> {
    const claimed = await this.subscriptions.dispatcher(topic, group).settleFirstPush(messageId, ok);
    if (ok) this.metrics.acked(topic, 1);
    return claimed;
  }

  /** Calls `listener` for every message published through this queue (topic, deliver time): the push planner arms a dispatcher by it. */
  onPublished(listener: (topic: string, atMs: number) => Promise<void> | void): void {
    this.publishListeners.push(listener);
  }

  /** Ends this process's look at a group: its waiting polls are answered and its leases released. */
  async releaseGroup(topic: string, group: string): Promise<void> {
    await this.subscriptions.drop(topic, group);
  }

  async ack(input: AckInput): Promise<AckResult> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const handles = input.receiptHandles;
    if (!Array.isArray(handles) || handles.length < 1 || handles.length > LIMITS.batchMax) {
      throw invalid(`receiptHandles must be an array of 1-${LIMITS.batchMax} receipt handles`);
    }
    const nowMs = this.clock.nowMs();
    const outcomes = await Promise.all(
      handles.map(async (handle): Promise<AckFailure | undefined> => {
        const parsed = parseReceiptHandle(handle, topic, group);
        const receiptHandle = typeof handle === "string" ? handle.slice(0, 256) : quote(handle);
        if (!parsed.ok) {
          return {
            receiptHandle,
            code: "ReceiptHandleError",
            message:
              parsed.reason === "foreign"
                ? `this receipt handle belongs to another topic or group than ${topic}/${group}`
                : "malformed receipt handle: send the receiptHandle of a consume response unchanged",
          };
        }
        const outcome = await this.store.ack(topic, group, parsed.messageId, receiptHandle, nowMs);
        if (outcome === AckOutcome.Acked) return undefined;
        if (outcome === AckOutcome.Unknown) {
          return { receiptHandle, code: "ReceiptHandleError", message: `no delivery of this handle's message in ${topic}/${group}` };
        }
        return {
          receiptHandle,
          code: "MessageNotExist",
          message: "receipt handle expired: the message was acked already, redelivered, or its visibility ran out",
        };
      }),
    );
    const failed = outcomes.filter((o): o is AckFailure => o !== undefined);
    if (handles.length > failed.length) this.metrics.acked(topic, handles.length - failed.length);
    return { acked: handles.length - failed.length, failed };
  }

  /** Unregisters a group: its waiting polls here are answered, its deliveries go with its incarnation. */
  async deleteGroup(topicKey: string, groupName: string): Promise<{ topic: string; group: string; deleted: true }> {
    const result = await this.groups.delete(topicKey, groupName);
    await this.subscriptions.drop(result.topic, result.group);
    return result;
  }

  /** One sweeper run (see Sweeper). */
  async sweep(): Promise<SweepReport> {
    return this.sweeper.sweep();
  }

  /** Looks at one group's shards now: expired or exhausted deliveries become dead letters (or are dropped) without waiting for a run. */
  async sweepGroup(topicKey: string, groupName: string): Promise<number> {
    return this.sweeper.sweepGroup(assertTopicKey(topicKey), assertName("group", groupName));
  }

  /** Waiting polls per group (topic\ngroup), and whether each group's dispatcher sleeps. */
  deliveryState(): Map<string, { waiting: number; asleep: boolean; running: boolean }> {
    return this.subscriptions.state();
  }

  /** Answers every waiting poll at once with what it has and releases this process's leases. */
  async close(): Promise<void> {
    await this.subscriptions.close();
  }
}

export type { BatchOutcome };

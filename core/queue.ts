import { type QueueConfig, effectivePollIntervalMs } from "./config.js";
import { invalid } from "./errors.js";
import { md5Hex, mintReceiptHandle, newMessageId, parseReceiptHandle } from "./ids.js";
import type { ManageStore } from "./manage-ports.js";
import type { AckFailure, AckResult, Delivery, DueEntry, NewMessage, PublishResult, ReceivedMessage, SweepReport } from "./message.js";
import { AckOutcome, type Clock, type Lane, type Logger, type MessageStore, ReleaseOutcome, silentLogger } from "./ports.js";
import {
  LIMITS,
  type Timing,
  assertBody,
  assertIntInRange,
  assertKey,
  assertName,
  assertProperties,
  assertTag,
  assertTopicKey,
  decideDeliverAt,
  matchesTags,
  shardOf,
} from "./rules.js";
import { assertDedupId, insertManaged } from "./publish-once.js";
import { RetryQueue } from "./retry-queue.js";
import { parseTtlMs, ttlExpiresAtMs } from "./retry-rules.js";
import { SettingsCache } from "./settings-cache.js";
import { resolveGroupSettings } from "./settings.js";
import type { ArrivalSignals } from "./signals.js";

export interface PublishInput {
  /** Topic key: a topic name, or `namespace~name` (see topicKey). */
  topic: string;
  body: unknown;
  tag?: unknown;
  key?: unknown;
  properties?: unknown;
  timing: Timing;
  /** Message TTL in ms (RabbitMQ's rule, see ttlExpiresAtMs). */
  ttlMs?: unknown;
  /** Idempotency id: a repeat returns the original message (see insertManaged). */
  dedupId?: unknown;
}

export interface ConsumeInput {
  topic: string;
  group: string;
  max?: number;
  waitSeconds?: number;
  tags?: readonly string[] | undefined;
  visibilitySeconds?: number | undefined;
  /** Door-specific default visibility (RocketMQ's is 5 minutes); else the configured default. */
  defaultVisibilitySeconds?: number;
  /** Absolute time by which the call must have answered (e.g. the Lambda's remaining time). */
  answerByMs?: number;
}

export interface AckInput {
  topic: string;
  group: string;
  receiptHandles: unknown;
}

export interface QueueDeps {
  store: MessageStore;
  clock: Clock;
  config: QueueConfig;
  signals?: ArrivalSignals;
  log?: Logger;
  /** Dedup records and key pointers (cancel by key); without it, publish takes no dedupId. */
  manage?: ManageStore;
}

type Candidate = DueEntry & { lane: "topic" | "group" };

/** A long poll stops this long before its answer-by time, so one last pass fits. */
const ANSWER_MARGIN_MS = 250;
/** Pause after a pass whose every claim lost a race, so racing consumers spread out. */
const CONTENTION_PAUSE_MS = 10;

/**
 * The queue: publish, consume (long poll), ack and sweep over a MessageStore. Knows nothing of HTTP,
 * AWS or which door a request came through.
 */
export class Queue {
  private readonly store: MessageStore;
  private readonly clock: Clock;
  private readonly config: QueueConfig;
  private readonly signals: ArrivalSignals | undefined;
  private readonly log: Logger;
  private readonly manage: ManageStore | undefined;
  private readonly registered = new Set<string>();
  /** Index entries some long poll of this process is claiming or releasing right now. */
  private readonly busy = new Set<string>();
  private readonly settings: SettingsCache;
  /** Nack, dead letters, topic and group settings. */
  readonly retry: RetryQueue;
  readonly pollIntervalMs: number;

  constructor(deps: QueueDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.config = deps.config;
    this.signals = deps.signals;
    this.log = deps.log ?? silentLogger;
    this.manage = deps.manage;
    this.pollIntervalMs = effectivePollIntervalMs(deps.config);
    this.settings = new SettingsCache(deps.store, deps.clock, deps.config);
    this.retry = new RetryQueue({ ...deps, settings: this.settings, log: this.log });
  }

  async health(): Promise<void> {
    await this.store.ping();
  }

  async publish(input: PublishInput): Promise<PublishResult> {
    const topic = assertTopicKey(input.topic);
    const body = assertBody(input.body);
    const tag = assertTag(input.tag);
    const key = assertKey(input.key);
    const properties = assertProperties(input.properties);
    const dedupId = assertDedupId(input.dedupId);
    const local = input.timing.kind === "at" ? input.timing.local : undefined;
    const nowMs = this.clock.nowMs();
    const ttlMs = parseTtlMs(input.ttlMs);
    const topicSettings = await this.settings.topic(topic);
    const { deliverAtMs, overMax } = decideDeliverAt(input.timing, nowMs, topicSettings, topic);
    const ttlExpiresAt = ttlExpiresAtMs(nowMs, deliverAtMs, ttlMs, topicSettings.messageTtlMs);
    const messageId = newMessageId(nowMs);
    const bodyMd5 = md5Hex(body);
    await this.ensureTopic(topic);
    const message: NewMessage = {
      topic,
      messageId,
      body,
      bodyMd5,
      ...(tag !== undefined && { tag }),
      ...(key !== undefined && { key }),
      properties,
      publishedAtMs: nowMs,
      deliverAtMs,
      shard: shardOf(messageId, this.config.shards),
      expiresAtMs: deliverAtMs + topicSettings.retentionMs,
      ...(ttlExpiresAt !== undefined && { ttlExpiresAtMs: ttlExpiresAt }),
      ...(local && { local }),
      ...(dedupId !== undefined && { dedupId }),
    };
    const published = await insertManaged(this.store, this.manage, message, this.config.shards, nowMs);
    if (published.duplicate) return published;
    this.signals?.notify(topic, deliverAtMs);
    if (!overMax) return published;
    this.log.warn("over-max-delay", { operation: "publish", topic, messageId, ...overMax });
    return { ...published, overMaxDelay: overMax.outcome };
  }

  async consume(input: ConsumeInput, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const topic = assertTopicKey(input.topic);
    const group = assertName("group", input.group);
    const max = assertIntInRange(input.max ?? 1, "max", 1, LIMITS.batchMax);
    const waitSeconds = assertIntInRange(input.waitSeconds ?? 0, "waitSeconds", 0, LIMITS.waitSecondsMax);
    const visibilitySeconds = assertIntInRange(
      input.visibilitySeconds ??
        (await this.settings.group(topic, group)).visibilitySeconds ??
        input.defaultVisibilitySeconds ??
        this.config.defaultVisibilitySeconds,
      "visibilitySeconds",
      1,
      LIMITS.visibilitySecondsMax,
    );
    const startMs = this.clock.nowMs();
    let deadlineMs = startMs + Math.min(waitSeconds * 1000, this.config.maxWaitMs);
    if (input.answerByMs !== undefined) deadlineMs = Math.min(deadlineMs, input.answerByMs - ANSWER_MARGIN_MS);
    await this.ensureGroup(topic, group, startMs);

    for (;;) {
      const nowMs = this.clock.nowMs();
      const pass = await this.consumeOnce(topic, group, max, input.tags, visibilitySeconds * 1000, nowMs);
      if (pass.messages.length > 0) return pass.messages;
      const afterMs = this.clock.nowMs();
      if (afterMs >= deadlineMs || signal?.aborted) return [];
      const wakeAtMs = Math.min(pass.nextDueAtMs ?? Number.POSITIVE_INFINITY, afterMs + this.pollIntervalMs, deadlineMs);
      await this.waitUntil(topic, wakeAtMs, signal);
    }
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
        const receiptHandle = typeof handle === "string" ? handle : JSON.stringify(handle);
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
    return { acked: handles.length - failed.length, failed };
  }

  /**
   * One sweeper run: releases due messages of every topic to its groups (the guarantee when nobody
   * polls), counts what is held for topics without groups and what waits for redelivery. Bounded by
   * the configured budget; idempotent; safe beside consumers and other sweepers (every change is a
   * conditional write).
   */
  async sweep(): Promise<SweepReport> {
    const startMs = this.clock.nowMs();
    const report: SweepReport = { topics: 0, released: 0, held: 0, redeliverable: 0, retired: 0, lost: 0, budgetExhausted: false, durationMs: 0 };
    let budget = this.config.sweepBudget;
    for (const topic of await this.store.listTopics()) {
      report.topics++;
      const groups = await this.store.listGroupSettings(topic);
      for (let shard = 0; shard < this.config.shards; shard++) {
        for (;;) {
          const nowMs = this.clock.nowMs();
          const limit = Math.min(100, budget);
          if (limit <= 0) break;
          const { due } = await this.store.scanDue({ topic, shard }, nowMs, limit);
          if (groups.length === 0) {
            report.held += due.length;
            break;
          }
          const outcomes = await Promise.all(due.map((entry) => this.retry.releaseDue(topic, entry, groups, nowMs)));
          const released = outcomes.filter((o) => o.outcome === ReleaseOutcome.Released || o.outcome === "retired").length;
          report.released += outcomes.filter((o) => o.outcome === ReleaseOutcome.Released).length;
          report.retired += outcomes.filter((o) => o.outcome === "retired").length;
          report.lost += outcomes.length - released;
          budget -= due.length;
          if (due.length < limit || released === 0) break;
        }
        for (const { group, settings } of groups) {
          const nowMs = this.clock.nowMs();
          const { due } = await this.store.scanDue({ topic, shard, group }, nowMs, 100);
          const resolved = resolveGroupSettings(settings);
          const retired = await Promise.all(due.map((e) => this.retry.retireSpent(topic, group, e, resolved, nowMs)));
          report.retired += retired.filter(Boolean).length;
          report.redeliverable += due.filter((e, i) => e.consumedTimes > 0 && !retired[i]).length;
        }
      }
      if (budget <= 0) {
        report.budgetExhausted = true;
        break;
      }
    }
    report.durationMs = this.clock.nowMs() - startMs;
    this.log.info("sweep", { ...report });
    return report;
  }

  /** One look at the index: claims up to `max` due deliveries, releasing due scheduled messages on the way. */
  private async consumeOnce(
    topic: string,
    group: string,
    max: number,
    tags: readonly string[] | undefined,
    visibilityMs: number,
    nowMs: number,
  ): Promise<{ messages: ReceivedMessage[]; nextDueAtMs: number | undefined }> {
    const limit = Math.min(max * 2 + 2, 50);
    const lanes: Lane[] = [];
    for (let shard = 0; shard < this.config.shards; shard++) lanes.push({ topic, shard, group }, { topic, shard });
    const scans = await Promise.all(lanes.map((lane) => this.store.scanDue(lane, nowMs, limit)));

    let nextDueAtMs: number | undefined;
    const candidates: Candidate[] = [];
    scans.forEach((scan, i) => {
      const lane = lanes[i]?.group === undefined ? "topic" : "group";
      for (const entry of scan.due) if (entry.expiresAtMs > nowMs) candidates.push({ ...entry, lane });
      // A full page may hide more due entries: come back at once rather than sleep.
      const next = scan.due.length >= limit ? nowMs : scan.nextDueAtMs;
      if (next !== undefined && (nextDueAtMs === undefined || next < nextDueAtMs)) nextDueAtMs = next;
    });
    if (candidates.length === 0) return { messages: [], nextDueAtMs };
    candidates.sort((a, b) => a.dueAtMs - b.dueAtMs);

    const toRelease = candidates.filter((c) => c.lane === "topic");
    const groups = toRelease.length > 0 ? await this.store.listGroupSettings(topic) : [];
    const groupSettings = await this.settings.group(topic, group);

    const deliveries: Delivery[] = [];
    // Entries a sibling long poll of this process is already claiming or releasing are left to it: racing
    // it would only cost a failed conditional write (and, on DynamoDB Local, a lock wait).
    const busyKey = (c: Candidate) => (c.lane === "topic" ? `R\n${topic}\n${c.messageId}` : `C\n${topic}\n${group}\n${c.messageId}`);
    const eligible = candidates.filter((c) => c.lane === "topic" || matchesTags(c.tag, tags));
    const pending = eligible.filter((c) => !this.busy.has(busyKey(c)));
    const yieldedToSiblings = pending.length < eligible.length;
    let attempted = 0;
    // Claim in deliver-time order, in parallel rounds, until the batch is full or candidates run out.
    while (deliveries.length < max && pending.length > 0) {
      const round = pending.splice(0, max - deliveries.length).filter((c) => !this.busy.has(busyKey(c)));
      attempted += round.length;
      for (const c of round) this.busy.add(busyKey(c));
      const won = await Promise.all(
        round.map(async (c): Promise<Delivery | undefined> => {
          const spec = { group, receiptHandle: mintReceiptHandle(topic, group, c.messageId), visibleUntilMs: nowMs + visibilityMs, nowMs };
          if (c.lane === "group") return this.retry.claimDue(topic, c, spec, groupSettings);
          const wanted = matchesTags(c.tag, tags);
          const result = await this.retry.releaseDue(topic, c, groups, nowMs, wanted ? { spec, settings: groupSettings } : undefined);
          return result.delivery;
        }),
      ).finally(() => {
        for (const c of round) this.busy.delete(busyKey(c));
      });
      for (const d of won) if (d) deliveries.push(d);
    }
    // Due scheduled messages beyond this batch are left to the next look, other consumers and the sweeper:
    // releasing them here too would make every waiting consumer race for the same transactions.

    if (deliveries.length === 0) {
      return { messages: [], nextDueAtMs: attempted > 0 || yieldedToSiblings ? nowMs + CONTENTION_PAUSE_MS : nextDueAtMs };
    }
    const contents = await this.store.loadMessages(
      topic,
      deliveries.map((d) => d.messageId),
    );
    const messages: ReceivedMessage[] = [];
    for (const d of deliveries) {
      const content = contents.get(d.messageId);
      if (content) messages.push({ ...content, ...d });
      else this.log.warn("content-missing", { topic, messageId: d.messageId });
    }
    return { messages, nextDueAtMs };
  }

  /** Sleeps until `wakeAtMs`, or earlier when a publish in this process makes a message due sooner. */
  private async waitUntil(topic: string, wakeAtMs: number, signal?: AbortSignal): Promise<void> {
    let targetMs = wakeAtMs;
    for (;;) {
      const remaining = targetMs - this.clock.nowMs();
      if (remaining <= 0 || signal?.aborted) return;
      const woken = new AbortController();
      const onAbort = () => woken.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      const stop = this.signals?.listen(topic, (dueAtMs) => {
        if (dueAtMs < targetMs) {
          targetMs = dueAtMs;
          woken.abort();
        }
      });
      await this.clock.sleep(remaining, woken.signal);
      stop?.();
      signal?.removeEventListener("abort", onAbort);
      if (!woken.signal.aborted) return;
    }
  }

  private async ensureTopic(topic: string): Promise<void> {
    if (this.registered.has(topic)) return;
    await this.store.registerTopic(topic);
    this.registered.add(topic);
  }

  private async ensureGroup(topic: string, group: string, nowMs: number): Promise<void> {
    const k = `${topic}\n${group}`;
    if (this.registered.has(k)) return;
    await this.ensureTopic(topic);
    await this.store.registerGroup(topic, group, nowMs);
    this.registered.add(k);
  }
}

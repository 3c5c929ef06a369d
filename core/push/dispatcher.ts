import type { QueueConfig } from "../config.js";
import { type UnclaimedMessage, newOwnerToken } from "../delivery.js";
import type { ReceivedMessage } from "../message.js";
import type { Clock, Logger, PushRoute, QueueStore } from "../ports.js";
import type { Queue } from "../queue.js";
import { NackOutcome } from "../retry.js";
import { shardOf } from "../rules.js";
import { pushPayload } from "./payload.js";
import type { DispatcherStarter, PushTransports } from "./ports.js";
import { PUSH_LIMITS, type PushSecrets, type PushSettings, PushType, targetKey } from "./target.js";

/**
 * The push dispatcher: while something is due, it delivers a push shard's groups to their targets.
 *
 * One dispatcher per push shard runs at a time, held by the shard's dispatcher lease (a conditional
 * write, renewed while it runs). It stays up while its shard's cover lasts (set by the sweeper's look
 * ahead and by publishes due before the next look), and ends when the cover ends. Each push group has its
 * own loop: a long poll of the group through the delivery engine, at most `maxConcurrency` pushes in
 * flight, and a circuit breaker per target. A message's first push goes out before any write (the
 * group shard's lease keeps other takers away, and the saved cursor stays before it until its outcome is
 * written): a success writes its delivery acked, a failure claims it and nacks it (the group's backoff,
 * then maxReceiveCount and its dead letters). Later attempts are claimed first by a conditional write,
 * then acked or nacked. A first push whose outcome was never written (the dispatcher stopped) is met
 * again by the shard's next holder, which claims before it pushes (its lease was taken over); a later
 * attempt comes back when its visibility ends — either way the same attempt number and idempotency key.
 */

export const PUSH_TIMING = {
  /** The dispatcher lease lasts this long without renewal (a stopped dispatcher is replaced after it). */
  leaseMs: 15_000,
  /** How often a dispatcher reads its shard's push groups again (new and removed ones). */
  routeRefreshMs: 5_000,
  /** A push's visibility: its timeout plus this margin, so its ack or nack lands before the visibility ends. */
  visibilityMarginMs: 5_000,
  /** Longest one long poll of a push group waits before looking at its settings again (a switch to pull, a new target, within the settings cache's 5 s). */
  pollMs: 5_000,
  /** A failed look (the store is unavailable) is retried after this. */
  retryMs: 1_000,
} as const;

export const BREAKER = {
  /** Consecutive failed pushes to one target that open its circuit. */
  failures: 5,
  /** The first open lasts this long, then doubles on every open in a row, up to `maxOpenMs`. */
  openMs: 5_000,
  maxOpenMs: 60_000,
} as const;

/**
 * A target's circuit breaker: closed (pushes flow), open after BREAKER.failures failures in a row (no
 * claims: the messages wait in their lanes, their attempts unspent), then half-open (one push; its
 * success closes the circuit, its failure opens it again for twice as long).
 */
export class CircuitBreaker {
  private failures = 0;
  private opens = 0;
  private openUntilMs = 0;

  /** How many pushes may be in flight now: unbounded when closed, 0 when open, 1 when half-open. */
  allowance(nowMs: number): number {
    if (this.failures < BREAKER.failures) return Number.POSITIVE_INFINITY;
    return nowMs < this.openUntilMs ? 0 : 1;
  }

  get retryAtMs(): number {
    return this.openUntilMs;
  }

  get state(): "closed" | "open" | "half-open" {
    return this.failures < BREAKER.failures ? "closed" : "open";
  }

  record(ok: boolean, nowMs: number): void {
    if (ok) {
      this.failures = 0;
      this.opens = 0;
      return;
    }
    this.failures++;
    if (this.failures >= BREAKER.failures) {
      this.opens++;
      this.openUntilMs = nowMs + Math.min(BREAKER.maxOpenMs, BREAKER.openMs * 2 ** (this.opens - 1));
    }
  }
}

/** A process's breakers, one per target (shared by the groups pushing to it). */
export class Breakers {
  private readonly byTarget = new Map<string, CircuitBreaker>();
  get(key: string): CircuitBreaker {
    let b = this.byTarget.get(key);
    if (!b) {
      b = new CircuitBreaker();
      this.byTarget.set(key, b);
    }
    return b;
  }
}

export function pushShardOf(topic: string, group: string, pushShards: number): number {
  return shardOf(`${topic}\n${group}`, pushShards);
}

/** The secrets an HTTP push is signed with now: the current one, and the replaced one during its grace. */
export function activeSecrets(secrets: PushSecrets | undefined, nowMs: number): string[] {
  if (!secrets) return [];
  return [secrets.current, ...(secrets.previous !== undefined && (secrets.previousUntilMs ?? 0) > nowMs ? [secrets.previous] : [])];
}

export interface PushDeps {
  queue: Queue;
  store: QueueStore;
  clock: Clock;
  log: Logger;
  config: QueueConfig;
  transports: PushTransports;
  breakers?: Breakers;
}

export interface DispatchReport {
  shard: number;
  /** false: another dispatcher holds the shard (this one did nothing). */
  held: boolean;
  pushed: number;
  failed: number;
  deadLettered: number;
  groups: number;
  /** The cover asked for when the run ended: a later one means a successor should be started. */
  coverUntilMs: number;
}

interface Counters {
  pushed: number;
  failed: number;
  deadLettered: number;
}

export class PushDispatcher {
  readonly owner = newOwnerToken();
  private readonly breakers: Breakers;

  constructor(private readonly deps: PushDeps) {
    this.breakers = deps.breakers ?? new Breakers();
  }

  /** Delivers the shard's pushes until its cover ends (or `stopByMs`, or `signal`). */
  async run(shard: number, options: { stopByMs?: number; signal?: AbortSignal } = {}): Promise<DispatchReport> {
    const { store, clock, log } = this.deps;
    const counters: Counters = { pushed: 0, failed: 0, deadLettered: 0 };
    let nowMs = clock.nowMs();
    const first = await store.holdDispatcher(shard, this.owner, nowMs, nowMs + PUSH_TIMING.leaseMs);
    if (!first.ok) return { shard, held: false, ...counters, groups: 0, coverUntilMs: first.coverUntilMs };
    let cover = first.coverUntilMs;
    let heldUntilMs = nowMs + PUSH_TIMING.leaseMs;
    const stopBy = options.stopByMs ?? Number.POSITIVE_INFINITY;
    const endMs = () => Math.min(stopBy, cover);
    const stop = new AbortController();
    const wake = () => stop.signal.aborted || undefined;
    const onAbort = () => stop.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const runners = new Map<string, Promise<void>>();
    let seen = 0;
    let nextRefreshMs = nowMs;
    let nextRenewMs = nowMs + PUSH_TIMING.leaseMs / 3;
    log.info("push-dispatcher-started", { shard, owner: this.owner, coverUntilMs: cover });
    try {
      for (;;) {
        nowMs = clock.nowMs();
        if (nowMs >= endMs() || stop.signal.aborted) break;
        if (nowMs >= nextRefreshMs) {
          try {
            for (const route of await this.routes(shard)) {
              const k = `${route.topic}\n${route.group}`;
              if (runners.has(k)) continue;
              seen++;
              const p = this.runGroup(route, stop.signal, endMs, counters).finally(() => runners.delete(k));
              runners.set(k, p);
            }
            nextRefreshMs = nowMs + PUSH_TIMING.routeRefreshMs;
          } catch (error) {
            log.warn("push-routes-failed", { shard, error: String(error) });
            nextRefreshMs = nowMs + PUSH_TIMING.retryMs;
          }
        }
        if (nowMs >= nextRenewMs) {
          try {
            const hold = await store.holdDispatcher(shard, this.owner, nowMs, nowMs + PUSH_TIMING.leaseMs);
            if (!hold.ok) {
              log.warn("push-dispatcher-lease-lost", { shard });
              break;
            }
            cover = Math.max(cover, hold.coverUntilMs);
            heldUntilMs = nowMs + PUSH_TIMING.leaseMs;
            nextRenewMs = nowMs + PUSH_TIMING.leaseMs / 3;
          } catch (error) {
            log.warn("push-dispatcher-renew-failed", { shard, error: String(error) });
            if (nowMs >= heldUntilMs - PUSH_TIMING.retryMs) break;
            nextRenewMs = nowMs + PUSH_TIMING.retryMs;
          }
        }
        await clock.sleep(Math.max(1, Math.min(nextRefreshMs, nextRenewMs, endMs()) - clock.nowMs()), stop.signal);
        wake();
      }
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      stop.abort();
      await Promise.all(runners.values());
    }
    const released = await store.releaseDispatcher(shard, this.owner).catch((error) => {
      log.warn("push-dispatcher-release-failed", { shard, error: String(error) });
      return { coverUntilMs: cover };
    });
    const report = { shard, held: true, ...counters, groups: seen, coverUntilMs: released.coverUntilMs };
    log.info("push-dispatcher-ended", { ...report });
    return report;
  }

  private async routes(shard: number): Promise<PushRoute[]> {
    const out: PushRoute[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const got = await this.deps.store.listPushRoutes(1000, cursor);
      for (const r of got.routes) if (pushShardOf(r.topic, r.group, this.deps.config.pushShards) === shard) out.push(r);
      cursor = got.cursor;
      if (cursor === undefined) break;
    }
    return out;
  }

  /** One push group's loop: claim what the target can take now, push, ack or nack. */
  private async runGroup(route: PushRoute, stop: AbortSignal, endMs: () => number, counters: Counters): Promise<void> {
    const { queue, clock, log } = this.deps;
    const { topic, group } = route;
    const pending = new Set<Promise<void>>();
    let slotFreed: (() => void) | undefined;
    const freeSlot = () => {
      slotFreed?.();
      slotFreed = undefined;
    };
    stop.addEventListener("abort", freeSlot, { once: true });
    try {
      while (!stop.aborted) {
        const nowMs = clock.nowMs();
        const end = endMs();
        if (nowMs >= end) break;
        let push: PushSettings | undefined;
        try {
          push = (await queue.groups.find(topic, group))?.settings.push;
        } catch (error) {
          log.warn("push-group-read-failed", { topic, group, error: String(error) });
          await clock.sleep(PUSH_TIMING.retryMs, stop);
          continue;
        }
        if (!push) break;
        const breaker = this.breakers.get(targetKey(push.target));
        const allowance = breaker.allowance(nowMs);
        if (allowance === 0) {
          await clock.sleep(Math.min(breaker.retryAtMs, end) - nowMs, stop);
          continue;
        }
        const free = Math.min(push.target.maxConcurrency ?? PUSH_LIMITS.maxConcurrencyDefault, allowance) - pending.size;
        if (free <= 0) {
          await new Promise<void>((resolve) => {
            slotFreed = resolve;
            if (stop.aborted) resolve();
          });
          continue;
        }
        const timeoutMs = push.target.timeoutMs ?? PUSH_LIMITS.timeoutMsDefault;
        let got: ReceivedMessage[];
        // Each poll gets a signal of its own, tied to the run's for as long as it lasts: the delivery engine
        // keeps its listener on the signal it is given, and a run makes thousands of polls.
        const poll = new AbortController();
        const endPoll = () => poll.abort();
        stop.addEventListener("abort", endPoll, { once: true });
        try {
          got = await queue.receiveForPush({
            topic,
            group,
            max: free,
            visibilityMs: timeoutMs + PUSH_TIMING.visibilityMarginMs,
            deadlineMs: Math.min(end, nowMs + PUSH_TIMING.pollMs),
            signal: poll.signal,
          });
        } catch (error) {
          log.warn("push-receive-failed", { topic, group, error: String(error) });
          await clock.sleep(PUSH_TIMING.retryMs, stop);
          continue;
        } finally {
          stop.removeEventListener("abort", endPoll);
        }
        for (const m of got) {
          const p: Promise<void> = this.pushOne(route, push, m, counters).finally(() => {
            pending.delete(p);
            freeSlot();
          });
          pending.add(p);
        }
      }
    } finally {
      await Promise.all(pending);
      await queue.releaseGroup(topic, group).catch(() => undefined);
    }
  }

  /** One push: send with its timeout, then ack (success) or nack (failure: backoff, then dead letters). */
  private async pushOne(route: PushRoute, push: PushSettings, m: ReceivedMessage, counters: Counters): Promise<void> {
    const { queue, clock, log, transports } = this.deps;
    const { topic, group } = route;
    const payload = pushPayload(topic, group, m);
    const body = JSON.stringify(payload);
    const timeoutMs = push.target.timeoutMs ?? PUSH_LIMITS.timeoutMsDefault;
    const startedMs = clock.nowMs();
    const transport = transports[push.target.type];
    const timer = new AbortController();
    const timerDone = new AbortController();
    void clock.sleep(timeoutMs, timerDone.signal).then(() => {
      if (!timerDone.signal.aborted) timer.abort();
    });
    const result = transport
      ? await transport
          .send({ target: push.target, payload, body, secrets: push.target.type === PushType.Http ? activeSecrets(push.secrets, startedMs) : [], timeoutMs, nowMs: startedMs }, timer.signal)
          .catch((error: unknown) => ({ ok: false as const, error: String(error) }))
      : { ok: false as const, error: `this runtime has no transport for ${push.target.type} targets` };
    timerDone.abort();
    const nowMs = clock.nowMs();
    this.breakers.get(targetKey(push.target)).record(result.ok, nowMs);
    const fields = { topic, group, messageId: m.messageId, attempt: payload.attempt, deliveryCount: m.consumedTimes, target: push.target.type, lateMs: startedMs - m.deliverAtMs, tookMs: nowMs - startedMs };
    const unclaimed = (m as Partial<UnclaimedMessage>).unclaimed === true;
    try {
      if (result.ok) {
        counters.pushed++;
        if (unclaimed) {
          await queue.settleFirstPush(topic, group, m.messageId, true);
          log.info("push-delivered", fields);
          return;
        }
        const acked = await queue.ack({ topic, group, receiptHandles: [m.receiptHandle] });
        if (acked.acked === 1) log.info("push-delivered", fields);
        else log.warn("push-ack-failed", { ...fields, reason: acked.failed[0]?.code });
        return;
      }
      counters.failed++;
      let handle = m.receiptHandle;
      if (unclaimed) {
        // The first attempt failed: claimed now like any delivery, then nacked (its backoff, then dead letters).
        const claimed = await queue.settleFirstPush(topic, group, m.messageId, false);
        if (!claimed) {
          log.warn("push-failed", { ...fields, error: result.error, outcome: "taken-elsewhere" });
          return;
        }
        handle = claimed.receiptHandle;
      }
      const nacked = await queue.retry.nack({ topic, group, receiptHandle: handle });
      if (nacked.outcome !== NackOutcome.Requeued) counters.deadLettered++;
      log.warn(nacked.outcome === NackOutcome.Requeued ? "push-failed" : "push-dead-lettered", {
        ...fields,
        error: result.error,
        outcome: nacked.outcome,
        ...(nacked.nextVisibleAtMs !== undefined && { retryAt: nacked.nextVisibleAtMs }),
      });
      if (nacked.outcome !== NackOutcome.Requeued) log.warn("push-failed", { ...fields, error: result.error, outcome: nacked.outcome });
    } catch (error) {
      // The outcome could not be recorded: the delivery comes back when its visibility ends, as the same attempt.
      log.warn("push-outcome-unrecorded", { ...fields, ok: result.ok, error: String(error) });
    }
  }
}

/**
 * When to run dispatchers: the sweeper's look ahead (each tick, every push group's lanes up to the next
 * tick plus the lead), and publishes due before the next tick's look. Both arm the shard's dispatcher
 * lease; only the arm that finds no dispatcher up (and none started lately) starts one.
 */
export class PushPlanner {
  private readonly topicShards = new Map<string, { atMs: number; shards: number[] }>();
  private readonly armedUntil = new Map<number, { atMs: number; coverUntilMs: number }>();

  constructor(
    private readonly deps: { store: QueueStore; clock: Clock; log: Logger; config: QueueConfig; queue: Queue; starter: DispatcherStarter },
  ) {}

  /** A dispatcher is not started twice within this (the first may still be starting). */
  static readonly RESTART_GAP_MS = 10_000;
  /** How long one process trusts what it read of a topic's push groups. */
  static readonly TOPIC_CACHE_MS = 5_000;

  private get horizonMs(): number {
    return this.deps.config.pushTickMs + this.deps.config.pushLeadMs;
  }

  /** The sweeper's look: shards with something due before the next look get a dispatcher up until then. */
  async lookAhead(): Promise<{ routes: number; due: number; started: number[] }> {
    const { store, clock, config } = this.deps;
    const nowMs = clock.nowMs();
    const untilMs = nowMs + this.horizonMs;
    const dueShards = new Set<number>();
    let routes = 0;
    let due = 0;
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const got = await store.listPushRoutes(1000, cursor);
      for (const r of got.routes) {
        routes++;
        const shard = pushShardOf(r.topic, r.group, config.pushShards);
        if (dueShards.has(shard)) continue;
        try {
          if (await this.dueBefore(r, nowMs, untilMs)) {
            due++;
            dueShards.add(shard);
          }
        } catch (error) {
          this.deps.log.warn("push-look-failed", { topic: r.topic, group: r.group, error: String(error) });
          dueShards.add(shard);
        }
      }
      cursor = got.cursor;
      if (cursor === undefined) break;
    }
    const started: number[] = [];
    for (const shard of dueShards) if (await this.arm(shard, nowMs, untilMs)) started.push(shard);
    return { routes, due, started };
  }

  /** A message of `topic` was published, due at `deliverAtMs`: arms the dispatchers of the topic's push groups if no look will come in time. */
  async published(topic: string, deliverAtMs: number): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    if (deliverAtMs > nowMs + this.horizonMs) return;
    const shards = await this.shardsOf(topic, nowMs);
    for (const shard of shards) {
      // A burst costs one arm: a dispatcher this process armed lately stays up past this message anyway.
      const armed = this.armedUntil.get(shard);
      if (armed !== undefined && armed.coverUntilMs >= deliverAtMs + 1000 && nowMs - armed.atMs < PushPlanner.RESTART_GAP_MS) continue;
      const coverUntilMs = Math.max(deliverAtMs, nowMs) + this.deps.config.pushLeadMs;
      await this.arm(shard, nowMs, coverUntilMs);
      this.armedUntil.set(shard, { atMs: nowMs, coverUntilMs });
    }
  }

  private async arm(shard: number, nowMs: number, coverUntilMs: number): Promise<boolean> {
    const { start } = await this.deps.store.armDispatcher(shard, nowMs, coverUntilMs, PushPlanner.RESTART_GAP_MS);
    if (start) await this.deps.starter.start(shard);
    return start;
  }

  private async shardsOf(topic: string, nowMs: number): Promise<number[]> {
    const hit = this.topicShards.get(topic);
    if (hit && nowMs - hit.atMs < PushPlanner.TOPIC_CACHE_MS) return hit.shards;
    const got = await this.deps.store.listPushRoutes(1000, undefined, topic);
    const shards = [...new Set(got.routes.map((r) => pushShardOf(r.topic, r.group, this.deps.config.pushShards)))];
    this.topicShards.delete(topic);
    this.topicShards.set(topic, { atMs: nowMs, shards });
    if (this.topicShards.size > 10_000) this.topicShards.delete(this.topicShards.keys().next().value as string);
    return shards;
  }

  /** Forgets what this process read of a topic's push groups (a group became or stopped being one here). */
  forget(topic: string): void {
    this.topicShards.delete(topic);
  }

  /** Whether the group has anything due by `untilMs` in its topic lane (past its cursors) or its own lane. */
  private async dueBefore(route: PushRoute, nowMs: number, untilMs: number): Promise<boolean> {
    const { store, queue, config } = this.deps;
    const record = await queue.groups.find(route.topic, route.group);
    if (!record?.settings.push) return false;
    const topicSettings = await queue.groups.topicSettings(route.topic);
    const leases = (await store.listLeases(route.topic, route.group)).filter((l) => l.gen === record.gen);
    const floorMs = Math.max(record.startMs, nowMs - topicSettings.retentionMs);
    for (let shard = 0; shard < config.shards; shard++) {
      const g = await store.readLane({ kind: "group", topic: route.topic, group: route.group, shard }, { fromMs: 0, toMs: untilMs }, 1);
      if (g.entries.length > 0) return true;
      const pos = leases.find((l) => l.shard === shard)?.pos;
      const after = pos && pos.dueAtMs >= floorMs ? pos : undefined;
      const t = await store.readLane({ kind: "topic", topic: route.topic, shard }, { fromMs: after ? after.dueAtMs : floorMs, toMs: untilMs, ...(after && { after }) }, 1);
      if (t.entries.length > 0) return true;
    }
    return false;
  }
}

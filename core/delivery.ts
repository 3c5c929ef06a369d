import { randomBytes } from "node:crypto";
import { mintReceiptHandle } from "./ids.js";
import type { Delivery, NewMessage, ReceivedMessage, StoredMessage } from "./message.js";
import { MessageState } from "./message.js";
import type { QueueMetrics } from "./metrics.js";
import {
  type ClaimSpec,
  type Clock,
  type Lane,
  type LaneEntry,
  type LanePosition,
  type LaneRead,
  type Logger,
  type NewDelivery,
  type QueueStore,
  RetireReason,
  comparePositions,
} from "./ports.js";
import { isExpired, redeliverAtMs } from "./retry-rules.js";
import { matchesTags, topicLaneEntry } from "./rules.js";
import type { GroupSettings, TopicSettings } from "./settings.js";

/**
 * Delivery: how due messages reach waiting consumers.
 *
 * Every group reads its topic's lane (messages by deliver time) through a cursor of its own, one per
 * shard, and takes a message by creating its delivery (one conditional put). The right to move a
 * group's cursor over a shard is a lease held by one process at a time; in that process one dispatcher
 * per group serves every waiting long poll, so a due message wakes exactly one of them and consumers in
 * other processes never race for it. Redeliveries, nacks and messages parked by a tag filter wait in
 * the group's own lane, read by the same dispatcher.
 */

export interface DeliveryOptions {
  shards: number;
  /** Idle re-check interval (new arrivals published by other processes). */
  pollIntervalMs: number;
  /**
   * After a topic-lane read showed due entries not published here, the next read comes this soon, then
   * twice as late after each read that shows none, up to the poll interval (0: always the poll interval).
   */
  streamRecheckMs: number;
  /** How long a lease lasts without renewal. */
  leaseMs: number;
  /** How long a dispatcher keeps its leases after its last waiting poll (0: release at once, as in Lambda). */
  lingerMs: number;
  /**
   * Without lingering: while calls answer quickly, how long past the look margin a lease write holds. A
   * lease that runs out within that when a call answers is left to run out (no release write), and the
   * process's next call goes on with it; 0: every lease is released before the answer.
   */
  keepMs: number;
  /** Longest time an index entry may take to appear: entries up to this far behind a cursor are looked for again. */
  indexLagMs: number;
  /** How often the entries behind a cursor are looked for again while the lane is busy. */
  lateCheckMs: number;
  /** Entries read per lane per look. */
  scanLimit: number;
  /**
   * How long before an entry seen in a look falls due its message is read (0: not before it is due). It
   * must stay below `CANCEL_MARGIN_MS` minus the clocks' difference: a message read then can no longer
   * be cancelled or rescheduled, so at its due time the claim is the only request left to make.
   */
  prefetchMs: number;
  /**
   * How long before its due time an entry read ahead may be claimed for a waiting poll that will still be
   * waiting then (0: claimed at its due time). The poll answers at the due time, not before: the claim's
   * times (first consumed, visible until) count from the due time. At most `prefetchMs`, as only a message
   * read ahead can no longer change.
   */
  claimAheadMs: number;
}

/** What a dispatcher knows of its group and topic (cached by the caller; refreshed every few seconds). */
export interface GroupView {
  gen: string;
  startMs: number;
  settings: GroupSettings;
  topic: TopicSettings;
}

export interface WaitRequest {
  max: number;
  tags: readonly string[] | undefined;
  visibilityMs: number;
  deadlineMs: number;
  signal?: AbortSignal;
  /**
   * A push dispatcher's poll: a message's first delivery is handed over unclaimed (no write), as the
   * shard's lease already keeps other takers away; the caller settles it with settleFirstPush once the
   * push has succeeded (one write: the delivery, acked) or failed (the ordinary claim, then its nack).
   * Until then the saved cursor stays before it, so a successor that takes the lease meets it again.
   */
  pushFirst?: boolean;
  /**
   * The poll takes only messages nothing ready precedes: from a look at every shard, all held by this
   * dispatcher (a shard held elsewhere gives the poll nothing), due now, and not after the last entry read of a lane whose read was cut. Claims made ahead and served
   * from `soon` are not for it. A max-length trim drops the head this way (RabbitMQ's drop-head).
   */
  ordered?: boolean;
}

/** A message handed over by a pushFirst poll: no delivery exists yet. */
export type UnclaimedMessage = ReceivedMessage & { unclaimed: true };

interface Waiter extends WaitRequest {
  got: ReceivedMessage[];
  pending: number;
  /** Every poll gets at least one look, even with no time to wait. */
  looked: boolean;
  /** The last look failed (the store is unavailable): answered with this error if time runs out first. */
  failure?: unknown;
  done: boolean;
  /** A timer is set to answer the poll at this time (its claims made ahead fall due then). */
  timerAtMs: number;
  resolve(messages: ReceivedMessage[]): void;
  reject(error: unknown): void;
}

type LaneKind = "topic" | "group";

interface Candidate {
  kind: LaneKind;
  shard: number;
  entry: LaneEntry;
}

interface ShardState {
  shard: number;
  held: boolean;
  /** Held: when the lease runs out. Not held: when the other holder's lease runs out, as last seen. */
  untilMs: number;
  /** Held: how long the last write of the lease held it for (renewed when half of it is spent). */
  spanMs: number;
  /** Held and left to run out after a call answered (`keepMs`): when that was. */
  keptAtMs: number | undefined;
  nextAcquireAtMs: number;
  /** Persisted cursor. */
  pos: LanePosition;
  /** Every topic-lane entry at or before this was examined (taken, passed, or left for another filter). */
  frontier: LanePosition;
  /** Topic-lane entries examined recently (by id → due time), to tell late index entries from known ones. */
  handled: Map<string, number>;
  /** Topic-lane entries no waiting poll's tag filter wanted: kept here, parked in the group lane at the next save. */
  tLeft: Map<string, LaneEntry>;
  /** First pushes handed over unclaimed and not settled yet: the saved cursor stays before them, and no look takes them again. */
  unsettled: Map<string, LaneEntry>;
  gFrontier: LanePosition | undefined;
  /** Group-lane entries this dispatcher moved (claimed or retired): the index view it saw of each, which a lagging index may still show. */
  gHandled: Map<string, { dueAtMs: number; consumedTimes: number; atMs: number }>;
  /** Due group-lane entries no waiting poll took yet. */
  gLeft: Map<string, LaneEntry>;
  /** Topic-lane entries seen at a position the message has left (rescheduled later), by id → that position's due time. */
  moved: Map<string, number>;
  nextDueT: number | undefined;
  nextDueG: number | undefined;
  /** The last look at either lane was cut by its limit: more may be due now. */
  more: boolean;
  lateCheckAtMs: number;
  /** Entries were examined recently: late index entries are possible until then. */
  busyUntilMs: number;
  /** Claims beyond the cursor may exist (a holder stopped without saving, or a look failed). */
  uncertain: boolean;
  /** A renewal failed: not before this again. */
  renewRetryAtMs: number;
  /** The frontier is the last entry due in its millisecond (so the saved cursor may include that millisecond). */
  tieDone: boolean;
  /**
   * When the last look found every due entry of the topic lane taken, passed or held back (nothing open):
   * every entry due up to `indexLagMs` before then was in the index, so the saved cursor may move up to
   * there even when no entry stands at that time (an idle lane's cursor does not sit behind an old burst
   * that each new holder would re-read).
   */
  caughtUpAtMs: number | undefined;
  /**
   * The entries due in the frontier's millisecond that the frontier has passed, in lane order. A cursor
   * saved between entries of one millisecond (a burst due at the same instant) is saved at the frontier
   * itself, with these counted in `recent`, so the next holder continues exactly there.
   */
  tieIds: Set<string>;
  /** The last look at the group lane found nothing due (a fresh holder assumes so: one short page). */
  gIdle: boolean;
  /** When the group lane was last read, and whether that read reached past its due entries. */
  gReadAtMs: number;
  gComplete: boolean;
  /** The same for the topic lane (messages scheduled later come first in a page once nothing is due). */
  tIdle: boolean;
  /** The sweeper's next look at this shard as saved in the cursor (undefined: none). */
  workAtMs: number | undefined;
  /**
   * Released by this dispatcher, state kept (`pos` is the cursor it saved): if the next acquire shows
   * nobody held the lease since and the cursor still there, it goes on as a holder that never let go.
   */
  dormant: { gen: string; atMs: number } | undefined;
  /** Taken up again while entries examined before could still appear late: the next look reads the topic lane's late window. */
  checkBehind: boolean;
  /**
   * A backlog: the due topic-lane entries of the last read, which was cut (more are due). Looks
   * until the next late check serve the entries after the frontier from here instead of reading the same
   * page again; the late check reads the lane as usual.
   */
  ahead: { entries: readonly LaneEntry[]; readAtMs: number } | undefined;
  /**
   * The topic-lane entries the last read showed due later, in lane order: their messages are read
   * `prefetchMs` before they fall due, and at their due time they are claimed before the lane is read
   * again (the look that follows still reads it, from the frontier, for anything new).
   */
  soon: readonly LaneEntry[];
  /** Ids of `soon` whose message read was sent. */
  soonRead: Set<string>;
  /** The read `soon` came from reached the lane's end (its last entry is the last one there was). */
  soonComplete: boolean;
  /** When the topic lane was last read (not served from `ahead`), and how many `soon` entries were claimed since. */
  tReadAtMs: number;
  soonTaken: number;
}

export interface DeliveryDeps {
  store: QueueStore;
  clock: Clock;
  log: Logger;
  metrics: QueueMetrics;
  options: DeliveryOptions;
  messages: MessageCache;
}

export interface MaintenanceReport {
  retired: number;
  deadLettered: number;
  dropped: number;
  passed: number;
  /** When this shard next needs the sweeper. */
  workAtMs: number | undefined;
}

const MAX_LEFT = 50_000;
/** Most held-back entries one save parks; the cursor stays before the rest. */
const MAX_PARK = 1000;
/** Most passed entries after its position a saved cursor carries (beyond them, a successor's claims find the rest taken). */
const MAX_PASSED = 100;
/** Entries published in this process a dispatcher keeps track of, at most. */
const MAX_EXPECTED = 1_000;
/** How far ahead a publish here is tracked (a later one is found by the lane reads long before it is due). */
const EXPECT_AHEAD_MS = 60_000;

/** A lane's page after a look that found nothing due there. */
const IDLE_PAGE = 16;
/** A held shard is looked at only while its lease has at least this long to run (a renewal comes first). */
const LOOK_MARGIN_MS = 1000;

/**
 * Bounded cache of messages that can no longer change (their deliver time passed, or is nearer than the
 * cancel margin), shared by a process's dispatchers, with the reads in flight: two groups' dispatchers
 * wanting one message at once send one read.
 */
export class MessageCache {
  private readonly entries = new Map<string, { message: StoredMessage; bytes: number }>();
  private readonly reading = new Map<string, Promise<StoredMessage | undefined>>();
  private bytes = 0;
  constructor(private readonly maxBytes = 32 * 1024 * 1024) {}

  get(topic: string, messageId: string): StoredMessage | undefined {
    const k = `${topic}\n${messageId}`;
    const hit = this.entries.get(k);
    if (!hit) return undefined;
    this.entries.delete(k);
    this.entries.set(k, hit);
    return hit.message;
  }

  has(topic: string, messageId: string): boolean {
    return this.entries.has(`${topic}\n${messageId}`);
  }

  put(topic: string, message: StoredMessage): void {
    const k = `${topic}\n${message.content.messageId}`;
    if (this.entries.has(k)) return;
    const bytes = message.content.body.length * 2 + 512;
    if (bytes > this.maxBytes / 8) return;
    this.entries.set(k, { message, bytes });
    this.bytes += bytes;
    for (const [key, value] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(key);
      this.bytes -= value.bytes;
    }
  }

  /** A read of this message in flight (it resolves undefined if the read failed or found nothing). */
  inFlight(topic: string, messageId: string): Promise<StoredMessage | undefined> | undefined {
    return this.reading.get(`${topic}\n${messageId}`);
  }

  /** Registers a read of `ids` in flight until it settles. */
  track(topic: string, ids: readonly string[], read: Promise<Map<string, StoredMessage>>): void {
    for (const id of ids) {
      const k = `${topic}\n${id}`;
      const one = read.then(
        (m) => m.get(id),
        () => undefined,
      );
      this.reading.set(k, one);
      void one.then(() => {
        if (this.reading.get(k) === one) this.reading.delete(k);
      });
    }
  }
}

export function newOwnerToken(): string {
  return randomBytes(9).toString("base64url");
}

/**
 * One group's deliveries in this process: its waiting polls, its leases and cursors, the looks at its
 * lanes. At most one pass runs at a time.
 */
export class Dispatcher {
  private readonly waiters: Waiter[] = [];
  private readonly shards: ShardState[];
  private running = false;
  private wake: AbortController | undefined;
  private lastWaiterAtMs = 0;
  /** When a waiting poll was last answered with messages. */
  private lastDeliveredAtMs = Number.NEGATIVE_INFINITY;
  /** Where the next one-shard-at-a-time acquisition starts. */
  private rotation = 0;
  /** The last ensureLeases left acquirable shards out (one at a time): a look that found nothing is not a whole look. */
  private partial = false;
  /** Shards a partial look read already: the look that follows reads only the ones taken after it. */
  private readonly lookedPartly = new Set<ShardState>();
  private closing = false;
  private idleResolvers: (() => void)[] = [];
  private view: GroupView | undefined;
  /** Something may fall due then (told during a look, which may have read the lane before it was written). */
  private dueHint: number | undefined;
  /** The earliest hint not covered by a tracked publish: a look at that time is needed. */
  private untrackedHint: number | undefined;
  /** First pushes handed over unclaimed, by message id: what settling one writes. */
  private readonly firstPushes = new Map<string, { shard: number; delivery: NewDelivery; message: StoredMessage }>();
  /** Topic-lane entries published in this process, not yet taken or shown by the index for long, by id. */
  private readonly expected = new Map<string, { shard: number; entry: LaneEntry }>();
  /** The timer of the next read ahead of entries falling due, and when it fires. */
  private prefetchWake: AbortController | undefined;
  private prefetchAtMs = Number.POSITIVE_INFINITY;
  /** The loop's sleep was ended only to be set again (see `retime`). */
  private retimed = false;
  /** Messages taken from the topic lane, not answered yet: their lateness is measured when the poll answers. */
  private readonly firstTaken = new WeakSet<ReceivedMessage>();
  /**
   * Lingering: messages claimed ahead that the poll holding them could not return when it answered (due
   * later than its first): handed to the next poll, which answers when they fall due.
   */
  private carried: ReceivedMessage[] = [];
  /** How long after the topic lanes' last read the next one is due while polls wait, at most the poll interval (see `streamRecheckMs`). */
  private recheckMs: number;

  constructor(
    private readonly deps: DeliveryDeps,
    readonly topic: string,
    readonly group: string,
    private readonly owner: string,
    private readonly loadView: () => Promise<GroupView>,
  ) {
    this.shards = Array.from({ length: deps.options.shards }, (_, shard) => freshShard(shard));
    this.recheckMs = deps.options.pollIntervalMs;
  }

  /** Number of polls waiting; true when the dispatcher sleeps with nothing to do before its next wake. */
  get state(): { waiting: number; asleep: boolean; running: boolean } {
    return { waiting: this.waiters.length, asleep: this.wake !== undefined, running: this.running };
  }

  wait(request: WaitRequest): Promise<ReceivedMessage[]> {
    return new Promise((resolve, reject) => {
      const { signal } = request;
      if (signal?.aborted) return resolve([]);
      // A caller may pass one signal to poll after poll (a consumer's lifetime): the listener goes with the poll.
      const onAbort = () => this.poke();
      const settled = () => signal?.removeEventListener("abort", onAbort);
      const waiter: Waiter = {
        ...request,
        got: [],
        pending: 0,
        looked: false,
        done: false,
        timerAtMs: Number.POSITIVE_INFINITY,
        resolve: (messages) => {
          settled();
          resolve(messages);
        },
        reject: (error) => {
          settled();
          reject(error);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.lastWaiterAtMs = this.deps.clock.nowMs();
      if (this.carried.length > 0) this.handCarried(this.lastWaiterAtMs);
      this.start();
      this.poke();
    });
  }

  /**
   * A delivery of this group is visible again at `dueAtMs` (nacked or redriven in this process): its new
   * place in the group lane may be behind what was read there, so the lane is read again from its start.
   */
  notifyGroupLane(dueAtMs: number): void {
    for (const s of this.shards) {
      s.gFrontier = undefined;
      s.gComplete = false;
    }
    this.notify(dueAtMs);
  }

  /**
   * A message of the topic was published in this process: its topic-lane entry is known without waiting
   * for the index. When it falls inside what the last read of its shard covered, it joins that shard's
   * `soon` entries (read ahead and claimed at its due time like them); either way the dispatcher wakes
   * at its due time, and the look then reads the lane unless every entry published here that is due by
   * then was claimed.
   */
  published(m: NewMessage): void {
    if (!this.running) return;
    const nowMs = this.deps.clock.nowMs();
    if (this.deps.options.prefetchMs > 0 && this.expected.size < MAX_EXPECTED && m.deliverAtMs <= nowMs + EXPECT_AHEAD_MS) {
      const x = { shard: m.shard, entry: topicLaneEntry(m) };
      this.expected.set(m.messageId, x);
      const s = this.shards[m.shard];
      if (s?.held) {
        this.placeExpected(s, nowMs, false, x);
        this.armPrefetch(nowMs);
      }
      return this.notify(m.deliverAtMs, true);
    }
    this.notify(m.deliverAtMs);
  }

  /**
   * Puts the entries published in this process into the shard's `soon` list where the last read covered
   * their place (a later entry was read, or the read reached the lane's end), in lane order. Forgets those
   * taken, and after a read of the lane (`looked`) those due by then: that look was what their due time
   * needed (one it did not show was cancelled or moved, or the index lags, which the late check covers).
   */
  private placeExpected(s: ShardState, nowMs: number, looked = false, only?: { shard: number; entry: LaneEntry }): void {
    const last = s.soon.at(-1);
    const known = new Set(s.soon.map((e) => e.messageId));
    const add: LaneEntry[] = [];
    for (const [id, x] of only ? [[only.entry.messageId, only] as const] : this.expected) {
      if (x.entry.dueAtMs < nowMs - this.deps.options.indexLagMs || (x.shard === s.shard && this.knownInTopicLane(s, x.entry))) {
        this.expected.delete(id);
        continue;
      }
      if (x.shard !== s.shard) continue;
      if (looked && x.entry.dueAtMs <= nowMs) {
        this.expected.delete(id);
        continue;
      }
      if (known.has(id) || x.entry.dueAtMs <= nowMs || comparePositions(x.entry, s.frontier) <= 0) continue;
      if (s.soonComplete || (last !== undefined && comparePositions(x.entry, last) <= 0)) add.push(x.entry);
    }
    if (add.length === 0) return;
    const soon = s.soon.slice();
    for (const e of add) {
      let lo = 0;
      let hi = soon.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (comparePositions(soon[mid] as LaneEntry, e) < 0) lo = mid + 1;
        else hi = mid;
      }
      soon.splice(lo, 0, e);
    }
    s.soon = soon;
    const first = this.nextSoon(s);
    if (first && (s.nextDueT === undefined || first.dueAtMs < s.nextDueT)) s.nextDueT = first.dueAtMs;
  }

  /**
   * Something may be due at `dueAtMs` (a publish, reschedule or nack in this process). `tracked`: a
   * publish whose entry is in `expected` (the look at its due time may be left out once it is claimed).
   */
  notify(dueAtMs: number, tracked = false): void {
    if (!this.running) return;
    this.dueHint = Math.min(this.dueHint ?? Number.POSITIVE_INFINITY, dueAtMs);
    if (!tracked) this.untrackedHint = Math.min(this.untrackedHint ?? Number.POSITIVE_INFINITY, dueAtMs);
    if (dueAtMs > this.deps.clock.nowMs()) this.retime();
    else this.poke();
  }

  /** Answers every waiting poll with what it has and releases the leases. */
  async close(): Promise<void> {
    this.closing = true;
    this.poke();
    if (!this.running) {
      // Leases kept after the last call (keep mode) are released now.
      if (!this.shards.some((s) => s.held)) return;
      this.start(true);
    }
    await new Promise<void>((resolve) => this.idleResolvers.push(resolve));
  }

  /** Resolves when the dispatcher has released its leases and stopped (immediately when not running). */
  settled(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  /** Wakes the loop to look now. */
  private poke(): void {
    this.retimed = false;
    this.wake?.abort();
  }

  /** Wakes the loop only to set its sleep again: something may fall due sooner than it sleeps. */
  private retime(): void {
    if (!this.wake) return;
    this.retimed = true;
    this.wake.abort();
  }

  /** Sleeps until the next look is due (at the latest `capMs`), setting the sleep again whenever `retime` is called meanwhile. */
  private async sleepForWork(capMs = Number.POSITIVE_INFINITY): Promise<void> {
    const { clock } = this.deps;
    for (;;) {
      this.retimed = false;
      await this.sleepUntil(Math.min(capMs, this.nextWakeMs(clock.nowMs())));
      if (!this.retimed) return;
      this.retimed = false;
      if (this.nextWakeMs(clock.nowMs()) <= clock.nowMs()) return;
    }
  }

  private start(closing = false): void {
    if (this.running) return;
    this.running = true;
    this.closing = closing;
    void this.run().finally(() => {
      this.running = false;
      for (const r of this.idleResolvers.splice(0)) r();
      if (this.waiters.length > 0) this.start();
    });
  }

  private async run(): Promise<void> {
    const { clock, options, log } = this.deps;
    for (;;) {
      const nowMs = clock.nowMs();
      this.settleWaiters(nowMs);
      if (this.waiters.length === 0) {
        // First pushes still out keep the leases (renewed) until they are settled: a release would let the cursor's next holder push them again.
        const unsettled = this.firstPushes.size > 0;
        if (unsettled) {
          await this.renewDue(nowMs);
          // Settled meanwhile (its poke found no sleep to end): look again instead of sleeping.
          if (this.firstPushes.size > 0) await this.sleepUntil(this.renewAtMs());
          continue;
        }
        if (this.closing || nowMs - this.lastWaiterAtMs >= options.lingerMs) {
          if (this.carried.length > 0) await this.returnCarried();
          await this.releaseAll().catch((error) => log.warn("lease-release-failed", { topic: this.topic, group: this.group, error: String(error) }));
          if (this.waiters.length === 0) return;
          continue;
        }
        await this.renewDue(nowMs);
        await this.sleepUntil(Math.min(this.lastWaiterAtMs + options.lingerMs, this.renewAtMs()));
        continue;
      }
      // Every poll holds claims made ahead (answered at their due time) and can take no more: nothing to look for until then or until another poll joins.
      if (this.waiters.every((w) => w.got.length > 0 && this.readyAtMs(w) > nowMs && !(this.carries() && w.got.length < w.max))) {
        await this.renewDue(nowMs);
        await this.sleepUntil(Math.min(...this.waiters.map((w) => this.readyAtMs(w)), this.renewAtMs()));
        continue;
      }
      try {
        this.view = await this.loadView();
        const looking = this.waiters.slice();
        if (this.dueHint !== undefined && this.dueHint <= nowMs) this.dueHint = undefined;
        await this.ensureLeases(nowMs);
        // Entries seen ahead whose messages were read before they fell due: claimed first, answered at once.
        if ((await this.serveSoon(clock.nowMs())) > 0) {
          this.settleWaiters(clock.nowMs());
          if (this.waiters.length === 0) continue;
        }
        if (this.lookCanWait(clock.nowMs())) {
          for (const w of this.waiters) w.looked = true;
          this.armPrefetch(clock.nowMs());
          await this.sleepForWork(this.recheckAtMs());
          continue;
        }
        if (this.untrackedHint !== undefined && this.untrackedHint <= clock.nowMs()) this.untrackedHint = undefined;
        const progressed = await this.pass(clock.nowMs());
        this.armPrefetch(clock.nowMs());
        const partial = this.partial;
        this.lookedPartly.clear();
        if (partial && !progressed) for (const s of this.shards) if (s.held) this.lookedPartly.add(s);
        for (const w of looking) {
          if (!partial) w.looked = true;
          delete w.failure;
        }
        this.settleWaiters(clock.nowMs());
        if ((progressed || partial) && this.waiters.some((w) => !w.done)) continue;
      } catch (error) {
        // A failed look (the store throttles or is down): what it claimed is kept, the rest is looked at
        // again after a pause; a poll whose time runs out meanwhile is answered with the failure.
        log.warn("delivery-pass-failed", { topic: this.topic, group: this.group, error: String(error) });
        this.lookedPartly.clear();
        for (const s of this.shards) resetToCursor(s);
        for (const w of this.waiters) {
          w.looked = true;
          w.failure = error;
        }
        this.settleWaiters(clock.nowMs());
        await this.sleepUntil(clock.nowMs() + Math.min(options.pollIntervalMs, 250));
        continue;
      }
      if (this.waiters.length === 0) continue;
      await this.sleepForWork();
    }
  }

  /**
   * Answers polls that have messages, ran out of time, or were aborted. A poll holding messages claimed
   * ahead answers at their due time, not before (also when aborted or closing: at most `claimAheadMs`
   * later). A lingering dispatcher answers at the first of them with those due, and hands the others to
   * the next poll (see `carried`).
   */
  private settleWaiters(nowMs: number): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i] as Waiter;
      // Claims in flight hold the answer, except that a lingering dispatcher answers with what fell due (they are carried when they land).
      if (w.pending > 0 && !(this.carries() && !w.pushFirst && w.got.length > 0 && this.readyAtMs(w) <= nowMs)) continue;
      if (w.got.length > 0 && this.readyAtMs(w) > nowMs) continue;
      if (this.carries() && w.got.some((m) => m.deliverAtMs > nowMs)) {
        this.carried.push(...w.got.filter((m) => m.deliverAtMs > nowMs));
        this.carried.sort((a, b) => a.deliverAtMs - b.deliverAtMs);
        w.got = w.got.filter((m) => m.deliverAtMs <= nowMs);
      }
      if (w.got.length > 0 || (w.looked && nowMs >= w.deadlineMs) || w.signal?.aborted || this.closing) {
        w.done = true;
        this.waiters.splice(i, 1);
        if (w.got.length > 0) this.lastDeliveredAtMs = nowMs;
        for (const m of w.got) if (this.firstTaken.delete(m)) this.deps.metrics.lateness(this.topic, Math.max(0, nowMs - m.deliverAtMs));
        if (w.got.length === 0 && w.failure !== undefined && !this.closing && !w.signal?.aborted) w.reject(w.failure);
        else w.resolve(w.got);
      }
    }
    if (this.carried.length > 0) this.handCarried(nowMs);
  }

  /** Whether claims made ahead that a poll answering now cannot return yet may wait for the next poll: a lingering dispatcher keeps running between polls. */
  private carries(): boolean {
    return this.deps.options.lingerMs > 0 && !this.closing;
  }

  /**
   * When a poll holding messages may answer: the due time of its first (lingering: the rest wait for the
   * next poll) or of its last message (otherwise; such a poll holds messages of one due time only).
   */
  private readyAtMs(w: Waiter): number {
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const m of w.got) {
      first = Math.min(first, m.deliverAtMs);
      last = Math.max(last, m.deliverAtMs);
    }
    return this.carries() ? first : last;
  }

  /**
   * Whether a poll is free to be handed claims made ahead and still waits at `untilMs`: not answered, not
   * a push or an ordered poll, no claim of its own under way, not aborted.
   */
  private waitsFree(w: Waiter, untilMs = 0): boolean {
    return !w.done && !w.pushFirst && !w.ordered && w.pending === 0 && !w.signal?.aborted && w.deadlineMs >= untilMs;
  }

  /** Whether a poll can take a claim made ahead for `entry`: it waits past the due time, wants the tag and has room (without lingering: holds none yet). */
  private takesAheadFor(w: Waiter, entry?: Pick<LaneEntry, "dueAtMs" | "tag">): boolean {
    if (!this.waitsFree(w, entry?.dueAtMs) || (entry && !matchesTags(entry.tag, w.tags))) return false;
    return this.carries() ? w.got.length < w.max : w.got.length === 0;
  }

  /** Hands claims made ahead that the poll holding them could not return yet to the polls waiting now, first due first. */
  private handCarried(nowMs: number): void {
    for (const w of this.waiters) {
      if (this.carried.length === 0) break;
      if (!this.waitsFree(w)) continue;
      const keep: ReceivedMessage[] = [];
      for (const m of this.carried) {
        if (w.got.length < w.max && matchesTags(m.tag, w.tags) && (m.deliverAtMs <= nowMs || m.deliverAtMs <= w.deadlineMs)) w.got.push(m);
        else keep.push(m);
      }
      this.carried = keep;
      this.answerAtReady(w);
    }
  }

  /**
   * Claims made ahead that no poll took (every poll of the process went away before they fell due): made
   * visible again at once, for the next poll here or elsewhere (a claim counts as a delivery).
   */
  private async returnCarried(): Promise<void> {
    const { store, clock, log } = this.deps;
    const returning = this.carried.splice(0);
    await Promise.all(
      returning.map(async (m) => {
        const nowMs = clock.nowMs();
        try {
          await store.nack(this.topic, this.group, m.messageId, { receiptHandle: m.receiptHandle, consumedTimes: m.consumedTimes, redeliverAtMs: nowMs, nowMs });
        } catch (error) {
          log.warn("carried-return-failed", { topic: this.topic, group: this.group, messageId: m.messageId, error: String(error) });
        }
      }),
    );
  }

  private nextWakeMs(nowMs: number): number {
    const { options } = this.deps;
    let wakeAt = nowMs + this.recheckMs;
    for (const w of this.waiters) wakeAt = Math.min(wakeAt, w.deadlineMs);
    if (this.dueHint !== undefined) wakeAt = Math.min(wakeAt, Math.max(this.dueHint, nowMs));
    for (const s of this.shards) {
      if (s.held) {
        if (s.more) return nowMs;
        for (const t of [s.nextDueT, s.nextDueG, this.aheadAtMs(s, nowMs)]) if (t !== undefined) wakeAt = Math.min(wakeAt, Math.max(t, nowMs));
        if (s.busyUntilMs > nowMs) wakeAt = Math.min(wakeAt, Math.max(s.lateCheckAtMs, nowMs));
      } else {
        wakeAt = Math.min(wakeAt, Math.max(s.nextAcquireAtMs, nowMs));
      }
    }
    return Math.min(wakeAt, this.renewAtMs());
  }

  private renewAtMs(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.shards) if (s.held) at = Math.min(at, Math.max(s.untilMs - s.spanMs / 2, s.renewRetryAtMs));
    return at;
  }

  /**
   * How long the next write of a lease holds it: `leaseMs`, or in keep mode (`keepMs`, no lingering)
   * `keepMs` past the look margin while calls answer quickly — something was delivered within `keepMs`,
   * or every waiting poll's time runs out within half of it — so that a call answering then leaves a
   * lease that runs out soon, without a release write. A long poll waiting with nothing to deliver
   * renews for `leaseMs`, and releases.
   */
  private leaseSpanMs(nowMs: number): number {
    const { keepMs, leaseMs } = this.deps.options;
    if (keepMs <= 0 || this.closing) return leaseMs;
    const quick = nowMs - this.lastDeliveredAtMs < keepMs || this.waiters.every((w) => w.deadlineMs <= nowMs + keepMs / 2);
    return quick ? Math.min(leaseMs, LOOK_MARGIN_MS + keepMs) : leaseMs;
  }

  /**
   * Keep mode: a held shard may be left to run out when its call answers — its lease runs out within
   * the look margin and `keepMs`, and nothing needs a save (no entries to park, no pushes unsettled, no claims of an earlier
   * holder to be unsure of, and the sweeper's next look as saved no later than what is in flight needs).
   */
  private keepable(s: ShardState, nowMs: number): boolean {
    const { keepMs } = this.deps.options;
    if (keepMs <= 0 || this.closing || s.untilMs <= nowMs || s.untilMs - nowMs > LOOK_MARGIN_MS + keepMs) return false;
    if (s.tLeft.size > 0 || s.unsettled.size > 0 || s.uncertain) return false;
    const work = this.workAt(s);
    return work === undefined || (s.workAtMs !== undefined && s.workAtMs <= work);
  }

  private async sleepUntil(wakeAtMs: number): Promise<void> {
    const { clock } = this.deps;
    const ms = wakeAtMs - clock.nowMs();
    if (ms <= 0) return;
    const wake = new AbortController();
    this.wake = wake;
    await clock.sleep(Math.min(ms, 2 ** 31 - 1), wake.signal);
    if (this.wake === wake) this.wake = undefined;
  }

  private leaseKey(shard: number) {
    return { topic: this.topic, group: this.group, gen: (this.view as GroupView).gen, shard };
  }

  /** Takes the leases nobody holds; looks again at held-elsewhere ones at most once per poll interval. */
  private async ensureLeases(nowMs: number): Promise<void> {
    const { options } = this.deps;
    this.takeUpKept(nowMs);
    await this.renewDue(nowMs);
    this.partial = false;
    // One waiting poll for one message, nothing held, leases given up after each call (Lambda): the
    // shards are taken one at a time, from a rotating start, until a look finds something. A batch of one
    // has no order across shards to keep, and each shard not taken saves a lease's acquire and release.
    const w = this.waiters[0];
    if (options.lingerMs === 0 && this.waiters.length === 1 && w?.max === 1 && !w.pushFirst && !w.ordered && this.shards.length > 1 && this.shards.every((s) => !s.held)) {
      const start = this.rotation++ % this.shards.length;
      for (let i = 0; i < this.shards.length; i++) {
        const s = this.shards[(start + i) % this.shards.length] as ShardState;
        await this.takeLease(s, nowMs);
        if (s.held) {
          this.partial = i < this.shards.length - 1;
          return;
        }
      }
      return;
    }
    await Promise.all(this.shards.map((s) => this.takeLease(s, nowMs)));
  }

  /** Takes one shard's lease if nobody holds it; looks again at a held-elsewhere one at most once per poll interval. */
  private async takeLease(s: ShardState, nowMs: number): Promise<void> {
    const view = this.view as GroupView;
    const { store, options } = this.deps;
    if (s.held) return;
    if (nowMs < s.nextAcquireAtMs) return;
    if (s.untilMs > nowMs) {
      // Held elsewhere as last seen: a cheap read tells whether it was released meanwhile.
      const seen = await store.peekLease(this.leaseKey(s.shard));
      if (seen && seen.holder !== this.owner && seen.untilMs > nowMs) {
        s.untilMs = seen.untilMs;
        s.nextAcquireAtMs = Math.min(seen.untilMs, nowMs + options.pollIntervalMs);
        return;
      }
    }
    const start = { dueAtMs: view.startMs - 1, messageId: "" };
    const spanMs = this.leaseSpanMs(nowMs);
    const outcome = await store.acquireLease(this.leaseKey(s.shard), this.owner, nowMs, nowMs + spanMs, start);
    if (!outcome.ok) {
      s.untilMs = outcome.untilMs;
      s.nextAcquireAtMs = Math.min(outcome.untilMs, nowMs + options.pollIntervalMs);
      return;
    }
    const dormant = s.dormant;
    if (outcome.lease.resumed && dormant && dormant.gen === view.gen && comparePositions(s.pos, outcome.lease.pos) === 0 && !outcome.lease.takenOver) {
      this.resume(s, dormant, nowMs, spanMs, outcome.lease.workAtMs);
      return;
    }
    const fresh = freshShard(s.shard);
    Object.assign(s, fresh, {
      held: true,
      untilMs: nowMs + spanMs,
      spanMs,
      pos: outcome.lease.pos,
      frontier: outcome.lease.pos,
      uncertain: outcome.lease.takenOver,
      lateCheckAtMs: nowMs,
      busyUntilMs: nowMs + options.indexLagMs,
    });
    s.workAtMs = outcome.lease.workAtMs;
    for (const p of outcome.lease.passed) s.handled.set(p.messageId, p.dueAtMs);
    await this.checkBehindCursor(s, outcome.lease.recent);
  }

  /**
   * Takes up a shard this dispatcher released and nobody held since: everything it knew then still holds,
   * as for a holder that kept the lease (Lambda: one function container serving consume call after
   * consume call). Entries examined before the release that the index showed late are looked for at
   * the first look, in the same query as the lane after the frontier.
   */
  private resume(s: ShardState, dormant: { atMs: number }, nowMs: number, spanMs: number, workAtMs: number | undefined): void {
    s.held = true;
    s.untilMs = nowMs + spanMs;
    s.spanMs = spanMs;
    s.nextAcquireAtMs = 0;
    s.renewRetryAtMs = 0;
    s.dormant = undefined;
    s.workAtMs = workAtMs;
    // Entries examined before the release may still appear in the index: the first look reads the late
    // window behind the frontier (with the lane itself, one query), as a fresh holder reads behind the cursor.
    s.checkBehind = s.busyUntilMs > dormant.atMs;
  }

  /**
   * After taking a lease: the entries in the last `indexLagMs` before the cursor were passed by the
   * previous holder, `recent` of them. If the index shows exactly that many, they are all known; more
   * means entries appeared late, and those not delivered yet must still be taken (the claim's condition
   * tells which).
   */
  private async checkBehindCursor(s: ShardState, recent: number): Promise<void> {
    const view = this.view as GroupView;
    if (s.pos.dueAtMs < view.startMs) return;
    const lane: Lane = { kind: "topic", topic: this.topic, shard: s.shard };
    const fromMs = Math.max(view.startMs, s.pos.dueAtMs - this.deps.options.indexLagMs + 1);
    const mid = s.pos.messageId !== "";
    // Up to the cursor in lane order: a cursor between entries of one millisecond counts that
    // millisecond's entries only up to itself (read in pages: a burst may be large).
    const behind: LaneEntry[] = [];
    let found = !mid;
    let after: LanePosition | undefined;
    for (;;) {
      const read = await this.deps.store.readLane(lane, { fromMs, toMs: s.pos.dueAtMs, ...(after && { after }) }, 10_000);
      for (const e of read.entries) {
        if (found && mid) break;
        behind.push(e);
        if (mid && e.dueAtMs === s.pos.dueAtMs && e.messageId === s.pos.messageId) found = true;
      }
      const last = read.entries.at(-1);
      if ((mid && found) || !read.more || !last) break;
      after = { dueAtMs: last.dueAtMs, messageId: last.messageId };
    }
    if (found && behind.length <= recent && !s.uncertain) {
      for (const e of behind) s.handled.set(e.messageId, e.dueAtMs);
      if (mid) s.tieIds = new Set(behind.filter((e) => e.dueAtMs === s.pos.dueAtMs).map((e) => e.messageId));
      // This read was the late window behind the cursor: the first look need not read it again.
      s.lateCheckAtMs = this.deps.clock.nowMs() + this.deps.options.lateCheckMs;
      return;
    }
    // More than the previous holder passed: some appeared late; look at them all again (claims tell which are taken).
    s.uncertain = true;
    s.frontier = { dueAtMs: fromMs - 1, messageId: "" };
  }

  /**
   * The cursor to save: a millisecond boundary (every entry due at or before it was passed). The
   * frontier itself may sit between entries due in the same millisecond, whose order only the store knows.
   */
  private savedPosition(s: ShardState): LanePosition {
    const f = s.frontier;
    let pos: LanePosition = f.messageId === "" || s.tieDone ? { dueAtMs: f.dueAtMs, messageId: "" } : { dueAtMs: f.dueAtMs, messageId: f.messageId };
    if (s.caughtUpAtMs !== undefined) {
      const upTo = s.caughtUpAtMs - this.deps.options.indexLagMs - 1;
      if (upTo >= pos.dueAtMs) pos = { dueAtMs: upTo, messageId: "" };
    }
    // Held-back entries not parked yet are not passed, nor first pushes not settled: the cursor stays before them.
    for (const e of [...s.tLeft.values(), ...s.unsettled.values()]) if (e.dueAtMs <= pos.dueAtMs) pos = { dueAtMs: e.dueAtMs - 1, messageId: "" };
    return pos;
  }

  /** One look at every held shard: claims for the waiting polls, retires what is dead. True if anything was taken or passed. */
  private async pass(nowMs: number): Promise<boolean> {
    const held = this.shards.filter((s) => s.held && nowMs < s.untilMs - LOOK_MARGIN_MS && !this.lookedPartly.has(s));
    if (held.length === 0) return false;
    const looks = await Promise.all(held.map((s) => this.look(s, nowMs)));
    const { pollIntervalMs, streamRecheckMs } = this.deps.options;
    // A stream from another process is followed closely; an idle lane goes back to the idle rate.
    this.recheckMs = streamRecheckMs > 0 && looks.some((l) => l.foreign > 0) ? Math.min(pollIntervalMs, streamRecheckMs) : Math.min(pollIntervalMs, this.recheckMs * 2);
    // Due order across lanes; within a lane its own order (the sort is stable), so cursors move without gaps.
    const candidates = looks.flatMap((l) => l.candidates).sort((a, b) => a.entry.dueAtMs - b.entry.dueAtMs);
    // Ordered polls: only when every shard is held here and was looked at, and not past a lane whose read was cut.
    let bound: LanePosition | null = null;
    if (held.length === this.shards.length) {
      bound = { dueAtMs: nowMs, messageId: "\uffff" };
      for (const l of looks) {
        const last = l.due.at(-1);
        if (!l.complete && last && comparePositions(last, bound) < 0) bound = { dueAtMs: last.dueAtMs, messageId: last.messageId };
      }
    }
    const taken = await this.serve(candidates, nowMs, bound);
    let moved = false;
    looks.forEach((l, i) => {
      const s = held[i] as ShardState;
      if (this.advance(s, l.due, l.complete)) moved = true;
      const open = (e: LaneEntry) => !this.knownInTopicLane(s, e);
      s.caughtUpAtMs = l.complete && !s.uncertain && !l.due.some(open) && !l.candidates.some((c) => c.kind === "topic" && open(c.entry)) ? nowMs : undefined;
    });
    return taken > 0 || (moved && held.some((s) => s.more));
  }

  /**
   * Claims the entries of held shards' `soon` lists whose messages were read ahead (cached), in due
   * order, without reading the lanes first: those due now, and those due within `claimAheadMs` for
   * polls that will still wait then (answered at the due time). A shard's list is served up to its first
   * entry not read ahead, so each lane's order holds; the frontier moves at the next look, which
   * reads the lane from it and finds these entries taken. Returns how many were taken.
   */
  private async serveSoon(nowMs: number): Promise<number> {
    const { prefetchMs, claimAheadMs } = this.deps.options;
    if (prefetchMs <= 0) return 0;
    const untilMs = nowMs + (this.takesAhead() ? Math.min(claimAheadMs, prefetchMs) : 0);
    const candidates: Candidate[] = [];
    for (const s of this.shards) {
      if (!this.servesSoon(s, nowMs)) continue;
      let examined = 0;
      for (const e of s.soon) {
        if (e.dueAtMs > untilMs) break;
        if (this.knownInTopicLane(s, e)) continue;
        if (!this.deps.messages.has(this.topic, e.messageId)) break;
        examined++;
        if (await this.passIfDead(s, e, nowMs)) continue;
        candidates.push({ kind: "topic", shard: s.shard, entry: e });
      }
      if (examined > 0) s.busyUntilMs = nowMs + this.deps.options.indexLagMs;
    }
    if (candidates.length === 0) return 0;
    candidates.sort((a, b) => a.entry.dueAtMs - b.entry.dueAtMs);
    const taken = await this.serve(candidates, nowMs);
    for (const c of candidates) {
      const s = this.shards[c.shard] as ShardState;
      if (c.entry.dueAtMs <= nowMs || this.knownInTopicLane(s, c.entry)) s.soonTaken++;
    }
    for (const s of new Set(candidates.map((c) => this.shards[c.shard] as ShardState))) s.nextDueT = this.nextSoon(s)?.dueAtMs;
    return taken;
  }

  private servesSoon(s: ShardState, nowMs: number): boolean {
    return s.held && nowMs < s.untilMs - LOOK_MARGIN_MS && !this.lookedPartly.has(s);
  }

  /** Whether a poll could take a claim made ahead now. */
  private takesAhead(): boolean {
    return this.deps.options.claimAheadMs > 0 && this.waiters.some((w) => this.takesAheadFor(w));
  }

  /**
   * When the loop should wake to claim a shard's next `soon` entry ahead: `claimAheadMs` before it falls
   * due, once its message was read ahead and a poll that waits past its due time and wants its tag can
   * take it (undefined otherwise: it is claimed at its due time).
   */
  private aheadAtMs(s: ShardState, nowMs: number): number | undefined {
    const { prefetchMs, claimAheadMs } = this.deps.options;
    if (prefetchMs <= 0 || claimAheadMs <= 0 || !this.servesSoon(s, nowMs)) return undefined;
    const e = this.nextSoon(s);
    if (!e || e.dueAtMs <= nowMs || !this.deps.messages.has(this.topic, e.messageId)) return undefined;
    return this.waiters.some((w) => this.takesAheadFor(w, e)) ? e.dueAtMs - Math.min(claimAheadMs, prefetchMs) : undefined;
  }

  /** The first of a shard's `soon` entries not taken, passed or held back yet. */
  private nextSoon(s: ShardState): LaneEntry | undefined {
    return s.soon.find((e) => !this.knownInTopicLane(s, e));
  }

  /**
   * Whether the look can wait for the next known due time, as it would have after reading the lanes now
   * (after entries read ahead were claimed, or when a long poll joins): nothing known is due (the last
   * look left no due topic-lane entry open, the next entry of each topic lane is the next one read ahead,
   * every entry published here and due was claimed,
   * the group lane has nothing due, nothing is held back for other filters), no late check, backlog page,
   * other hint or lease check is due, and both lanes were read within the poll interval (what other
   * processes publish, nack or redrive is still seen within it). A poll that joins counts as looked for
   * only when it waits longer than the poll interval: the re-check reads the lanes before it can answer
   * empty, and a call that waits less still gets a look of its own. The entries claimed past the frontier
   * stay fewer than a saved cursor can list as passed.
   */
  private lookCanWait(nowMs: number): boolean {
    const { options } = this.deps;
    if (this.partial || this.lookedPartly.size > 0 || (this.untrackedHint !== undefined && this.untrackedHint <= nowMs)) return false;
    const joining = this.waiters.filter((w) => !w.looked);
    if (joining.some((w) => w.deadlineMs < nowMs + options.pollIntervalMs)) return false;
    if (joining.length > 0 && this.shards.some((s) => s.tLeft.size > 0 || s.gLeft.size > 0)) return false;
    for (const x of this.expected.values()) {
      const s = this.shards[x.shard];
      if (x.entry.dueAtMs <= nowMs && !(s && this.knownInTopicLane(s, x.entry))) return false;
    }
    return this.shards.every((s) => {
      if (!s.held) return s.nextAcquireAtMs > nowMs;
      const next = this.nextSoon(s);
      return (
        !s.more &&
        s.caughtUpAtMs !== undefined &&
        !s.checkBehind &&
        !s.uncertain &&
        s.ahead === undefined &&
        s.gComplete &&
        (next === undefined ? s.nextDueT === undefined && (s.soonComplete || s.soon.length === 0) : next.dueAtMs > nowMs && s.nextDueT === next.dueAtMs) &&
        (s.nextDueG === undefined || s.nextDueG > nowMs) &&
        !(s.busyUntilMs > nowMs && s.lateCheckAtMs <= nowMs) &&
        nowMs - s.tReadAtMs < this.recheckMs &&
        nowMs - s.gReadAtMs < options.pollIntervalMs &&
        s.soonTaken < MAX_PASSED / 2
      );
    });
  }

  /** When the lanes must be read again at the latest while looks wait: the recheck after each held shard's last topic-lane read, a poll interval after its group lane's. */
  private recheckAtMs(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.shards) if (s.held) at = Math.min(at, s.tReadAtMs + this.recheckMs, s.gReadAtMs + this.deps.options.pollIntervalMs);
    return at;
  }

  /** When the next read ahead is due: `prefetchMs` before the first entry of a held shard's `soon` not read yet. */
  private nextPrefetchAtMs(): number {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.shards) {
      if (!s.held) continue;
      const e = s.soon.find((x) => !s.soonRead.has(x.messageId) && !this.knownInTopicLane(s, x));
      if (e) at = Math.min(at, e.dueAtMs - this.deps.options.prefetchMs);
    }
    return at;
  }

  /** Sets the read-ahead timer for the next entries falling due (or clears it when there are none). */
  private armPrefetch(nowMs: number): void {
    if (this.deps.options.prefetchMs <= 0 || this.closing) return this.disarmPrefetch();
    const at = this.nextPrefetchAtMs();
    if (at === Number.POSITIVE_INFINITY) return this.disarmPrefetch();
    if (this.prefetchWake && this.prefetchAtMs <= at) return;
    this.disarmPrefetch();
    const wake = new AbortController();
    this.prefetchWake = wake;
    this.prefetchAtMs = at;
    void this.deps.clock.sleep(at - nowMs, wake.signal).then(async () => {
      if (wake.signal.aborted) return;
      this.prefetchWake = undefined;
      this.prefetchAtMs = Number.POSITIVE_INFINITY;
      try {
        await this.prefetch();
      } catch (error) {
        this.deps.log.warn("prefetch-failed", { topic: this.topic, group: this.group, error: String(error) });
      }
      if (this.running && this.waiters.length > 0) this.armPrefetch(this.deps.clock.nowMs());
    });
  }

  private disarmPrefetch(): void {
    this.prefetchWake?.abort();
    this.prefetchWake = undefined;
    this.prefetchAtMs = Number.POSITIVE_INFINITY;
  }

  /**
   * Reads the messages of the entries falling due within `prefetchMs` (one batch read; cached, as they can
   * no longer change): at their due time the claim is the only request left. A failed read only means
   * the look at their due time reads them, as it would have anyway.
   */
  private async prefetch(): Promise<void> {
    const nowMs = this.deps.clock.nowMs();
    const untilMs = nowMs + this.deps.options.prefetchMs;
    const ids: string[] = [];
    for (const s of this.shards) {
      if (!s.held) continue;
      for (const e of s.soon) {
        if (e.dueAtMs > untilMs) break;
        if (s.soonRead.has(e.messageId) || this.knownInTopicLane(s, e)) continue;
        s.soonRead.add(e.messageId);
        ids.push(e.messageId);
      }
    }
    if (ids.length === 0) return;
    await this.contents(ids, nowMs, untilMs);
    // Read: they may now be claimed ahead for a waiting poll.
    if (this.deps.options.claimAheadMs > 0) this.retime();
  }

  /**
   * Reads both lanes of a shard: the due candidates, with dead entries retired or passed on the way.
   * `due` is every due topic-lane entry read after the frontier, in lane order.
   */
  private async look(s: ShardState, nowMs: number): Promise<{ candidates: Candidate[]; due: LaneEntry[]; complete: boolean; foreign: number }> {
    const view = this.view as GroupView;
    const { store, options } = this.deps;
    const candidates: Candidate[] = [];
    s.more = false;
    const late = nowMs >= s.lateCheckAtMs && s.busyUntilMs > nowMs;
    if (late) s.lateCheckAtMs = nowMs + options.lateCheckMs;
    const checkBehind = s.checkBehind;

    // Group lane: redeliveries, nacks, parked messages, redriven dead letters.
    const gLane: Lane = { kind: "group", topic: this.topic, group: this.group, shard: s.shard };
    // In-flight deliveries (due later) come first in a page once nothing is due: after a look that found
    // nothing due a short page tells the next due time without reading every delivery in flight.
    const gLimit = s.gIdle ? Math.min(options.scanLimit, IDLE_PAGE) : options.scanLimit;
    // Topic lane, through the group's cursor: read beside the group lane (one round trip for both).
    const tLane: Lane = { kind: "topic", topic: this.topic, shard: s.shard };
    const floorMs = Math.max(view.startMs, nowMs - view.topic.retentionMs);
    const after = comparePositions(s.frontier, { dueAtMs: floorMs, messageId: "" }) >= 0 ? s.frontier : undefined;
    const tLimit = s.tIdle ? Math.min(options.scanLimit, IDLE_PAGE) : options.scanLimit;
    // The group lane changes by this holder's claims (it knows their next due times), by nacks and redrives
    // in this process (they reset gFrontier) and, elsewhere, by nacks and redrives of other processes: it
    // is read when something in it is due, after a reset, and otherwise once per poll interval.
    const readG =
      !s.gComplete || late || (s.nextDueG !== undefined && s.nextDueG <= nowMs) || nowMs - s.gReadAtMs >= options.pollIntervalMs;
    // A backlog read before: its due entries after the frontier, unless the late check is due.
    const ahead = late || checkBehind || !s.ahead || nowMs - s.ahead.readAtMs >= options.lateCheckMs ? undefined : afterFrontier(s.ahead.entries, s.frontier)?.filter((e) => e.dueAtMs >= floorMs);
    const [gRead, { tRead, lateT }, lateG] = await Promise.all([
      readG
        ? store.readLane(gLane, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, ...(s.gFrontier && { after: s.gFrontier }) }, gLimit)
        : Promise.resolve(undefined),
      ahead && ahead.length > 0
        ? Promise.resolve({ tRead: { entries: ahead, more: true }, lateT: [] })
        : this.readTopicLane(s, tLane, floorMs, after, tLimit, late || checkBehind),
      late && s.gFrontier ? this.lateInLane(gLane, s.gFrontier, 0) : Promise.resolve([]),
    ]);
    const fromAhead = ahead !== undefined && ahead.length > 0;
    if (checkBehind) s.checkBehind = false;
    const gDue: LaneEntry[] = [];
    if (gRead) {
      s.nextDueG = undefined;
      for (const e of gRead.entries) {
        if (e.dueAtMs > nowMs) {
          s.nextDueG = e.dueAtMs;
          break;
        }
        gDue.push(e);
      }
      const cut = gRead.more && gDue.length === gRead.entries.length;
      if (cut) s.more = true;
      s.gComplete = !cut;
      s.gReadAtMs = nowMs;
      s.gIdle = gDue.length === 0;
    }
    const lastG = gDue.at(-1);
    gDue.unshift(...lateG);
    if (lastG) s.gFrontier = { dueAtMs: lastG.dueAtMs, messageId: lastG.messageId };
    let gExamined = 0;
    for (const e of gDue) {
      if (this.knownInGroupLane(s, e)) continue;
      gExamined++;
      if (!(await this.retireIfDead(s, e, nowMs))) s.gLeft.set(e.messageId, e);
    }
    for (const e of s.gLeft.values()) candidates.push({ kind: "group", shard: s.shard, entry: e });

    s.nextDueT = undefined;
    const due: LaneEntry[] = [];
    for (const e of tRead.entries) {
      if (e.dueAtMs > nowMs) {
        s.nextDueT = e.dueAtMs;
        break;
      }
      due.push(e);
    }
    const cut = tRead.more && due.length === tRead.entries.length;
    if (cut) s.more = true;
    let foreign = 0;
    if (!fromAhead) {
      // Due entries new to this dispatcher that were not published here with a tracked place: another process's.
      for (const e of due) if (!this.knownInTopicLane(s, e) && !this.expected.has(e.messageId)) foreign++;
      // So are entries due later that the last read would have shown had they been there: a delayed
      // message from elsewhere may fall due before the next poll-interval read.
      const before = new Set(s.soon.map((e) => e.messageId));
      const lastBefore = s.soonComplete ? undefined : s.soon.at(-1);
      const shown = (e: LaneEntry) => s.soonComplete || (lastBefore !== undefined && comparePositions(e, lastBefore) < 0);
      s.tReadAtMs = nowMs;
      s.soonTaken = 0;
      s.soon = tRead.entries.slice(due.length);
      for (const e of s.soon) if (!before.has(e.messageId) && !this.expected.has(e.messageId) && shown(e)) foreign++;
      s.soonComplete = !tRead.more;
      this.placeExpected(s, nowMs, true);
      // Entries due later may be claimed already (ahead): the next due time is that of the first one open,
      // or, when every entry read is taken and the read was cut, the last one's (the lane is read again then).
      const next = this.nextSoon(s);
      if (next) s.nextDueT = next.dueAtMs;
      else if (s.soon.length > 0) s.nextDueT = s.soonComplete ? undefined : s.soon.at(-1)?.dueAtMs;
      const ids = new Set(s.soon.map((e) => e.messageId));
      for (const id of s.soonRead) if (!ids.has(id)) s.soonRead.delete(id);
    }
    s.ahead = cut && due.length > 0 ? { entries: due, readAtMs: fromAhead ? (s.ahead as { readAtMs: number }).readAtMs : nowMs } : undefined;
    s.tIdle = due.length === 0;
    // Entries seen for the first time: later ones may still appear behind them while the index catches up.
    let examined = gExamined;
    for (const e of [...lateT, ...due]) {
      if (this.knownInTopicLane(s, e)) continue;
      examined++;
      if (await this.passIfDead(s, e, nowMs)) continue;
      candidates.push({ kind: "topic", shard: s.shard, entry: e });
    }
    for (const e of s.tLeft.values()) candidates.push({ kind: "topic", shard: s.shard, entry: e });
    if (examined > 0) s.busyUntilMs = nowMs + options.indexLagMs;
    this.trim(s, nowMs);
    return { candidates, due, complete: !(tRead.more && due.length === tRead.entries.length), foreign };
  }

  /**
   * The topic lane after the frontier and, when `late`, the late window behind it (entries up to
   * `indexLagMs` behind the frontier that earlier looks may not have seen): one query from the start of
   * that window, its limit raised by the entries known there. Two queries only when the window holds
   * more than that page or the frontier's own entry is not in it (a millisecond's order is the store's).
   */
  private async readTopicLane(s: ShardState, lane: Lane, floorMs: number, after: LanePosition | undefined, limit: number, late: boolean): Promise<{ tRead: LaneRead; lateT: LaneEntry[] }> {
    const { store, options } = this.deps;
    const main = () => store.readLane(lane, { fromMs: floorMs, toMs: Number.MAX_SAFE_INTEGER, ...(after && { after }) }, limit);
    const f = s.frontier;
    // Caught up at the last look: every entry due `indexLagMs` before then was in the index already.
    const fromMs = Math.max(floorMs, f.dueAtMs - options.indexLagMs, s.caughtUpAtMs !== undefined ? s.caughtUpAtMs - options.indexLagMs : floorMs);
    // (A window that reaches the frontier means the frontier is past the floor: `after` is the frontier.)
    if (!late || fromMs > f.dueAtMs) return { tRead: await main(), lateT: [] };
    let known = 0;
    for (const d of s.handled.values()) if (d >= fromMs && d <= f.dueAtMs) known++;
    const read = await store.readLane(lane, { fromMs, toMs: Number.MAX_SAFE_INTEGER }, Math.min(10_000, known + limit));
    const lateT: LaneEntry[] = [];
    let i = 0;
    let found = f.messageId === "";
    for (; i < read.entries.length; i++) {
      const e = read.entries[i] as LaneEntry;
      if (e.dueAtMs > f.dueAtMs || (e.dueAtMs === f.dueAtMs && found)) break;
      lateT.push(e);
      if (e.dueAtMs === f.dueAtMs && e.messageId === f.messageId) found = true;
    }
    const past = read.entries.slice(i);
    const beyond = past.length > 0 || !read.more;
    if (found && beyond) return { tRead: { entries: past, more: read.more }, lateT };
    // The window filled the page, or the frontier's entry was not seen: the part after it is read on its own.
    return { tRead: await main(), lateT: found || beyond ? lateT : await this.lateInLane(lane, f, floorMs) };
  }

  /** Entries up to `indexLagMs` behind a frontier that earlier looks may not have seen (the index lags). */
  private async lateInLane(lane: Lane, frontier: LanePosition, floorMs: number): Promise<LaneEntry[]> {
    const fromMs = Math.max(floorMs, frontier.dueAtMs - this.deps.options.indexLagMs);
    if (fromMs > frontier.dueAtMs) return [];
    // In pages: an answer may be cut by its size before its limit.
    const entries: LaneEntry[] = [];
    let after: LanePosition | undefined;
    for (;;) {
      const read = await this.deps.store.readLane(lane, { fromMs, toMs: frontier.dueAtMs, ...(after && { after }) }, 10_000 - entries.length);
      entries.push(...read.entries);
      const last = read.entries.at(-1);
      if (!read.more || !last || entries.length >= 10_000) return entries;
      after = { dueAtMs: last.dueAtMs, messageId: last.messageId };
    }
  }

  /**
   * Moves the frontier over the due entries now taken, passed or held back for another filter; stops at
   * the first still open. `complete`: every due entry of the lane was read.
   */
  private advance(s: ShardState, due: readonly LaneEntry[], complete: boolean): boolean {
    let moved = -1;
    for (let i = 0; i < due.length; i++) {
      const e = due[i] as LaneEntry;
      if (!this.knownInTopicLane(s, e)) break;
      if (s.frontier.messageId === "" || e.dueAtMs !== s.frontier.dueAtMs) s.tieIds = new Set();
      s.tieIds.add(e.messageId);
      s.frontier = { dueAtMs: e.dueAtMs, messageId: e.messageId };
      moved = i;
    }
    if (moved < 0) return false;
    const next = due[moved + 1];
    s.tieDone = next ? next.dueAtMs > s.frontier.dueAtMs : complete;
    return true;
  }

  /** Taken, passed, held back, or seen at a position it has since left. */
  private knownInTopicLane(s: ShardState, e: LaneEntry): boolean {
    return s.handled.has(e.messageId) || s.tLeft.has(e.messageId) || s.unsettled.has(e.messageId) || s.moved.get(e.messageId) === e.dueAtMs;
  }

  /** A stale index view of a delivery this dispatcher moved, or one it already holds back. */
  private knownInGroupLane(s: ShardState, e: LaneEntry): boolean {
    if (s.gLeft.has(e.messageId)) return true;
    const moved = s.gHandled.get(e.messageId);
    return moved !== undefined && moved.dueAtMs === e.dueAtMs && moved.consumedTimes === e.consumedTimes;
  }

  /** Passes a topic-lane entry the group will never take (past retention, not subscribed, expired). True when passed. */
  private async passIfDead(s: ShardState, e: LaneEntry, nowMs: number): Promise<boolean> {
    const view = this.view as GroupView;
    if (e.expiresAtMs <= nowMs || !matchesTags(e.tag, view.settings.tagFilter)) {
      s.handled.set(e.messageId, e.dueAtMs);
      return true;
    }
    if (isExpired(e.ttlExpiresAtMs, nowMs)) {
      if (view.settings.deadLetter) {
        await this.deps.store.putDeadLetter(this.topic, this.group, view.gen, { ...e, shard: s.shard }, e.ttlExpiresAtMs ?? nowMs, RetireReason.Expired);
        this.deps.metrics.deadLettered(this.topic, RetireReason.Expired, 1);
      }
      this.deps.metrics.expired(this.topic, 1);
      s.handled.set(e.messageId, e.dueAtMs);
      return true;
    }
    return false;
  }

  /**
   * Retires a due group-lane entry that can never be delivered again: "retired" when this call did,
   * "gone" when it had been already (a lagging index still showed it) or was another incarnation's, false when it lives.
   */
  private async retireIfDead(s: ShardState, e: LaneEntry, nowMs: number): Promise<"retired" | "gone" | false> {
    const view = this.view as GroupView;
    const { store } = this.deps;
    const mark = () => s.gHandled.set(e.messageId, { dueAtMs: e.dueAtMs, consumedTimes: e.consumedTimes, atMs: nowMs });
    if (e.gen !== undefined && e.gen !== view.gen) {
      await store.dropForeign(this.topic, this.group, e.messageId, e.gen);
      mark();
      return "gone";
    }
    const when = { kind: "due" as const, dueAtMs: e.dueAtMs, consumedTimes: e.consumedTimes };
    let reason: RetireReason | undefined;
    let deadLetter = view.settings.deadLetter;
    let failedAtMs = e.dueAtMs;
    if (e.expiresAtMs <= nowMs) {
      reason = RetireReason.Expired;
      deadLetter = false;
    } else if (isExpired(e.ttlExpiresAtMs, nowMs)) {
      reason = RetireReason.Expired;
      failedAtMs = e.ttlExpiresAtMs ?? nowMs;
    } else if (e.consumedTimes >= view.settings.maxReceiveCount) {
      reason = RetireReason.MaxReceiveCount;
    }
    if (reason === undefined) return false;
    const won = await store.retireDelivery(this.topic, this.group, e.messageId, { when, deadLetter, reason, failedAtMs, nowMs });
    mark();
    if (won) {
      if (deadLetter) this.deps.metrics.deadLettered(this.topic, reason, 1);
      if (reason === RetireReason.Expired) this.deps.metrics.expired(this.topic, 1);
    }
    return won ? "retired" : "gone";
  }

  /**
   * Claims candidates for the waiting polls, in due order. A topic-lane entry no waiting poll's tag filter
   * wants is held back (parked in the group lane at the next save); one that only found every wanting poll
   * full stays open for the next look. A candidate due later (claimed ahead, from `serveSoon`) goes only
   * to a poll that waits past its due time. Without lingering such a poll holds messages of that one due
   * time only (it answers when they fall due, and takes nothing due earlier); a lingering one answers at
   * the first due time with what is due and leaves the rest to the next poll. Returns how many were taken.
   */
  /** `orderedUpTo`: how far an ordered poll may take (null: nothing in this serve). */
  private async serve(candidates: readonly Candidate[], nowMs: number, orderedUpTo: LanePosition | null = null): Promise<number> {
    const open = this.waiters.filter((w) => !w.done);
    const order = new Map<ReceivedMessage, number>();
    let rest = candidates;
    let taken = 0;
    // Without lingering: when a poll's planned messages are due (0: now); absent while it holds none.
    const carries = this.carries();
    const readyAt = new Map<Waiter, number>();
    for (const w of open) if (w.got.length > 0) readyAt.set(w, this.readyAtMs(w) > nowMs ? this.readyAtMs(w) : 0);
    const atOf = (c: Candidate) => (c.entry.dueAtMs > nowMs ? c.entry.dueAtMs : 0);
    const fits = (c: Candidate, w: Waiter) => {
      const at = atOf(c);
      if (w.ordered && (orderedUpTo === null || at > 0 || (c.kind === "topic" ? comparePositions(c.entry, orderedUpTo) > 0 : c.entry.dueAtMs > orderedUpTo.dueAtMs))) return false;
      if (at > 0 && !this.waitsFree(w, at)) return false;
      if (carries) return true;
      const held = readyAt.get(w);
      return held === undefined || held === at;
    };
    // Rounds: a claim that finds the message taken already (after a takeover) frees its slot for the next candidate.
    for (let round = 0; round < 8 && rest.length > 0; round++) {
      const plan: { c: Candidate; w: Waiter; rank: number }[] = [];
      const room = new Map<Waiter, number>();
      for (const w of open) room.set(w, w.done ? 0 : w.max - w.got.length - w.pending);
      const unplanned: Candidate[] = [];
      for (const c of rest) {
        const wanting = open.filter((x) => matchesTags(c.entry.tag, x.tags));
        const w = wanting.find((x) => (room.get(x) ?? 0) > 0 && fits(c, x));
        if (w) {
          room.set(w, (room.get(w) ?? 0) - 1);
          readyAt.set(w, atOf(c));
          plan.push({ c, w, rank: candidates.indexOf(c) });
        } else if (wanting.length === 0 && c.kind === "topic") {
          (this.shards[c.shard] as ShardState).tLeft.set(c.entry.messageId, c.entry);
        } else if (atOf(c) === 0) {
          unplanned.push(c);
        }
      }
      if (plan.length === 0) break;
      const contents = await this.contents(plan.map((p) => p.c.entry.messageId), nowMs);
      let missed = 0;
      await Promise.all(
        plan.map(async ({ c, w, rank }) => {
          // Answered meanwhile (a poll holding claims made ahead answers at their due time): the candidate waits for the next look.
          if (w.done) return;
          w.pending++;
          try {
            const message = contents.get(c.entry.messageId);
            const got = c.kind === "topic" ? await this.takeNew(c, w, message, Math.max(nowMs, c.entry.dueAtMs)) : await this.takeAgain(c, w, message, nowMs);
            if (got) {
              if (c.kind === "topic") this.firstTaken.add(got);
              else if (got.consumedTimes > 1) this.deps.metrics.redelivered(this.topic, 1);
              // Carried messages handed to the poll meanwhile filled it: this one waits for the next poll.
              if (carries && (w.done || w.got.length >= w.max)) this.carried.push(got);
              else w.got.push(got);
              order.set(got, rank);
              taken++;
            } else missed++;
          } finally {
            w.pending--;
          }
        }),
      );
      if (missed === 0) break;
      rest = unplanned;
    }
    // Claims finish in any order; each poll gets its batch in due order.
    for (const w of open) {
      w.got.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
      this.answerAtReady(w);
    }
    if (this.carried.length > 0) this.carried.sort((a, b) => a.deliverAtMs - b.deliverAtMs);
    return taken;
  }

  /** A poll holding claims made ahead answers at their due time, whatever the loop is doing then. */
  private answerAtReady(w: Waiter): void {
    const { clock } = this.deps;
    if (w.done || w.got.length === 0) return;
    const atMs = this.readyAtMs(w);
    const nowMs = clock.nowMs();
    if (atMs <= nowMs || atMs >= w.timerAtMs) return;
    w.timerAtMs = atMs;
    void clock.sleep(atMs - nowMs).then(() => {
      if (w.timerAtMs === atMs) w.timerAtMs = Number.POSITIVE_INFINITY;
      if (w.done) return;
      this.settleWaiters(clock.nowMs());
      this.poke();
    });
  }

  /** A topic-lane entry: confirmed on the message itself (the index may be stale), then claimed by creating the group's delivery. */
  private async takeNew(c: Candidate, w: Waiter, message: StoredMessage | undefined, nowMs: number): Promise<ReceivedMessage | undefined> {
    const s = this.shards[c.shard] as ShardState;
    const id = c.entry.messageId;
    s.tLeft.delete(id);
    if (message && message.state !== MessageState.Cancelled && message.content.deliverAtMs > nowMs) {
      // Rescheduled later: the index showed an old position; the entry at its new one will be met there.
      s.moved.set(id, c.entry.dueAtMs);
      return undefined;
    }
    s.handled.set(id, c.entry.dueAtMs);
    if (!message || message.state === MessageState.Cancelled || isExpired(message.content.ttlExpiresAtMs, nowMs) || message.content.expiresAtMs <= nowMs) return undefined;
    const view = this.view as GroupView;
    const fresh: NewDelivery = {
      topic: this.topic,
      group: this.group,
      gen: view.gen,
      message: { ...c.entry, dueAtMs: message.content.deliverAtMs, deliverAtMs: message.content.deliverAtMs, expiresAtMs: message.content.expiresAtMs, shard: c.shard },
      claim: this.claimSpec(w, id, 1, nowMs),
    };
    // Under a lease taken over from a holder that stopped (uncertain), its unsaved pushes may have gone
    // out: the claim's condition tells, so first pushes are claimed like any delivery until the next holder.
    if (w.pushFirst && !s.uncertain) {
      s.unsettled.set(id, c.entry);
      this.firstPushes.set(id, { shard: c.shard, delivery: fresh, message });
      const unclaimed: UnclaimedMessage = {
        ...message.content,
        messageId: id,
        group: this.group,
        receiptHandle: fresh.claim.receiptHandle,
        consumedTimes: 1,
        firstConsumedAtMs: nowMs,
        nextVisibleAtMs: fresh.claim.visibleUntilMs,
        unclaimed: true,
      };
      return unclaimed;
    }
    const delivery = await this.deps.store.claimNew(fresh);
    if (delivery) noteRedelivery(s, delivery.nextVisibleAtMs);
    return delivery && { ...message.content, ...delivery };
  }

  /**
   * Settles a first push handed over unclaimed: a success writes the delivery acked (one write outside
   * the index); a failure claims it as any delivery (returned, for the caller's nack: backoff, then dead
   * letters). Undefined when there is nothing to settle (unknown id, or another taker's delivery exists).
   * A store failure forgets what this holder examined since its cursor: the next look meets the message
   * again and claims it (the claim's condition tells whether the write had landed).
   */
  async settleFirstPush(messageId: string, ok: boolean): Promise<ReceivedMessage | undefined> {
    const fp = this.firstPushes.get(messageId);
    if (!fp) return undefined;
    this.firstPushes.delete(messageId);
    const s = this.shards[fp.shard] as ShardState;
    const { store, clock } = this.deps;
    try {
      if (ok) {
        await store.putAcked(fp.delivery, clock.nowMs());
        return undefined;
      }
      const delivery = await store.claimNew(fp.delivery);
      if (delivery) noteRedelivery(s, delivery.nextVisibleAtMs);
      return delivery && { ...fp.message.content, ...delivery };
    } catch (error) {
      s.handled.delete(messageId);
      resetToCursor(s);
      throw error;
    } finally {
      s.unsettled.delete(messageId);
      this.poke();
    }
  }

  /** A group-lane entry: claimed again by a conditional update of the delivery. */
  private async takeAgain(c: Candidate, w: Waiter, message: StoredMessage | undefined, nowMs: number): Promise<ReceivedMessage | undefined> {
    const s = this.shards[c.shard] as ShardState;
    const id = c.entry.messageId;
    s.gLeft.delete(id);
    const view = this.view as GroupView;
    if (!message) {
      await this.deps.store.retireDelivery(this.topic, this.group, id, {
        when: { kind: "due", dueAtMs: c.entry.dueAtMs, consumedTimes: c.entry.consumedTimes },
        deadLetter: false,
        reason: RetireReason.Expired,
        failedAtMs: nowMs,
        nowMs,
      });
      s.gHandled.set(id, { dueAtMs: c.entry.dueAtMs, consumedTimes: c.entry.consumedTimes, atMs: nowMs });
      return undefined;
    }
    const spec = this.claimSpec(w, id, c.entry.consumedTimes + 1, nowMs);
    const delivery = await this.deps.store.claimAgain(this.topic, this.group, view.gen, c.entry, spec);
    s.gHandled.set(id, { dueAtMs: c.entry.dueAtMs, consumedTimes: c.entry.consumedTimes, atMs: nowMs });
    if (delivery) noteRedelivery(s, delivery.nextVisibleAtMs);
    return delivery && { ...message.content, ...delivery };
  }

  private claimSpec(w: Waiter, messageId: string, consumedTimes: number, nowMs: number): ClaimSpec {
    const settings = (this.view as GroupView).settings;
    const visibleUntilMs = nowMs + w.visibilityMs;
    return {
      receiptHandle: mintReceiptHandle(this.topic, this.group, messageId),
      nowMs,
      visibleUntilMs,
      redeliverAtMs: redeliverAtMs(visibleUntilMs, settings.retryBackoff, consumedTimes, settings.maxReceiveCount),
    };
  }

  /**
   * Message contents, strongly consistent. A message whose deliver time is at most `finalAtMs` when the
   * read is sent can no longer change (cancel and reschedule stop a margin before it): it is cached.
   */
  private async contents(ids: readonly string[], nowMs: number, finalAtMs = nowMs): Promise<Map<string, StoredMessage>> {
    const cache = this.deps.messages;
    const out = new Map<string, StoredMessage>();
    const missing: string[] = [];
    const waits: Promise<void>[] = [];
    const unread: string[] = [];
    for (const id of new Set(ids)) {
      const hit = cache.get(this.topic, id);
      if (hit) {
        out.set(id, hit);
        continue;
      }
      const reading = cache.inFlight(this.topic, id);
      if (reading)
        waits.push(
          reading.then((m) => {
            if (m) out.set(id, m);
            else unread.push(id);
          }),
        );
      else missing.push(id);
    }
    const readInto = async (list: readonly string[]) => {
      if (list.length === 0) return;
      const read = this.deps.store.readMessages(this.topic, list);
      cache.track(this.topic, list, read);
      for (const [id, message] of await read) {
        out.set(id, message);
        if (message.state !== MessageState.Cancelled && message.content.deliverAtMs <= finalAtMs) cache.put(this.topic, message);
      }
    };
    await Promise.all([readInto(missing), ...waits]);
    // A read in flight elsewhere that failed, or found nothing: read here (a message deleted since is not found again).
    await readInto(unread);
    return out;
  }

  /** Forgets what is older than the index lag; bounds what is held back. */
  private trim(s: ShardState, nowMs: number): void {
    const horizon = s.frontier.dueAtMs - this.deps.options.indexLagMs;
    for (const [id, dueAtMs] of s.handled) if (dueAtMs < horizon) s.handled.delete(id);
    for (const [id, h] of s.gHandled) if (h.atMs < nowMs - this.deps.options.indexLagMs) s.gHandled.delete(id);
    for (const [id, dueAtMs] of s.moved) if (dueAtMs < horizon) s.moved.delete(id);
    if (s.gLeft.size > MAX_LEFT) {
      for (const id of [...s.gLeft.keys()].slice(MAX_LEFT)) s.gLeft.delete(id);
      s.gFrontier = undefined;
      s.gComplete = false;
    }
  }

  /** Saves a held shard's cursor: parks what tag filters left behind, then renews (or releases) the lease. */
  private async save(s: ShardState, nowMs: number, renew: boolean): Promise<void> {
    const view = this.view as GroupView;
    const { store, options } = this.deps;
    if (s.tLeft.size > 0) {
      const left = [...s.tLeft.values()].slice(0, MAX_PARK);
      await withConcurrency(left, 25, async (e) => {
          await store.parkNew({ topic: this.topic, group: this.group, gen: view.gen, message: { ...e, shard: s.shard } }, nowMs);
          s.tLeft.delete(e.messageId);
          s.handled.set(e.messageId, e.dueAtMs);
          s.gLeft.set(e.messageId, { ...e, dueAtMs: nowMs, consumedTimes: 0, gen: view.gen });
      });
    }
    const pos = this.savedPosition(s);
    // Between entries of one millisecond: that millisecond's entries up to the cursor are the passed prefix.
    const mid = pos.messageId !== "";
    const behind = (id: string, d: number) => d < pos.dueAtMs || (d === pos.dueAtMs && (!mid || s.tieIds.has(id)));
    const recent = [...s.handled].filter(([id, d]) => d > pos.dueAtMs - options.indexLagMs && behind(id, d)).length + (mid ? [...s.tieIds].filter((id) => !s.handled.has(id)).length : 0);
    const passed = [...s.handled]
      .filter(([id, d]) => !behind(id, d) && !s.unsettled.has(id))
      .slice(0, MAX_PASSED)
      .map(([messageId, dueAtMs]) => ({ dueAtMs, messageId }));
    const spanMs = this.leaseSpanMs(nowMs);
    const untilMs = nowMs + spanMs;
    // In keep mode a renewal is the last save before the lease may be left to run out: it saves the
    // sweeper's next look as a release does.
    const withWork = !renew || options.keepMs > 0;
    const workAtMs = withWork ? this.workAt(s) : undefined;
    // At release the sweeper's next look only ever moves earlier: one saved earlier than needed costs the
    // sweeper a look that finds nothing (and sets it right), while moving it at every release would be an
    // index write per consume call in Lambda.
    const keepWork = withWork && s.workAtMs !== undefined && (workAtMs === undefined || s.workAtMs <= workAtMs);
    const ok = await store.saveLease(this.leaseKey(s.shard), this.owner, {
      pos,
      recent,
      passed,
      ...(renew && { untilMs }),
      ...(keepWork ? { keepWork } : workAtMs !== undefined && { workAtMs }),
    });
    if (!renew) {
      // Released (a release whose answer was lost finds itself released already: the same thing). What it
      // knew is kept in case this dispatcher is the next to take the lease.
      if (ok && !s.uncertain && s.unsettled.size === 0 && s.tLeft.size === 0) {
        Object.assign(s, { held: false, untilMs: 0, nextAcquireAtMs: 0, renewRetryAtMs: 0, pos, dormant: { gen: view.gen, atMs: nowMs } });
      } else Object.assign(s, freshShard(s.shard));
      return;
    }
    if (!keepWork) s.workAtMs = workAtMs;
    if (!ok) {
      // Taken by another holder. A kept lease that had run out (keep mode) may be free again already: a
      // look at the lease item tells at once (the wait before it would leave a short call empty).
      const lapsed = s.untilMs <= nowMs;
      Object.assign(s, freshShard(s.shard), { nextAcquireAtMs: lapsed ? nowMs : nowMs + options.pollIntervalMs, untilMs });
      return;
    }
    s.pos = pos;
    s.untilMs = untilMs;
    s.spanMs = spanMs;
  }

  /** When the sweeper should look at this shard if no consumer does: the next redelivery or expiry it knows of. */
  private workAt(s: ShardState): number | undefined {
    let at = s.nextDueG;
    for (const e of s.gLeft.values()) if (e.ttlExpiresAtMs !== undefined) at = Math.min(at ?? Number.POSITIVE_INFINITY, e.ttlExpiresAtMs);
    return at;
  }

  /** Renews held leases that are half spent; one that cannot be renewed is given up once it runs out. */
  private async renewDue(nowMs: number): Promise<void> {
    const { options, log } = this.deps;
    for (const s of this.shards) {
      if (!s.held || nowMs < s.untilMs - s.spanMs / 2 || nowMs < s.renewRetryAtMs) continue;
      try {
        await this.save(s, nowMs, true);
      } catch (error) {
        log.warn("lease-renew-failed", { topic: this.topic, group: this.group, shard: s.shard, error: String(error) });
        s.renewRetryAtMs = nowMs + options.pollIntervalMs;
        if (nowMs >= s.untilMs) Object.assign(s, freshShard(s.shard), { nextAcquireAtMs: nowMs + options.pollIntervalMs });
      }
    }
  }

  /** Releases every held lease; in keep mode a lease that runs out soon is left to run out instead (see `keepable`). */
  private async releaseAll(): Promise<void> {
    this.disarmPrefetch();
    const nowMs = this.deps.clock.nowMs();
    await Promise.all(
      this.shards
        .filter((s) => s.held)
        .map(async (s) => {
          if (this.keepable(s, nowMs)) s.keptAtMs = nowMs;
          else await this.save(s, nowMs, false);
        }),
    );
  }

  /**
   * A call after a kept lease: the shard goes on as under a holder that never let go. Its lease may
   * have run out meanwhile (the renewal's condition tells whether anyone held it since). If the time in
   * which entries it examined could still appear late in the index ended while nothing looked, the
   * first look reads the topic lane's late window (in the same query).
   */
  private takeUpKept(nowMs: number): void {
    for (const s of this.shards) {
      if (s.keptAtMs === undefined) continue;
      if (s.held && nowMs >= s.busyUntilMs && s.busyUntilMs > s.keptAtMs) s.checkBehind = true;
      s.keptAtMs = undefined;
    }
  }

  /**
   * The sweeper's look at one shard of an idle group: retires dead deliveries, passes dead messages at
   * the head of the topic lane, claims nothing. Needs the lease, like any look.
   */
  async maintain(shard: number, nowMs: number): Promise<MaintenanceReport | undefined> {
    this.view = await this.loadView();
    const s = this.shards[shard] as ShardState;
    const { store, options } = this.deps;
    const start = { dueAtMs: this.view.startMs - 1, messageId: "" };
    const outcome = await store.acquireLease(this.leaseKey(shard), this.owner, nowMs, nowMs + options.leaseMs, start);
    if (!outcome.ok) return undefined;
    Object.assign(s, freshShard(shard), { held: true, untilMs: nowMs + options.leaseMs, spanMs: options.leaseMs, pos: outcome.lease.pos, frontier: outcome.lease.pos });
    for (const p of outcome.lease.passed) s.handled.set(p.messageId, p.dueAtMs);
    const report: MaintenanceReport = { retired: 0, deadLettered: 0, dropped: 0, passed: 0, workAtMs: undefined };
    try {
      const gLane: Lane = { kind: "group", topic: this.topic, group: this.group, shard };
      for (let page = 0; page < 10; page++) {
        const read = await store.readLane(gLane, { fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, ...(s.gFrontier && { after: s.gFrontier }) }, options.scanLimit);
        let due = 0;
        for (const e of read.entries) {
          if (e.dueAtMs > nowMs) {
            s.nextDueG = e.dueAtMs;
            break;
          }
          due++;
          s.gFrontier = { dueAtMs: e.dueAtMs, messageId: e.messageId };
          const outcome = await this.retireIfDead(s, e, nowMs);
          if (outcome === "retired") report.retired++;
          else if (outcome === false && e.ttlExpiresAtMs !== undefined) s.gLeft.set(e.messageId, e);
        }
        if (!read.more || due < read.entries.length) break;
      }
      const tLane: Lane = { kind: "topic", topic: this.topic, shard };
      // Entries that reached the index after the last holder's cursor had passed their due time (a
      // lagging index, or a publish in the same millisecond as its look) sit just behind the cursor; a
      // consumer that takes the lease finds them, an idle group has none: those expired are dead-lettered
      // here (a conditional put, a no-op where the group has a delivery of it already).
      const cursorMs = outcome.lease.pos.dueAtMs;
      if (cursorMs >= this.view.startMs && this.view.settings.deadLetter) {
        const behind = await store.readLane(tLane, { fromMs: Math.max(this.view.startMs, cursorMs - options.indexLagMs + 1), toMs: cursorMs }, options.scanLimit);
        if (behind.entries.length > outcome.lease.recent) {
          for (const e of behind.entries) {
            if (s.handled.has(e.messageId) || e.expiresAtMs <= nowMs || !isExpired(e.ttlExpiresAtMs, nowMs) || !matchesTags(e.tag, this.view.settings.tagFilter)) continue;
            if (await store.putDeadLetter(this.topic, this.group, this.view.gen, { ...e, shard }, e.ttlExpiresAtMs ?? nowMs, RetireReason.Expired)) report.retired++;
          }
        }
      }
      const floorMs = Math.max(this.view.startMs, nowMs - this.view.topic.retentionMs);
      const after = comparePositions(s.frontier, { dueAtMs: floorMs, messageId: "" }) >= 0 ? s.frontier : undefined;
      const read = await store.readLane(tLane, { fromMs: floorMs, toMs: nowMs, ...(after && { after }) }, options.scanLimit);
      for (const e of read.entries) {
        // An entry the last holder passed already (it took it) is no head to stop at: step over it.
        const known = s.handled.has(e.messageId);
        if (!known && !(await this.passIfDead(s, e, nowMs))) break;
        if (!known) report.passed++;
        if (s.frontier.messageId === "" || e.dueAtMs !== s.frontier.dueAtMs) s.tieIds = new Set();
        s.tieIds.add(e.messageId);
        s.frontier = { dueAtMs: e.dueAtMs, messageId: e.messageId };
      }
      report.workAtMs = this.workAt(s);
      if (report.passed === 0) {
        // Nothing passed: the cursor stays exactly as the last holder saved it.
        await store.saveLease(this.leaseKey(shard), this.owner, {
          pos: outcome.lease.pos,
          recent: outcome.lease.recent,
          passed: outcome.lease.passed,
          ...(report.workAtMs !== undefined && { workAtMs: report.workAtMs }),
        });
        Object.assign(s, freshShard(shard));
      } else await this.save(s, nowMs, false);
      return report;
    } catch (error) {
      await store
        .saveLease(this.leaseKey(shard), this.owner, { pos: outcome.lease.pos, recent: outcome.lease.recent, passed: outcome.lease.passed })
        .catch(() => undefined);
      Object.assign(s, freshShard(shard));
      throw error;
    }
  }
}

/** Runs `each` over the items with at most `limit` in flight (a slow or retried one holds up only its own slot); stops taking new items at the first failure, which it rethrows. */
async function withConcurrency<T>(items: readonly T[], limit: number, each: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await each(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

/** A claimed delivery is due again in the group lane at `atMs` unless acked: the next look there. */
function noteRedelivery(s: ShardState, atMs: number): void {
  if (s.nextDueG === undefined || atMs < s.nextDueG) s.nextDueG = atMs;
}

function freshShard(shard: number): ShardState {
  return {
    shard,
    held: false,
    untilMs: 0,
    spanMs: 0,
    keptAtMs: undefined,
    nextAcquireAtMs: 0,
    pos: { dueAtMs: 0, messageId: "" },
    frontier: { dueAtMs: 0, messageId: "" },
    handled: new Map(),
    tLeft: new Map(),
    unsettled: new Map(),
    gFrontier: undefined,
    gHandled: new Map(),
    gLeft: new Map(),
    moved: new Map(),
    nextDueT: undefined,
    nextDueG: undefined,
    more: false,
    lateCheckAtMs: 0,
    busyUntilMs: 0,
    caughtUpAtMs: undefined,
    tieIds: new Set(),
    gIdle: true,
    gReadAtMs: 0,
    gComplete: false,
    tIdle: true,
    uncertain: false,
    renewRetryAtMs: 0,
    tieDone: false,
    workAtMs: undefined,
    dormant: undefined,
    checkBehind: false,
    ahead: undefined,
    soon: [],
    soonRead: new Set(),
    soonComplete: false,
    tReadAtMs: 0,
    soonTaken: 0,
  };
}

/**
 * The entries of a page (in lane order) after a frontier; undefined when the frontier stands between
 * entries of one millisecond that the page does not hold (a millisecond's order is the store's).
 */
function afterFrontier(entries: readonly LaneEntry[], f: LanePosition): readonly LaneEntry[] | undefined {
  const first = entries[0];
  if (!first || f.dueAtMs < first.dueAtMs) return entries;
  if (f.messageId === "") return entries.filter((e) => e.dueAtMs > f.dueAtMs);
  const at = entries.findIndex((e) => e.dueAtMs === f.dueAtMs && e.messageId === f.messageId);
  return at < 0 ? undefined : entries.slice(at + 1);
}

/** After a failed look: forget what was examined since the last save; the claims' conditions keep the next look exact. */
function resetToCursor(s: ShardState): void {
  if (!s.held) return;
  s.frontier = s.pos;
  s.tieIds = new Set();
  s.handled.clear();
  s.tLeft.clear();
  s.gFrontier = undefined;
  s.gComplete = false;
  s.gLeft.clear();
  s.moved.clear();
  s.ahead = undefined;
  s.soon = [];
  s.soonComplete = false;
  s.uncertain = true;
}

export type { Delivery };

/** A process's dispatchers, one per (topic, group), created on a group's first waiting poll. */
export class Subscriptions {
  private readonly dispatchers = new Map<string, Dispatcher>();
  readonly owner = newOwnerToken();

  constructor(
    private readonly deps: DeliveryDeps,
    private readonly view: (topic: string, group: string) => Promise<GroupView>,
  ) {}

  dispatcher(topic: string, group: string): Dispatcher {
    const k = `${topic}\n${group}`;
    let d = this.dispatchers.get(k);
    if (!d) {
      d = new Dispatcher(this.deps, topic, group, this.owner, () => this.view(topic, group));
      this.dispatchers.set(k, d);
    }
    return d;
  }

  /**
   * A message of the topic was published in this process. One due within the read ahead can no longer
   * change (as a message read then): its content is kept, so no read of it stands before its claim.
   */
  published(message: NewMessage): void {
    let served = false;
    for (const d of this.dispatchers.values()) {
      if (d.topic !== message.topic) continue;
      if (!served && this.deps.options.prefetchMs > 0 && message.deliverAtMs <= this.deps.clock.nowMs() + this.deps.options.prefetchMs) {
        const { shard, ...content } = message;
        this.deps.messages.put(message.topic, { content, shard, state: MessageState.Scheduled });
      }
      served = true;
      d.published(message);
    }
  }

  /** A message of the topic falls due at `dueAtMs` (rescheduled in this process). */
  notify(topic: string, dueAtMs: number): void {
    for (const d of this.dispatchers.values()) if (d.topic === topic) d.notify(dueAtMs);
  }

  /** A delivery of the group is visible at `dueAtMs` (nacked or redriven in this process). */
  notifyGroup(topic: string, group: string, dueAtMs: number): void {
    this.dispatchers.get(`${topic}\n${group}`)?.notifyGroupLane(dueAtMs);
  }

  /** Forgets a group's dispatcher (the group was deleted): its waiting polls are answered. */
  async drop(topic: string, group: string): Promise<void> {
    const k = `${topic}\n${group}`;
    const d = this.dispatchers.get(k);
    this.dispatchers.delete(k);
    await d?.close();
  }

  /** Waiting polls, per group, and whether each dispatcher sleeps (for tests and shutdown). */
  state(): Map<string, { waiting: number; asleep: boolean; running: boolean }> {
    return new Map([...this.dispatchers].map(([k, d]) => [k, d.state]));
  }

  /** Answers every waiting poll with what it has and releases every lease. */
  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close()));
  }
}

import type { QueueConfig } from "./config.js";
import { type DeliveryDeps, Dispatcher, type GroupView, newOwnerToken } from "./delivery.js";
import type { Clock, LeaseView, Logger, QueueStore } from "./ports.js";

import { WORK_SHARDS } from "./rules.js";

export { WORK_SHARDS };

export interface SweepReport {
  /** Group shards looked at. */
  looked: number;
  /** Deliveries retired (dead-lettered or dropped): expired, or past maxReceiveCount. */
  retired: number;
  /** Dead messages passed at the head of a topic lane (expired, not subscribed). */
  passed: number;
  /** Group shards a consumer holds right now: left to it. */
  busy: number;
  /** Group shards whose look failed (logged, retried later); the rest went on. */
  failed: number;
  /** The run stopped at its budget: the rest is due at the next run. */
  budgetExhausted: boolean;
  /** Requests the run spent finding its work (the work index queries). */
  indexQueries: number;
  durationMs: number;
}

export interface SweeperDeps {
  store: QueueStore;
  clock: Clock;
  config: QueueConfig;
  log: Logger;
  delivery: DeliveryDeps;
  view(topic: string, group: string): Promise<GroupView | undefined>;
}

/** Back off a failing group shard this long before the sweeper looks at it again. */
const FAILURE_BACKOFF_MS = 60_000;

/**
 * The sweeper: the guarantee when nobody consumes. Consumers do the delivering; what is left to it is
 * what falls due in a group nobody polls — deliveries whose visibility ran out past their last allowed
 * delivery or their TTL, and dead messages at the head of a topic lane. It finds that work through the
 * work index (each cursor names the time it next needs a look), so a run costs WORK_SHARDS queries plus
 * the work itself, however many topics and groups exist.
 */
export class Sweeper {
  private readonly owner = newOwnerToken();

  constructor(private readonly deps: SweeperDeps) {}

  async sweep(): Promise<SweepReport> {
    const { store, clock, config, log } = this.deps;
    const startMs = clock.nowMs();
    const report: SweepReport = { looked: 0, retired: 0, passed: 0, busy: 0, failed: 0, budgetExhausted: false, indexQueries: 0, durationMs: 0 };
    let budget = config.sweepBudget;
    for (let shard = 0; shard < WORK_SHARDS && budget > 0; shard++) {
      const items = await store.dueWork(shard, clock.nowMs(), Math.min(budget, 100) + 1);
      report.indexQueries++;
      if (items.length > Math.min(budget, 100)) report.budgetExhausted = true;
      for (const item of items.slice(0, Math.min(budget, 100))) {
        budget--;
        report.looked++;
        await this.look(item, report);
      }
    }
    if (budget <= 0) report.budgetExhausted = true;
    report.durationMs = clock.nowMs() - startMs;
    log.info("sweep", { ...report });
    return report;
  }

  /**
   * Looks at every shard of one group now, as a run would (a door that knows an expiry is due asks for
   * it rather than waiting for the next run). Shards a consumer holds are left to it: its looks retire
   * the same entries. Returns the deliveries retired.
   */
  async sweepGroup(topic: string, group: string): Promise<number> {
    const view = await this.deps.view(topic, group);
    if (!view) return 0;
    let retired = 0;
    for (let shard = 0; shard < this.deps.config.shards; shard++) {
      const dispatcher = new Dispatcher(this.deps.delivery, topic, group, this.owner, async () => view);
      const done = await dispatcher.maintain(shard, this.deps.clock.nowMs());
      retired += done?.retired ?? 0;
    }
    return retired;
  }

  /** One group shard, isolated: a failure is logged, counted and retried later; the run goes on. */
  private async look(item: LeaseView, report: SweepReport): Promise<void> {
    const { store, clock, log } = this.deps;
    const nowMs = clock.nowMs();
    try {
      const view = await this.deps.view(item.topic, item.group);
      if (!view || view.gen !== item.gen) {
        await store.setWork(item, undefined);
        return;
      }
      const dispatcher = new Dispatcher(this.deps.delivery, item.topic, item.group, this.owner, async () => view);
      const done = await dispatcher.maintain(item.shard, nowMs);
      if (!done) {
        report.busy++;
        await store.setWork(item, nowMs + this.deps.config.leaseMs);
        return;
      }
      report.retired += done.retired;
      report.passed += done.passed;
    } catch (error) {
      report.failed++;
      log.error("sweep-group-failed", { topic: item.topic, group: item.group, shard: item.shard, error: String(error) });
      await store.setWork(item, nowMs + FAILURE_BACKOFF_MS).catch(() => undefined);
    }
  }
}

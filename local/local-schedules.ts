import { Cron } from "croner";
import type { Clock, Logger } from "../core/ports.js";
import type { ScheduleDefinition, ScheduleFiring, ScheduleService } from "../core/schedule-ports.js";
import { assertScheduleName, parseExpression, scheduleExists, scheduleNotFound } from "../core/schedules.js";

interface Running {
  definition: ScheduleDefinition;
  createdAtMs: number;
  stop: AbortController;
}

export interface LocalScheduleOptions {
  clock: Clock;
  log: Logger;
  /** Publishes one firing (the composition root passes the queue's publish). */
  fire(firing: ScheduleFiring): Promise<unknown>;
}

/**
 * Recurring schedules in this process, for `npm start`: the same expressions as EventBridge Scheduler
 * (cron fields read in the schedule's time zone by croner; a rate counts from creation), kept in memory
 * for the life of the process. Time comes from the injected clock, so tests drive it.
 */
export class LocalScheduleService implements ScheduleService {
  private readonly running = new Map<string, Running>();

  constructor(private readonly options: LocalScheduleOptions) {}

  async create(definition: ScheduleDefinition): Promise<void> {
    if (this.running.has(definition.name)) throw scheduleExists(definition.name);
    const entry: Running = { definition: structuredClone(definition), createdAtMs: this.options.clock.nowMs(), stop: new AbortController() };
    this.running.set(definition.name, entry);
    void this.run(entry);
  }

  async get(name: string): Promise<ScheduleDefinition> {
    const entry = this.running.get(assertScheduleName(name));
    if (!entry) throw scheduleNotFound(name);
    return structuredClone(entry.definition);
  }

  async list(): Promise<ScheduleDefinition[]> {
    return [...this.running.values()].map((e) => structuredClone(e.definition)).sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async delete(name: string): Promise<void> {
    const entry = this.running.get(assertScheduleName(name));
    if (!entry) throw scheduleNotFound(name);
    entry.stop.abort();
    this.running.delete(name);
  }

  /** Stops every schedule (process shutdown). */
  stopAll(): void {
    for (const entry of this.running.values()) entry.stop.abort();
    this.running.clear();
  }

  /** The first firing strictly after `afterMs`, or undefined when the expression has no more. */
  nextRunMs(definition: ScheduleDefinition, createdAtMs: number, afterMs: number): number | undefined {
    const parsed = parseExpression(definition.expression);
    if (parsed.kind === "rate") return createdAtMs + (Math.floor((afterMs - createdAtMs) / parsed.everyMs) + 1) * parsed.everyMs;
    const cron = new Cron(parsed.pattern, { paused: true, timezone: definition.timeZone, mode: "7-part", alternativeWeekdays: true });
    return cron.nextRun(new Date(afterMs))?.getTime();
  }

  private async run(entry: Running): Promise<void> {
    const { clock, log } = this.options;
    const signal = entry.stop.signal;
    let afterMs = entry.createdAtMs;
    while (!signal.aborted) {
      const nextMs = this.nextRunMs(entry.definition, entry.createdAtMs, afterMs);
      if (nextMs === undefined) return;
      while (!signal.aborted && clock.nowMs() < nextMs) await clock.sleep(nextMs - clock.nowMs(), signal);
      if (signal.aborted) return;
      const { name, topic, message } = entry.definition;
      const firing: ScheduleFiring = { source: "delayq.schedule", schedule: name, topic, message, scheduledTime: new Date(nextMs).toISOString() };
      try {
        await this.options.fire(firing);
      } catch (error) {
        log.error("schedule-firing-failed", { schedule: name, scheduledTime: firing.scheduledTime, error: String(error) });
      }
      afterMs = nextMs;
    }
  }
}

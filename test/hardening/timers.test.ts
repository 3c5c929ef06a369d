import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_STEP_MS, ManualClock, systemClock } from "../../core/clock.js";
import type { Clock } from "../../core/ports.js";
import { silentLogger } from "../../core/ports.js";
import type { ScheduleFiring } from "../../core/schedule-ports.js";
import { LocalScheduleService } from "../../local/local-schedules.js";
import { waitFor } from "../support/wait.js";

const DAY_MS = 86_400_000;

afterEach(() => {
  // Spies first: a spy made under fake timers would otherwise restore the fake setTimeout.
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("long sleeps", () => {
  it("sleep for a year on the system clock: one timer below 2^31 ms, no overflow, no spinning (real timers)", async () => {
    // Prepare
    const delays: number[] = [];
    const original = globalThis.setTimeout;
    vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return original(fn, ms);
    }) as typeof setTimeout);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on("warning", onWarning);
    const stop = new AbortController();
    let woke = false;

    // Act
    const sleeping = systemClock.sleep(365 * DAY_MS, stop.signal).then(() => {
      woke = true;
    });
    await new Promise((r) => original(r, 150));
    const beforeAbort = { woke, timers: delays.length };
    stop.abort();
    await sleeping;
    process.off("warning", onWarning);

    // Assess
    expect(beforeAbort).toEqual({ woke: false, timers: 1 });
    expect(delays[0]).toBe(MAX_TIMER_STEP_MS);
    expect(warnings).not.toContain("TimeoutOverflowWarning");
  });

  it("wakes exactly at the deadline of a year-long sleep, in steps of at most 2^31 - 1 ms (fake timers)", async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 10, 22) });
    const delays: number[] = [];
    const fakeSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, "setTimeout").mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return fakeSetTimeout(fn, ms);
    }) as typeof setTimeout);
    const startedMs = Date.now();
    let wokeAtMs: number | undefined;
    void systemClock.sleep(365 * DAY_MS).then(() => {
      wokeAtMs = Date.now();
    });

    await vi.advanceTimersByTimeAsync(365 * DAY_MS - 1);
    expect(wokeAtMs).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);

    expect(wokeAtMs).toBe(startedMs + 365 * DAY_MS);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_STEP_MS);
    expect(delays.length).toBe(Math.ceil((365 * DAY_MS) / MAX_TIMER_STEP_MS));
  });
});

describe("the local recurring-schedule runner with schedules a year out", () => {
  it("fires rate(30 days) and a yearly cron on time and sleeps in a few long steps, never spinning", async () => {
    // Prepare: the system clock under fake timers, counted, injected into the runner
    const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
    vi.useFakeTimers({ now: T0 });
    let sleeps = 0;
    const clock: Clock = {
      nowMs: () => systemClock.nowMs(),
      sleep: (ms, signal) => {
        sleeps++;
        return systemClock.sleep(ms, signal);
      },
    };
    const fired: ScheduleFiring[] = [];
    const service = new LocalScheduleService({ clock, log: silentLogger, fire: async (f) => void fired.push(f) });
    await service.create({ name: "monthly", topic: "t", expression: "rate(30 days)", timeZone: "UTC", message: { body: "m" } });
    await service.create({ name: "yearly", topic: "t", expression: "cron(0 0 1 1 ? *)", timeZone: "UTC", message: { body: "y" } });

    // Act: a year and a bit, a day at a time
    for (let day = 0; day < 400; day++) await vi.advanceTimersByTimeAsync(DAY_MS);
    service.stopAll();

    // Assess
    const monthly = fired.filter((f) => f.schedule === "monthly").map((f) => f.scheduledTime);
    const yearly = fired.filter((f) => f.schedule === "yearly").map((f) => f.scheduledTime);
    expect(monthly).toHaveLength(13);
    expect(monthly[0]).toBe(new Date(T0 + 30 * DAY_MS).toISOString());
    expect(yearly).toEqual(["2027-01-01T00:00:00.000Z"]);
    // One sleep per firing (plus the one pending at the end), whatever the distance to the next firing.
    expect(sleeps).toBeLessThanOrEqual(monthly.length + yearly.length + 2);
  });

  it("sleeps once until a firing a year out on a manual clock and fires it at that instant", async () => {
    const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
    const clock = new ManualClock(T0);
    const fired: ScheduleFiring[] = [];
    const service = new LocalScheduleService({ clock, log: silentLogger, fire: async (f) => void fired.push(f) });
    await service.create({ name: "in-a-year", topic: "t", expression: "rate(365 days)", timeZone: "UTC", message: { body: "y" } });
    await waitFor(() => clock.pendingSleepers === 1);

    clock.advance(365 * DAY_MS - 1);
    await new Promise((r) => setTimeout(r, 5));
    expect(fired).toEqual([]);
    clock.advance(1);
    await waitFor(() => fired.length === 1);
    service.stopAll();

    expect(fired[0]?.scheduledTime).toBe(new Date(T0 + 365 * DAY_MS).toISOString());
  });
});

describe("the settings cache", () => {
  it("keeps at most SETTINGS_CACHE_MAX_ENTRIES topics however many names callers send", async () => {
    const { Groups, SETTINGS_CACHE_MAX_ENTRIES } = await import("../../core/groups.js");
    const { MemoryStore } = await import("../../core/memory-store.js");
    const { loadConfig } = await import("../../core/config.js");
    const cache = new Groups(new MemoryStore(), new ManualClock(0), loadConfig({ TABLE_NAME: "t" }));
    for (let i = 0; i < SETTINGS_CACHE_MAX_ENTRIES + 500; i++) {
      await cache.topicSettings(`t${i}`);
      await cache.ensure(`t${i}`, "g");
    }
    expect(cache.size).toEqual({ topics: SETTINGS_CACHE_MAX_ENTRIES, groups: SETTINGS_CACHE_MAX_ENTRIES, known: SETTINGS_CACHE_MAX_ENTRIES });
  });
});

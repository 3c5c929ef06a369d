import type { Clock } from "./ports.js";

/**
 * The longest delay one Node timer holds: 2^31 - 1 ms (24.8 days). A longer one overflows and fires
 * after 1 ms (with a TimeoutOverflowWarning), so longer sleeps are taken in steps no longer than this.
 */
export const MAX_TIMER_STEP_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || !(ms > 0)) return resolve();
      const untilMs = Date.now() + ms;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const step = () => {
        const leftMs = untilMs - Date.now();
        if (leftMs <= 0) return done();
        timer = setTimeout(step, Math.min(leftMs, MAX_TIMER_STEP_MS));
      };
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
      step();
    }),
};

/** A clock that moves only when told to: sleeps resolve as `advance` passes their deadline. */
export class ManualClock implements Clock {
  private sleepers: { untilMs: number; resolve: () => void }[] = [];
  constructor(private now: number) {}

  nowMs(): number {
    return this.now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper = { untilMs: this.now + ms, resolve };
      this.sleepers.push(sleeper);
      signal?.addEventListener(
        "abort",
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Moves time forward and wakes every sleeper whose deadline has passed. */
  advance(ms: number): void {
    this.now += ms;
    const due = this.sleepers.filter((s) => s.untilMs <= this.now);
    this.sleepers = this.sleepers.filter((s) => s.untilMs > this.now);
    for (const s of due) s.resolve();
  }

  set(nowMs: number): void {
    this.advance(nowMs - this.now);
  }

  get pendingSleepers(): number {
    return this.sleepers.length;
  }
}

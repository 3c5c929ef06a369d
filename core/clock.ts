import type { Clock } from "./ports.js";

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
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

  /** Moves time forward, waking sleepers in deadline order and letting each run before the next. */
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      await flush();
      const next = this.sleepers.filter((s) => s.untilMs <= target).sort((a, b) => a.untilMs - b.untilMs)[0];
      if (!next) break;
      this.now = Math.max(this.now, next.untilMs);
      this.sleepers = this.sleepers.filter((s) => s !== next);
      next.resolve();
    }
    this.now = target;
    await flush();
  }

  get pendingSleepers(): number {
    return this.sleepers.length;
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

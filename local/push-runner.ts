import type { Logger } from "../core/ports.js";
import type { PushDispatcher } from "../core/push/dispatcher.js";
import type { DispatcherStarter } from "../core/push/ports.js";

/**
 * The local runtime's dispatcher starter: the same dispatcher code as on AWS, run in this process
 * instead of an asynchronous Lambda invoke. The sweeper timer's look ahead and publishes arm it through
 * the same lease; a run whose cover goes on starts the next one.
 */
export function inProcessStarter(dispatcher: PushDispatcher, log: Logger): DispatcherStarter & { stop(): Promise<void> } {
  const running = new Map<number, { stop: AbortController; done: Promise<void> }>();
  let stopped = false;
  const start = async (shard: number): Promise<void> => {
    if (stopped || running.has(shard)) return;
    const stop = new AbortController();
    const done = dispatcher
      .run(shard, { signal: stop.signal })
      .then((report) => {
        running.delete(shard);
        if (!stopped && report.held && report.coverUntilMs > Date.now()) void start(shard);
      })
      .catch((error) => {
        running.delete(shard);
        log.error("push-dispatcher-failed", { shard, error: String(error) });
      });
    running.set(shard, { stop, done });
  };
  return {
    start,
    async stop() {
      stopped = true;
      for (const r of running.values()) r.stop.abort();
      await Promise.all([...running.values()].map((r) => r.done));
    },
  };
}

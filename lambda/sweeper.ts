import type { SweepReport } from "../core/sweeper.js";
import { getRuntime } from "./runtime.js";

/** Invoked every minute by EventBridge Scheduler: one bounded, idempotent sweep. */
export const handler = async (): Promise<SweepReport & { push?: { routes: number; due: number; started: number[] } }> => {
  const { queue, meter, log, push } = await getRuntime();
  meter.reset();
  const report = await queue.sweep();
  // The look ahead for push groups: a dispatcher for each push shard with something due before the next tick.
  const ahead = await push.planner?.lookAhead().catch((error) => {
    log.error("push-look-ahead-failed", { error: String(error) });
    return undefined;
  });
  log.info("sweep-capacity", { dynamodb: meter.total() });
  return { ...report, ...(ahead && { push: ahead }) };
};

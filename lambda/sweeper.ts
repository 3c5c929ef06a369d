import type { SweepReport } from "../core/sweeper.js";
import { getRuntime } from "./runtime.js";

/** Invoked every minute by EventBridge Scheduler: one bounded, idempotent sweep. */
export const handler = async (): Promise<SweepReport> => {
  const { queue, meter, log } = await getRuntime();
  meter.reset();
  const report = await queue.sweep();
  log.info("sweep-capacity", { dynamodb: meter.total() });
  return report;
};

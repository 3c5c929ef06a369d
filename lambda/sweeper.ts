import type { Context } from "aws-lambda";
import type { SweepReport } from "../core/sweeper.js";
import { instrumented } from "./runtime.js";

/** Invoked every minute by EventBridge Scheduler: one bounded, idempotent sweep. */
export const handler = async (_event?: unknown, context?: Partial<Context>): Promise<SweepReport> =>
  instrumented(context, async ({ queue, meter, log }) => {
    const report = await queue.sweep();
    log.info("sweep-capacity", { dynamodb: meter.total() });
    return report;
  });

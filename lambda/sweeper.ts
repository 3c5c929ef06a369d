import type { Context } from "aws-lambda";
import type { SweepReport } from "../core/sweeper.js";
import { instrumented } from "./runtime.js";

/** Invoked every minute by EventBridge Scheduler: one bounded, idempotent sweep. */
export const handler = async (_event?: unknown, context?: Partial<Context>): Promise<SweepReport & { push?: { routes: number; due: number; started: number[] } }> =>
  instrumented(context, async ({ queue, meter, log, push }) => {
    const report = await queue.sweep();
    // The look ahead for push groups: a dispatcher for each push shard with something due before the next tick.
    const ahead = await push.planner?.lookAhead().catch((error) => {
      log.error("push-look-ahead-failed", { error: String(error) });
      return undefined;
    });
    log.info("sweep-capacity", { dynamodb: meter.total() });
    return { ...report, ...(ahead && { push: ahead }) };
  });

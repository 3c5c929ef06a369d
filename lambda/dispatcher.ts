import type { Context } from "aws-lambda";
import type { DispatchReport } from "../core/push/dispatcher.js";
import { PUSH_LIMITS } from "../core/push/target.js";
import { instrumented } from "./runtime.js";

/**
 * The push dispatcher function: started (an asynchronous invoke) by the sweeper's look ahead or by a
 * publish due before it, for one push shard. It delivers while the shard's cover lasts, stops in time to
 * finish its last pushes within the function's timeout, and starts its successor when the cover goes on.
 */
// Its successor is another invoke of this function.
process.env.PUSH_DISPATCHER_FUNCTION ??= process.env.AWS_LAMBDA_FUNCTION_NAME;

export const handler = async (event: { shard?: unknown }, context: Pick<Context, "getRemainingTimeInMillis"> & Partial<Context>): Promise<DispatchReport> =>
  instrumented(context, async ({ push, meter, log, config }) => {
    const shard = typeof event?.shard === "number" && Number.isInteger(event.shard) && event.shard >= 0 && event.shard < config.pushShards ? event.shard : 0;
    const stopByMs = Date.now() + context.getRemainingTimeInMillis() - PUSH_LIMITS.timeoutMsMax - 10_000;
    const report = await push.dispatcher.run(shard, { stopByMs });
    if (report.held && report.coverUntilMs > Date.now() + 1000 && push.starter) await push.starter.start(shard);
    log.info("push-dispatcher-capacity", { shard, dynamodb: meter.total() });
    return report;
  });

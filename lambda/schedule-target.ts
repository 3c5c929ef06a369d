import type { PublishResult } from "../core/message.js";
import { assertFiring, firingToPublish } from "../core/schedules.js";
import type { Context } from "aws-lambda";
import { instrumented } from "./runtime.js";

/**
 * Invoked by EventBridge Scheduler for each firing of a recurring schedule: publishes the schedule's
 * message now. A retried invocation of the same firing is a duplicate (dedupId = schedule + due time).
 */
/** Whether a Lambda event is a schedule firing rather than an API Gateway request. */
export function isScheduleFiring(event: unknown): boolean {
  return typeof event === "object" && event !== null && (event as { source?: unknown }).source === "delayq.schedule";
}

export const handler = async (event: unknown, context?: Partial<Context>): Promise<PublishResult> =>
  instrumented(context, async ({ queue, log }) => {
    const firing = assertFiring(event);
    const result = await queue.publish(firingToPublish(firing));
    log.info("schedule-fired", { schedule: firing.schedule, topic: firing.topic, scheduledTime: firing.scheduledTime, messageId: result.messageId, duplicate: result.duplicate ?? false });
    return result;
  });

import type { PublishResult } from "../core/message.js";
import { assertFiring, firingToPublish } from "../core/schedules.js";
import { getRuntime } from "./runtime.js";

/**
 * Invoked by EventBridge Scheduler for each firing of a recurring schedule: publishes the schedule's
 * message now. A retried invocation of the same firing is a duplicate (dedupId = schedule + due time).
 */
export const handler = async (event: unknown): Promise<PublishResult> => {
  const { queue, log } = await getRuntime();
  const firing = assertFiring(event);
  const result = await queue.publish(firingToPublish(firing));
  log.info("schedule-fired", { schedule: firing.schedule, topic: firing.topic, scheduledTime: firing.scheduledTime, messageId: result.messageId, duplicate: result.duplicate ?? false });
  return result;
};

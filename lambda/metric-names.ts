/** The CloudWatch namespace of every delayq metric (METRICS_NAMESPACE overrides it). */
export const METRICS_NAMESPACE = "delayq";
export const SERVICE_NAME = "delayq";

/** Metric names as they appear in CloudWatch; the dashboard and alarms use the same constants. */
export const MetricName = {
  Published: "Published",
  Delivered: "Delivered",
  Redelivered: "Redelivered",
  Lateness: "Lateness",
  Acked: "Acked",
  Nacked: "Nacked",
  DeadLettered: "DeadLettered",
  Expired: "Expired",
  Cancelled: "Cancelled",
  Redriven: "Redriven",
  SweeperRuns: "SweeperRuns",
  SweeperLooked: "SweeperLooked",
  SweeperRetired: "SweeperRetired",
  SweeperPassed: "SweeperPassed",
  SweeperBusy: "SweeperBusy",
  SweeperFailed: "SweeperFailed",
  SweeperBudgetExhausted: "SweeperBudgetExhausted",
  SweeperOldestDueAge: "SweeperOldestDueAge",
  SweeperDuration: "SweeperDuration",
  DynamoDBRequests: "DynamoDBRequests",
  DynamoDBReadUnits: "DynamoDBReadUnits",
  DynamoDBWriteUnits: "DynamoDBWriteUnits",
  DynamoDBBilledWriteUnits: "DynamoDBBilledWriteUnits",
  DynamoDBFailedConditions: "DynamoDBFailedConditions",
  Responses5xx: "Responses5xx",
} as const;

/** The dimensions besides `service` (Powertools' default dimension). Each is bounded: no message ids, no groups. */
export const Dimension = { Topic: "topic", Door: "door", Reason: "reason", Operation: "operation" } as const;

/** The message a recurring schedule publishes each time it fires. */
export interface ScheduledMessage {
  body: string;
  tag?: string;
  key?: string;
  properties?: Record<string, string>;
}

/** A recurring schedule: `expression` is `cron(...)` or `rate(...)` in EventBridge Scheduler's syntax. */
export interface ScheduleDefinition {
  name: string;
  topic: string;
  expression: string;
  /** IANA zone the cron fields are read in. */
  timeZone: string;
  message: ScheduledMessage;
}

/** What the target of a schedule receives and turns into one publish. */
export interface ScheduleFiring {
  source: "delayq.schedule";
  schedule: string;
  topic: string;
  message: ScheduledMessage;
  /** When this firing was due, as the scheduler renders it (also makes a retried firing a duplicate). */
  scheduledTime: string;
}

/**
 * Recurring schedules, in the queue's words. EventBridge Scheduler on AWS; an in-process cron runner
 * locally. Creating an existing name is AlreadyExists; reading or deleting a missing one is NotFound.
 */
export interface ScheduleService {
  create(definition: ScheduleDefinition): Promise<void>;
  get(name: string): Promise<ScheduleDefinition>;
  list(): Promise<ScheduleDefinition[]>;
  delete(name: string): Promise<void>;
}

import type { SchedulerClient } from "@aws-sdk/client-scheduler";
import { StoreUnavailableError, invalid } from "../core/errors.js";
import type { ScheduleDefinition, ScheduleFiring, ScheduleService } from "../core/schedule-ports.js";
import { assertScheduleName, scheduleExists, scheduleNotFound } from "../core/schedules.js";
import { onFirstUse } from "./lazy.js";

/** The Scheduler SDK, imported when a schedule is first managed (not when a function starts). */
const sdk = onFirstUse(() => import("@aws-sdk/client-scheduler"));

/** Environment of the function that manages schedules (the stack sets these). */
export const SCHEDULE_ENV = {
  group: "SCHEDULE_GROUP",
  targetArn: "SCHEDULE_TARGET_ARN",
  roleArn: "SCHEDULE_ROLE_ARN",
  deadLetterArn: "SCHEDULE_DLQ_ARN",
} as const;

export interface SchedulerSettings {
  groupName: string;
  /** The function a firing invokes (lambda/schedule-target.ts). */
  targetArn: string;
  /** The role EventBridge Scheduler assumes; it may only invoke the target and write to the dead-letter queue. */
  roleArn: string;
  /** The queue a firing goes to when EventBridge Scheduler cannot hand it to the target (its retry policy ran out). */
  deadLetterArn: string;
}

/** Scheduler settings from the environment, or undefined when schedules are not deployed. */
export function schedulerSettingsFrom(env: Readonly<Record<string, string | undefined>>): SchedulerSettings | undefined {
  const groupName = env[SCHEDULE_ENV.group];
  const targetArn = env[SCHEDULE_ENV.targetArn];
  const roleArn = env[SCHEDULE_ENV.roleArn];
  const deadLetterArn = env[SCHEDULE_ENV.deadLetterArn];
  if (!groupName && !targetArn && !roleArn && !deadLetterArn) return undefined;
  const missing = Object.entries(SCHEDULE_ENV).filter(([, name]) => !env[name]).map(([, name]) => name);
  if (missing.length > 0) throw invalid(`configuration: ${missing.join(", ")} must be set together with the other schedule settings`);
  return { groupName: groupName as string, targetArn: targetArn as string, roleArn: roleArn as string, deadLetterArn: deadLetterArn as string };
}

/** EventBridge Scheduler's context attribute for the due time of a firing, filled in per invocation. */
export const SCHEDULED_TIME_PLACEHOLDER = "<aws.scheduler.scheduled-time>";

/** What a schedule's target receives: the firing, with the scheduler's due time filled in. */
export function targetInput(definition: ScheduleDefinition): string {
  const firing: ScheduleFiring = {
    source: "delayq.schedule",
    schedule: definition.name,
    topic: definition.topic,
    message: definition.message,
    scheduledTime: SCHEDULED_TIME_PLACEHOLDER,
  };
  return JSON.stringify(firing);
}

/** Recurring schedules on EventBridge Scheduler: one schedule per name in our own schedule group. */
export class EventBridgeScheduleService implements ScheduleService {
  private readonly client: () => Promise<SchedulerClient>;

  /** `client`: a client, or `undefined` for the default one, made on first use. */
  constructor(
    client: SchedulerClient | undefined,
    private readonly settings: SchedulerSettings,
  ) {
    this.client = client ? async () => client : onFirstUse(async () => new (await sdk()).SchedulerClient({}));
  }

  async create(definition: ScheduleDefinition): Promise<void> {
    const { CreateScheduleCommand } = await sdk();
    await this.call(definition.name, async () =>
      (await this.client()).send(
        new CreateScheduleCommand({
          Name: definition.name,
          GroupName: this.settings.groupName,
          ScheduleExpression: definition.expression,
          ScheduleExpressionTimezone: definition.timeZone,
          FlexibleTimeWindow: { Mode: "OFF" },
          State: "ENABLED",
          Description: `delayq: publish to ${definition.topic}`,
          Target: {
            Arn: this.settings.targetArn,
            RoleArn: this.settings.roleArn,
            Input: targetInput(definition),
            RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 },
            DeadLetterConfig: { Arn: this.settings.deadLetterArn },
          },
        }),
      ),
    );
  }

  async get(name: string): Promise<ScheduleDefinition> {
    const { GetScheduleCommand } = await sdk();
    const out = await this.call(name, async () => (await this.client()).send(new GetScheduleCommand({ Name: assertScheduleName(name), GroupName: this.settings.groupName })));
    let firing: Partial<ScheduleFiring> = {};
    try {
      firing = JSON.parse(out.Target?.Input ?? "{}") as Partial<ScheduleFiring>;
    } catch {
      // a schedule in our group that we did not write: reported with what it has
    }
    return {
      name: out.Name ?? name,
      topic: firing.topic ?? "",
      expression: out.ScheduleExpression ?? "",
      timeZone: out.ScheduleExpressionTimezone ?? "UTC",
      message: firing.message ?? { body: "" },
    };
  }

  async list(): Promise<ScheduleDefinition[]> {
    const { ListSchedulesCommand } = await sdk();
    const names: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.call("", async () => (await this.client()).send(new ListSchedulesCommand({ GroupName: this.settings.groupName, NextToken: token, MaxResults: 100 })));
      for (const s of out.Schedules ?? []) if (s.Name) names.push(s.Name);
      token = out.NextToken;
    } while (token);
    return Promise.all(names.sort().map((name) => this.get(name)));
  }

  async delete(name: string): Promise<void> {
    const { DeleteScheduleCommand } = await sdk();
    await this.call(name, async () => (await this.client()).send(new DeleteScheduleCommand({ Name: assertScheduleName(name), GroupName: this.settings.groupName })));
  }

  private async call<T>(name: string, send: () => Promise<T>): Promise<T> {
    const { ConflictException, ResourceNotFoundException, ValidationException } = await sdk();
    try {
      return await send();
    } catch (error) {
      if (error instanceof ConflictException) throw scheduleExists(name);
      if (error instanceof ResourceNotFoundException) throw scheduleNotFound(name);
      if (error instanceof ValidationException) throw invalid(`EventBridge Scheduler rejected the schedule: ${error.message}`);
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0;
      if (status === 429 || status >= 500) throw new StoreUnavailableError(`EventBridge Scheduler is unavailable (${(error as Error).name}); retry shortly`);
      throw error;
    }
  }
}

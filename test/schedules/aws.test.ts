import {
  ConflictException,
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ValidationException,
} from "@aws-sdk/client-scheduler";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { ScheduleDefinition } from "../../core/schedule-ports.js";
import { EventBridgeScheduleService, schedulerSettingsFrom } from "../../lambda/schedule-service.js";

const settings = {
  groupName: "delayq-schedules",
  targetArn: "arn:aws:lambda:eu-west-1:111122223333:function:delayq-ScheduleTarget",
  roleArn: "arn:aws:iam::111122223333:role/delayq-ScheduleTargetRole",
  deadLetterArn: "arn:aws:sqs:eu-west-1:111122223333:delayq-ScheduleDlq",
};

const definition: ScheduleDefinition = {
  name: "daily-report",
  topic: "reports",
  expression: "cron(0 9 ? * MON-FRI *)",
  timeZone: "Asia/Shanghai",
  message: { body: "build the report", tag: "daily", key: "report", properties: { kind: "pdf" } },
};

const scheduler = mockClient(SchedulerClient);

describe("recurring schedules on EventBridge Scheduler", () => {
  beforeEach(() => scheduler.reset());

  it("creates one schedule in our group, flexible window off, targeting the publish target with its role and dead-letter queue", async () => {
    // Prepare
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: "arn:aws:scheduler:eu-west-1:111122223333:schedule/delayq-schedules/daily-report" });
    const service = new EventBridgeScheduleService(new SchedulerClient({ region: "eu-west-1" }), settings);
    // Act
    await service.create(definition);
    // Assess
    const calls = scheduler.commandCalls(CreateScheduleCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toEqual({
      Name: "daily-report",
      GroupName: "delayq-schedules",
      ScheduleExpression: "cron(0 9 ? * MON-FRI *)",
      ScheduleExpressionTimezone: "Asia/Shanghai",
      FlexibleTimeWindow: { Mode: "OFF" },
      State: "ENABLED",
      Description: "delayq: publish to reports",
      Target: {
        Arn: settings.targetArn,
        RoleArn: settings.roleArn,
        Input: JSON.stringify({
          source: "delayq.schedule",
          schedule: "daily-report",
          topic: "reports",
          message: { body: "build the report", tag: "daily", key: "report", properties: { kind: "pdf" } },
          scheduledTime: "<aws.scheduler.scheduled-time>",
        }),
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 10 },
        DeadLetterConfig: { Arn: settings.deadLetterArn },
      },
    });
  });

  it("maps the service's errors to the queue's codes", async () => {
    const service = new EventBridgeScheduleService(new SchedulerClient({ region: "eu-west-1" }), settings);
    scheduler.on(CreateScheduleCommand).rejects(new ConflictException({ message: "exists", Message: "exists", $metadata: {} }));
    scheduler.on(DeleteScheduleCommand).rejects(new ResourceNotFoundException({ message: "missing", Message: "missing", $metadata: {} }));
    scheduler.on(GetScheduleCommand).rejects(new ValidationException({ message: "bad name", Message: "bad name", $metadata: {} }));
    await expect(service.create(definition)).rejects.toMatchObject({ code: "AlreadyExists" });
    await expect(service.delete("daily-report")).rejects.toMatchObject({ code: "NotFound" });
    await expect(service.get("daily-report")).rejects.toMatchObject({ code: "InvalidArgument", message: expect.stringContaining("bad name") });
  });

  it("reads schedules back from their target input, listing every page", async () => {
    scheduler
      .on(ListSchedulesCommand, { GroupName: "delayq-schedules", NextToken: undefined, MaxResults: 100 })
      .resolves({ Schedules: [{ Name: "daily-report" }], NextToken: "page-2" })
      .on(ListSchedulesCommand, { GroupName: "delayq-schedules", NextToken: "page-2", MaxResults: 100 })
      .resolves({ Schedules: [], NextToken: undefined });
    scheduler.on(GetScheduleCommand, { Name: "daily-report", GroupName: "delayq-schedules" }).resolves({
      Name: "daily-report",
      ScheduleExpression: definition.expression,
      ScheduleExpressionTimezone: definition.timeZone,
      Target: { Arn: settings.targetArn, RoleArn: settings.roleArn, Input: JSON.stringify({ source: "delayq.schedule", schedule: "daily-report", topic: "reports", message: definition.message, scheduledTime: "<aws.scheduler.scheduled-time>" }) },
    });
    const service = new EventBridgeScheduleService(new SchedulerClient({ region: "eu-west-1" }), settings);
    expect(await service.list()).toEqual([definition]);
    expect(scheduler.commandCalls(ListSchedulesCommand)).toHaveLength(2);
  });

  it("takes its settings from the environment, all or none", () => {
    expect(schedulerSettingsFrom({})).toBeUndefined();
    expect(schedulerSettingsFrom({ SCHEDULE_GROUP: "g", SCHEDULE_TARGET_ARN: "t", SCHEDULE_ROLE_ARN: "r", SCHEDULE_DLQ_ARN: "q" })).toEqual({
      groupName: "g",
      targetArn: "t",
      roleArn: "r",
      deadLetterArn: "q",
    });
    expect(() => schedulerSettingsFrom({ SCHEDULE_GROUP: "g" })).toThrow(/SCHEDULE_TARGET_ARN, SCHEDULE_ROLE_ARN, SCHEDULE_DLQ_ARN/);
    expect(() => schedulerSettingsFrom({ SCHEDULE_GROUP: "g", SCHEDULE_TARGET_ARN: "t", SCHEDULE_ROLE_ARN: "r" })).toThrow(/SCHEDULE_DLQ_ARN/);
  });
});

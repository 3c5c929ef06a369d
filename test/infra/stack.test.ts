import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Stack } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULTS, ENV } from "../../core/config.js";
import type { HandlerName } from "../../infra/handlers.js";
import { createTableInput, TABLE_SCHEMA } from "../../lambda/dynamo/schema.js";
import { MQ_CREDENTIALS_SECRET_ENV } from "../../lambda/mq-credentials.js";
import { SCHEDULE_ENV } from "../../lambda/schedule-service.js";
import { synthesize } from "./synth.js";

// Prepare: one synthesis with real esbuild bundles, shared by every test of this file.
const synthesized = synthesize({ bundle: true });
const { stack, template, outdir } = synthesized;
const queue = stack.queue;
afterAll(() => synthesized.cleanup());

type Json = Record<string, any>;
const HANDLERS: HandlerName[] = ["publish", "consume", "ack", "sweeper", "dispatcher"];

const id = (construct: IConstruct): string =>
  Stack.of(construct).getLogicalId((construct.node.defaultChild ?? construct) as never);
const ref = (construct: IConstruct) => ({ Ref: id(construct) });
const arn = (construct: IConstruct) => ({
  "Fn::GetAtt": [id(construct), "Arn"],
});
const resource = (logicalId: string): Json => template.toJSON().Resources[logicalId];
const fnId = (name: HandlerName) => id(queue.functions[name].function);
const tableArn = arn(queue.table);
const dueIndexArn = {
  "Fn::Join": ["", [tableArn, `/index/${TABLE_SCHEMA.dueIndex.name}`]],
};

/** Every statement granted to a role: its inline policies and the policies attached to it. */
function statementsOf(roleId: string): Json[] {
  const resources = template.toJSON().Resources as Record<string, Json>;
  const inline = (resources[roleId]?.Properties.Policies ?? []).flatMap((p: Json) => p.PolicyDocument.Statement);
  const attached = Object.values(resources)
    .filter((r) => r.Type === "AWS::IAM::Policy" && JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((r) => r.Properties.PolicyDocument.Statement);
  return [...inline, ...attached].map((s) => ({
    ...s,
    Action: [s.Action].flat().sort(),
  }));
}

describe("DynamoDB table", () => {
  it("has the store's keys, TTL attribute and due index, from TABLE_SCHEMA", () => {
    // Prepare: the shape the local runtime creates DynamoDB Local tables with.
    const expected = createTableInput("unused");
    // Assess
    template.resourceCountIs("AWS::DynamoDB::Table", 1);
    const table = resource(id(queue.table)).Properties;
    expect(table.KeySchema).toEqual(expected.KeySchema);
    expect(table.AttributeDefinitions).toEqual(expect.arrayContaining(expected.AttributeDefinitions ?? []));
    expect(table.AttributeDefinitions).toHaveLength(expected.AttributeDefinitions?.length ?? 0);
    expect(table.GlobalSecondaryIndexes).toEqual(
      expected.GlobalSecondaryIndexes?.map((gsi) => ({
        ...gsi,
        Projection: { ...gsi.Projection },
      })),
    );
    expect(table.TimeToLiveSpecification).toEqual({
      AttributeName: TABLE_SCHEMA.ttlAttribute,
      Enabled: true,
    });
  });

  it("is on-demand, point-in-time recoverable, encrypted with KMS, retained and deletion-protected", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Retain",
      UpdateReplacePolicy: "Retain",
      Properties: Match.objectLike({
        BillingMode: "PAY_PER_REQUEST",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
        DeletionProtectionEnabled: true,
      }),
    });
  });
});

describe("Lambda functions", () => {
  const commonEnv = {
    NODE_OPTIONS: "--enable-source-maps",
    [ENV.tableName]: ref(queue.table),
    [ENV.shards]: String(DEFAULTS.shards),
    [ENV.defaultVisibilitySeconds]: String(DEFAULTS.defaultVisibilitySeconds),
    [ENV.maxDelayMs]: String(DEFAULTS.maxDelayMs),
    [ENV.retentionMs]: String(DEFAULTS.retentionMs),
    [ENV.maxWaitMs]: String(DEFAULTS.maxWaitMs),
    POWERTOOLS_SERVICE_NAME: "delayq",
    METRICS_NAMESPACE: "delayq",
    [ENV.pushShards]: String(DEFAULTS.pushShards),
    PUSH_TARGET_POLICY: "aws",
  };
  // The functions that start the push dispatcher name it; the dispatcher names itself at run time.
  const starterEnv = { PUSH_DISPATCHER_FUNCTION: ref(queue.functions.dispatcher.function) };
  const secretEnv = { [MQ_CREDENTIALS_SECRET_ENV]: ref(queue.mqCredentials) };
  const scheduleEnv = {
    [SCHEDULE_ENV.group]: queue.scheduleGroup.scheduleGroupName,
    [SCHEDULE_ENV.targetArn]: arn(queue.functions.publish.function),
    [SCHEDULE_ENV.roleArn]: arn(queue.scheduleTargetRole),
    [SCHEDULE_ENV.deadLetterArn]: arn(queue.scheduleDeadLetterQueue),
  };
  const expected: Record<HandlerName, { memory: number; timeout: number; env: Json }> = {
    publish: { memory: 256, timeout: 10, env: { ...commonEnv, ...secretEnv, ...starterEnv } },
    consume: { memory: 256, timeout: 32, env: { ...commonEnv, ...secretEnv } },
    ack: { memory: 256, timeout: 10, env: { ...commonEnv, ...secretEnv, ...scheduleEnv } },
    sweeper: { memory: 512, timeout: 55, env: { ...commonEnv, ...starterEnv } },
    dispatcher: { memory: 256, timeout: 180, env: { ...commonEnv, [ENV.leaseLingerMs]: "5000" } },
  };

  it("are five: publish, consume, ack, sweeper and the push dispatcher", () => {
    template.resourceCountIs("AWS::Lambda::Function", 5);
  });

  it.each(HANDLERS)("%s runs Node.js 22 on ARM64 with its own role, log group, memory, timeout and env", (name) => {
    const fn = queue.functions[name];
    expect(resource(fnId(name)).Properties).toEqual(
      expect.objectContaining({
        Runtime: "nodejs22.x",
        Architectures: ["arm64"],
        Handler: "index.handler",
        MemorySize: expected[name].memory,
        Timeout: expected[name].timeout,
        Role: arn(fn.role),
        LoggingConfig: { LogGroup: ref(fn.logGroup), LogFormat: "JSON" },
        Environment: { Variables: expected[name].env },
      }),
    );
  });

  it("consume outlives the longest long poll, and API Gateway's 30 s limit", () => {
    expect(resource(fnId("consume")).Properties.Timeout * 1000).toBeGreaterThan(Math.max(DEFAULTS.maxWaitMs, 30_000));
  });

  it("log to groups with one month's retention (five functions and the API's access log)", () => {
    template.resourcePropertiesCountIs("AWS::Logs::LogGroup", { RetentionInDays: 30 }, 6);
    template.resourceCountIs("AWS::Logs::LogGroup", 6);
  });

  it("have roles without managed policies, assumable by Lambda only", () => {
    for (const name of HANDLERS) {
      const role = resource(id(queue.functions[name].role)).Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect(role.AssumeRolePolicyDocument.Statement).toEqual([
        {
          Action: "sts:AssumeRole",
          Effect: "Allow",
          Principal: { Service: "lambda.amazonaws.com" },
        },
      ]);
    }
  });
});

describe("IAM: each role's statements, exactly", () => {
  const logs = (name: HandlerName) => ({
    Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
    Effect: "Allow",
    Resource: arn(queue.functions[name].logGroup),
  });
  const table = (...actions: string[]) => ({
    Action: actions,
    Effect: "Allow",
    Resource: tableArn,
  });
  const index = {
    Action: ["dynamodb:Query"],
    Effect: "Allow",
    Resource: dueIndexArn,
  };
  const secret = {
    Action: ["secretsmanager:GetSecretValue"],
    Effect: "Allow",
    Resource: ref(queue.mqCredentials),
  };
  // The on-failure destination of an asynchronously invoked function.
  const failures = {
    Action: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
    Effect: "Allow",
    Resource: arn(queue.asyncFailureQueue),
  };

  // Starting the push dispatcher (an asynchronous invoke of its function, its versions and aliases).
  const dispatcherArn = arn(queue.functions.dispatcher.function);
  const startDispatcher = {
    Action: ["lambda:InvokeFunction"],
    Effect: "Allow",
    Resource: [dispatcherArn, { "Fn::Join": ["", [dispatcherArn, ":*"]] }],
  };
  // Its successor: every function of the account and region tagged as the dispatcher (its own ARN would be a cycle).
  const startSuccessor = {
    Action: ["lambda:InvokeFunction"],
    Effect: "Allow",
    Resource: {
      "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":lambda:", { Ref: "AWS::Region" }, ":", { Ref: "AWS::AccountId" }, ":function:*"]],
    },
    Condition: { StringEquals: { "aws:ResourceTag/delayq:role": "push-dispatcher" } },
  };

  const scheduleGrants = [
    {
      Action: ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
      Effect: "Allow",
      Resource: {
        "Fn::Join": [
          "",
          [
            "arn:",
            { Ref: "AWS::Partition" },
            ":scheduler:",
            { Ref: "AWS::Region" },
            ":",
            { Ref: "AWS::AccountId" },
            `:schedule/${queue.scheduleGroup.scheduleGroupName}/*`,
          ],
        ],
      },
    },
    { Action: ["scheduler:ListSchedules"], Effect: "Allow", Resource: "*" },
    {
      Action: ["iam:PassRole"],
      Effect: "Allow",
      Resource: arn(queue.scheduleTargetRole),
      Condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
    },
  ];
  const expected: Record<HandlerName, Json[]> = {
    publish: [
      logs("publish"),
      table("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
      secret,
      failures,
      startDispatcher,
    ],
    consume: [
      logs("consume"),
      table("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
      index,
      secret,
    ],
    ack: [
      logs("ack"),
      table("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
      index,
      secret,
      ...scheduleGrants,
    ],
    sweeper: [logs("sweeper"), table("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"), index, failures, startDispatcher],
    // No push target is configured here: the dispatcher may invoke, send to or put events on nothing but itself.
    dispatcher: [
      logs("dispatcher"),
      table("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
      index,
      failures,
      startSuccessor,
    ],
  };

  it.each(HANDLERS)("%s", (name) => {
    expect(statementsOf(id(queue.functions[name].role))).toEqual(expected[name]);
  });

  it("the scheduler role invokes the sweeper and writes to its dead-letter queue, for this account only", () => {
    const roleId = id(queue.schedulerRole);
    const sweeperArn = arn(queue.functions.sweeper.function);
    expect(statementsOf(roleId)).toEqual([
      {
        Action: ["lambda:InvokeFunction"],
        Effect: "Allow",
        Resource: [sweeperArn, { "Fn::Join": ["", [sweeperArn, ":*"]] }],
      },
      {
        Action: ["sqs:SendMessage"],
        Effect: "Allow",
        Resource: arn(queue.schedulerDeadLetterQueue),
      },
    ]);
    expect(resource(roleId).Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: "sts:AssumeRole",
        Effect: "Allow",
        Principal: { Service: "scheduler.amazonaws.com" },
        Condition: {
          StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
        },
      },
    ]);
  });

  it("the schedule target role may only invoke the publish function and dead-letter into the schedules' queue, for this account only", () => {
    const roleId = id(queue.scheduleTargetRole);
    const publishArn = arn(queue.functions.publish.function);
    expect(statementsOf(roleId)).toEqual([
      { Action: ["lambda:InvokeFunction"], Effect: "Allow", Resource: [publishArn, { "Fn::Join": ["", [publishArn, ":*"]] }] },
      { Action: ["sqs:SendMessage"], Effect: "Allow", Resource: arn(queue.scheduleDeadLetterQueue) },
    ]);
    expect(resource(roleId).Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: "sts:AssumeRole",
        Effect: "Allow",
        Principal: { Service: "scheduler.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } } },
      },
    ]);
  });

  it("only the ack function (it serves /v1/schedules) may manage schedules or pass the target role", () => {
    for (const name of HANDLERS.filter((h) => h !== "ack")) {
      const actions = statementsOf(id(queue.functions[name].role)).flatMap((s) => s.Action);
      expect(actions.filter((a: string) => a.startsWith("scheduler:") || a === "iam:PassRole"), name).toEqual([]);
    }
    template.hasResourceProperties("AWS::Scheduler::ScheduleGroup", { Name: queue.scheduleGroup.scheduleGroupName });
  });

  it("has no role beyond the five functions', the sweeper scheduler's and the schedule target's, and no wildcard action", () => {
    template.resourceCountIs("AWS::IAM::Role", 7);
    const policies = JSON.stringify(template.findResources("AWS::IAM::Policy"));
    expect(policies).not.toMatch(/"[a-z0-9-]+:\*"/);
  });
});

describe("HTTP API", () => {
  const routes: [routeKey: string, handler: HandlerName, auth: "AWS_IAM" | "NONE"][] = [
    ["POST /v1/topics/{topic}/messages", "publish", "AWS_IAM"],
    ["POST /v1/topics/{topic}/messages/batch", "publish", "AWS_IAM"],
    ["POST /v1/topics/{topic}/groups/{group}/consume", "consume", "AWS_IAM"],
    ["POST /v1/topics/{topic}/groups/{group}/ack", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}", "ack", "AWS_IAM"],
    ["PUT /v1/topics/{topic}", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}/groups", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}/groups/{group}", "ack", "AWS_IAM"],
    ["PUT /v1/topics/{topic}/groups/{group}", "ack", "AWS_IAM"],
    ["DELETE /v1/topics/{topic}/groups/{group}", "ack", "AWS_IAM"],
    ["POST /v1/topics/{topic}/groups/{group}/nack", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}/groups/{group}/dead-letters", "ack", "AWS_IAM"],
    ["POST /v1/topics/{topic}/groups/{group}/dead-letters/redrive", "ack", "AWS_IAM"],
    ["GET /v1/topics", "ack", "AWS_IAM"],
    ["POST /v1/topics/{topic}/groups/{group}/push/secret", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}/messages", "ack", "AWS_IAM"],
    ["DELETE /v1/topics/{topic}/messages", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}/messages/{messageId}", "ack", "AWS_IAM"],
    ["PATCH /v1/topics/{topic}/messages/{messageId}", "ack", "AWS_IAM"],
    ["DELETE /v1/topics/{topic}/messages/{messageId}", "ack", "AWS_IAM"],
    ["GET /v1/topics/{topic}/stats", "ack", "AWS_IAM"],
    ["POST /v1/schedules", "ack", "AWS_IAM"],
    ["GET /v1/schedules", "ack", "AWS_IAM"],
    ["GET /v1/schedules/{name}", "ack", "AWS_IAM"],
    ["DELETE /v1/schedules/{name}", "ack", "AWS_IAM"],
    ["GET /healthz", "publish", "NONE"],
    ["GET /openapi.json", "publish", "NONE"],
    ["POST /topics/{topic}/messages", "publish", "NONE"],
    ["GET /topics/{topic}/messages", "consume", "NONE"],
    ["DELETE /topics/{topic}/messages", "ack", "NONE"],
  ];

  it("is one HTTP API with exactly these routes", () => {
    template.resourcePropertiesCountIs("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP" }, 1);
    const keys = Object.values(template.findResources("AWS::ApiGatewayV2::Route")).map((r) => r.Properties.RouteKey);
    expect(keys.sort()).toEqual(routes.map(([key]) => key).sort());
  });

  it.each(routes)("%s → %s (authorization %s)", (routeKey, handler, auth) => {
    // Act: follow the route to its integration.
    const [route] = Object.values(
      template.findResources("AWS::ApiGatewayV2::Route", {
        Properties: { RouteKey: routeKey },
      }),
    );
    const integrationId = route?.Properties.Target["Fn::Join"][1][1].Ref;
    // Assess
    expect(route?.Properties.AuthorizationType).toBe(auth);
    expect(resource(integrationId).Properties).toEqual({
      ApiId: ref(queue.api),
      IntegrationType: "AWS_PROXY",
      IntegrationUri: arn(queue.functions[handler].function),
      PayloadFormatVersion: "2.0",
    });
  });

  it("lets API Gateway invoke each function only from its own routes", () => {
    const permissions = Object.values(template.findResources("AWS::Lambda::Permission"));
    expect(permissions).toHaveLength(routes.length);
    for (const p of permissions) {
      expect(p.Properties.Principal).toBe("apigateway.amazonaws.com");
      expect(p.Properties.Action).toBe("lambda:InvokeFunction");
    }
  });

  it("throttles each function's routes at what a new on-demand table takes, per route", () => {
    const [stage] = Object.values(template.findResources("AWS::ApiGatewayV2::Stage"));
    const settings = stage?.Properties.RouteSettings as Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }>;
    expect(Object.keys(settings).sort()).toEqual(routes.map(([key]) => key).sort());
    expect(settings["POST /v1/topics/{topic}/messages"]).toEqual({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 });
    expect(settings["POST /v1/topics/{topic}/groups/{group}/consume"]).toEqual({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 });
  });

  it("has a $default stage with throttling and JSON access logs", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      StageName: "$default",
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: 100,
        ThrottlingBurstLimit: 200,
      },
      AccessLogSettings: {
        DestinationArn: arn(queue.accessLogGroup),
        Format: Match.serializedJson(
          Match.objectLike({
            requestId: "$context.requestId",
            status: "$context.status",
          }),
        ),
      },
    });
  });
});

describe("sweeper schedule", () => {
  it("invokes the sweeper every minute with a retry policy and a dead-letter queue", () => {
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      FlexibleTimeWindow: { Mode: "OFF" },
      Target: {
        Arn: arn(queue.functions.sweeper.function),
        RoleArn: arn(queue.schedulerRole),
        RetryPolicy: { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 2 },
        DeadLetterConfig: { Arn: arn(queue.schedulerDeadLetterQueue) },
      },
    });
  });

});

describe("failure queues", () => {
  const failureQueues = () => [queue.schedulerDeadLetterQueue, queue.asyncFailureQueue, queue.scheduleDeadLetterQueue];

  it("are three, each encrypted, kept 14 days and refusing requests without TLS", () => {
    template.resourceCountIs("AWS::SQS::Queue", 3);
    for (const q of failureQueues()) {
      expect(resource(id(q)).Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [ref(q)],
        PolicyDocument: {
          Statement: [
            Match.objectLike({
              Effect: "Deny",
              Action: "sqs:*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ],
        },
      });
    }
  });
});

describe("asynchronous invocations", () => {
  const invokeConfigs = () => Object.values(template.findResources("AWS::Lambda::EventInvokeConfig")).map((r) => r.Properties);
  /** Every function EventBridge Scheduler invokes: the sweeper schedule's target and the users' schedules' target. */
  const scheduledTargets = (): Json[] => [
    ...Object.values(template.findResources("AWS::Scheduler::Schedule")).map((r) => r.Properties.Target.Arn),
    resource(fnId("ack")).Properties.Environment.Variables[SCHEDULE_ENV.targetArn],
  ];

  it("every function a schedule invokes has a maximum event age and an on-failure destination in the failure queue", () => {
    const targets = scheduledTargets();
    expect(targets).toEqual(expect.arrayContaining([arn(queue.functions.sweeper.function), arn(queue.functions.publish.function)]));
    for (const target of targets) {
      const config = invokeConfigs().find((c) => JSON.stringify(c.FunctionName) === JSON.stringify({ Ref: target["Fn::GetAtt"][0] }));
      expect(config, JSON.stringify(target)).toMatchObject({
        Qualifier: "$LATEST",
        MaximumEventAgeInSeconds: expect.any(Number),
        MaximumRetryAttempts: expect.any(Number),
        DestinationConfig: { OnFailure: { Destination: arn(queue.asyncFailureQueue) } },
      });
    }
  });

  it("the push dispatcher, started by asynchronous invokes, is not retried (the next look or publish arms a new one), is given up after 2 minutes, and its failures land in the failure queue", () => {
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(queue.functions.dispatcher.function),
      Qualifier: "$LATEST",
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 120,
      DestinationConfig: { OnFailure: { Destination: arn(queue.asyncFailureQueue) } },
    });
  });

  it("the sweeper is not retried (the next run is) and is given up after 5 minutes; a firing is retried twice within an hour", () => {
    expect(invokeConfigs()).toHaveLength(3);
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(queue.functions.sweeper.function),
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 300,
    });
    template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: ref(queue.functions.publish.function),
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
    });
  });

  it("no function has reserved concurrency unless the props ask for it", () => {
    for (const name of HANDLERS) expect(resource(fnId(name)).Properties.ReservedConcurrentExecutions, name).toBeUndefined();
  });
});

describe("RocketMQ door credentials", () => {
  it("are a generated secret: accessKeyId delayq and a punctuation-free accessKeySecret", () => {
    template.hasResource("AWS::SecretsManager::Secret", {
      DeletionPolicy: "Retain",
      Properties: Match.objectLike({
        GenerateSecretString: {
          SecretStringTemplate: JSON.stringify({ accessKeyId: "delayq" }),
          GenerateStringKey: "accessKeySecret",
          ExcludePunctuation: true,
        },
      }),
    });
  });
});

describe("alarms", () => {
  const alarms = () => Object.values(template.findResources("AWS::CloudWatch::Alarm")).map((a) => a.Properties);
  const alarmOf = (construct: IConstruct) => resource(id(construct)).Properties;
  const [sweeperErrors, dynamoThrottles, functionThrottles] = queue.alarms;
  /** The metric-math alarm's math and the metrics it combines. */
  const math = (alarm: Json) => {
    const expressions = alarm.Metrics.filter((m: Json) => m.Expression);
    const metrics = alarm.Metrics.filter((m: Json) => m.MetricStat);
    return { expressions, metrics };
  };

  it("are six on the infrastructure, each firing on one event in five minutes and quiet without data, and two on pushes (four more watch the queue's metrics: test/infra/observability.test.ts)", () => {
    template.resourceCountIs("AWS::CloudWatch::Alarm", 8 + queue.observability.alarms.length);
    expect(queue.alarms).toHaveLength(6);
    expect(queue.pushAlarms).toHaveLength(2);
    for (const alarm of queue.alarms.map((a) => alarmOf(a))) {
      expect(alarm).toMatchObject({ Threshold: 1, EvaluationPeriods: 1, ComparisonOperator: "GreaterThanOrEqualToThreshold", TreatMissingData: "notBreaching" });
    }
  });

  it("watch the sweeper's errors", () => {
    expect(alarmOf(sweeperErrors as IConstruct)).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: "Errors",
      Dimensions: [{ Name: "FunctionName", Value: ref(queue.functions.sweeper.function) }],
      Statistic: "Sum",
      Period: 300,
    });
  });

  it("watch read and write throttles of the table and its due index", () => {
    const { metrics } = math(alarmOf(dynamoThrottles as IConstruct));
    const tableDim = { Name: "TableName", Value: ref(queue.table) };
    const indexDim = { Name: "GlobalSecondaryIndexName", Value: TABLE_SCHEMA.dueIndex.name };
    expect(metrics.map((m: Json) => ({ name: m.MetricStat.Metric.MetricName, dimensions: m.MetricStat.Metric.Dimensions }))).toEqual(
      expect.arrayContaining([
        { name: "ReadThrottleEvents", dimensions: [tableDim] },
        { name: "WriteThrottleEvents", dimensions: [tableDim] },
        { name: "ReadThrottleEvents", dimensions: expect.arrayContaining([tableDim, indexDim]) },
        { name: "WriteThrottleEvents", dimensions: expect.arrayContaining([tableDim, indexDim]) },
      ]),
    );
    expect(metrics).toHaveLength(4);
  });

  it("watch throttles of every function", () => {
    const { metrics } = math(alarmOf(functionThrottles as IConstruct));
    expect(metrics.map((m: Json) => [m.MetricStat.Metric.Namespace, m.MetricStat.Metric.MetricName, m.MetricStat.Metric.Dimensions]).sort()).toEqual(
      HANDLERS.map((name) => ["AWS/Lambda", "Throttles", [{ Name: "FunctionName", Value: ref(queue.functions[name].function) }]]).sort(),
    );
  });

  it("sum sparse metrics with every missing value as 0, so that one throttled metric alone breaches", () => {
    // A throttle metric has data only while throttling happens; `a + b` is missing (never breaching) at
    // every period where one of its terms has no data, so each combined metric must be filled.
    const combined = alarms().filter((a) => a.Metrics);
    expect(alarms()).toHaveLength(8 + queue.observability.alarms.length);
    expect(combined).toHaveLength(2);
    for (const alarm of combined) {
      const { expressions, metrics } = math(alarm);
      expect(expressions).toEqual([expect.objectContaining({ Expression: "SUM(FILL(METRICS(), 0))", ReturnData: true })]);
      for (const m of metrics) expect(m).toMatchObject({ ReturnData: false, MetricStat: { Stat: "Sum", Period: 300 } });
      expect(alarm.Metrics).toHaveLength(metrics.length + 1);
    }
  });

  it.each([
    ["the sweeper schedule's dead-letter queue", () => queue.schedulerDeadLetterQueue],
    ["the asynchronous invocations' failure queue", () => queue.asyncFailureQueue],
    ["the recurring schedules' dead-letter queue", () => queue.scheduleDeadLetterQueue],
  ])("watch the depth of %s", (_what, which) => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": [id(which()), "QueueName"] } }],
      Statistic: "Maximum",
      Threshold: 1,
    });
  });
});

describe("push alarms", () => {
  const alarmOf = (construct: IConstruct) => resource(id(construct)).Properties;
  const filters = () => Object.values(template.findResources("AWS::Logs::MetricFilter")).map((r) => r.Properties);

  it.each([
    ["PushFailures", "push-failed", 10],
    ["PushDeadLetters", "push-dead-lettered", 1],
  ] as const)("%s counts the dispatcher's %s log events; the alarm fires at %d in five minutes", (metricName, event, threshold) => {
    const filter = filters().find((f) => f.MetricTransformations[0].MetricName === metricName);
    expect(filter).toEqual({
      LogGroupName: ref(queue.functions.dispatcher.logGroup),
      FilterPattern: `{ $.event = "${event}" }`,
      MetricTransformations: [{ MetricNamespace: "delayq", MetricName: metricName, MetricValue: "1", DefaultValue: 0 }],
    });
    const alarm = queue.pushAlarms.map((a) => alarmOf(a)).find((a) => a.MetricName === metricName);
    expect(alarm).toMatchObject({
      Namespace: "delayq",
      Statistic: "Sum",
      Period: 300,
      Threshold: threshold,
      EvaluationPeriods: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      TreatMissingData: "notBreaching",
    });
  });
});

describe("outputs", () => {
  it("name the API URL and the table", () => {
    template.hasOutput("ApiUrl", {
      Value: {
        "Fn::Join": [
          "",
          ["https://", ref(queue.api), ".execute-api.", { Ref: "AWS::Region" }, ".", { Ref: "AWS::URLSuffix" }, "/"],
        ],
      },
    });
    template.hasOutput("TableName", { Value: ref(queue.table) });
    template.hasOutput("MqCredentialsSecretArn", {
      Value: ref(queue.mqCredentials),
    });
  });

  it("name the failure queues and the function to replay firings to", () => {
    template.hasOutput("AsyncFailureQueueUrl", { Value: ref(queue.asyncFailureQueue) });
    template.hasOutput("ScheduleDeadLetterQueueUrl", { Value: ref(queue.scheduleDeadLetterQueue) });
    template.hasOutput("PublishFunctionName", { Value: ref(queue.functions.publish.function) });
  });
});

describe("bundles", () => {
  const assetDir = (name: HandlerName): string => {
    const key: string = resource(fnId(name)).Properties.Code.S3Key;
    return join(outdir, `asset.${key.replace(/\.zip$/, "")}`);
  };

  it.each(HANDLERS)("%s: an ESM bundle of lambda/%s.ts with a source map, AWS SDK left external", (name) => {
    const dir = assetDir(name);
    const code = readFileSync(join(dir, "index.mjs"), "utf8");
    const map = JSON.parse(readFileSync(join(dir, "index.mjs.map"), "utf8")) as { sources: string[] };
    expect(code.startsWith("import { createRequire as __delayqCreateRequire }")).toBe(true);
    expect(map.sources.some((source) => source.endsWith(`lambda/${name}.ts`))).toBe(true);
    expect(map.sources.some((source) => source.includes("node_modules/@aws-sdk/"))).toBe(false);
    expect(existsSync(join(dir, "node_modules"))).toBe(false);
  });

  it.each(HANDLERS)("%s: the bundle loads and exports handler", async (name) => {
    // Act: the asset directory sits inside the repository, so `@aws-sdk/*` resolves as the runtime's would.
    const module = (await import(pathToFileURL(join(assetDir(name), "index.mjs")).href)) as { handler?: unknown };
    // Assess
    expect(typeof module.handler).toBe("function");
  });
});

describe("snapshot", () => {
  it("matches, asset hashes normalized", () => {
    const json = JSON.stringify(template.toJSON(), null, 2).replace(/[0-9a-f]{64}(\.zip)?/g, "[asset-hash]$1");
    expect(JSON.parse(json)).toMatchSnapshot();
  });
});

import { ArnFormat, Aws, type CfnResource, Duration, RemovalPolicy, Stack, Tags } from "aws-cdk-lib";
import type { CfnStage } from "aws-cdk-lib/aws-apigatewayv2";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
  type ThrottleSettings,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpIamAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { Alarm, ComparisonOperator, type IMetric, MathExpression, Metric, TreatMissingData } from "aws-cdk-lib/aws-cloudwatch";
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from "aws-cdk-lib/aws-dynamodb";
import { PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Schedule, ScheduleExpression, ScheduleGroup } from "aws-cdk-lib/aws-scheduler";
import { LambdaInvoke } from "aws-cdk-lib/aws-scheduler-targets";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Queue, QueueEncryption } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { DEFAULTS, ENV, type OverMaxDelay } from "../core/config.js";
import { TABLE_SCHEMA } from "../lambda/dynamo/schema.js";
import { MQ_CREDENTIALS_SECRET_ENV } from "../lambda/mq-credentials.js";
import { SCHEDULE_ENV } from "../lambda/schedule-service.js";
import { acknowledgeAwsSolutions } from "./acknowledge.js";
import { AmqpDoor, type AmqpDoorProps } from "./amqp-door.js";
import { DYNAMO_ACCESS, HANDLER_SETTINGS, type HandlerName, type HandlerSettings, SCHEDULE_ACTIONS, iamActions } from "./handlers.js";
import { type ObservabilityProps, QueueObservability, metricsEnvironment } from "./observability.js";
import { QueueFunction } from "./queue-function.js";

export const AuthMode = { Iam: "iam", None: "none" } as const;
export type AuthMode = (typeof AuthMode)[keyof typeof AuthMode];

/** Push targets the dispatcher may deliver to (IAM grants: only these). HTTP targets need no grant. */
export interface PushTargetsProps {
  /** Lambda functions push groups may invoke (ARNs; `<arn>:*` covers versions and aliases). */
  readonly functionArns?: readonly string[];
  /** SQS queues push groups may send to (queue ARNs). */
  readonly queueArns?: readonly string[];
  /** Event buses push groups may put events on (bus ARNs). */
  readonly eventBusArns?: readonly string[];
}

export interface DelayQueueProps {
  /** What push groups may target besides HTTP(S) URLs. @default none: HTTP targets only */
  readonly pushTargets?: PushTargetsProps;
  /** Push shards (one dispatcher each while pushes are due). @default 1 */
  readonly pushShards?: number;
  /** Write shards per lane of the due index. @default 2 */
  readonly shards?: number;
  /** Visibility of a delivery when neither the consume call nor the group sets one. @default 30 */
  readonly defaultVisibilitySeconds?: number;
  /** Longest accepted delay. @default 40 days */
  readonly maxDelayMs?: number;
  /**
   * What a delay beyond the maximum gets on every topic without its own `overMaxDelay`, through every door:
   * deliver now, or reject the publish. @default unset: each door's own rule (the JSON API's fields and the
   * RocketMQ door reject; the `delay` / `x-delay` headers deliver now)
   */
  readonly overMaxDelay?: OverMaxDelay;
  /** How long a message is kept after its deliver time. @default 3 days */
  readonly retentionMs?: number;
  /** Retention of the functions' and the API's log groups. @default one month */
  readonly logRetention?: RetentionDays;
  /**
   * What `cdk destroy` does with the table, the secret and the log groups. The table also gets deletion
   * protection unless this is DESTROY. @default RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Authorization of the native `/v1` routes: SigV4-signed IAM calls, or open (a sandbox only).
   * `/healthz` is always open; the RocketMQ door checks its own signatures. @default "iam"
   */
  readonly authMode?: AuthMode;
  /** Steady-state rate and burst limits of the API stage for any route without its own; a limit left out keeps its default. @default 100 requests/s, burst 200 */
  readonly throttling?: ThrottleSettings;
  /**
   * Rate and burst limits of the routes each function serves (per route). The defaults stay within what a
   * new on-demand table takes at once (4,000 write units/s; a message's publish, claim and ack cost about
   * 6, README: Write units): 500 publishes (each up to 16 messages as a batch), 500 consume and 500 ack
   * calls a second. DynamoDB on demand doubles its ceiling as traffic grows; raise these with it.
   * @default publish, consume and ack routes 500 requests/s, burst 1000
   */
  readonly routeThrottling?: Partial<Record<HandlerName, ThrottleSettings>>;
  /**
   * Reserved concurrency per function (an integer ≥ 1): executions kept for that function alone, which are
   * also its cap. A waiting long poll holds one consume execution for up to 28 s, so many consumers can
   * take every execution of the account and starve publish and ack: cap `consume`, or reserve for
   * `publish` and `ack` (README: Operations). Lambda keeps 100 executions of the account unreserved, so
   * a reservation fails to deploy in an account whose concurrency limit leaves no room for it.
   * @default none reserved
   */
  readonly reservedConcurrency?: Partial<Record<HandlerName, number>>;
  /**
   * The AMQP 0-9-1 door on ECS Fargate (ARM64) behind a Network Load Balancer with TLS on 5671. The one
   * always-on cost of the stack, about $35 a month at the defaults (README: The AMQP door on AWS).
   * @default off
   */
  readonly amqp?: AmqpDoorProps;
  /** Metrics, the CloudWatch dashboard and the alarms' SNS topic (README: Metrics and alarms). */
  readonly observability?: ObservabilityProps;
}

export const DELAY_QUEUE_DEFAULTS = {
  logRetention: RetentionDays.ONE_MONTH,
  removalPolicy: RemovalPolicy.RETAIN,
  authMode: AuthMode.Iam,
  throttling: { rateLimit: 100, burstLimit: 200 },
  routeThrottling: {
    publish: { rateLimit: 500, burstLimit: 1000 },
    consume: { rateLimit: 500, burstLimit: 1000 },
    ack: { rateLimit: 500, burstLimit: 1000 },
  },
} as const;

/**
 * Managing scheduled messages and recurring schedules (README: "Manage scheduled messages"), served by
 * the ack function, which holds the grants they need.
 */
const MANAGE_ROUTES = (
  [
    [HttpMethod.GET, "/v1/topics"],
    [HttpMethod.GET, "/v1/topics/{topic}/messages"],
    [HttpMethod.DELETE, "/v1/topics/{topic}/messages"],
    [HttpMethod.GET, "/v1/topics/{topic}/messages/{messageId}"],
    [HttpMethod.PATCH, "/v1/topics/{topic}/messages/{messageId}"],
    [HttpMethod.DELETE, "/v1/topics/{topic}/messages/{messageId}"],
    [HttpMethod.GET, "/v1/topics/{topic}/stats"],
    [HttpMethod.POST, "/v1/schedules"],
    [HttpMethod.GET, "/v1/schedules"],
    [HttpMethod.GET, "/v1/schedules/{name}"],
    [HttpMethod.DELETE, "/v1/schedules/{name}"],
  ] as const
).map(([method, path]) => ({ method, path, handler: "ack" as const, auth: "v1" as const }));

/** Routes of the HTTP API: the native JSON API, the RocketMQ-compatible door and the health check. */
export const ROUTES: readonly {
  path: string;
  method: HttpMethod;
  handler: HandlerName;
  auth: "v1" | "open";
}[] = [
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/messages",
    handler: "publish",
    auth: "v1",
  },
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/messages/batch",
    handler: "publish",
    auth: "v1",
  },
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/groups/{group}/consume",
    handler: "consume",
    auth: "v1",
  },
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/groups/{group}/ack",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.GET,
    path: "/v1/topics/{topic}",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.PUT,
    path: "/v1/topics/{topic}",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.GET,
    path: "/v1/topics/{topic}/groups",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.GET,
    path: "/v1/topics/{topic}/groups/{group}",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.DELETE,
    path: "/v1/topics/{topic}/groups/{group}",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.PUT,
    path: "/v1/topics/{topic}/groups/{group}",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/groups/{group}/nack",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.GET,
    path: "/v1/topics/{topic}/groups/{group}/dead-letters",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/groups/{group}/dead-letters/redrive",
    handler: "ack",
    auth: "v1",
  },
  {
    method: HttpMethod.POST,
    path: "/v1/topics/{topic}/groups/{group}/push/secret",
    handler: "ack",
    auth: "v1",
  },
  ...MANAGE_ROUTES,
  {
    method: HttpMethod.GET,
    path: "/healthz",
    handler: "publish",
    auth: "open",
  },
  {
    method: HttpMethod.GET,
    path: "/openapi.json",
    handler: "publish",
    auth: "open",
  },
  {
    method: HttpMethod.POST,
    path: "/topics/{topic}/messages",
    handler: "publish",
    auth: "open",
  },
  {
    method: HttpMethod.GET,
    path: "/topics/{topic}/messages",
    handler: "consume",
    auth: "open",
  },
  {
    method: HttpMethod.DELETE,
    path: "/topics/{topic}/messages",
    handler: "ack",
    auth: "open",
  },
];

/** Why a route may go without an API Gateway authorizer (cdk-nag AwsSolutions-APIG4). */
const OPEN_ROUTE_REASON = {
  open: "/healthz is a readiness probe that returns no data; /openapi.json serves the public description of the API, the same for every caller; the RocketMQ-compatible door's requests carry the RocketMQ HMAC signature, which the handlers verify against the MQ credentials secret.",
  v1: "authMode 'none' was chosen explicitly for a sandbox deployment: the /v1 routes are open.",
} as const;

/**
 * The whole delayed-message queue: DynamoDB table, one Lambda per handler, an HTTP API in front, the
 * sweeper on EventBridge Scheduler, and alarms.
 */
export class DelayQueue extends Construct {
  readonly table: Table;
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;
  readonly functions: Record<HandlerName, QueueFunction>;
  readonly mqCredentials: Secret;
  readonly schedulerDeadLetterQueue: Queue;
  /**
   * The on-failure destination of every asynchronously invoked function (the sweeper; publish, for
   * schedule firings): each invocation Lambda gave up on, with its event.
   */
  readonly asyncFailureQueue: Queue;
  /** Dead-letter queue of users' recurring schedules: firings EventBridge Scheduler could not hand to Lambda. */
  readonly scheduleDeadLetterQueue: Queue;
  readonly schedule: Schedule;
  /** The role EventBridge Scheduler assumes to invoke the sweeper. */
  readonly schedulerRole: Role;
  /** The schedule group of users' recurring schedules (POST /v1/schedules). */
  readonly scheduleGroup: ScheduleGroup;
  /** The role EventBridge Scheduler assumes for users' schedules: it may only invoke the publish function. */
  readonly scheduleTargetRole: Role;
  readonly alarms: Alarm[];
  /** The dashboard and the alarms on the queue's own metrics. */
  readonly observability: QueueObservability;
  /** Alarms on failed pushes and on pushes dead-lettered (they notify `observability.alarmTopic` like the others). */
  pushAlarms: Alarm[] = [];
  /** The AMQP door, when the `amqp` prop is set. */
  readonly amqp?: AmqpDoor;

  constructor(scope: Construct, id: string, props: DelayQueueProps = {}) {
    super(scope, id);
    const logRetention = props.logRetention ?? DELAY_QUEUE_DEFAULTS.logRetention;
    const removalPolicy = props.removalPolicy ?? DELAY_QUEUE_DEFAULTS.removalPolicy;

    this.table = this.createTable(removalPolicy);

    this.mqCredentials = new Secret(this, "MqCredentials", {
      description: "Access key of delayq's RocketMQ-compatible HTTP door",
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ accessKeyId: "delayq" }),
        generateStringKey: "accessKeySecret",
        excludePunctuation: true,
      },
      removalPolicy,
    });
    acknowledgeAwsSolutions(
      this.mqCredentials,
      "AwsSolutions-SMG4",
      "The RocketMQ door's access key is a static credential configured in every client; rotating it needs a coordinated client rollout, so it is rotated by hand (README: Deploy to AWS).",
    );

    const environment: Record<string, string> = {
      [ENV.tableName]: this.table.tableName,
      [ENV.shards]: String(props.shards ?? DEFAULTS.shards),
      [ENV.defaultVisibilitySeconds]: String(props.defaultVisibilitySeconds ?? DEFAULTS.defaultVisibilitySeconds),
      [ENV.maxDelayMs]: String(props.maxDelayMs ?? DEFAULTS.maxDelayMs),
      ...(props.overMaxDelay !== undefined && { [ENV.overMaxDelay]: props.overMaxDelay }),
      [ENV.retentionMs]: String(props.retentionMs ?? DEFAULTS.retentionMs),
      [ENV.maxWaitMs]: String(DEFAULTS.maxWaitMs),
      ...metricsEnvironment(props.observability),
      [ENV.pushShards]: String(props.pushShards ?? DEFAULTS.pushShards),
      PUSH_TARGET_POLICY: "aws",
    };

    this.asyncFailureQueue = this.createFailureQueue(
      "AsyncFailureQueue",
      "it is the on-failure destination of the asynchronously invoked functions: it holds the invocations Lambda gave up on, and an alarm watches its depth.",
    );
    const functions: Partial<Record<HandlerName, QueueFunction>> = {};
    for (const name of Object.keys(HANDLER_SETTINGS) as HandlerName[]) {
      const settings: HandlerSettings = HANDLER_SETTINGS[name];
      const reserved = reservedConcurrency(props.reservedConcurrency, name);
      const fn = new QueueFunction(this, pascal(name), {
        entry: name,
        description: settings.description,
        memorySize: settings.memorySize,
        timeout: settings.timeout,
        logRetention,
        removalPolicy,
        ...(reserved !== undefined && { reservedConcurrentExecutions: reserved }),
      });
      this.connect(fn, name, environment);
      if (settings.asyncInvoke) {
        fn.function.configureAsyncInvoke({ ...settings.asyncInvoke, onFailure: new SqsDestination(this.asyncFailureQueue) });
      }
      functions[name] = fn;
    }
    this.functions = functions as Record<HandlerName, QueueFunction>;
    this.connectPush(props);

    ({
      api: this.api,
      stage: this.stage,
      accessLogGroup: this.accessLogGroup,
    } = this.createApi(props, logRetention, removalPolicy));
    ({
      schedule: this.schedule,
      role: this.schedulerRole,
      deadLetterQueue: this.schedulerDeadLetterQueue,
    } = this.createSweeperSchedule());
    ({
      group: this.scheduleGroup,
      role: this.scheduleTargetRole,
      deadLetterQueue: this.scheduleDeadLetterQueue,
    } = this.createRecurringSchedules());
    this.alarms = this.createAlarms();
    this.observability = new QueueObservability(this, "Observability", props.observability ?? {}, {
      functions: this.functions,
      api: this.api,
      table: this.table,
      dueIndexName: TABLE_SCHEMA.dueIndex.name,
      alarms: [...this.alarms, ...this.pushAlarms],
    });
    if (props.amqp) {
      this.amqp = new AmqpDoor(this, "Amqp", props.amqp, {
        table: this.table,
        dueIndexArn: this.dueIndexArn,
        environment,
        logRetention,
        removalPolicy,
      });
    }
  }

  /**
   * Users' recurring schedules: our own schedule group; a target role that may only invoke the publish
   * function (which turns a firing into a publish) and write to the schedules' dead-letter queue; and, for
   * the ack function that serves /v1/schedules, the schedule actions on that group and iam:PassRole on
   * that role alone.
   */
  private createRecurringSchedules(): { group: ScheduleGroup; role: Role; deadLetterQueue: Queue } {
    const stack = Stack.of(this);
    const group = new ScheduleGroup(this, "RecurringSchedules", {});
    const publish = this.functions.publish.function;
    const role = new Role(this, "ScheduleTargetRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
      description: "EventBridge Scheduler: invoke the delayq publish function for users' recurring schedules",
    });
    publish.grantInvoke(role);
    const deadLetterQueue = this.createFailureQueue(
      "ScheduleDlq",
      "it is the dead-letter queue of users' recurring schedules: it holds the firings EventBridge Scheduler could not hand to the publish function, and an alarm watches its depth.",
    );
    role.addToPrincipalPolicy(new PolicyStatement({ actions: ["sqs:SendMessage"], resources: [deadLetterQueue.queueArn] }));
    acknowledgeAwsSolutions(
      role,
      `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(publish.node.defaultChild as CfnResource)}.Arn>:*]`,
      "Function.grantInvoke also allows <publish ARN>:* so that the function's versions and aliases can be invoked; it still names the one publish function.",
    );
    const manager = this.functions.ack;
    const schedulesInGroup = stack.formatArn({ service: "scheduler", resource: "schedule", resourceName: `${group.scheduleGroupName}/*` });
    manager.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...SCHEDULE_ACTIONS.onGroup], resources: [schedulesInGroup] }),
    );
    manager.role.addToPrincipalPolicy(new PolicyStatement({ actions: [...SCHEDULE_ACTIONS.unscoped], resources: ["*"] }));
    manager.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["iam:PassRole"],
        resources: [role.roleArn],
        conditions: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      }),
    );
    acknowledgeAwsSolutions(
      manager.role,
      "AwsSolutions-IAM5[Resource::*]",
      "scheduler:ListSchedules has no resource-level permission (IAM requires *); the code lists only delayq's own schedule group.",
    );
    acknowledgeAwsSolutions(
      manager.role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${group.scheduleGroupName}/*]`,
      "Users name their schedules at run time, so the grant names every schedule of delayq's own schedule group, and no other.",
    );
    manager.function.addEnvironment(SCHEDULE_ENV.group, group.scheduleGroupName);
    manager.function.addEnvironment(SCHEDULE_ENV.targetArn, publish.functionArn);
    manager.function.addEnvironment(SCHEDULE_ENV.roleArn, role.roleArn);
    manager.function.addEnvironment(SCHEDULE_ENV.deadLetterArn, deadLetterQueue.queueArn);
    return { group, role, deadLetterQueue };
  }

  /** An encrypted queue that refuses requests without TLS and keeps messages 14 days: where failures land. */
  private createFailureQueue(id: string, purpose: string): Queue {
    const queue = new Queue(this, id, {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    acknowledgeAwsSolutions(queue, "AwsSolutions-SQS3", `This queue needs no dead-letter queue of its own: ${purpose}`);
    return queue;
  }

  /** The stage's invoke URL (ends with a slash). */
  get url(): string {
    return this.stage.url;
  }

  private createTable(removalPolicy: RemovalPolicy): Table {
    const { partitionKey, sortKey, ttlAttribute, dueIndex } = TABLE_SCHEMA;
    const table = new Table(this, "Table", {
      partitionKey: { name: partitionKey, type: AttributeType.STRING },
      sortKey: { name: sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // A KMS key (the account's aws/dynamodb key) rather than the default AWS-owned key, so the key's
      // use is visible in CloudTrail.
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: ttlAttribute,
      deletionProtection: removalPolicy !== RemovalPolicy.DESTROY,
      removalPolicy,
    });
    table.addGlobalSecondaryIndex({
      indexName: dueIndex.name,
      partitionKey: { name: dueIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: dueIndex.sortKey, type: AttributeType.NUMBER },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...dueIndex.projectedAttributes],
    });
    return table;
  }

  /** The due index's ARN: `Query` on it is granted separately from the base table. */
  private get dueIndexArn(): string {
    return `${this.table.tableArn}/index/${TABLE_SCHEMA.dueIndex.name}`;
  }

  /**
   * Connects a handler to the queue: sets its configuration variables and grants exactly the DynamoDB
   * actions DYNAMO_ACCESS lists for it, plus read access to the MQ credentials where it serves the
   * RocketMQ door.
   */
  private connect(fn: QueueFunction, name: HandlerName, environment: Record<string, string>): void {
    for (const [key, value] of Object.entries(environment)) fn.function.addEnvironment(key, value);
    const actions = iamActions(DYNAMO_ACCESS[name]);
    fn.role.addToPrincipalPolicy(new PolicyStatement({ actions: actions.table, resources: [this.table.tableArn] }));
    if (actions.dueIndex.length > 0) {
      fn.role.addToPrincipalPolicy(new PolicyStatement({ actions: actions.dueIndex, resources: [this.dueIndexArn] }));
    }
    if (HANDLER_SETTINGS[name].readsMqCredentials) {
      fn.function.addEnvironment(MQ_CREDENTIALS_SECRET_ENV, this.mqCredentials.secretArn);
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({ actions: ["secretsmanager:GetSecretValue"], resources: [this.mqCredentials.secretArn] }),
      );
    }
  }

  /**
   * Push delivery: the dispatcher function is started (asynchronous invoke) by the sweeper's look ahead,
   * by a publish due before it, and by itself (a successor); it invokes, sends to and puts events on only
   * the targets `pushTargets` lists. Alarms on failed pushes and on pushes dead-lettered.
   */
  private connectPush(props: DelayQueueProps): void {
    const dispatcher = this.functions.dispatcher.function;
    // The dispatcher names itself at run time (AWS_LAMBDA_FUNCTION_NAME): a reference to its own name would be a cycle.
    for (const name of ["publish", "sweeper"] as const) {
      this.functions[name].function.addEnvironment("PUSH_DISPATCHER_FUNCTION", dispatcher.functionName);
      dispatcher.grantInvoke(this.functions[name].function);
    }
    dispatcher.addEnvironment(ENV.leaseLingerMs, "5000");
    // Its own successor: an explicit statement (grantInvoke on itself would make the policy depend on the function).
    this.functions.dispatcher.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["lambda:InvokeFunction"],
        resources: [Stack.of(this).formatArn({ service: "lambda", resource: "function", resourceName: "*", arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
        conditions: { StringEquals: { "aws:ResourceTag/delayq:role": "push-dispatcher" } },
      }),
    );
    Tags.of(dispatcher).add("delayq:role", "push-dispatcher");
    const targets = props.pushTargets ?? {};
    const role = this.functions.dispatcher.role;
    if (targets.functionArns?.length) {
      role.addToPrincipalPolicy(new PolicyStatement({ actions: ["lambda:InvokeFunction"], resources: targets.functionArns.flatMap((a) => [a, `${a}:*`]) }));
    }
    if (targets.queueArns?.length) role.addToPrincipalPolicy(new PolicyStatement({ actions: ["sqs:SendMessage"], resources: [...targets.queueArns] }));
    if (targets.eventBusArns?.length) role.addToPrincipalPolicy(new PolicyStatement({ actions: ["events:PutEvents"], resources: [...targets.eventBusArns] }));
    const stack = Stack.of(this);
    const dispatcherArn = `<${stack.getLogicalId(dispatcher.node.defaultChild as CfnResource)}.Arn>`;
    for (const name of ["publish", "sweeper"] as const) {
      acknowledgeAwsSolutions(
        this.functions[name].role,
        `AwsSolutions-IAM5[Resource::${dispatcherArn}:*]`,
        "Function.grantInvoke also allows <dispatcher ARN>:* so that the function's versions and aliases can be invoked; it still names the one dispatcher function.",
      );
    }
    acknowledgeAwsSolutions(
      role,
      "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]",
      "The dispatcher starts its successor, an invoke of itself; its own ARN cannot be named in its own policy (a cycle), so the grant is every function of this account and region carrying the tag delayq:role = push-dispatcher, which only this function has.",
    );
    for (const functionArn of targets.functionArns ?? []) {
      const resolved = stack.resolve(functionArn) as unknown;
      const shown = typeof resolved === "string" ? resolved : `<${(resolved as { "Fn::GetAtt"?: string[] })["Fn::GetAtt"]?.[0] ?? "?"}.Arn>`;
      acknowledgeAwsSolutions(
        role,
        `AwsSolutions-IAM5[Resource::${shown}:*]`,
        "A push target function is granted with its versions and aliases (<arn>:*), so a push group may name a qualified ARN; it still names only the functions the pushTargets prop lists.",
      );
    }
    const logGroup = this.functions.dispatcher.logGroup;
    const metric = (name: string, event: string) => {
      new MetricFilter(this, `${name}Filter`, {
        logGroup,
        metricNamespace: "delayq",
        metricName: name,
        filterPattern: FilterPattern.stringValue("$.event", "=", event),
        metricValue: "1",
        defaultValue: 0,
      });
      return new Metric({ namespace: "delayq", metricName: name, period: Duration.minutes(5), statistic: "Sum" });
    };
    this.pushAlarms = [
      new Alarm(this, "PushFailuresAlarm", {
        alarmDescription: "Pushes failed (target answered non-2xx, timed out, or refused): they are retried with the group's backoff.",
        metric: metric("PushFailures", "push-failed"),
        threshold: 10,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      new Alarm(this, "PushDeadLettersAlarm", {
        alarmDescription: "Pushes exhausted maxReceiveCount and went to their group's dead letters (redrive them when the target is fixed).",
        metric: metric("PushDeadLetters", "push-dead-lettered"),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    ];
  }

  private createApi(
    props: DelayQueueProps,
    logRetention: RetentionDays,
    removalPolicy: RemovalPolicy,
  ): { api: HttpApi; stage: HttpStage; accessLogGroup: LogGroup } {
    const api = new HttpApi(this, "Api", {
      description: "delayq: delayed and scheduled messages",
      createDefaultStage: false,
    });
    const accessLogGroup = new LogGroup(this, "ApiAccessLogs", {
      retention: logRetention,
      removalPolicy,
    });
    const stage = new HttpStage(this, "ApiStage", {
      httpApi: api,
      stageName: "$default",
      autoDeploy: true,
      throttle: { ...DELAY_QUEUE_DEFAULTS.throttling, ...props.throttling },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogGroup),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: "$context.requestId",
            ip: "$context.identity.sourceIp",
            caller: "$context.identity.userArn",
            requestTime: "$context.requestTimeEpoch",
            routeKey: "$context.routeKey",
            status: "$context.status",
            protocol: "$context.protocol",
            responseLength: "$context.responseLength",
            latencyMs: "$context.responseLatency",
            integrationLatencyMs: "$context.integrationLatency",
            integrationError: "$context.integrationErrorMessage",
          }),
        ),
      },
    });

    const v1Authorizer: IHttpRouteAuthorizer =
      (props.authMode ?? DELAY_QUEUE_DEFAULTS.authMode) === AuthMode.Iam
        ? new HttpIamAuthorizer()
        : new HttpNoneAuthorizer();
    const openAuthorizer = new HttpNoneAuthorizer();
    const integrations = new Map<HandlerName, HttpLambdaIntegration>();
    const routeSettings: Record<string, { ThrottlingRateLimit: number; ThrottlingBurstLimit?: number }> = {};
    for (const route of ROUTES) {
      let integration = integrations.get(route.handler);
      if (!integration) {
        integration = new HttpLambdaIntegration(
          `${pascal(route.handler)}Integration`,
          this.functions[route.handler].function,
        );
        integrations.set(route.handler, integration);
      }
      const authorizer = route.auth === "v1" ? v1Authorizer : openAuthorizer;
      const [httpRoute] = api.addRoutes({
        path: route.path,
        methods: [route.method],
        integration,
        authorizer,
      });
      if (httpRoute && authorizer instanceof HttpNoneAuthorizer) {
        acknowledgeAwsSolutions(httpRoute, "AwsSolutions-APIG4", OPEN_ROUTE_REASON[route.auth]);
      }
      const limits = { ...DELAY_QUEUE_DEFAULTS.routeThrottling[route.handler as keyof typeof DELAY_QUEUE_DEFAULTS.routeThrottling], ...props.routeThrottling?.[route.handler] };
      if (httpRoute && limits.rateLimit !== undefined) {
        routeSettings[`${route.method} ${route.path}`] = { ThrottlingRateLimit: limits.rateLimit, ThrottlingBurstLimit: limits.burstLimit };
        stage.node.addDependency(httpRoute);
      }
    }
    (stage.node.defaultChild as CfnStage).routeSettings = routeSettings;
    return { api, stage, accessLogGroup };
  }

  private createSweeperSchedule(): {
    schedule: Schedule;
    role: Role;
    deadLetterQueue: Queue;
  } {
    const deadLetterQueue = this.createFailureQueue(
      "SweeperScheduleDlq",
      "it is itself a dead-letter queue: it holds the sweeper invocations EventBridge Scheduler gave up on, and an alarm watches its depth.",
    );
    // The role EventBridge Scheduler assumes; only schedules of this account may use it.
    const role = new Role(this, "SweeperScheduleRole", {
      assumedBy: new ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
      }),
      description: "EventBridge Scheduler: invoke the delayq sweeper and dead-letter failed invocations",
    });
    const sweeper = this.functions.sweeper.function;
    const target = new LambdaInvoke(sweeper, {
      role,
      deadLetterQueue,
      // A sweep is only useful close to its minute; the next runs take over the backlog.
      maxEventAge: Duration.minutes(5),
      retryAttempts: 2,
    });
    const schedule = new Schedule(this, "SweeperSchedule", {
      description: "delayq: release due messages when no consumer is polling",
      schedule: ScheduleExpression.rate(Duration.minutes(1)),
      target,
    });
    acknowledgeAwsSolutions(
      role,
      `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(sweeper.node.defaultChild as CfnResource)}.Arn>:*]`,
      "Function.grantInvoke also allows <sweeper ARN>:* so that the function's versions and aliases can be invoked; it still names the one sweeper function.",
    );
    return { schedule, role, deadLetterQueue };
  }

  /**
   * Alarms (no actions: wire them to your SNS topic). Metrics that exist only while something happens
   * (throttles) are summed with FILL(…, 0), so that one of them alone breaches: a plain `a + b` is missing,
   * never breaching, at every period where any term has no data.
   */
  private createAlarms(): Alarm[] {
    const period = Duration.minutes(5);
    const atLeastOnce = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    } as const;
    /** The sum of sparse metrics: each missing value counts as 0. */
    const sumOfSparse = (label: string, metrics: Record<string, IMetric>) =>
      new MathExpression({ label, expression: SUM_OF_SPARSE_METRICS, usingMetrics: metrics, period });

    const sweeperErrors = new Alarm(this, "SweeperErrorsAlarm", {
      alarmDescription: "The sweeper failed: messages due with nobody polling may be late.",
      metric: this.functions.sweeper.function.metricErrors({ period, statistic: "Sum" }),
      ...atLeastOnce,
    });

    const throttleMetric = (metricName: string, index?: string): Metric =>
      new Metric({
        namespace: "AWS/DynamoDB",
        metricName,
        dimensionsMap: index
          ? { TableName: this.table.tableName, GlobalSecondaryIndexName: index }
          : { TableName: this.table.tableName },
        statistic: "Sum",
        period,
      });
    const dynamoThrottles = new Alarm(this, "DynamoThrottlesAlarm", {
      alarmDescription:
        "DynamoDB throttled reads or writes on the table or its due index (a hot lane: raise the shard count).",
      metric: sumOfSparse("Throttle events", {
        tableReads: throttleMetric("ReadThrottleEvents"),
        tableWrites: throttleMetric("WriteThrottleEvents"),
        indexReads: throttleMetric("ReadThrottleEvents", TABLE_SCHEMA.dueIndex.name),
        indexWrites: throttleMetric("WriteThrottleEvents", TABLE_SCHEMA.dueIndex.name),
      }),
      ...atLeastOnce,
    });

    const functionThrottles = new Alarm(this, "FunctionThrottlesAlarm", {
      alarmDescription:
        "Lambda throttled a delayq function: the account's concurrency, or a function's reserved concurrency, is used up (README: Operations).",
      metric: sumOfSparse(
        "Throttled invocations",
        Object.fromEntries(
          (Object.keys(this.functions) as HandlerName[]).map((name) => [
            `${name}Throttles`,
            this.functions[name].function.metricThrottles({ period, statistic: "Sum" }),
          ]),
        ),
      ),
      ...atLeastOnce,
    });

    const queueDepth = (id: string, queue: Queue, alarmDescription: string) =>
      new Alarm(this, id, {
        alarmDescription,
        metric: queue.metricApproximateNumberOfMessagesVisible({ period, statistic: "Maximum" }),
        ...atLeastOnce,
      });
    const deadLetters = queueDepth(
      "SweeperScheduleDlqAlarm",
      this.schedulerDeadLetterQueue,
      "EventBridge Scheduler gave up invoking the sweeper (see the dead-letter queue).",
    );
    const asyncFailures = queueDepth(
      "AsyncFailureQueueAlarm",
      this.asyncFailureQueue,
      "Lambda gave up an asynchronous invocation (a sweep, or a schedule firing: replay it from the failure queue, README: Operations).",
    );
    const scheduleDeadLetters = queueDepth(
      "ScheduleDlqAlarm",
      this.scheduleDeadLetterQueue,
      "EventBridge Scheduler could not hand a recurring schedule's firing to the publish function (see the schedules' dead-letter queue).",
    );
    return [sweeperErrors, dynamoThrottles, functionThrottles, deadLetters, asyncFailures, scheduleDeadLetters];
  }
}

/** Metric math summing every metric of the alarm, a missing value counting as 0. */
export const SUM_OF_SPARSE_METRICS = "SUM(FILL(METRICS(), 0))";

/** A function's reserved concurrency from the props; an integer ≥ 1 or nothing. */
function reservedConcurrency(reserved: DelayQueueProps["reservedConcurrency"], name: HandlerName): number | undefined {
  const value = reserved?.[name];
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`reservedConcurrency.${name} must be an integer of at least 1 (got ${value}); leave it out to reserve none`);
  }
  return value;
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

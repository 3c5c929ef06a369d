import { App, RemovalPolicy, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import { afterAll, describe, expect, it } from "vitest";
import { ENV } from "../../core/config.js";
import { CONTEXT_KEYS, propsFromContext } from "../../infra/context.js";
import { AuthMode, DelayQueue } from "../../infra/delay-queue.js";
import { synthesize } from "./synth.js";

// These synthesize without bundling: they look at configuration, not at the bundles.

describe("propsFromContext", () => {
  const read = (context: Record<string, unknown>) => propsFromContext(new App({ context }).node);

  it("keeps the construct's defaults when no key is set", () => {
    expect(read({})).toEqual({});
  });

  it("reads numbers given as strings (-c key=value) or as JSON numbers (cdk.json)", () => {
    // Act
    const props = read({
      [CONTEXT_KEYS.shards]: "8",
      [CONTEXT_KEYS.defaultVisibilitySeconds]: 60,
      [CONTEXT_KEYS.maxDelayMs]: "86400000",
      [CONTEXT_KEYS.overMaxDelay]: "reject",
      [CONTEXT_KEYS.retentionMs]: 3_600_000,
      [CONTEXT_KEYS.logRetentionDays]: "7",
      [CONTEXT_KEYS.removalPolicy]: "destroy",
      [CONTEXT_KEYS.authMode]: "none",
      [CONTEXT_KEYS.throttleRateLimit]: "50",
      [CONTEXT_KEYS.publishReservedConcurrency]: "20",
      [CONTEXT_KEYS.consumeReservedConcurrency]: 200,
    });
    // Assess
    expect(props).toEqual({
      shards: 8,
      defaultVisibilitySeconds: 60,
      maxDelayMs: 86_400_000,
      overMaxDelay: "reject",
      retentionMs: 3_600_000,
      logRetention: RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
      authMode: AuthMode.None,
      throttling: { rateLimit: 50 },
      reservedConcurrency: { publish: 20, consume: 200 },
    });
  });

  it("reads push shards and push target ARNs, comma-separated (-c) or as JSON arrays (cdk.json)", () => {
    // Act
    const props = read({
      [CONTEXT_KEYS.pushShards]: "2",
      [CONTEXT_KEYS.pushFunctionArns]: "arn:aws:lambda:eu-west-1:123456789012:function:orders, arn:aws:lambda:eu-west-1:123456789012:function:billing",
      [CONTEXT_KEYS.pushQueueArns]: ["arn:aws:sqs:eu-west-1:123456789012:jobs.fifo"],
    });
    // Assess
    expect(props).toEqual({
      pushShards: 2,
      pushTargets: {
        functionArns: ["arn:aws:lambda:eu-west-1:123456789012:function:orders", "arn:aws:lambda:eu-west-1:123456789012:function:billing"],
        queueArns: ["arn:aws:sqs:eu-west-1:123456789012:jobs.fifo"],
      },
    });
  });

  it.each([
    [CONTEXT_KEYS.pushShards, "many"],
    [CONTEXT_KEYS.pushFunctionArns, "arn:aws:sqs:eu-west-1:123456789012:jobs"],
    [CONTEXT_KEYS.pushEventBusArns, [42]],
    [CONTEXT_KEYS.shards, "two"],
    [CONTEXT_KEYS.shards, -1],
    [CONTEXT_KEYS.authMode, "cognito"],
    [CONTEXT_KEYS.overMaxDelay, "later"],
    [CONTEXT_KEYS.removalPolicy, "keep"],
    [CONTEXT_KEYS.logRetentionDays, "2"],
    [CONTEXT_KEYS.ackReservedConcurrency, "ten"],
  ])("rejects %s = %j, naming the key", (key, value) => {
    expect(() => read({ [key]: value })).toThrow(key);
  });
});

describe("DelayQueue props", () => {
  const { template, stack, cleanup } = synthesize({
    queue: {
      shards: 8,
      defaultVisibilitySeconds: 60,
      maxDelayMs: 86_400_000,
      overMaxDelay: "reject",
      retentionMs: 3_600_000,
      logRetention: RetentionDays.ONE_WEEK,
      removalPolicy: RemovalPolicy.DESTROY,
      authMode: AuthMode.None,
      throttling: { rateLimit: 50 },
      reservedConcurrency: { publish: 20, ack: 10, consume: 200 },
    },
  });
  afterAll(cleanup);

  it("map onto the handlers' configuration variables", () => {
    const functions = Object.values(template.findResources("AWS::Lambda::Function"));
    expect(functions).toHaveLength(5);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables).toMatchObject({
        [ENV.shards]: "8",
        [ENV.defaultVisibilitySeconds]: "60",
        [ENV.maxDelayMs]: "86400000",
        [ENV.overMaxDelay]: "reject",
        [ENV.retentionMs]: "3600000",
      });
    }
  });

  it("reserve concurrency for the functions named, and none for the others", () => {
    const reserved = (name: "publish" | "consume" | "ack" | "sweeper") =>
      template.toJSON().Resources[stack.getLogicalId(stack.queue.functions[name].function.node.defaultChild as never)].Properties
        .ReservedConcurrentExecutions;
    expect([reserved("publish"), reserved("ack"), reserved("consume"), reserved("sweeper")]).toEqual([20, 10, 200, undefined]);
  });

  it.each([0, 1.5, -3])("refuse a reserved concurrency of %s, naming the prop", (value) => {
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    expect(() => new DelayQueue(new Stack(app, "Bad"), "Q", { reservedConcurrency: { consume: value } })).toThrow(/reservedConcurrency\.consume must be an integer of at least 1/);
  });

  it("authMode none opens the /v1 routes", () => {
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route"));
    expect(routes.map((r) => r.Properties.AuthorizationType)).toEqual(routes.map(() => "NONE"));
  });

  it("a partial throttling prop keeps the other limit's default", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 200 },
    });
  });

  it("removal policy DESTROY deletes the table, secret and logs, and lifts deletion protection", () => {
    template.hasResource("AWS::DynamoDB::Table", {
      DeletionPolicy: "Delete",
      Properties: { DeletionProtectionEnabled: false },
    });
    template.hasResource("AWS::SecretsManager::Secret", { DeletionPolicy: "Delete" });
    template.allResources("AWS::Logs::LogGroup", { DeletionPolicy: "Delete", Properties: { RetentionInDays: 7 } });
    expect(stack.queue.alarms).toHaveLength(6);
  });
});

describe("embedding", () => {
  it("takes a few lines in another app's stack", () => {
    // Prepare
    const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
    const stack = new Stack(app, "Theirs");
    // Act
    const queue = new DelayQueue(stack, "Jobs", { shards: 4 });
    // Assess
    const template = Template.fromStack(stack);
    template.resourceCountIs("AWS::Lambda::Function", 5);
    template.resourceCountIs("AWS::DynamoDB::Table", 1);
    expect(queue.url).toContain("execute-api");
  });
});

describe("the AMQP door from context", () => {
  const read = (context: Record<string, unknown>) => propsFromContext(new App({ context }).node);
  const cert = "arn:aws:acm:eu-west-1:123456789012:certificate/abc";

  it("is off unless delayq:amqpCertificateArn is set", () => {
    expect(read({}).amqp).toBeUndefined();
  });

  it("reads the certificate, the secret, plaintext, count and size", () => {
    expect(
      read({
        [CONTEXT_KEYS.amqpCertificateArn]: cert,
        [CONTEXT_KEYS.amqpCredentialsSecretArn]: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:amqp-AbCdEf",
        [CONTEXT_KEYS.amqpAllowPlaintext]: "true",
        [CONTEXT_KEYS.amqpDesiredCount]: "2",
        [CONTEXT_KEYS.amqpCpu]: 512,
        [CONTEXT_KEYS.amqpMemoryMiB]: "1024",
      }).amqp,
    ).toEqual({
      certificate: cert,
      credentials: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:amqp-AbCdEf",
      allowPlaintext: true,
      desiredCount: 2,
      cpu: 512,
      memoryMiB: 1024,
    });
  });

  it.each([
    [{ [CONTEXT_KEYS.amqpDesiredCount]: "2" }, /need delayq:amqpCertificateArn/],
    [{ [CONTEXT_KEYS.amqpCertificateArn]: "not-an-arn" }, /ACM certificate ARN/],
    [{ [CONTEXT_KEYS.amqpCertificateArn]: cert, [CONTEXT_KEYS.amqpAllowPlaintext]: "yes" }, /true or false/],
    [{ [CONTEXT_KEYS.amqpCertificateArn]: cert, [CONTEXT_KEYS.amqpCredentialsSecretArn]: "name" }, /secret ARN/],
  ])("refuses %j", (context, message) => {
    expect(() => read(context)).toThrow(message);
  });

  it("deploys the door with an imported secret given by ARN", () => {
    const secretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:amqp-AbCdEf";
    const synthesized = synthesize({ queue: read({ [CONTEXT_KEYS.amqpCertificateArn]: cert, [CONTEXT_KEYS.amqpCredentialsSecretArn]: secretArn }) });
    const { template } = synthesized;
    synthesized.cleanup();
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: 5671, Certificates: [{ CertificateArn: cert }] });
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: "Door", Secrets: [{ Name: "AMQP_CREDENTIALS", ValueFrom: secretArn }] })]),
    });
  });
});

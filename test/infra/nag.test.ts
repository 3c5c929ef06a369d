import { type App, Validations } from "aws-cdk-lib";
import { HttpMethod } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { AwsSolutionsChecks } from "cdk-nag";
import { afterAll, describe, expect, it } from "vitest";
import { AuthMode, ROUTES } from "../../infra/delay-queue.js";
import { type Synthesized, synthesize } from "./synth.js";

/** Every acknowledged rule in the app: construct path → rule id → reason. */
function acknowledgments(app: App): Map<string, Record<string, string>> {
  const found = new Map<string, Record<string, string>>();
  for (const construct of app.node.findAll()) {
    for (const entry of construct.node.metadata) {
      if (entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY) {
        found.set(construct.node.path, {
          ...found.get(construct.node.path),
          ...(entry.data as Record<string, string>),
        });
      }
    }
  }
  return found;
}

const PUSH_FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:on-due";

const variants = {
  "IAM-authorized API (default)": {},
  "open sandbox API (authMode none)": { authMode: AuthMode.None },
  "AMQP door (amqp prop)": { amqp: { certificate: "arn:aws:acm:eu-west-1:123456789012:certificate/0b7a6f0e-1111-2222-3333-444455556666" } },
  "push targets (pushTargets prop)": {
    pushTargets: {
      functionArns: [PUSH_FUNCTION_ARN],
      queueArns: ["arn:aws:sqs:eu-west-1:123456789012:due-jobs"],
      eventBusArns: ["arn:aws:events:eu-west-1:123456789012:event-bus/orders"],
    },
  },
} as const;

/** Acknowledged only where push target functions are listed: each is granted with its versions and aliases. */
const PUSH_ACKNOWLEDGED = [`AwsSolutions-IAM5[Resource::${PUSH_FUNCTION_ARN}:*]`];

/** Findings acknowledged only where the AMQP door is deployed, each with its reason in infra/amqp-door.ts. */
const AMQP_ACKNOWLEDGED = [
  "AwsSolutions-EC23", // the load balancer admits AMQPS from anywhere (narrow with amqp.allowFrom)
  "AwsSolutions-ECS2", // non-secret queue settings as environment; the credentials come through secrets
  "AwsSolutions-ECS4", // no Container Insights for one small service
  "AwsSolutions-ELB2", // no access-log bucket
  "AwsSolutions-VPC7", // the door's own VPC without flow logs
  "CloudFormation-Validate::W3010", // aws-cdk-lib's own: the VPC reads stack.availabilityZones
];

describe.each(Object.entries(variants))("cdk-nag AwsSolutions on the stack with %s", (_label, queue) => {
  // Prepare + Act: the pack runs as a policy-validation plugin during synthesis, which throws on any
  // unacknowledged finding; it is also run directly to read its report.
  const synthesized: Synthesized = synthesize({
    queue,
    plugins: [new AwsSolutionsChecks()],
  });
  afterAll(() => synthesized.cleanup());

  it("reports zero unacknowledged findings, errors or warnings", () => {
    const report = new AwsSolutionsChecks().validateScope(synthesized.app);
    expect(report.violations).toEqual([]);
    expect(report.success).toBe(true);
  });

  it("acknowledges only known findings, each with a reason", () => {
    const rules = new Set<string>();
    for (const byRule of acknowledgments(synthesized.app).values()) {
      for (const [rule, reason] of Object.entries(byRule)) {
        rules.add(
          rule
            .replace(/^Annotation::/, "")
            .replace(/\[Resource::<\w+\.Arn>:\*\]$/, "[Resource::<function>.Arn:*]")
            .replace(/:schedule\/[^/]+\/\*\]$/, ":schedule/<group>/*]"),
        );
        expect(reason.length, rule).toBeGreaterThan(40);
      }
    }
    expect([...rules].sort()).toEqual([
      ...("amqp" in queue ? AMQP_ACKNOWLEDGED : []),
      ...("pushTargets" in queue ? PUSH_ACKNOWLEDGED : []),
      "AwsSolutions-APIG4", // open routes: /healthz, the RocketMQ door (signed), /v1 in a sandbox
      "AwsSolutions-IAM5[Resource::*]", // scheduler:ListSchedules has no resource-level permission
      "AwsSolutions-IAM5[Resource::<function>.Arn:*]", // grantInvoke's versions/aliases of one function (sweeper, publish, dispatcher)
      "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:function:*]", // the dispatcher's successor, by tag
      "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/<group>/*]", // users' schedules in our group
      "AwsSolutions-L1", // Node.js 22 pinned
      "AwsSolutions-SMG4", // static RocketMQ access key, rotated by hand
      "AwsSolutions-SQS3", // the dead-letter queue itself
    ].sort());
  });

  it("leaves an API route open only where a reason says why", () => {
    const acknowledged = acknowledgments(synthesized.app);
    const openRoutes = Object.entries(synthesized.template.findResources("AWS::ApiGatewayV2::Route"))
      .filter(([, route]) => route.Properties.AuthorizationType === "NONE")
      .map(([logicalId]) =>
        synthesized.stack.node
          .findAll()
          .find(
            (c) => c.node.defaultChild && synthesized.stack.getLogicalId(c.node.defaultChild as never) === logicalId,
          ),
      );
    expect(openRoutes.length).toBe("authMode" in queue ? ROUTES.length : ROUTES.filter((r) => r.auth === "open").length);
    for (const route of openRoutes) {
      expect(acknowledged.get(route?.node.path ?? "?")?.["Annotation::AwsSolutions-APIG4"]).toBeTruthy();
    }
  });
});

describe("cdk-nag AwsSolutions, checked against a change that should fail", () => {
  it("reports a route added without an authorizer or a reason", () => {
    // Prepare
    const { app, stack, cleanup } = synthesize();
    const integration = new HttpLambdaIntegration("Extra", stack.queue.functions.publish.function);
    stack.queue.api.addRoutes({ path: "/extra", methods: [HttpMethod.GET], integration });
    // Act
    const report = new AwsSolutionsChecks().validateScope(app);
    cleanup();
    // Assess
    expect(report.violations.map((v) => [v.ruleName, v.violatingResources.map((r) => r.constructPath)])).toEqual([
      ["AwsSolutions-APIG4", ["DelayQueue/Queue/Api/GET--extra/Resource"]],
    ]);
  });
});

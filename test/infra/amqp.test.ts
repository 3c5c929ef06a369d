import { App, Stack } from "aws-cdk-lib";
import { Match } from "aws-cdk-lib/assertions";
import { Certificate } from "aws-cdk-lib/aws-certificatemanager";
import { Secret } from "aws-cdk-lib/aws-secretsmanager";
import type { IConstruct } from "constructs";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULTS, ENV } from "../../core/config.js";
import { AMQP_DOOR_IMAGES } from "../../infra/amqp-door.js";
import { TABLE_SCHEMA } from "../../lambda/dynamo/schema.js";
import { synthesize } from "./synth.js";

type Json = Record<string, any>;
const CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/0b7a6f0e-1111-2222-3333-444455556666";

const id = (construct: IConstruct): string => Stack.of(construct).getLogicalId((construct.node.defaultChild ?? construct) as never);
const ref = (construct: IConstruct) => ({ Ref: id(construct) });
const arn = (construct: IConstruct) => ({ "Fn::GetAtt": [id(construct), "Arn"] });

describe("the AMQP door is off by default", () => {
  const synthesized = synthesize();
  afterAll(() => synthesized.cleanup());

  it("has no ECS, load balancer, VPC or door secret, and no AMQP outputs", () => {
    const types = Object.values(synthesized.template.toJSON().Resources as Record<string, Json>).map((r) => r.Type as string);
    expect(types.filter((t) => /^AWS::(ECS|ElasticLoadBalancingV2|EC2)::/.test(t))).toEqual([]);
    synthesized.template.resourceCountIs("AWS::SecretsManager::Secret", 1);
    expect(Object.keys(synthesized.template.toJSON().Outputs)).not.toContain("AmqpEndpoint");
    expect(synthesized.stack.queue.amqp).toBeUndefined();
  });
});

describe("the AMQP door with the amqp prop (defaults)", () => {
  const synthesized = synthesize({ queue: { amqp: { certificate: CERT } } });
  afterAll(() => synthesized.cleanup());
  const { template, stack } = synthesized;
  const door = stack.queue.amqp!;
  const resources = () => template.toJSON().Resources as Record<string, Json>;
  const containers = (): Json[] => resources()[id(door.taskDefinition)]!.Properties.ContainerDefinitions;
  const container = (name: string) => containers().find((c) => c.Name === name)!;
  const statementsOf = (roleId: string): Json[] =>
    Object.values(resources())
      .filter((r) => r.Type === "AWS::IAM::Policy" && JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`))
      .flatMap((r) => r.Properties.PolicyDocument.Statement)
      .map((s) => ({ ...s, Action: [s.Action].flat().sort() }));

  it("listens on 5671 with TLS and the given certificate, forwarding to the tasks on 5672; no plain listener", () => {
    template.resourceCountIs("AWS::ElasticLoadBalancingV2::Listener", 1);
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
      Port: 5671,
      Protocol: "TLS",
      Certificates: [{ CertificateArn: CERT }],
      SslPolicy: Match.stringLikeRegexp("^ELBSecurityPolicy-TLS13-"),
      DefaultActions: [{ Type: "forward", TargetGroupArn: ref(door.targetGroup) }],
      LoadBalancerArn: ref(door.loadBalancer),
    });
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::LoadBalancer", { Type: "network", Scheme: "internet-facing" });
  });

  it("health-checks the tasks with a TCP connect on the traffic port (which the door tolerates)", () => {
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
      Port: 5672,
      Protocol: "TCP",
      TargetType: "ip",
      HealthCheckProtocol: "TCP",
      HealthCheckPort: "traffic-port",
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
      TargetGroupAttributes: Match.arrayWith([{ Key: "deregistration_delay.timeout_seconds", Value: "10" }]),
    });
    template.hasResourceProperties("AWS::ECS::Service", {
      LoadBalancers: [{ ContainerName: "Door", ContainerPort: 5672, TargetGroupArn: ref(door.targetGroup) }],
    });
  });

  it("runs one Fargate task of 0.25 vCPU and 512 MiB on ARM64, in public subnets with a public IP", () => {
    const task = resources()[id(door.taskDefinition)]!.Properties;
    expect(task).toMatchObject({
      Cpu: "256",
      Memory: "512",
      RequiresCompatibilities: ["FARGATE"],
      RuntimePlatform: { CpuArchitecture: "ARM64", OperatingSystemFamily: "LINUX" },
      Volumes: [{ Name: "bundle" }],
    });
    template.hasResourceProperties("AWS::ECS::Service", {
      DesiredCount: 1,
      LaunchType: "FARGATE",
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: "ENABLED" }) },
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true }, MinimumHealthyPercent: 100 }),
    });
    template.resourceCountIs("AWS::EC2::NatGateway", 0);
  });

  it("injects the generated secret as AMQP_CREDENTIALS through the task's secrets, never as plain environment", () => {
    const secret = door.credentials as Secret;
    expect(container("Door").Secrets).toEqual([{ Name: "AMQP_CREDENTIALS", ValueFrom: ref(secret) }]);
    expect(container("Door").Environment.map((e: Json) => e.Name)).not.toContain("AMQP_CREDENTIALS");
    template.hasResourceProperties("AWS::SecretsManager::Secret", {
      GenerateSecretString: { SecretStringTemplate: JSON.stringify({ username: "delayq" }), GenerateStringKey: "password", ExcludePunctuation: true, PasswordLength: 32 },
    });
    // Only the execution role (which injects it) may read the secret; the task's own role may not.
    const execution = statementsOf(id(door.taskDefinition.executionRole!));
    expect(execution).toContainEqual({ Action: ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"], Effect: "Allow", Resource: ref(secret) });
    expect(JSON.stringify(statementsOf(id(door.taskDefinition.taskRole)))).not.toContain("secretsmanager");
  });

  it("gives the door the queue's settings, the same the functions get", () => {
    const env = Object.fromEntries(container("Door").Environment.map((e: Json) => [e.Name, e.Value]));
    expect(env).toEqual({
      [ENV.tableName]: ref(stack.queue.table),
      [ENV.shards]: String(DEFAULTS.shards),
      [ENV.defaultVisibilitySeconds]: String(DEFAULTS.defaultVisibilitySeconds),
      [ENV.maxDelayMs]: String(DEFAULTS.maxDelayMs),
      [ENV.retentionMs]: String(DEFAULTS.retentionMs),
      [ENV.maxWaitMs]: String(DEFAULTS.maxWaitMs),
      POWERTOOLS_SERVICE_NAME: "delayq",
      METRICS_NAMESPACE: "delayq",
      [ENV.pushShards]: String(DEFAULTS.pushShards),
      PUSH_TARGET_POLICY: "aws",
      AMQP_HOST: "0.0.0.0",
      AMQP_PORT: "5672",
      SHUTDOWN_GRACE_MS: "20000",
      AWS_REGION: { Ref: "AWS::Region" },
    });
  });

  it("the task role may call exactly the door's DynamoDB actions on the table and its index, and read the bundle object", () => {
    expect(statementsOf(id(door.taskDefinition.taskRole))).toEqual([
      {
        Action: ["s3:GetObject"],
        Effect: "Allow",
        Resource: {
          "Fn::Join": [
            "",
            ["arn:", { Ref: "AWS::Partition" }, ":s3:::", stack.resolve(door.bundle.s3BucketName), `/${door.bundle.s3ObjectKey}`],
          ],
        },
      },
      {
        Action: [
          "dynamodb:BatchGetItem",
          "dynamodb:BatchWriteItem",
          "dynamodb:DeleteItem",
          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:Query",
          "dynamodb:UpdateItem",
        ],
        Effect: "Allow",
        Resource: arn(stack.queue.table),
      },
      {
        Action: ["dynamodb:Query"],
        Effect: "Allow",
        Resource: { "Fn::Join": ["", [arn(stack.queue.table), `/index/${TABLE_SCHEMA.dueIndex.name}`]] },
      },
    ]);
  });

  it("runs the public Node.js image on the bundle an init container copies from S3 (no image is built)", () => {
    const fetch = container("FetchBundle");
    expect(fetch).toMatchObject({
      Image: AMQP_DOOR_IMAGES.awsCli,
      Essential: false,
      Command: ["s3", "cp", stack.resolve(door.bundle.s3ObjectUrl), "/door/amqp-main.mjs", "--only-show-errors"],
      MountPoints: [{ ContainerPath: "/door", SourceVolume: "bundle", ReadOnly: false }],
    });
    expect(JSON.stringify(fetch)).not.toMatch(/X-Amz-|AccessKey|Signature/i);
    expect(container("Door")).toMatchObject({
      Image: AMQP_DOOR_IMAGES.node,
      Essential: true,
      User: "node",
      ReadonlyRootFilesystem: true,
      Command: ["node", "--enable-source-maps", "/door/amqp-main.mjs"],
      DependsOn: [{ ContainerName: "FetchBundle", Condition: "SUCCESS" }],
      MountPoints: [{ ContainerPath: "/door", SourceVolume: "bundle", ReadOnly: true }],
      PortMappings: [{ ContainerPort: 5672, Protocol: "tcp" }],
      StopTimeout: 30,
    });
    for (const image of Object.values(AMQP_DOOR_IMAGES)) expect(image).toMatch(/^public\.ecr\.aws\/.+:\d+\.\d+\.\d+/);
    expect(Object.values(resources()).filter((r) => r.Type === "AWS::ECR::Repository")).toEqual([]);
    expect(JSON.stringify(template.toJSON())).not.toContain("container-assets");
  });

  it("logs both containers to one log group with the stack's retention", () => {
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
    for (const name of ["Door", "FetchBundle"]) {
      expect(container(name).LogConfiguration).toMatchObject({ LogDriver: "awslogs", Options: { "awslogs-group": ref(door.logGroup) } });
    }
    expect(resources()[id(door.logGroup)]!.Properties.RetentionInDays).toBe(30);
  });

  it("admits clients on 5671 at the load balancer, and only the load balancer at the tasks", () => {
    const lb = resources()[id(door.loadBalancer)]!.Properties;
    const [lbGroup] = lb.SecurityGroups as Json[];
    const lbGroupId = lbGroup!["Fn::GetAtt"][0];
    expect(resources()[lbGroupId]!.Properties.SecurityGroupIngress).toEqual([
      { CidrIp: "0.0.0.0/0", Description: "AMQPS clients", FromPort: 5671, IpProtocol: "tcp", ToPort: 5671 },
    ]);
    template.hasResourceProperties("AWS::EC2::SecurityGroupIngress", {
      IpProtocol: "tcp",
      FromPort: 5672,
      ToPort: 5672,
      SourceSecurityGroupId: { "Fn::GetAtt": [lbGroupId, "GroupId"] },
    });
  });

  it("outputs the endpoint and the secret", () => {
    template.hasOutput("AmqpEndpoint", { Value: { "Fn::GetAtt": [id(door.loadBalancer), "DNSName"] } });
    template.hasOutput("AmqpCredentialsSecretArn", { Value: ref(door.credentials as Secret) });
  });
});

describe("the AMQP door's props", () => {
  it("take plain 5672 when allowed, and the task's size and count", () => {
    const synthesized = synthesize({
      queue: {
        amqp: {
          certificate: CERT,
          allowPlaintext: true,
          desiredCount: 2,
          cpu: 512,
          memoryMiB: 1024,
        },
      },
    });
    const { template } = synthesized;
    synthesized.cleanup();
    template.resourceCountIs("AWS::ElasticLoadBalancingV2::Listener", 2);
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: 5672, Protocol: "TCP" });
    template.hasResourceProperties("AWS::ECS::TaskDefinition", { Cpu: "512", Memory: "1024" });
    template.hasResourceProperties("AWS::ECS::Service", { DesiredCount: 2 });
  });

  it("use an ICertificate and an existing secret as given (no generated secret)", () => {
    // Prepare: imported resources are plain ARNs, whatever stack imports them.
    const imports = new Stack(new App(), "Imports");
    const certificate = Certificate.fromCertificateArn(imports, "Cert", CERT);
    const secretArn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:amqp-users-AbCdEf";
    const credentials = Secret.fromSecretCompleteArn(imports, "Users", secretArn);
    // Act
    const synthesized = synthesize({ queue: { amqp: { certificate, credentials } } });
    const { template } = synthesized;
    synthesized.cleanup();
    // Assess
    template.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", { Port: 5671, Certificates: [{ CertificateArn: CERT }] });
    template.hasResourceProperties("AWS::ECS::TaskDefinition", {
      ContainerDefinitions: Match.arrayWith([Match.objectLike({ Name: "Door", Secrets: [{ Name: "AMQP_CREDENTIALS", ValueFrom: secretArn }] })]),
    });
    template.resourceCountIs("AWS::SecretsManager::Secret", 1); // the RocketMQ door's only
  });

  it("refuse a desired count that is not a non-negative integer", () => {
    expect(() => synthesize({ queue: { amqp: { certificate: CERT, desiredCount: 1.5 } } })).toThrow(/desiredCount/);
  });
});

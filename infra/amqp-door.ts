import { join } from "node:path";
import { Aws, AssetHashType, BundlingOutput, DockerImage, Duration, type RemovalPolicy, Stack } from "aws-cdk-lib";
import { Certificate, type ICertificate } from "aws-cdk-lib/aws-certificatemanager";
import { type IPeer, type IVpc, Peer, Port, SecurityGroup, type SubnetSelection, SubnetType, Vpc } from "aws-cdk-lib/aws-ec2";
import {
  Cluster,
  ContainerDependencyCondition,
  ContainerImage,
  CpuArchitecture,
  Secret as EcsSecret,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  Protocol as EcsProtocol,
} from "aws-cdk-lib/aws-ecs";
import {
  ListenerCertificate,
  NetworkLoadBalancer,
  NetworkTargetGroup,
  Protocol,
  TargetType,
} from "aws-cdk-lib/aws-elasticloadbalancingv2";
import { PolicyStatement } from "aws-cdk-lib/aws-iam";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Asset } from "aws-cdk-lib/aws-s3-assets";
import { type ISecret, Secret } from "aws-cdk-lib/aws-secretsmanager";
import { Construct } from "constructs";
import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { AMQP_CREDENTIALS_ENV } from "../core/amqp/credentials.js";
import { acknowledgeAwsSolutions } from "./acknowledge.js";
import { AMQP_DOOR_BUNDLE_FILE, bundleAmqpDoorSync } from "./amqp-door-bundle.js";
import { AMQP_DOOR_ACCESS, iamActions } from "./handlers.js";
import { PROJECT_ROOT } from "./queue-function.js";

/** The container images the door runs on; pinned by tag, so an upgrade is a deliberate change. */
export const AMQP_DOOR_IMAGES = {
  /** Runs the bundle of local/amqp-main.ts (Debian slim, multi-architecture: arm64 included). */
  node: "public.ecr.aws/docker/library/node:22.12.0-bookworm-slim",
  /** The init container that copies the bundle from the CDK asset bucket with the task role. */
  awsCli: "public.ecr.aws/aws-cli/aws-cli:2.22.0",
} as const;

export const AMQP_PORTS = { tls: 5671, plain: 5672, container: 5672 } as const;

export interface AmqpDoorProps {
  /**
   * The TLS certificate the load balancer presents on 5671: an ACM certificate or its ARN (in the stack's
   * region). TLS ends at the load balancer; it forwards plain AMQP to the tasks inside the VPC.
   */
  readonly certificate: ICertificate | string;
  /** Also listen for plain AMQP on 5672 (credentials then cross the network in the clear). @default false */
  readonly allowPlaintext?: boolean;
  /**
   * The door's users: a secret (or its complete ARN) whose value is `user:password[,user:password…]` or
   * `{"username":"…","password":"…"}`, injected into the task as AMQP_CREDENTIALS.
   * @default a generated secret, `{"username":"delayq","password":<32 letters and digits>}`
   */
  readonly credentials?: ISecret | string;
  /** Tasks running the door. @default 1 */
  readonly desiredCount?: number;
  /** Task CPU units (256 = 0.25 vCPU). @default 256 */
  readonly cpu?: number;
  /** Task memory in MiB (a valid Fargate combination with `cpu`). @default 512 */
  readonly memoryMiB?: number;
  /**
   * The VPC of the load balancer and the tasks. @default a new VPC with two public subnets and no NAT
   * gateway: the tasks get public IPs (for the image pull, Secrets Manager, CloudWatch Logs and DynamoDB)
   * and accept connections from the load balancer only
   */
  readonly vpc?: IVpc;
  /** Subnets of the tasks in a VPC of your own (they need a route to the AWS APIs). @default private subnets with egress */
  readonly taskSubnets?: SubnetSelection;
  /** An internet-facing load balancer, or an internal one. @default true */
  readonly internetFacing?: boolean;
  /** Who may connect to the load balancer. @default any IPv4 address */
  readonly allowFrom?: readonly IPeer[];
}

export interface AmqpDoorContext {
  readonly table: Table;
  readonly dueIndexArn: string;
  /** The queue settings every function gets (TABLE_NAME, SHARDS, …): the door must use the same. */
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

export const AMQP_DOOR_DEFAULTS = { desiredCount: 1, cpu: 256, memoryMiB: 512, shutdownGraceMs: 20_000 } as const;

const BUNDLE_DIR = "/door";

/**
 * The AMQP 0-9-1 door on AWS: ECS Fargate tasks (ARM64) behind a Network Load Balancer with TLS on 5671.
 *
 * No image is built: the task runs the public Node.js image on a bundle of local/amqp-main.ts that the
 * local esbuild writes at synth time and CDK uploads as an S3 asset. An init container (the public AWS CLI
 * image) copies that one file into a task volume with the task role's credentials, and the door starts
 * once it has exited successfully.
 */
export class AmqpDoor extends Construct {
  readonly loadBalancer: NetworkLoadBalancer;
  readonly targetGroup: NetworkTargetGroup;
  readonly service: FargateService;
  readonly taskDefinition: FargateTaskDefinition;
  readonly credentials: ISecret;
  readonly logGroup: LogGroup;
  readonly bundle: Asset;
  readonly vpc: IVpc;

  constructor(scope: Construct, id: string, props: AmqpDoorProps, context: AmqpDoorContext) {
    super(scope, id);
    const stack = Stack.of(this);
    const desiredCount = props.desiredCount ?? AMQP_DOOR_DEFAULTS.desiredCount;
    if (!Number.isSafeInteger(desiredCount) || desiredCount < 0) throw new Error(`amqp.desiredCount must be a non-negative integer (got ${desiredCount})`);

    const ownVpc = props.vpc === undefined;
    this.vpc =
      props.vpc ??
      new Vpc(this, "Vpc", {
        maxAzs: 2,
        natGateways: 0,
        subnetConfiguration: [{ name: "Public", subnetType: SubnetType.PUBLIC, cidrMask: 24 }],
      });
    if (ownVpc) {
      acknowledgeAwsSolutions(
        this.vpc,
        "AwsSolutions-VPC7",
        "The VPC holds only the AMQP door's load balancer and tasks; its security groups admit the load balancer's listeners and nothing else, and flow logs would be a cost of their own. Pass `amqp.vpc` to run in a VPC with flow logs.",
      );
    }

    this.credentials =
      typeof props.credentials === "string"
        ? Secret.fromSecretCompleteArn(this, "ImportedCredentials", props.credentials)
        : props.credentials ??
      new Secret(this, "Credentials", {
        description: "User of delayq's AMQP door: {\"username\",\"password\"}, injected as AMQP_CREDENTIALS",
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ username: "delayq" }),
          generateStringKey: "password",
          excludePunctuation: true,
          passwordLength: 32,
        },
        removalPolicy: context.removalPolicy,
      });
    if (!props.credentials) {
      acknowledgeAwsSolutions(
        this.credentials,
        "AwsSolutions-SMG4",
        "The AMQP password is configured in every client; rotating it needs a coordinated client rollout, so it is rotated by hand (README: the AMQP door on AWS).",
      );
    }

    this.logGroup = new LogGroup(this, "Logs", { retention: context.logRetention, removalPolicy: context.removalPolicy });

    this.bundle = new Asset(this, "Bundle", {
      path: join(PROJECT_ROOT, "local"),
      assetHashType: AssetHashType.OUTPUT,
      bundling: {
        // Never pulled: local bundling always succeeds (it throws otherwise), so Docker is not needed.
        image: DockerImage.fromRegistry(AMQP_DOOR_IMAGES.node),
        outputType: BundlingOutput.SINGLE_FILE,
        local: {
          tryBundle(outputDir: string): boolean {
            bundleAmqpDoorSync(outputDir);
            return true;
          },
        },
      },
    });

    this.taskDefinition = new FargateTaskDefinition(this, "Task", {
      cpu: props.cpu ?? AMQP_DOOR_DEFAULTS.cpu,
      memoryLimitMiB: props.memoryMiB ?? AMQP_DOOR_DEFAULTS.memoryMiB,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
      volumes: [{ name: "bundle" }],
    });
    const taskRole = this.taskDefinition.taskRole;
    // The bundle object alone (not the whole asset bucket).
    taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:GetObject"],
        resources: [stack.formatArn({ service: "s3", region: "", account: "", resource: this.bundle.s3BucketName, resourceName: this.bundle.s3ObjectKey })],
      }),
    );
    const actions = iamActions(AMQP_DOOR_ACCESS);
    taskRole.addToPrincipalPolicy(new PolicyStatement({ actions: actions.table, resources: [context.table.tableArn] }));
    taskRole.addToPrincipalPolicy(new PolicyStatement({ actions: actions.dueIndex, resources: [context.dueIndexArn] }));

    const fetch = this.taskDefinition.addContainer("FetchBundle", {
      image: ContainerImage.fromRegistry(AMQP_DOOR_IMAGES.awsCli),
      essential: false,
      command: ["s3", "cp", this.bundle.s3ObjectUrl, `${BUNDLE_DIR}/${AMQP_DOOR_BUNDLE_FILE}`, "--only-show-errors"],
      environment: { AWS_REGION: Aws.REGION },
      logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: "fetch-bundle" }),
    });
    fetch.addMountPoints({ containerPath: BUNDLE_DIR, sourceVolume: "bundle", readOnly: false });

    const door = this.taskDefinition.addContainer("Door", {
      image: ContainerImage.fromRegistry(AMQP_DOOR_IMAGES.node),
      essential: true,
      user: "node",
      readonlyRootFilesystem: true,
      command: ["node", "--enable-source-maps", `${BUNDLE_DIR}/${AMQP_DOOR_BUNDLE_FILE}`],
      environment: {
        ...context.environment,
        AMQP_HOST: "0.0.0.0",
        AMQP_PORT: String(AMQP_PORTS.container),
        SHUTDOWN_GRACE_MS: String(AMQP_DOOR_DEFAULTS.shutdownGraceMs),
        AWS_REGION: Aws.REGION,
      },
      secrets: { [AMQP_CREDENTIALS_ENV]: EcsSecret.fromSecretsManager(this.credentials) },
      portMappings: [{ containerPort: AMQP_PORTS.container, protocol: EcsProtocol.TCP }],
      // SIGTERM closes every connection with 320 CONNECTION_FORCED within SHUTDOWN_GRACE_MS; then SIGKILL.
      stopTimeout: Duration.millis(AMQP_DOOR_DEFAULTS.shutdownGraceMs + 10_000),
      logging: LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: "door" }),
    });
    door.addMountPoints({ containerPath: BUNDLE_DIR, sourceVolume: "bundle", readOnly: true });
    door.addContainerDependencies({ container: fetch, condition: ContainerDependencyCondition.SUCCESS });
    acknowledgeAwsSolutions(
      this.taskDefinition,
      "AwsSolutions-ECS2",
      "The environment holds only the queue's settings (table name, shards, delays), the port and the region; the one secret, AMQP_CREDENTIALS, comes from Secrets Manager through the task definition's secrets.",
    );

    const cluster = new Cluster(this, "Cluster", { vpc: this.vpc });
    acknowledgeAwsSolutions(
      cluster,
      "AwsSolutions-ECS4",
      "Container Insights is a cost of its own for a cluster of one small service; the door logs to CloudWatch Logs and the load balancer's target health is in its metrics.",
    );

    const serviceSecurityGroup = new SecurityGroup(this, "ServiceSecurityGroup", {
      vpc: this.vpc,
      description: "delayq AMQP door tasks: AMQP from the load balancer only",
      allowAllOutbound: true,
    });
    this.service = new FargateService(this, "Service", {
      cluster,
      taskDefinition: this.taskDefinition,
      desiredCount,
      assignPublicIp: ownVpc,
      vpcSubnets: props.taskSubnets ?? { subnetType: ownVpc ? SubnetType.PUBLIC : SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [serviceSecurityGroup],
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });

    const lbSecurityGroup = new SecurityGroup(this, "LoadBalancerSecurityGroup", {
      vpc: this.vpc,
      description: "delayq AMQP door load balancer: AMQPS (and AMQP when allowed) from the allowed peers",
      allowAllOutbound: false,
    });
    this.loadBalancer = new NetworkLoadBalancer(this, "LoadBalancer", {
      vpc: this.vpc,
      internetFacing: props.internetFacing ?? true,
      crossZoneEnabled: true,
      securityGroups: [lbSecurityGroup],
    });
    acknowledgeAwsSolutions(
      this.loadBalancer,
      "AwsSolutions-ELB2",
      "Access logs need an S3 bucket of their own; the door logs every refused login and closed connection, and the load balancer's connection metrics are in CloudWatch.",
    );

    this.targetGroup = new NetworkTargetGroup(this, "Targets", {
      vpc: this.vpc,
      port: AMQP_PORTS.container,
      protocol: Protocol.TCP,
      targetType: TargetType.IP,
      // The door drains on SIGTERM (connection.close 320, clients reconnect); no need to wait long.
      deregistrationDelay: Duration.seconds(10),
      // A TCP connect and close: the door logs nothing for it and keeps no state (test/amqp/health-check.test.ts).
      healthCheck: {
        protocol: Protocol.TCP,
        port: "traffic-port",
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });
    this.targetGroup.addTarget(this.service.loadBalancerTarget({ containerName: door.containerName, containerPort: AMQP_PORTS.container }));
    this.service.connections.allowFrom(lbSecurityGroup, Port.tcp(AMQP_PORTS.container), "AMQP and health checks from the load balancer");

    const certificate =
      typeof props.certificate === "string" ? Certificate.fromCertificateArn(this, "Certificate", props.certificate) : props.certificate;
    this.loadBalancer.addListener("Amqps", {
      port: AMQP_PORTS.tls,
      protocol: Protocol.TLS,
      certificates: [ListenerCertificate.fromCertificateManager(certificate)],
      defaultTargetGroups: [this.targetGroup],
    });
    const ports: number[] = [AMQP_PORTS.tls];
    if (props.allowPlaintext) {
      this.loadBalancer.addListener("Amqp", { port: AMQP_PORTS.plain, protocol: Protocol.TCP, defaultTargetGroups: [this.targetGroup] });
      ports.push(AMQP_PORTS.plain);
    }
    const peers = props.allowFrom ?? [Peer.anyIpv4()];
    for (const peer of peers) {
      for (const port of ports) lbSecurityGroup.addIngressRule(peer, Port.tcp(port), port === AMQP_PORTS.tls ? "AMQPS clients" : "plain AMQP clients (allowPlaintext)");
    }
    if (peers.some((peer) => peer.uniqueId === Peer.anyIpv4().uniqueId || peer.uniqueId === Peer.anyIpv6().uniqueId)) {
      acknowledgeAwsSolutions(
        lbSecurityGroup,
        "AwsSolutions-EC23",
        "An AMQP endpoint for clients anywhere, as a hosted broker is: TLS on 5671 and the door's own login (403 ACCESS_REFUSED otherwise); narrow it with `amqp.allowFrom`.",
      );
    }
  }

  /** The load balancer's DNS name: clients connect to amqps://<user>:<password>@<this>:5671/. */
  get endpoint(): string {
    return this.loadBalancer.loadBalancerDnsName;
  }
}

import { fileURLToPath } from "node:url";
import type { Duration, RemovalPolicy } from "aws-cdk-lib";
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import { Architecture, LoggingFormat, Runtime } from "aws-cdk-lib/aws-lambda";
import { LogLevel, NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, type RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { acknowledgeAwsSolutions } from "./acknowledge.js";

/** The repository root: entries, the lockfile and tsconfig are resolved from here, not from the cwd. */
export const PROJECT_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Lets CommonJS dependencies inside the ESM bundle call `require` for Node built-ins. */
const ESM_REQUIRE_BANNER =
  "import { createRequire as __delayqCreateRequire } from 'node:module'; const require = __delayqCreateRequire(import.meta.url);";

export interface QueueFunctionProps {
  /** `lambda/<entry>.ts`, exporting `handler`. */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
  /** Executions reserved for this function, which is also its cap; none by default. */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * One queue handler with every Lambda default in one place: Node.js 22 on ARM64, an ESM bundle built by
 * the local esbuild (no Docker) with the AWS SDK v3 left to the runtime, source maps on, logs into
 * its own log group with retention, and its own role that can write to that log group only.
 */
export class QueueFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: QueueFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.logRetention,
      removalPolicy: props.removalPolicy,
    });

    // Instead of the AWSLambdaBasicExecutionRole managed policy (logs:* on every log group), the role may
    // write only to this function's log group.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Execution role of ${props.description}`,
      inlinePolicies: {
        Logs: new PolicyDocument({
          statements: [
            new PolicyStatement({
              actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
              resources: [this.logGroup.logGroupArn],
            }),
          ],
        }),
      },
    });
    this.function = new NodejsFunction(this, "Function", {
      entry: `${PROJECT_ROOT}lambda/${props.entry}.ts`,
      handler: "handler",
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      ...(props.reservedConcurrentExecutions !== undefined && { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      role: this.role,
      logGroup: this.logGroup,
      // JSON log lines (Powertools' own and EMF metrics pass through as they are; the runtime's are wrapped as JSON).
      loggingFormat: LoggingFormat.JSON,
      environment: { NODE_OPTIONS: "--enable-source-maps" },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        mainFields: ["module", "main"],
        banner: ESM_REQUIRE_BANNER,
        target: "node22",
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: ["@aws-sdk/*"],
        logLevel: LogLevel.WARNING,
      },
    });
    acknowledgeAwsSolutions(
      this.function,
      "AwsSolutions-L1",
      "Pinned to the Node.js 22 LTS runtime the handlers are built (target node22) and tested for; moving to a newer runtime is a deliberate upgrade, not a drift.",
    );
  }
}

import { RemovalPolicy } from "aws-cdk-lib";
import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Node } from "constructs";
import { OverMaxDelay } from "../core/config.js";
import { AuthMode, type DelayQueueProps } from "./delay-queue.js";
import { HandlerName } from "./handlers.js";

/** CDK context keys (`cdk deploy -c delayq:shards=4`, or `context` in cdk.json) and the prop each sets. */
export const CONTEXT_KEYS = {
  stackName: "delayq:stackName",
  shards: "delayq:shards",
  defaultVisibilitySeconds: "delayq:defaultVisibilitySeconds",
  maxDelayMs: "delayq:maxDelayMs",
  overMaxDelay: "delayq:overMaxDelay",
  retentionMs: "delayq:retentionMs",
  logRetentionDays: "delayq:logRetentionDays",
  removalPolicy: "delayq:removalPolicy",
  authMode: "delayq:authMode",
  throttleRateLimit: "delayq:throttleRateLimit",
  throttleBurstLimit: "delayq:throttleBurstLimit",
  publishReservedConcurrency: "delayq:publishReservedConcurrency",
  consumeReservedConcurrency: "delayq:consumeReservedConcurrency",
  ackReservedConcurrency: "delayq:ackReservedConcurrency",
  sweeperReservedConcurrency: "delayq:sweeperReservedConcurrency",
  dispatcherReservedConcurrency: "delayq:dispatcherReservedConcurrency",
  pushShards: "delayq:pushShards",
  /** ARNs push groups may target: a comma-separated string (`-c delayq:pushFunctionArns=arn:…,arn:…`) or a JSON array in cdk.json. */
  pushFunctionArns: "delayq:pushFunctionArns",
  pushQueueArns: "delayq:pushQueueArns",
  pushEventBusArns: "delayq:pushEventBusArns",
  /** Setting it deploys the AMQP door (the ACM certificate of its TLS listener). */
  amqpCertificateArn: "delayq:amqpCertificateArn",
  amqpCredentialsSecretArn: "delayq:amqpCredentialsSecretArn",
  amqpAllowPlaintext: "delayq:amqpAllowPlaintext",
  amqpDesiredCount: "delayq:amqpDesiredCount",
  amqpCpu: "delayq:amqpCpu",
  amqpMemoryMiB: "delayq:amqpMemoryMiB",
} as const;

const REMOVAL_POLICIES: Record<string, RemovalPolicy> = {
  retain: RemovalPolicy.RETAIN,
  destroy: RemovalPolicy.DESTROY,
  snapshot: RemovalPolicy.SNAPSHOT,
};

function oneOf<T extends string>(key: string, raw: unknown, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === "string" && (allowed as readonly string[]).includes(raw)) return raw as T;
  throw new Error(`context ${key} must be one of ${allowed.join(", ")} (got ${JSON.stringify(raw)})`);
}

function integer(key: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  // `-c key=value` arrives as a string, cdk.json values as numbers.
  const value = typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  throw new Error(`context ${key} must be a non-negative integer (got ${JSON.stringify(raw)})`);
}

function flag(key: string, raw: unknown): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === true || raw === "true") return true;
  if (raw === false || raw === "false") return false;
  throw new Error(`context ${key} must be true or false (got ${JSON.stringify(raw)})`);
}

/** A list of ARNs of one service: a comma-separated string or an array of strings. */
function arnList(key: string, raw: unknown, service: string): string[] | undefined {
  if (raw === undefined) return undefined;
  const items = typeof raw === "string" ? raw.split(",").map((x) => x.trim()).filter((x) => x !== "") : raw;
  if (!Array.isArray(items) || items.some((x) => typeof x !== "string" || !x.startsWith(`arn:`) || x.split(":")[2] !== service)) {
    throw new Error(`context ${key} must be ${service} ARNs, comma-separated or a JSON array (got ${JSON.stringify(raw)})`);
  }
  return items as string[];
}

function pushTargetsFromContext(get: (key: string) => unknown): DelayQueueProps["pushTargets"] {
  const targets = {
    functionArns: arnList(CONTEXT_KEYS.pushFunctionArns, get(CONTEXT_KEYS.pushFunctionArns), "lambda"),
    queueArns: arnList(CONTEXT_KEYS.pushQueueArns, get(CONTEXT_KEYS.pushQueueArns), "sqs"),
    eventBusArns: arnList(CONTEXT_KEYS.pushEventBusArns, get(CONTEXT_KEYS.pushEventBusArns), "events"),
  };
  const set = Object.fromEntries(Object.entries(targets).filter(([, v]) => v !== undefined));
  return Object.keys(set).length > 0 ? set : undefined;
}

function amqpFromContext(get: (key: string) => unknown): DelayQueueProps["amqp"] {
  const certificate = get(CONTEXT_KEYS.amqpCertificateArn);
  const others = [CONTEXT_KEYS.amqpCredentialsSecretArn, CONTEXT_KEYS.amqpAllowPlaintext, CONTEXT_KEYS.amqpDesiredCount, CONTEXT_KEYS.amqpCpu, CONTEXT_KEYS.amqpMemoryMiB];
  if (certificate === undefined) {
    const stray = others.filter((key) => get(key) !== undefined);
    if (stray.length > 0) throw new Error(`context ${stray.join(", ")} need ${CONTEXT_KEYS.amqpCertificateArn}, which deploys the AMQP door`);
    return undefined;
  }
  if (typeof certificate !== "string" || !certificate.startsWith("arn:")) {
    throw new Error(`context ${CONTEXT_KEYS.amqpCertificateArn} must be an ACM certificate ARN (got ${JSON.stringify(certificate)})`);
  }
  const secretArn = get(CONTEXT_KEYS.amqpCredentialsSecretArn);
  if (secretArn !== undefined && (typeof secretArn !== "string" || !secretArn.startsWith("arn:"))) {
    throw new Error(`context ${CONTEXT_KEYS.amqpCredentialsSecretArn} must be a Secrets Manager secret ARN (got ${JSON.stringify(secretArn)})`);
  }
  const amqp: Record<string, unknown> = {
    certificate,
    credentials: secretArn,
    allowPlaintext: flag(CONTEXT_KEYS.amqpAllowPlaintext, get(CONTEXT_KEYS.amqpAllowPlaintext)),
    desiredCount: integer(CONTEXT_KEYS.amqpDesiredCount, get(CONTEXT_KEYS.amqpDesiredCount)),
    cpu: integer(CONTEXT_KEYS.amqpCpu, get(CONTEXT_KEYS.amqpCpu)),
    memoryMiB: integer(CONTEXT_KEYS.amqpMemoryMiB, get(CONTEXT_KEYS.amqpMemoryMiB)),
  };
  return Object.fromEntries(Object.entries(amqp).filter(([, value]) => value !== undefined)) as unknown as DelayQueueProps["amqp"];
}

/** Reads the queue's props from CDK context; absent keys keep the construct's defaults. */
export function propsFromContext(node: Node): DelayQueueProps {
  const get = (key: string): unknown => node.tryGetContext(key);
  const removal = oneOf(CONTEXT_KEYS.removalPolicy, get(CONTEXT_KEYS.removalPolicy), Object.keys(REMOVAL_POLICIES));
  const logRetentionDays = integer(CONTEXT_KEYS.logRetentionDays, get(CONTEXT_KEYS.logRetentionDays));
  if (logRetentionDays !== undefined && !Object.values(RetentionDays).includes(logRetentionDays)) {
    throw new Error(
      `context ${CONTEXT_KEYS.logRetentionDays} must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, …)`,
    );
  }
  const rateLimit = integer(CONTEXT_KEYS.throttleRateLimit, get(CONTEXT_KEYS.throttleRateLimit));
  const burstLimit = integer(CONTEXT_KEYS.throttleBurstLimit, get(CONTEXT_KEYS.throttleBurstLimit));
  const reserved: Partial<Record<HandlerName, number>> = {};
  for (const name of Object.values(HandlerName)) {
    const key = CONTEXT_KEYS[`${name}ReservedConcurrency`];
    const value = integer(key, get(key));
    if (value !== undefined) reserved[name] = value;
  }
  const props: DelayQueueProps = {
    shards: integer(CONTEXT_KEYS.shards, get(CONTEXT_KEYS.shards)),
    defaultVisibilitySeconds: integer(
      CONTEXT_KEYS.defaultVisibilitySeconds,
      get(CONTEXT_KEYS.defaultVisibilitySeconds),
    ),
    maxDelayMs: integer(CONTEXT_KEYS.maxDelayMs, get(CONTEXT_KEYS.maxDelayMs)),
    overMaxDelay: oneOf(CONTEXT_KEYS.overMaxDelay, get(CONTEXT_KEYS.overMaxDelay), Object.values(OverMaxDelay)),
    retentionMs: integer(CONTEXT_KEYS.retentionMs, get(CONTEXT_KEYS.retentionMs)),
    logRetention: logRetentionDays as RetentionDays | undefined,
    removalPolicy: removal === undefined ? undefined : REMOVAL_POLICIES[removal],
    authMode: oneOf(CONTEXT_KEYS.authMode, get(CONTEXT_KEYS.authMode), Object.values(AuthMode)),
    throttling:
      rateLimit === undefined && burstLimit === undefined
        ? undefined
        : {
            ...(rateLimit !== undefined && { rateLimit }),
            ...(burstLimit !== undefined && { burstLimit }),
          },
    reservedConcurrency: Object.keys(reserved).length > 0 ? reserved : undefined,
    amqp: amqpFromContext(get),
    pushShards: integer(CONTEXT_KEYS.pushShards, get(CONTEXT_KEYS.pushShards)),
    pushTargets: pushTargetsFromContext(get),
  };
  return Object.fromEntries(Object.entries(props).filter(([, value]) => value !== undefined)) as DelayQueueProps;
}

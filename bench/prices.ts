/**
 * On-demand list prices used by the cost scenario, US East (N. Virginia), in US dollars.
 * Prices change: update `PRICES_AS_OF` and the sources together with any figure.
 */
/** List prices in effect on this date (DynamoDB on-demand at the rates since its 1 Nov 2024 reduction). */
export const PRICES_AS_OF = "2025-07-21";
export const PRICE_REGION = "us-east-1";

export const PRICE_SOURCES = {
  dynamodb: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
  lambda: "https://aws.amazon.com/lambda/pricing/",
  apiGateway: "https://aws.amazon.com/api-gateway/pricing/",
  sqs: "https://aws.amazon.com/sqs/pricing/",
  scheduler: "https://aws.amazon.com/eventbridge/pricing/",
} as const;

export const PRICES = {
  /** DynamoDB on-demand, Standard table class (after the 1 Nov 2024 reduction): per million write request units. */
  dynamoWritePerMillionWru: 0.625,
  /** DynamoDB on-demand, Standard table class: per million read request units. */
  dynamoReadPerMillionRru: 0.125,
  /** Lambda: per million requests. */
  lambdaPerMillionRequests: 0.2,
  /** Lambda on Arm (Graviton): per GB-second, first 7.5 billion GB-s a month. */
  lambdaArmPerGbSecond: 0.0000133334,
  /** API Gateway HTTP API: per million requests, first 300 million a month (requests up to 512 KB). */
  httpApiPerMillionRequests: 1.0,
  /** SQS standard queue: per million requests after the free tier (each 64 KB chunk is a request). */
  sqsStandardPerMillionRequests: 0.4,
  /** EventBridge Scheduler: per million scheduled invocations after the 14 million free a month. */
  schedulerPerMillionInvocations: 1.0,
} as const;

/** Assumptions used to turn requests into Lambda duration charges. */
export const LAMBDA_ASSUMPTIONS = {
  /** Memory of the publish, consume and ack functions in the stack (infra/handlers.ts). */
  memoryMb: 256,
  /** Billed duration of one non-waiting invocation (a publish, an answered consume, an ack). */
  billedMsPerInvocation: 50,
} as const;

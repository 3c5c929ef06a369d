export { DEFAULT_ENDPOINT, DelayqClient, type CallOptions, type ClientOptions, type PublishInput } from "./client.js";
export { ConsumedMessage, type ConsumeOptions, type WorkHandler, type WorkOptions, type WorkSummary } from "./consumer.js";
export { DelayqError, isDelayqError, type ApiErrorCode, type ErrorCode } from "./errors.js";
export { RETRY_DEFAULTS, type RetryOptions } from "./retry.js";
export type { AwsCredentials, CredentialsProvider, SigV4Options } from "./sigv4.js";
export type * as Api from "./schema.js";
export { PUSH_SIGNATURE_HEADER, verifyPush, type PushMessage, type VerifyPushOptions } from "./verify.js";

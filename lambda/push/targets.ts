import { lookup } from "node:dns/promises";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { LambdaClient } from "@aws-sdk/client-lambda";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { httpTransport } from "../../core/push/http-transport.js";
import type { PushRequest, PushResult, PushTransport, PushTransports } from "../../core/push/ports.js";
import { type PushPolicy, PushType } from "../../core/push/target.js";
import { onFirstUse } from "../lazy.js";

// Each target's SDK is imported at its first push, not when a function starts (most functions never push).
const lambdaSdk = onFirstUse(() => import("@aws-sdk/client-lambda"));
const sqsSdk = onFirstUse(() => import("@aws-sdk/client-sqs"));
const eventBridgeSdk = onFirstUse(() => import("@aws-sdk/client-eventbridge"));

/** The given client, or the default one made on first use. */
function clientOf<C>(given: C | undefined, make: () => Promise<C>): () => Promise<C> {
  return given ? async () => given : onFirstUse(make);
}

/** The AWS SDK's error, as a result line: its name and message (never the request). */
function failure(error: unknown): PushResult {
  const e = error as { name?: string; message?: string };
  return { ok: false, error: `${e.name ?? "Error"}: ${e.message ?? String(error)}` };
}

/** Lambda targets: a synchronous invoke with the payload as the event; a function error is a failed push. */
export function lambdaTransport(given?: LambdaClient): PushTransport {
  const client = clientOf(given, async () => new (await lambdaSdk()).LambdaClient({}));
  return {
    async send(request: PushRequest, signal: AbortSignal): Promise<PushResult> {
      if (request.target.type !== PushType.Lambda) return { ok: false, error: "not a lambda target" };
      try {
        const { InvokeCommand } = await lambdaSdk();
        const out = await (await client()).send(
          new InvokeCommand({ FunctionName: request.target.functionArn, InvocationType: "RequestResponse", Payload: new TextEncoder().encode(request.body) }),
          { abortSignal: signal },
        );
        if (out.FunctionError) {
          const detail = out.Payload ? new TextDecoder().decode(out.Payload).slice(0, 200) : "";
          return { ok: false, status: out.StatusCode, error: `function error ${out.FunctionError}${detail ? `: ${detail}` : ""}` };
        }
        return out.StatusCode !== undefined && out.StatusCode >= 200 && out.StatusCode < 300 ? { ok: true, status: out.StatusCode } : { ok: false, error: `invoke status ${out.StatusCode}` };
      } catch (error) {
        return signal.aborted ? { ok: false, error: `timed out after ${request.timeoutMs} ms` } : failure(error);
      }
    },
  };
}

/**
 * SQS targets: SendMessage of the payload as the body, with the id, attempt, topic and group as message
 * attributes. A FIFO queue gets the group's message group id (else the message's key, else the group's
 * name) and the idempotency key as its deduplication id, so a repeated push is dropped by SQS itself.
 */
export function sqsTransport(given?: SQSClient): PushTransport {
  const client = clientOf(given, async () => new (await sqsSdk()).SQSClient({}));
  return {
    async send(request: PushRequest, signal: AbortSignal): Promise<PushResult> {
      const { target, payload } = request;
      if (target.type !== PushType.Sqs) return { ok: false, error: "not an sqs target" };
      const fifo = target.queueUrl.endsWith(".fifo");
      try {
        const { SendMessageCommand } = await sqsSdk();
        const out = await (await client()).send(
          new SendMessageCommand({
            QueueUrl: target.queueUrl,
            MessageBody: request.body,
            MessageAttributes: {
              "delayq-message-id": { DataType: "String", StringValue: payload.messageId },
              "delayq-attempt": { DataType: "Number", StringValue: String(payload.attempt) },
              "delayq-topic": { DataType: "String", StringValue: payload.topic },
              "delayq-group": { DataType: "String", StringValue: payload.group },
            },
            ...(fifo && {
              MessageGroupId: target.messageGroupId ?? payload.key ?? payload.group,
              MessageDeduplicationId: payload.idempotencyKey.replace(/[^A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, "_").slice(0, 128),
            }),
          }),
          { abortSignal: signal },
        );
        return out.MessageId ? { ok: true } : { ok: false, error: "SendMessage answered without a MessageId" };
      } catch (error) {
        return signal.aborted ? { ok: false, error: `timed out after ${request.timeoutMs} ms` } : failure(error);
      }
    },
  };
}

/** EventBridge targets: PutEvents of one entry (source `delayq`, the payload as its detail); a failed entry is a failed push. */
export function eventBridgeTransport(given?: EventBridgeClient): PushTransport {
  const client = clientOf(given, async () => new (await eventBridgeSdk()).EventBridgeClient({}));
  return {
    async send(request: PushRequest, signal: AbortSignal): Promise<PushResult> {
      const { target } = request;
      if (target.type !== PushType.EventBridge) return { ok: false, error: "not an eventbridge target" };
      try {
        const { PutEventsCommand } = await eventBridgeSdk();
        const out = await (await client()).send(
          new PutEventsCommand({
            Entries: [{ EventBusName: target.eventBusName, Source: "delayq", DetailType: target.detailType ?? "delayq message", Detail: request.body, Time: new Date(request.payload.deliverAt) }],
          }),
          { abortSignal: signal },
        );
        const entry = out.Entries?.[0];
        if ((out.FailedEntryCount ?? 0) > 0 || !entry?.EventId) return { ok: false, error: `PutEvents entry failed: ${entry?.ErrorCode ?? "?"} ${entry?.ErrorMessage ?? ""}`.trim() };
        return { ok: true };
      } catch (error) {
        return signal.aborted ? { ok: false, error: `timed out after ${request.timeoutMs} ms` } : failure(error);
      }
    },
  };
}

export interface AwsPushClients {
  lambda?: LambdaClient;
  sqs?: SQSClient;
  eventBridge?: EventBridgeClient;
}

/** Every transport: HTTP through fetch, the AWS targets through the SDK's clients (each made at its first push, then kept). */
export function pushTransports(clients: AwsPushClients = {}): PushTransports {
  return {
    [PushType.Http]: httpTransport(),
    [PushType.Lambda]: lambdaTransport(clients.lambda),
    [PushType.Sqs]: sqsTransport(clients.sqs),
    [PushType.EventBridge]: eventBridgeTransport(clients.eventBridge),
  };
}

/** Whether this process finds AWS credentials (checked once; locally, AWS targets need them). */
export function awsCredentialsProbe(): () => Promise<boolean> {
  let found: Promise<boolean> | undefined;
  return () => {
    found ??= import("@aws-sdk/credential-provider-node")
      .then(({ defaultProvider }) => defaultProvider({ timeout: 1000, maxRetries: 0 })())
      .then((c) => Boolean(c.accessKeyId))
      .catch(() => false);
    return found;
  };
}

/**
 * The push policy from the environment: `PUSH_TARGET_POLICY` aws (the stack sets it; https, public hosts,
 * names resolved and every address checked) or local (npm start: loopback and private hosts allowed;
 * AWS targets only with credentials); `PUSH_ALLOW_HTTP=true` allows http URLs on AWS.
 */
export function pushPolicyFromEnv(env: Readonly<Record<string, string | undefined>>): PushPolicy {
  const mode = env.PUSH_TARGET_POLICY === "local" ? "local" : env.PUSH_TARGET_POLICY === "aws" || env.AWS_LAMBDA_FUNCTION_NAME ? "aws" : "local";
  const credentials = awsCredentialsProbe();
  return {
    mode,
    allowHttp: env.PUSH_ALLOW_HTTP === "true",
    available: async (type) => type === PushType.Http || mode === "aws" || (await credentials()),
    ...(mode === "aws" && { resolve: async (host: string) => (await lookup(host, { all: true })).map((a) => a.address) }),
  };
}

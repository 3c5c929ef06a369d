import { EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { InvokeCommand, LambdaClient, TooManyRequestsException } from "@aws-sdk/client-lambda";
import { SQSClient, SendMessageCommand } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import type { PushPayload } from "../../core/push/payload.js";
import type { PushRequest } from "../../core/push/ports.js";
import type { PushTarget } from "../../core/push/target.js";
import { eventBridgeTransport, lambdaTransport, sqsTransport } from "../../lambda/push/targets.js";

const lambda = mockClient(LambdaClient);
const sqs = mockClient(SQSClient);
const events = mockClient(EventBridgeClient);

const payload: PushPayload = {
  messageId: "019A0000000000000000000001",
  topic: "orders",
  group: "due",
  body: "close order 42",
  key: "order-42",
  properties: { region: "eu" },
  publishedAt: 1_790_000_000_000,
  deliverAt: 1_790_000_003_000,
  attempt: 2,
  deliveryCount: 2,
  idempotencyKey: "019A0000000000000000000001:2",
};
const body = JSON.stringify(payload);
const request = (target: PushTarget, p: PushPayload = payload): PushRequest => ({ target, payload: p, body: JSON.stringify(p), secrets: [], timeoutMs: 1000, nowMs: p.deliverAt });
/** An invoke's answer payload (the SDK's blob adapter is a Uint8Array with helpers the transport does not use). */
const answer = (text: string) => new TextEncoder().encode(text) as never;
const signal = () => new AbortController().signal;
const functionArn = "arn:aws:lambda:eu-west-1:111122223333:function:on-due";

describe("Lambda push targets", () => {
  beforeEach(() => lambda.reset());
  const transport = () => lambdaTransport(new LambdaClient({ region: "eu-west-1" }));

  it("invokes the function synchronously (RequestResponse) with the payload as its event, and succeeds on a 200 without a function error", async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: answer('"ok"') });
    // Act
    const result = await transport().send(request({ type: "lambda", functionArn }), signal());
    // Assess
    expect(result).toEqual({ ok: true, status: 200 });
    const calls = lambda.commandCalls(InvokeCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]?.args[0].input;
    expect(input?.FunctionName).toBe(functionArn);
    expect(input?.InvocationType).toBe("RequestResponse");
    expect(new TextDecoder().decode(input?.Payload as Uint8Array)).toBe(body);
    expect(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array))).toEqual(payload);
  });

  it("a function error (the function threw) is a failed push, naming the error", async () => {
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: "Unhandled",
      Payload: answer(JSON.stringify({ errorType: "Error", errorMessage: "db down" })),
    });
    const result = await transport().send(request({ type: "lambda", functionArn }), signal());
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ status: 200, error: expect.stringMatching(/^function error Unhandled: .*db down/) });
  });

  it("an invoke the service refuses (throttled) is a failed push with the SDK's error name, never a throw", async () => {
    lambda.on(InvokeCommand).rejects(new TooManyRequestsException({ message: "Rate exceeded", $metadata: {} }));
    const result = await transport().send(request({ type: "lambda", functionArn }), signal());
    expect(result).toEqual({ ok: false, error: "TooManyRequestsException: Rate exceeded" });
  });

  it("a status outside 2xx without a function error is a failed push", async () => {
    lambda.on(InvokeCommand).resolves({ StatusCode: 500 });
    expect(await transport().send(request({ type: "lambda", functionArn }), signal())).toEqual({ ok: false, error: "invoke status 500" });
  });

  it("an invoke cut by the push's timeout is a failed push that says so", async () => {
    const timer = new AbortController();
    lambda.on(InvokeCommand).callsFake(async () => {
      timer.abort();
      throw Object.assign(new Error("Request aborted"), { name: "AbortError" });
    });
    expect(await transport().send(request({ type: "lambda", functionArn }), timer.signal)).toEqual({ ok: false, error: "timed out after 1000 ms" });
  });
});

describe("SQS push targets", () => {
  beforeEach(() => sqs.reset());
  const transport = () => sqsTransport(new SQSClient({ region: "eu-west-1" }));
  const standard = "https://sqs.eu-west-1.amazonaws.com/111122223333/due-mail";
  const fifo = "https://sqs.eu-west-1.amazonaws.com/111122223333/due-jobs.fifo";
  const attributes = {
    "delayq-message-id": { DataType: "String", StringValue: payload.messageId },
    "delayq-attempt": { DataType: "Number", StringValue: "2" },
    "delayq-topic": { DataType: "String", StringValue: "orders" },
    "delayq-group": { DataType: "String", StringValue: "due" },
  };

  it("a standard queue: SendMessage of the payload with its id, attempt, topic and group as attributes, no group or deduplication id", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-1" });
    const result = await transport().send(request({ type: "sqs", queueUrl: standard }), signal());
    expect(result).toEqual({ ok: true });
    expect(sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input)).toEqual([{ QueueUrl: standard, MessageBody: body, MessageAttributes: attributes }]);
  });

  it("a FIFO queue: the message's key as MessageGroupId and the idempotency key as MessageDeduplicationId", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-2" });
    await transport().send(request({ type: "sqs", queueUrl: fifo }), signal());
    expect(sqs.commandCalls(SendMessageCommand)[0]?.args[0].input).toEqual({
      QueueUrl: fifo,
      MessageBody: body,
      MessageAttributes: attributes,
      MessageGroupId: "order-42",
      MessageDeduplicationId: "019A0000000000000000000001:2",
    });
  });

  it("a FIFO queue: the target's messageGroupId wins; without one and without a key, the group's name", async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: "m-3" });
    const { key: _key, ...keyless } = payload;
    await transport().send(request({ type: "sqs", queueUrl: fifo, messageGroupId: "jobs" }), signal());
    await transport().send(request({ type: "sqs", queueUrl: fifo }, keyless), signal());
    expect(sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input.MessageGroupId)).toEqual(["jobs", "due"]);
  });

  it("a refused send is a failed push with the SDK's error name", async () => {
    sqs.on(SendMessageCommand).rejects(Object.assign(new Error("Access to the resource is denied."), { name: "AccessDeniedException" }));
    expect(await transport().send(request({ type: "sqs", queueUrl: standard }), signal())).toEqual({ ok: false, error: "AccessDeniedException: Access to the resource is denied." });
  });

  it("an answer without a MessageId is a failed push", async () => {
    sqs.on(SendMessageCommand).resolves({});
    expect((await transport().send(request({ type: "sqs", queueUrl: standard }), signal())).ok).toBe(false);
  });
});

describe("EventBridge push targets", () => {
  beforeEach(() => events.reset());
  const transport = () => eventBridgeTransport(new EventBridgeClient({ region: "eu-west-1" }));

  it("PutEvents of one entry: source delayq, the detail type, the payload as detail, the bus, the deliver time", async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: "e-1" }] });
    const result = await transport().send(request({ type: "eventbridge", eventBusName: "orders", detailType: "order due" }), signal());
    expect(result).toEqual({ ok: true });
    expect(events.commandCalls(PutEventsCommand).map((c) => c.args[0].input)).toEqual([
      { Entries: [{ EventBusName: "orders", Source: "delayq", DetailType: "order due", Detail: body, Time: new Date(payload.deliverAt) }] },
    ]);
  });

  it("the detail type defaults to 'delayq message'", async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: "e-2" }] });
    await transport().send(request({ type: "eventbridge", eventBusName: "orders" }), signal());
    expect(events.commandCalls(PutEventsCommand)[0]?.args[0].input.Entries?.[0]?.DetailType).toBe("delayq message");
  });

  it("FailedEntryCount > 0 is a failed push naming the entry's error", async () => {
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: "InternalFailure", ErrorMessage: "try again" }] });
    expect(await transport().send(request({ type: "eventbridge", eventBusName: "orders" }), signal())).toEqual({
      ok: false,
      error: "PutEvents entry failed: InternalFailure try again",
    });
  });

  it("a refused call is a failed push with the SDK's error name", async () => {
    events.on(PutEventsCommand).rejects(Object.assign(new Error("Event bus orders does not exist."), { name: "ResourceNotFoundException" }));
    expect(await transport().send(request({ type: "eventbridge", eventBusName: "orders" }), signal())).toEqual({
      ok: false,
      error: "ResourceNotFoundException: Event bus orders does not exist.",
    });
  });
});

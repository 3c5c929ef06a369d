import { DAY_MS } from "../config.js";
import { ErrorCode } from "../errors.js";
import { GROUP_PAGE, TOPIC_PAGE } from "../groups.js";
import { PUSH_LIMITS } from "../push/target.js";
import { LIST_LIMIT } from "../lifecycle.js";
import { DEDUP_ID_MAX_CHARS, PUBLISH_BATCH_MAX } from "../publish.js";
import { DEAD_LETTER_PAGE, REDRIVE_IDS_MAX } from "../retry.js";
import { LIMITS, NAME_PATTERN } from "../rules.js";
import { SETTINGS_LIMITS } from "../settings.js";
import { REQUEST_BODY_LIMIT_BYTES } from "./body.js";
import { jsonStatus } from "./json-errors.js";

/**
 * The OpenAPI 3.1 document of the native JSON API, served at `GET /openapi.json`. It is written here by
 * hand, from the same limits, patterns and status table the door validates and answers with; the test
 * suite holds it to the router (every route has an operation and every operation a route), lints it, and
 * validates every answer of a real server against it (test/integration/openapi.test.ts).
 */

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const headerRef = { $ref: "#/components/headers/RequestIdHeader" };
const ms = { type: "integer", minimum: 0, description: "Unix epoch milliseconds" } as const;
const count = { type: "integer", minimum: 0 } as const;
const MAX_VISIBILITY_MS = LIMITS.visibilitySecondsMax * 1000;

const EXAMPLE_ID = "019A1B2C3D4E5F60718293A4B5C6D7E8";
const EXAMPLE_HANDLE = "MDE5QTFCMkMzRDRFNUY2MDcxODI5M0E0QjVDNkQ3RTg6MTc5NTM1MDI3NDkwMzphYmNk";
const EXAMPLE_AT = 1_795_350_274_902;

/** An error answer whose `code` is one of `codes` (all of the same HTTP status in the door's table). */
function errorResponse(description: string, codes: ErrorCode[], options: { gateway?: boolean; retryAfter?: boolean } = {}): Json {
  const statuses = new Set(codes.map(jsonStatus));
  if (statuses.size !== 1) throw new Error(`codes ${codes.join(", ")} do not share one status`);
  const ours = {
    type: "object",
    required: ["error"],
    additionalProperties: false,
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        additionalProperties: false,
        properties: { code: { type: "string", enum: codes }, message: { type: "string" } },
      },
    },
  };
  return {
    description,
    headers: {
      "x-request-id": headerRef,
      ...(options.retryAfter && { "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer", minimum: 0 } } }),
    },
    content: {
      "application/json": {
        schema: options.gateway ? { oneOf: [ours, ref("GatewayMessage")] } : ours,
        example: { error: { code: codes[0], message: "what was wrong, and what to send instead" } },
      },
    },
  };
}

const BODY_ERRORS = {
  "400": responseRef("BadRequestBody"),
  "413": responseRef("RequestTooLarge"),
  "415": responseRef("UnsupportedMediaType"),
};

interface OperationSpec {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  parameters?: Json[];
  requestBody?: { schema: Json; example?: unknown; required?: boolean };
  status: string;
  okDescription: string;
  okSchema: Json;
  okExample?: unknown;
  errors?: Json;
  open?: boolean;
}

function operation(spec: OperationSpec): Json {
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(spec.description !== undefined && { description: spec.description }),
    tags: spec.tags,
    ...(spec.parameters && { parameters: spec.parameters }),
    ...(spec.requestBody && {
      requestBody: {
        required: spec.requestBody.required ?? true,
        content: { "application/json": { schema: spec.requestBody.schema, ...(spec.requestBody.example !== undefined && { example: spec.requestBody.example }) } },
      },
    }),
    ...(spec.open && { security: [] }),
    responses: {
      [spec.status]: {
        description: spec.okDescription,
        headers: { "x-request-id": headerRef },
        content: { "application/json": { schema: spec.okSchema, ...(spec.okExample !== undefined && { example: spec.okExample }) } },
      },
      ...(spec.requestBody ? BODY_ERRORS : { "400": responseRef("BadRequest") }),
      ...(!spec.open && { "401": responseRef("Unauthorized") }),
      "403": responseRef("Forbidden"),
      ...spec.errors,
      ...(!spec.open && { "429": responseRef("TooManyRequests") }),
      "500": responseRef("InternalError"),
      "503": responseRef("ServiceUnavailable"),
    },
  };
}

const param = (name: string, where: "path" | "query" | "header", schema: Json, description: string, required = where === "path"): Json => ({
  name,
  in: where,
  required,
  description,
  schema,
});
const topicParam = param("topic", "path", ref("Name"), "Topic name.");
const groupParam = param("group", "path", ref("Name"), "Consumer group name.");
const messageIdParam = param("messageId", "path", ref("MessageId"), "The id a publish returned.");
const delayHeaders = [
  param("delay", "header", { type: "string", pattern: "^\\d+$" }, 'RabbitMQ on ApsaraMQ: deliver this many ms from now, as a string ("5000"). Beyond the topic\'s maximum: delivered now unless the topic says reject.'),
  param("x-delay", "header", { type: "string", pattern: "^\\d+$" }, "The RabbitMQ delayed-message plugin: deliver this many ms from now (5000)."),
];
const limitParam = (page: { default: number; max: number }) =>
  param("limit", "query", { type: "integer", minimum: 1, maximum: page.max, default: page.default }, `Page size, 1..${page.max}.`);
const cursorParam = param("cursor", "query", { type: "string", minLength: 1 }, "The opaque cursor of the previous page, unchanged.");

const pushTimeout: Json = { type: "integer", minimum: PUSH_LIMITS.timeoutMsMin, maximum: PUSH_LIMITS.timeoutMsMax, default: PUSH_LIMITS.timeoutMsDefault };
const pushConcurrency: Json = { type: "integer", minimum: 1, maximum: PUSH_LIMITS.maxConcurrencyMax, default: PUSH_LIMITS.maxConcurrencyDefault };

const schemas: Record<string, Json> = {
  Name: { type: "string", pattern: NAME_PATTERN.source, examples: ["orders"] },
  MessageId: { type: "string", pattern: "^[0-9A-F]{32}$", description: "32 upper-case hex characters (12 of publish time, 20 random).", examples: [EXAMPLE_ID] },
  Md5: { type: "string", pattern: "^[0-9A-F]{32}$", description: "Upper-case hex MD5 of the UTF-8 body." },
  Properties: {
    type: "object",
    additionalProperties: { type: "string" },
    description: `User attributes, string to string, at most ${LIMITS.propertiesBytes} bytes (16 KiB) in all; the empty name and "__proto__" are refused.`,
  },
  Tag: { type: "string", minLength: 1, maxLength: LIMITS.tagChars, pattern: "^[^|]*$" },
  TagFilter: { type: "string", description: 'Tags joined by "||" (a||b), or "*" for every tag.', examples: ["paid||refunded"] },
  DeliverAt: {
    oneOf: [
      { ...ms, description: "Epoch milliseconds; a past instant means now." },
      {
        type: "string",
        description: 'ISO-8601 with an offset (2026-12-24T09:00:00+01:00), or a local time without offset together with timeZone (2026-12-24T09:00).',
      },
    ],
  },
  TimeZone: { type: "string", description: "IANA time zone of a local deliverAt (any letter case; answered in canonical spelling).", examples: ["Europe/Paris"] },
  Error: {
    type: "object",
    required: ["error"],
    additionalProperties: false,
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        additionalProperties: false,
        properties: {
          code: { type: "string", enum: Object.values(ErrorCode), description: "Stable: branch on it." },
          message: { type: "string", description: "What was wrong and what to send instead; quotes at most 80 characters of the request." },
        },
      },
    },
  },
  GatewayMessage: {
    type: "object",
    required: ["message"],
    additionalProperties: false,
    description: 'An answer of Amazon API Gateway itself, before the queue saw the request: a missing or wrong SigV4 signature (403 "Forbidden"), throttling (429 "Too Many Requests"), an integration failure (500, 503).',
    properties: { message: { type: "string" } },
  },
  Health: { type: "object", required: ["ok"], additionalProperties: false, properties: { ok: { const: true } } },
  PublishRequest: {
    type: "object",
    required: ["body"],
    description: "At most one of delayMs, deliverAt and the delay / x-delay headers. Beyond the topic's maximum delay, delayMs and deliverAt are 400 InvalidArgument (unless the topic's overMaxDelay says deliver-now).",
    properties: {
      body: { type: "string", description: `Payload, UTF-8, at most ${LIMITS.bodyBytes} bytes (256 KiB; 413 MessageTooLarge above).` },
      tag: ref("Tag"),
      key: { type: "string", minLength: 1, maxLength: LIMITS.keyChars, description: "Business key: look-ups and cancel by key." },
      properties: ref("Properties"),
      delayMs: { type: "integer", minimum: 0, description: "Deliver this many ms after the publish is accepted." },
      deliverAt: ref("DeliverAt"),
      timeZone: ref("TimeZone"),
      ttlMs: { type: "integer", minimum: 1, description: "Expires at publishedAt + min(ttlMs, the topic's messageTtlMs) + delay; never delivered after." },
      dedupId: {
        type: "string",
        minLength: 1,
        maxLength: DEDUP_ID_MAX_CHARS,
        description: "Idempotency key: a repeat on the same topic returns the original message with duplicate: true, for the message's whole life.",
      },
    },
  },
  PublishResponse: {
    type: "object",
    required: ["messageId", "bodyMd5", "deliverAt"],
    additionalProperties: false,
    properties: {
      messageId: ref("MessageId"),
      bodyMd5: ref("Md5"),
      deliverAt: { ...ms, description: "The effective deliver time." },
      deliverAtLocal: { type: "string", description: "The local wall-clock time it was given in." },
      timeZone: ref("TimeZone"),
      duplicate: { const: true, description: "A repeat of an earlier publish with the same dedupId." },
      overMaxDelay: { const: "delivered-now", description: "The asked time was beyond the topic's maximum and the rule in force delivered it now." },
    },
  },
  PublishBatchRequest: {
    type: "object",
    required: ["messages"],
    additionalProperties: false,
    properties: {
      messages: { type: "array", minItems: 1, maxItems: PUBLISH_BATCH_MAX, items: ref("PublishRequest"), description: "Each with its own delayMs / deliverAt / dedupId; the delay headers are refused on a batch." },
    },
  },
  PublishBatchResponse: {
    type: "object",
    required: ["results"],
    additionalProperties: false,
    properties: {
      results: { type: "array", items: { oneOf: [ref("PublishResponse"), ref("Error")] }, description: "One per message, in order; the valid ones are stored with one write." },
    },
  },
  ConsumeRequest: {
    type: "object",
    properties: {
      max: { type: "integer", minimum: 1, maximum: LIMITS.batchMax, default: 1 },
      waitSeconds: { type: "integer", minimum: 0, maximum: LIMITS.waitSecondsMax, default: 0, description: "Long poll: answer as soon as a message is available, or after this long with none." },
      tag: { ...ref("TagFilter"), description: "Filter of this call; other messages stay for the group's other consumers." },
      visibilitySeconds: { type: "integer", minimum: 1, maximum: LIMITS.visibilitySecondsMax, description: "Default: the group's, else 30." },
    },
  },
  Message: {
    type: "object",
    required: ["messageId", "receiptHandle", "body", "bodyMd5", "properties", "publishedAt", "deliverAt", "firstConsumedAt", "nextVisibleAt", "consumedTimes"],
    additionalProperties: false,
    properties: {
      messageId: ref("MessageId"),
      receiptHandle: { type: "string", description: "Belongs to this delivery only: ack or nack it before nextVisibleAt." },
      body: { type: "string" },
      bodyMd5: ref("Md5"),
      tag: { type: "string" },
      key: { type: "string" },
      properties: ref("Properties"),
      publishedAt: ms,
      deliverAt: ms,
      firstConsumedAt: ms,
      nextVisibleAt: ms,
      consumedTimes: { type: "integer", minimum: 1 },
    },
  },
  ConsumeResponse: { type: "object", required: ["messages"], additionalProperties: false, properties: { messages: { type: "array", items: ref("Message") } } },
  AckRequest: {
    type: "object",
    required: ["receiptHandles"],
    properties: { receiptHandles: { type: "array", minItems: 1, maxItems: LIMITS.batchMax, items: { type: "string" } } },
  },
  AckResponse: {
    type: "object",
    required: ["acked", "failed"],
    additionalProperties: false,
    properties: {
      acked: count,
      failed: {
        type: "array",
        items: {
          type: "object",
          required: ["receiptHandle", "code", "message"],
          additionalProperties: false,
          properties: { receiptHandle: { type: "string" }, code: { type: "string", enum: ["ReceiptHandleError", "MessageNotExist"] }, message: { type: "string" } },
        },
      },
    },
  },
  NackRequest: {
    type: "object",
    required: ["receiptHandle"],
    properties: {
      receiptHandle: { type: "string" },
      delayMs: { type: "integer", minimum: 0, maximum: MAX_VISIBILITY_MS, description: "Visible again after this long (0: now). Default: the group's retry backoff." },
    },
  },
  NackResponse: {
    type: "object",
    required: ["messageId", "outcome"],
    additionalProperties: false,
    properties: {
      messageId: ref("MessageId"),
      outcome: { type: "string", enum: ["requeued", "dead-lettered", "dropped"] },
      nextVisibleAt: { ...ms, description: "When requeued." },
    },
  },
  DeadLetter: {
    type: "object",
    required: ["messageId", "lastFailureAt", "consumedTimes", "deliverAt"],
    additionalProperties: false,
    properties: {
      messageId: ref("MessageId"),
      lastFailureAt: ms,
      consumedTimes: count,
      deliverAt: ms,
      tag: { type: "string" },
      reason: { type: "string", enum: ["expired", "maxReceiveCount"] },
    },
  },
  DeadLetterList: {
    type: "object",
    required: ["deadLetters"],
    additionalProperties: false,
    properties: { deadLetters: { type: "array", items: ref("DeadLetter") }, cursor: { type: "string", description: "Absent on the last page." } },
  },
  RedriveRequest: {
    type: "object",
    description: 'Either {"all": true} or {"messageIds": [...]}.',
    properties: {
      all: { type: "boolean" },
      messageIds: { type: "array", minItems: 1, maxItems: REDRIVE_IDS_MAX, items: ref("MessageId") },
    },
  },
  RedriveResponse: {
    type: "object",
    required: ["redriven", "failed", "more"],
    additionalProperties: false,
    properties: {
      redriven: count,
      failed: {
        type: "array",
        items: {
          type: "object",
          required: ["messageId", "code", "message"],
          additionalProperties: false,
          properties: { messageId: { type: "string" }, code: { const: "MessageNotExist" }, message: { type: "string" } },
        },
      },
      more: { type: "boolean", description: "all moved its maximum of 1000: call again." },
    },
  },
  TopicSettingsInput: {
    type: "object",
    additionalProperties: false,
    description: "A PUT replaces the whole document: a field left out goes back to its default.",
    properties: {
      maxDelayMs: { type: ["integer", "null"], minimum: 0, maximum: SETTINGS_LIMITS.maxDelayMsMax },
      overMaxDelay: { enum: ["deliver-now", "reject", null] },
      messageTtlMs: { type: ["integer", "null"], minimum: 1, maximum: SETTINGS_LIMITS.messageTtlMsMax },
      retentionMs: { type: ["integer", "null"], minimum: SETTINGS_LIMITS.retentionMsMin, maximum: SETTINGS_LIMITS.retentionMsMax },
    },
  },
  TopicSettings: {
    type: "object",
    required: ["topic", "maxDelayMs", "overMaxDelay", "messageTtlMs", "retentionMs"],
    additionalProperties: false,
    properties: {
      topic: { type: "string" },
      maxDelayMs: { type: "integer", minimum: 0 },
      overMaxDelay: { enum: ["deliver-now", "reject", null], description: "null: each door's own rule." },
      messageTtlMs: { type: ["integer", "null"], minimum: 1 },
      retentionMs: { type: "integer", minimum: 0 },
    },
  },
  RetryBackoff: {
    type: "object",
    additionalProperties: false,
    properties: {
      mode: { type: "string", enum: ["fixed", "exponential"], default: "fixed" },
      baseSeconds: { type: "integer", minimum: 0, maximum: SETTINGS_LIMITS.backoffSecondsMax, default: 0 },
      capSeconds: { type: "integer", minimum: 0, maximum: SETTINGS_LIMITS.backoffSecondsMax },
    },
  },
  GroupSettingsInput: {
    type: "object",
    additionalProperties: false,
    description: "A PUT replaces the whole document and registers the group.",
    properties: {
      visibilitySeconds: { type: ["integer", "null"], minimum: 1, maximum: LIMITS.visibilitySecondsMax },
      maxReceiveCount: { type: ["integer", "null"], minimum: 1, maximum: SETTINGS_LIMITS.maxReceiveCountMax },
      retryBackoff: { oneOf: [ref("RetryBackoff"), { type: "null" }] },
      deadLetter: { enum: ["on", "off", true, false, null] },
      tagFilter: { oneOf: [ref("TagFilter"), { type: "null" }] },
      push: { oneOf: [ref("PushTargetInput"), { type: "null" }], description: "Makes the group a push group (null or absent: a pull group)." },
    },
  },
  PushTargetInput: {
    description: "Where a push group's messages go. Validated at configuration (scheme, host; see the README's Push delivery).",
    oneOf: [
      {
        type: "object",
        required: ["type", "url"],
        additionalProperties: false,
        properties: {
          type: { const: "http" },
          url: { type: "string", maxLength: 2048, description: "https (or http) URL; POSTed the payload as JSON, signed." },
          timeoutMs: pushTimeout,
          maxConcurrency: pushConcurrency,
          headers: { type: "object", additionalProperties: { type: "string", maxLength: 1024 }, maxProperties: 16 },
        },
      },
      {
        type: "object",
        required: ["type", "functionArn"],
        additionalProperties: false,
        properties: { type: { const: "lambda" }, functionArn: { type: "string" }, timeoutMs: pushTimeout, maxConcurrency: pushConcurrency },
      },
      {
        type: "object",
        required: ["type", "queueUrl"],
        additionalProperties: false,
        properties: {
          type: { const: "sqs" },
          queueUrl: { type: "string" },
          messageGroupId: { type: "string", maxLength: 128, description: "FIFO queues only; default the message's key, else the group's name." },
          timeoutMs: pushTimeout,
          maxConcurrency: pushConcurrency,
        },
      },
      {
        type: "object",
        required: ["type", "eventBusName"],
        additionalProperties: false,
        properties: { type: { const: "eventbridge" }, eventBusName: { type: "string" }, detailType: { type: "string", maxLength: 128 }, timeoutMs: pushTimeout, maxConcurrency: pushConcurrency },
      },
    ],
  },
  PushTarget: {
    type: "object",
    required: ["type", "timeoutMs", "maxConcurrency"],
    additionalProperties: false,
    description: "The push target in force (defaults filled in). `secret` only in the answer of the PUT that made the group an HTTP push group.",
    properties: {
      type: { type: "string", enum: ["http", "lambda", "sqs", "eventbridge"] },
      url: { type: "string" },
      headers: { type: "object", additionalProperties: { type: "string" } },
      functionArn: { type: "string" },
      queueUrl: { type: "string" },
      messageGroupId: { type: "string" },
      eventBusName: { type: "string" },
      detailType: { type: "string" },
      timeoutMs: { type: "integer" },
      maxConcurrency: { type: "integer" },
      secret: { type: "string", description: "The signing secret (whsec_…): answered once, keep it." },
    },
  },
  PushSecretRequest: {
    type: "object",
    additionalProperties: false,
    properties: { graceSeconds: { type: ["integer", "null"], minimum: 0, maximum: PUSH_LIMITS.rotationGraceSecondsMax, default: PUSH_LIMITS.rotationGraceSecondsDefault } },
  },
  PushSecret: {
    type: "object",
    required: ["topic", "group", "secret", "previousSecretValidUntil"],
    additionalProperties: false,
    properties: { topic: { type: "string" }, group: { type: "string" }, secret: { type: "string" }, previousSecretValidUntil: ms },
  },
  GroupSettings: {
    type: "object",
    required: ["topic", "group", "visibilitySeconds", "maxReceiveCount", "retryBackoff", "deadLetter", "tagFilter", "push", "createdAt"],
    additionalProperties: false,
    properties: {
      topic: { type: "string" },
      group: { type: "string" },
      visibilitySeconds: { type: "integer", minimum: 1 },
      maxReceiveCount: { type: "integer", minimum: 1 },
      retryBackoff: {
        type: "object",
        required: ["mode", "baseSeconds", "capSeconds"],
        additionalProperties: false,
        properties: { mode: { type: "string", enum: ["fixed", "exponential"] }, baseSeconds: count, capSeconds: count },
      },
      deadLetter: { type: "string", enum: ["on", "off"] },
      tagFilter: { type: "string" },
      push: { oneOf: [ref("PushTarget"), { type: "null" }] },
      createdAt: ms,
    },
  },
  TopicList: {
    type: "object",
    required: ["topics"],
    additionalProperties: false,
    properties: {
      topics: { type: "array", items: ref("Name"), description: "Topic names in name order." },
      cursor: { type: "string", description: "Absent on the last page." },
    },
  },
  GroupList: {
    type: "object",
    required: ["groups"],
    additionalProperties: false,
    properties: { groups: { type: "array", items: ref("GroupSettings") }, cursor: { type: "string", description: "Absent on the last page." } },
  },
  DeleteGroupResponse: {
    type: "object",
    required: ["topic", "group", "deleted"],
    additionalProperties: false,
    properties: { topic: { type: "string" }, group: { type: "string" }, deleted: { const: true } },
  },
  GroupDelivery: {
    type: "object",
    required: ["group", "state", "consumedTimes"],
    additionalProperties: false,
    properties: {
      group: { type: "string" },
      state: { type: "string", enum: ["ready", "in-flight", "acked", "dead", "dropped"] },
      consumedTimes: count,
      nextVisibleAt: ms,
      firstConsumedAt: ms,
      lastConsumedAt: ms,
      ackedAt: ms,
    },
  },
  MessageState: {
    type: "object",
    required: ["messageId", "topic", "state", "body", "bodyMd5", "properties", "publishedAt", "deliverAt", "expiresAt", "groups"],
    additionalProperties: false,
    properties: {
      messageId: ref("MessageId"),
      topic: { type: "string" },
      state: { type: "string", enum: ["scheduled", "due", "cancelled"] },
      body: { type: "string" },
      bodyMd5: ref("Md5"),
      tag: { type: "string" },
      key: { type: "string" },
      properties: ref("Properties"),
      publishedAt: ms,
      deliverAt: ms,
      deliverAtLocal: { type: "string" },
      timeZone: { type: "string" },
      dedupId: { type: "string" },
      expiresAt: ms,
      cancelledAt: ms,
      groups: { type: "array", items: ref("GroupDelivery"), description: "The groups that took it so far; a group that has not reached it has no entry." },
    },
  },
  CancelResponse: {
    type: "object",
    required: ["messageId", "outcome"],
    additionalProperties: false,
    properties: { messageId: ref("MessageId"), outcome: { type: "string", enum: ["cancelled", "already-delivered"] } },
  },
  CancelByKeyResponse: {
    type: "object",
    required: ["key", "results"],
    additionalProperties: false,
    properties: { key: { type: "string" }, results: { type: "array", items: ref("CancelResponse") } },
  },
  RescheduleRequest: {
    type: "object",
    description: 'Exactly one of deliverAt (0 or "now": deliver now) and delayMs (from now), or a delay / x-delay header.',
    properties: {
      deliverAt: ref("DeliverAt"),
      delayMs: { type: "integer", minimum: 0 },
      timeZone: ref("TimeZone"),
    },
  },
  RescheduleResponse: {
    type: "object",
    required: ["messageId", "outcome"],
    additionalProperties: false,
    properties: {
      messageId: ref("MessageId"),
      outcome: { type: "string", enum: ["rescheduled", "already-delivered", "cancelled"] },
      deliverAt: ms,
      deliverAtLocal: { type: "string" },
      timeZone: { type: "string" },
      overMaxDelay: { const: "delivered-now" },
    },
  },
  MessageList: {
    type: "object",
    required: ["messages"],
    additionalProperties: false,
    properties: {
      messages: {
        type: "array",
        items: { type: "object", required: ["messageId", "deliverAt"], additionalProperties: false, properties: { messageId: ref("MessageId"), deliverAt: ms, tag: { type: "string" } } },
      },
      cursor: { type: "string", description: "Absent on the last page." },
    },
  },
  GroupStats: {
    type: "object",
    required: ["ready", "inFlight", "deadLettered", "oldestReadyAgeMs"],
    additionalProperties: false,
    properties: { ready: count, inFlight: count, deadLettered: count, oldestReadyAgeMs: count },
  },
  TopicStats: {
    type: "object",
    required: ["topic", "at", "scheduled", "held", "oldestDueAgeMs", "dueWithin", "groups", "groupsTruncated", "lanesRead"],
    additionalProperties: false,
    properties: {
      topic: { type: "string" },
      at: ms,
      scheduled: { ...count, description: "Deliver time still ahead." },
      held: { ...count, description: "Due messages of a topic without groups, kept for its first group." },
      oldestDueAgeMs: count,
      dueWithin: {
        type: "object",
        required: ["minute", "hour", "day", "week"],
        additionalProperties: false,
        description: "The forecast: scheduled messages falling due within the next minute, hour, day and week.",
        properties: { minute: count, hour: count, day: count, week: count },
      },
      groups: { type: "object", additionalProperties: ref("GroupStats"), description: "The first 100 groups by name." },
      groupsTruncated: { type: "boolean" },
      lanesRead: count,
    },
  },
  ScheduledMessage: {
    type: "object",
    required: ["body"],
    additionalProperties: false,
    properties: { body: { type: "string" }, tag: ref("Tag"), key: { type: "string", minLength: 1, maxLength: LIMITS.keyChars }, properties: ref("Properties") },
  },
  ScheduleInput: {
    type: "object",
    required: ["name", "topic", "expression", "message"],
    properties: {
      name: ref("Name"),
      topic: ref("Name"),
      expression: { type: "string", description: "EventBridge Scheduler syntax: cron(minutes hours day-of-month month day-of-week year) or rate(n minutes|hours|days).", examples: ["cron(0 9 ? * MON-FRI *)", "rate(5 minutes)"] },
      timeZone: { ...ref("TimeZone"), description: "Zone the cron fields are read in; default UTC." },
      message: ref("ScheduledMessage"),
    },
  },
  Schedule: {
    type: "object",
    required: ["name", "topic", "expression", "timeZone", "message"],
    additionalProperties: false,
    properties: { name: { type: "string" }, topic: { type: "string" }, expression: { type: "string" }, timeZone: { type: "string" }, message: ref("ScheduledMessage") },
  },
  ScheduleList: { type: "object", required: ["schedules"], additionalProperties: false, properties: { schedules: { type: "array", items: ref("Schedule") } } },
  DeleteScheduleResponse: {
    type: "object",
    required: ["name", "deleted"],
    additionalProperties: false,
    properties: { name: { type: "string" }, deleted: { const: true } },
  },
};

const C = ErrorCode;
const responses: Record<string, Json> = {
  BadRequest: errorResponse("A path segment, query parameter or header that is not valid (the message names it and the accepted form).", [C.InvalidArgument]),
  BadRequestBody: errorResponse("A field, path segment, query parameter or header that is not valid, or a body that is not a JSON object in UTF-8.", [
    C.InvalidArgument,
    C.MalformedJson,
  ]),
  BadRequestHandle: errorResponse("As BadRequestBody, or a malformed receipt handle, or one of another topic or group.", [
    C.InvalidArgument,
    C.MalformedJson,
    C.ReceiptHandleError,
  ]),
  Unauthorized: {
    ...errorResponse("Local runtime only: LOCAL_API_KEY is set and the request lacks it.", [C.Unauthorized]),
    headers: { "x-request-id": headerRef, "WWW-Authenticate": { schema: { type: "string" }, example: 'Bearer realm="delayq"' } },
  },
  Forbidden: errorResponse(
    "Local runtime: a Host that is not a loopback name nor in LOCAL_HOSTS, or an Origin of another site. On AWS: API Gateway refused the SigV4 signature or the principal may not execute-api:Invoke ({\"message\": \"Forbidden\"}).",
    [C.Forbidden],
    { gateway: true },
  ),
  NotFound: errorResponse("No such group or schedule.", [C.NotFound]),
  MessageNotExist: errorResponse("No such message (never published here, or expired), or a receipt handle that is spent.", [C.MessageNotExist]),
  Conflict: errorResponse("A recurring schedule of that name exists.", [C.AlreadyExists]),
  PushGroup: errorResponse("The group is a push group: its messages go to its target. PUT it without push to consume it.", [C.PushGroup]),
  BadRequestPush: errorResponse("As BadRequestBody, or a push target this deployment refuses (PushTargetRefused: metadata, link-local; on AWS loopback, private, http) or cannot deliver to (PushTargetUnavailable: locally, AWS targets without AWS credentials).", [
    C.InvalidArgument,
    C.MalformedJson,
    C.PushTargetRefused,
    C.PushTargetUnavailable,
  ]),
  PayloadTooLarge: errorResponse(`A message body over ${LIMITS.bodyBytes} bytes, or a request body over ${REQUEST_BODY_LIMIT_BYTES} bytes.`, [C.MessageTooLarge, C.RequestTooLarge]),
  RequestTooLarge: errorResponse(`The request body is over ${REQUEST_BODY_LIMIT_BYTES} bytes (2 MiB); refused before it is read further.`, [C.RequestTooLarge]),
  UnsupportedMediaType: errorResponse("A non-empty body without Content-Type: application/json.", [C.UnsupportedMediaType]),
  TooManyRequests: {
    description: "On AWS: API Gateway throttled the route (its rate or burst limit). Retry with backoff.",
    content: { "application/json": { schema: ref("GatewayMessage"), example: { message: "Too Many Requests" } } },
  },
  InternalError: errorResponse("A bug: the detail is logged with the request id, never returned.", [C.InternalError], { gateway: true }),
  ServiceUnavailable: errorResponse("The store is throttling, timing out or unreachable; retry after Retry-After seconds. The request may or may not have been applied.", [C.ServiceUnavailable], {
    gateway: true,
    retryAfter: true,
  }),
};

const v1Description = `The native JSON API of delayq, a delayed and scheduled message queue. JSON in and out; all times are Unix epoch milliseconds.
Errors are {"error": {"code", "message"}} with a stable code and a 4xx for a caller's mistake; every answer carries x-request-id.
Besides the answers listed per operation, any path answers 404 NotFound when it is no route, 405 MethodNotAllowed for a method its route does not serve, and 400 InvalidArgument for a dot-segment or backslash in it.

Authentication: on AWS the /v1 routes use IAM authorization (sign every request with SigV4 for the service execute-api);
with npm start there is none, unless LOCAL_API_KEY is set (then send it as x-api-key or Authorization: Bearer). GET /healthz and GET /openapi.json are open.`;

function build(): Json {
  const T = "/v1/topics/{topic}";
  const G = `${T}/groups/{group}`;
  const paths: Record<string, Json> = {
    "/healthz": {
      get: operation({
        operationId: "health",
        summary: "Readiness: 200 once the store answers",
        tags: ["operations"],
        status: "200",
        okDescription: "The store answers.",
        okSchema: ref("Health"),
        okExample: { ok: true },
        open: true,
      }),
    },
    "/openapi.json": {
      get: operation({
        operationId: "openApi",
        summary: "This document",
        tags: ["operations"],
        status: "200",
        okDescription: "The OpenAPI 3.1 document of the JSON API.",
        okSchema: { type: "object", required: ["openapi", "info", "paths"], properties: { openapi: { const: "3.1.0" }, info: { type: "object" }, paths: { type: "object" } } },
        open: true,
      }),
    },
    [`${T}/messages`]: {
      post: operation({
        operationId: "publish",
        summary: "Publish a message, now or later",
        tags: ["messages"],
        parameters: [topicParam, ...delayHeaders],
        requestBody: { schema: ref("PublishRequest"), example: { body: "close order 42", delayMs: 3000, key: "order-42", dedupId: "close-42" } },
        status: "201",
        okDescription: "Stored; deliverAt is the effective deliver time.",
        okSchema: ref("PublishResponse"),
        okExample: { messageId: EXAMPLE_ID, bodyMd5: "83B8446E2F49B0887C1F89A4B294FE13", deliverAt: EXAMPLE_AT },
        errors: { "413": responseRef("PayloadTooLarge") },
      }),
      get: operation({
        operationId: "listMessages",
        summary: "List messages waiting for their deliver time",
        description: "Oldest first, from the deliver-time index (eventually consistent). Pass the cursor back with the same query until none comes.",
        tags: ["messages"],
        parameters: [
          topicParam,
          param("state", "query", { type: "string", enum: ["scheduled"], default: "scheduled" }, "Only scheduled messages are listed."),
          param("from", "query", { type: "string" }, "Window start: epoch ms or ISO-8601 (deliverAt ≥ from)."),
          param("to", "query", { type: "string" }, "Window end: epoch ms or ISO-8601 (deliverAt ≤ to)."),
          param("tag", "query", ref("Tag"), "Only messages with this tag."),
          limitParam(LIST_LIMIT),
          cursorParam,
        ],
        status: "200",
        okDescription: "One page.",
        okSchema: ref("MessageList"),
        okExample: { messages: [{ messageId: EXAMPLE_ID, deliverAt: EXAMPLE_AT, tag: "close" }], cursor: "eyJ2IjoyfQ" },
      }),
      delete: operation({
        operationId: "cancelByKey",
        summary: "Cancel every message of a key",
        tags: ["messages"],
        parameters: [topicParam, param("key", "query", { type: "string", minLength: 1, maxLength: LIMITS.keyChars }, "The business key given at publish.", true)],
        status: "200",
        okDescription: "Each message of the key with its outcome.",
        okSchema: ref("CancelByKeyResponse"),
        okExample: { key: "order-42", results: [{ messageId: EXAMPLE_ID, outcome: "cancelled" }] },
        errors: { "404": responseRef("MessageNotExist") },
      }),
    },
    [`${T}/messages/batch`]: {
      post: operation({
        operationId: "publishBatch",
        summary: "Publish 1..16 messages at once",
        tags: ["messages"],
        parameters: [topicParam],
        requestBody: { schema: ref("PublishBatchRequest"), example: { messages: [{ body: "a", delayMs: 1000 }, { body: "b", deliverAt: "2026-12-24T09:00", timeZone: "Europe/Paris" }] } },
        status: "200",
        okDescription: "One result per message, in order: the published message or its error.",
        okSchema: ref("PublishBatchResponse"),
        okExample: { results: [{ messageId: EXAMPLE_ID, bodyMd5: "0CC175B9C0F1B6A831C399E269772661", deliverAt: EXAMPLE_AT }, { error: { code: "InvalidArgument", message: "…" } }] },
        errors: { "413": responseRef("PayloadTooLarge") },
      }),
    },
    [`${T}/messages/{messageId}`]: {
      get: operation({
        operationId: "getMessage",
        summary: "Look a message up, with each group's delivery",
        tags: ["messages"],
        parameters: [topicParam, messageIdParam],
        status: "200",
        okDescription: "The message and its deliveries.",
        okSchema: ref("MessageState"),
        errors: { "404": responseRef("MessageNotExist") },
      }),
      delete: operation({
        operationId: "cancel",
        summary: "Cancel a message before its deliver time",
        description: "Until CANCEL_MARGIN_MS (1 s) before its deliver time; later the answer is already-delivered.",
        tags: ["messages"],
        parameters: [topicParam, messageIdParam],
        status: "200",
        okDescription: "cancelled, or already-delivered.",
        okSchema: ref("CancelResponse"),
        okExample: { messageId: EXAMPLE_ID, outcome: "cancelled" },
        errors: { "404": responseRef("MessageNotExist") },
      }),
      patch: operation({
        operationId: "reschedule",
        summary: "Move a message's deliver time, or deliver it now",
        tags: ["messages"],
        parameters: [topicParam, messageIdParam, ...delayHeaders],
        requestBody: { schema: ref("RescheduleRequest"), example: { deliverAt: "now" } },
        status: "200",
        okDescription: "rescheduled (with the new deliverAt), already-delivered or cancelled.",
        okSchema: ref("RescheduleResponse"),
        okExample: { messageId: EXAMPLE_ID, outcome: "rescheduled", deliverAt: EXAMPLE_AT },
        errors: { "404": responseRef("MessageNotExist") },
      }),
    },
    [`${T}/stats`]: {
      get: operation({
        operationId: "stats",
        summary: "Counts and the due forecast",
        description: "Read from the due index when asked (one Query per lane): meant for dashboards and operators, not a hot path.",
        tags: ["topics"],
        parameters: [topicParam],
        status: "200",
        okDescription: "The topic's counts.",
        okSchema: ref("TopicStats"),
        okExample: {
          topic: "orders",
          at: EXAMPLE_AT,
          scheduled: 1200,
          held: 0,
          oldestDueAgeMs: 140,
          dueWithin: { minute: 3, hour: 41, day: 388, week: 1107 },
          groups: { billing: { ready: 2, inFlight: 5, deadLettered: 1, oldestReadyAgeMs: 140 } },
          groupsTruncated: false,
          lanesRead: 7,
        },
      }),
    },
    "/v1/topics": {
      get: operation({
        operationId: "listTopics",
        summary: "The topics, by name",
        description: "Every topic of the JSON API that was published to or configured; one Query of the topic registry per page, no scan.",
        tags: ["topics"],
        parameters: [limitParam({ default: TOPIC_PAGE.defaultLimit, max: TOPIC_PAGE.maxLimit }), cursorParam],
        status: "200",
        okDescription: "One page.",
        okSchema: ref("TopicList"),
        okExample: { topics: ["orders", "payments"] },
      }),
    },
    [T]: {
      get: operation({
        operationId: "getTopic",
        summary: "A topic's settings (effective values)",
        tags: ["topics"],
        parameters: [topicParam],
        status: "200",
        okDescription: "The settings.",
        okSchema: ref("TopicSettings"),
        okExample: { topic: "orders", maxDelayMs: 40 * DAY_MS, overMaxDelay: null, messageTtlMs: null, retentionMs: 3 * DAY_MS },
      }),
      put: operation({
        operationId: "putTopic",
        summary: "Replace a topic's settings",
        description: "Taken into account within 5 s everywhere (per-process cache).",
        tags: ["topics"],
        parameters: [topicParam],
        requestBody: { schema: ref("TopicSettingsInput"), example: { maxDelayMs: 366 * DAY_MS, overMaxDelay: "reject" } },
        status: "200",
        okDescription: "The effective settings.",
        okSchema: ref("TopicSettings"),
      }),
    },
    [`${T}/groups`]: {
      get: operation({
        operationId: "listGroups",
        summary: "A topic's groups with their settings",
        tags: ["groups"],
        parameters: [topicParam, limitParam({ default: GROUP_PAGE.defaultLimit, max: GROUP_PAGE.maxLimit }), cursorParam],
        status: "200",
        okDescription: "One page.",
        okSchema: ref("GroupList"),
      }),
    },
    [G]: {
      get: operation({
        operationId: "getGroup",
        summary: "A group's settings (effective values)",
        tags: ["groups"],
        parameters: [topicParam, groupParam],
        status: "200",
        okDescription: "The settings.",
        okSchema: ref("GroupSettings"),
        okExample: {
          topic: "orders",
          group: "billing",
          visibilitySeconds: 30,
          maxReceiveCount: 16,
          retryBackoff: { mode: "fixed", baseSeconds: 0, capSeconds: 0 },
          deadLetter: "on",
          tagFilter: "*",
          push: null,
          createdAt: EXAMPLE_AT,
        },
        errors: { "404": responseRef("NotFound") },
      }),
      put: operation({
        operationId: "putGroup",
        summary: "Replace a group's settings (registers it)",
        tags: ["groups"],
        parameters: [topicParam, groupParam],
        requestBody: { schema: ref("GroupSettingsInput"), example: { maxReceiveCount: 5, retryBackoff: { mode: "exponential", baseSeconds: 1, capSeconds: 8 } } },
        status: "200",
        okDescription: "The effective settings (an HTTP push group's signing secret once, in push.secret, when this PUT made it one).",
        okSchema: ref("GroupSettings"),
        errors: { "400": responseRef("BadRequestPush") },
      }),
      delete: operation({
        operationId: "deleteGroup",
        summary: "Unregister a group, with its pending deliveries and dead letters",
        tags: ["groups"],
        parameters: [topicParam, groupParam],
        status: "200",
        okDescription: "Deleted.",
        okSchema: ref("DeleteGroupResponse"),
        okExample: { topic: "orders", group: "billing", deleted: true },
        errors: { "404": responseRef("NotFound") },
      }),
    },
    [`${G}/consume`]: {
      post: operation({
        operationId: "consume",
        summary: "Receive messages (long poll)",
        description: `Answers as soon as at least one message is available, or after waitSeconds with none. A message is never returned before its deliverAt. A long poll never holds a request past ${LIMITS.waitSecondsMax - 2} s.`,
        tags: ["consume"],
        parameters: [topicParam, groupParam],
        requestBody: { schema: ref("ConsumeRequest"), example: { max: 10, waitSeconds: 20 }, required: false },
        status: "200",
        okDescription: "The messages received (possibly none).",
        okSchema: ref("ConsumeResponse"),
        okExample: {
          messages: [
            {
              messageId: EXAMPLE_ID,
              receiptHandle: EXAMPLE_HANDLE,
              body: "close order 42",
              bodyMd5: "83B8446E2F49B0887C1F89A4B294FE13",
              properties: {},
              publishedAt: EXAMPLE_AT - 3000,
              deliverAt: EXAMPLE_AT,
              firstConsumedAt: EXAMPLE_AT + 1,
              nextVisibleAt: EXAMPLE_AT + 30_001,
              consumedTimes: 1,
            },
          ],
        },
        errors: { "409": responseRef("PushGroup") },
      }),
    },
    [`${G}/ack`]: {
      post: operation({
        operationId: "ack",
        summary: "Acknowledge deliveries",
        description: "Per handle: a spent or expired handle fails alone (MessageNotExist), a malformed or foreign one too (ReceiptHandleError); the others are acked.",
        tags: ["consume"],
        parameters: [topicParam, groupParam],
        requestBody: { schema: ref("AckRequest"), example: { receiptHandles: [EXAMPLE_HANDLE] } },
        status: "200",
        okDescription: "How many were acked, and the handles that failed.",
        okSchema: ref("AckResponse"),
        okExample: { acked: 1, failed: [] },
      }),
    },
    [`${G}/nack`]: {
      post: operation({
        operationId: "nack",
        summary: "Give a delivery back, now or after a delay",
        tags: ["consume"],
        parameters: [topicParam, groupParam],
        requestBody: { schema: ref("NackRequest"), example: { receiptHandle: EXAMPLE_HANDLE, delayMs: 5000 } },
        status: "200",
        okDescription: "requeued (visible again at nextVisibleAt), dead-lettered or dropped.",
        okSchema: ref("NackResponse"),
        okExample: { messageId: EXAMPLE_ID, outcome: "requeued", nextVisibleAt: EXAMPLE_AT + 5000 },
        errors: { "400": responseRef("BadRequestHandle"), "404": responseRef("MessageNotExist") },
      }),
    },
    [`${G}/dead-letters`]: {
      get: operation({
        operationId: "listDeadLetters",
        summary: "A group's dead letters, oldest failure first",
        tags: ["retry"],
        parameters: [topicParam, groupParam, limitParam({ default: DEAD_LETTER_PAGE.defaultLimit, max: DEAD_LETTER_PAGE.maxLimit }), cursorParam],
        status: "200",
        okDescription: "One page.",
        okSchema: ref("DeadLetterList"),
      }),
    },
    [`${G}/push/secret`]: {
      post: operation({
        operationId: "rotatePushSecret",
        summary: "A new signing secret for an HTTP push group",
        description: "Answered once. The replaced secret keeps signing beside the new one for graceSeconds (default a day).",
        tags: ["groups"],
        parameters: [topicParam, groupParam],
        requestBody: { schema: ref("PushSecretRequest"), required: false, example: { graceSeconds: 3600 } },
        status: "200",
        okDescription: "The new secret.",
        okSchema: ref("PushSecret"),
        errors: { "404": responseRef("NotFound") },
      }),
    },
    [`${G}/dead-letters/redrive`]: {
      post: operation({
        operationId: "redrive",
        summary: "Dead letters back into the group, visible now",
        tags: ["retry"],
        parameters: [topicParam, groupParam],
        requestBody: { schema: ref("RedriveRequest"), example: { all: true } },
        status: "200",
        okDescription: "How many were redriven; more: true when all stopped at 1000.",
        okSchema: ref("RedriveResponse"),
        okExample: { redriven: 3, failed: [], more: false },
      }),
    },
    "/v1/schedules": {
      post: operation({
        operationId: "createSchedule",
        summary: "Create a recurring schedule",
        description: "Each firing publishes the message to the topic with dedupId schedule:<name>:<scheduled time>.",
        tags: ["schedules"],
        requestBody: {
          schema: ref("ScheduleInput"),
          example: { name: "weekday-report", topic: "reports", expression: "cron(0 9 ? * MON-FRI *)", timeZone: "Europe/Paris", message: { body: "build the report", tag: "daily" } },
        },
        status: "201",
        okDescription: "Created.",
        okSchema: ref("Schedule"),
        errors: { "409": responseRef("Conflict") },
      }),
      get: operation({
        operationId: "listSchedules",
        summary: "Every recurring schedule",
        tags: ["schedules"],
        status: "200",
        okDescription: "The schedules.",
        okSchema: ref("ScheduleList"),
      }),
    },
    "/v1/schedules/{name}": {
      get: operation({
        operationId: "getSchedule",
        summary: "One recurring schedule",
        tags: ["schedules"],
        parameters: [param("name", "path", ref("Name"), "Schedule name.")],
        status: "200",
        okDescription: "The schedule.",
        okSchema: ref("Schedule"),
        errors: { "404": responseRef("NotFound") },
      }),
      delete: operation({
        operationId: "deleteSchedule",
        summary: "Delete a recurring schedule",
        tags: ["schedules"],
        parameters: [param("name", "path", ref("Name"), "Schedule name.")],
        status: "200",
        okDescription: "Deleted.",
        okSchema: ref("DeleteScheduleResponse"),
        okExample: { name: "weekday-report", deleted: true },
        errors: { "404": responseRef("NotFound") },
      }),
    },
  };
  return {
    openapi: "3.1.0",
    info: { title: "delayq JSON API", version: "1", description: v1Description },
    servers: [
      { url: "http://127.0.0.1:8080", description: "npm start (the local runtime)" },
      {
        url: "https://{apiId}.execute-api.{region}.amazonaws.com",
        description: "A deployed stack (its ApiUrl output); sign /v1 requests with SigV4 for execute-api",
        variables: { apiId: { default: "abc123" }, region: { default: "eu-west-1" } },
      },
    ],
    tags: [
      { name: "messages", description: "Publish, look up, list, cancel and reschedule." },
      { name: "consume", description: "Receive, acknowledge, give back." },
      { name: "topics", description: "Topic settings and stats." },
      { name: "groups", description: "Consumer groups: settings, listing, deletion." },
      { name: "retry", description: "Dead letters and redrive." },
      { name: "schedules", description: "Recurring schedules." },
      { name: "operations", description: "Health and this document." },
    ],
    security: [{ sigv4: [] }, { localApiKey: [] }, { localBearer: [] }, {}],
    paths,
    components: {
      schemas,
      responses,
      headers: { RequestIdHeader: { description: "Identifies the request in the logs; quote it when reporting a problem.", schema: { type: "string" } } },
      securitySchemes: {
        sigv4: {
          type: "apiKey",
          name: "Authorization",
          in: "header",
          description:
            "On AWS: IAM authorization. Sign each request with AWS Signature Version 4 for the service execute-api in the stack's region (Authorization, X-Amz-Date, X-Amz-Security-Token headers); the principal needs execute-api:Invoke on the route.",
          "x-amazon-apigateway-authtype": "awsSigv4",
        },
        localApiKey: { type: "apiKey", name: "x-api-key", in: "header", description: "npm start with LOCAL_API_KEY set: the key. Without LOCAL_API_KEY no authentication." },
        localBearer: { type: "http", scheme: "bearer", description: "npm start with LOCAL_API_KEY set: Authorization: Bearer <key>." },
      },
    },
  };
}

let cached: { document: Json; text: string } | undefined;

/** The document, built once per process. */
export function openApiDocument(): Json {
  cached ??= (() => {
    const document = build();
    return { document, text: JSON.stringify(document) };
  })();
  return cached.document;
}

/** The document as JSON text, as served. */
export function openApiText(): string {
  openApiDocument();
  return (cached as { text: string }).text;
}

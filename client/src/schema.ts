/* Generated from client/openapi.json by `npm run openapi`; do not edit. */

/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Name".
 */
export type Name = string;
/**
 * 32 upper-case hex characters (12 of publish time, 20 random).
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "MessageId".
 */
export type MessageId = string;
/**
 * Upper-case hex MD5 of the UTF-8 body.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Md5".
 */
export type Md5 = string;
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Tag".
 */
export type Tag = string;
/**
 * Tags joined by "||" (a||b), or "*" for every tag.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "TagFilter".
 */
export type TagFilter = string;
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "DeliverAt".
 */
export type DeliverAt = number | string;
/**
 * IANA time zone of a local deliverAt (any letter case; answered in canonical spelling).
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "TimeZone".
 */
export type TimeZone = string;
/**
 * Filter of this call; other messages stay for the group's other consumers.
 */
export type TagFilter1 = string;
/**
 * Where a push group's messages go. Validated at configuration (scheme, host; see the README's Push delivery).
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PushTargetInput".
 */
export type PushTargetInput =
  | {
      type: "http";
      /**
       * https (or http) URL; POSTed the payload as JSON, signed.
       */
      url: string;
      timeoutMs?: number;
      maxConcurrency?: number;
      headers?: {
        [k: string]: string;
      };
    }
  | {
      type: "lambda";
      functionArn: string;
      timeoutMs?: number;
      maxConcurrency?: number;
    }
  | {
      type: "sqs";
      queueUrl: string;
      /**
       * FIFO queues only; default the message's key, else the group's name.
       */
      messageGroupId?: string;
      timeoutMs?: number;
      maxConcurrency?: number;
    }
  | {
      type: "eventbridge";
      eventBusName: string;
      detailType?: string;
      timeoutMs?: number;
      maxConcurrency?: number;
    };
/**
 * IANA time zone of a local deliverAt (any letter case; answered in canonical spelling).
 */
export type TimeZone1 = string;

/**
 * User attributes, string to string, at most 16384 bytes (16 KiB) in all; the empty name and "__proto__" are refused.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Properties".
 */
export interface Properties {
  [k: string]: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Error".
 */
export interface Error {
  error: {
    /**
     * Stable: branch on it.
     */
    code:
      | "InvalidArgument"
      | "MalformedJson"
      | "MessageTooLarge"
      | "RequestTooLarge"
      | "UnsupportedMediaType"
      | "Unauthorized"
      | "Forbidden"
      | "NotFound"
      | "MethodNotAllowed"
      | "MessageNotExist"
      | "AlreadyExists"
      | "ReceiptHandleError"
      | "PushTargetRefused"
      | "PushTargetUnavailable"
      | "PushGroup"
      | "ServiceUnavailable"
      | "InternalError";
    /**
     * What was wrong and what to send instead; quotes at most 80 characters of the request.
     */
    message: string;
  };
}
/**
 * An answer of Amazon API Gateway itself, before the queue saw the request: a missing or wrong SigV4 signature (403 "Forbidden"), throttling (429 "Too Many Requests"), an integration failure (500, 503).
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "GatewayMessage".
 */
export interface GatewayMessage {
  message: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Health".
 */
export interface Health {
  ok: true;
}
/**
 * At most one of delayMs, deliverAt and the delay / x-delay headers. Beyond the topic's maximum delay, delayMs and deliverAt are 400 InvalidArgument (unless the topic's overMaxDelay says deliver-now).
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PublishRequest".
 */
export interface PublishRequest {
  /**
   * Payload, UTF-8, at most 262144 bytes (256 KiB; 413 MessageTooLarge above).
   */
  body: string;
  tag?: Tag;
  /**
   * Business key: look-ups and cancel by key.
   */
  key?: string;
  properties?: Properties;
  /**
   * Deliver this many ms after the publish is accepted.
   */
  delayMs?: number;
  deliverAt?: DeliverAt;
  timeZone?: TimeZone;
  /**
   * Expires at publishedAt + min(ttlMs, the topic's messageTtlMs) + delay; never delivered after.
   */
  ttlMs?: number;
  /**
   * Idempotency key: a repeat on the same topic returns the original message with duplicate: true, for the message's whole life.
   */
  dedupId?: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PublishResponse".
 */
export interface PublishResponse {
  messageId: MessageId;
  bodyMd5: Md5;
  /**
   * The effective deliver time.
   */
  deliverAt: number;
  /**
   * The local wall-clock time it was given in.
   */
  deliverAtLocal?: string;
  timeZone?: TimeZone;
  /**
   * A repeat of an earlier publish with the same dedupId.
   */
  duplicate?: true;
  /**
   * The asked time was beyond the topic's maximum and the rule in force delivered it now.
   */
  overMaxDelay?: "delivered-now";
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PublishBatchRequest".
 */
export interface PublishBatchRequest {
  /**
   * Each with its own delayMs / deliverAt / dedupId; the delay headers are refused on a batch.
   *
   * @minItems 1
   * @maxItems 16
   */
  messages: [PublishRequest, ...PublishRequest[]];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PublishBatchResponse".
 */
export interface PublishBatchResponse {
  /**
   * One per message, in order; the valid ones are stored with one write.
   */
  results: (PublishResponse | Error)[];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "ConsumeRequest".
 */
export interface ConsumeRequest {
  max?: number;
  /**
   * Long poll: answer as soon as a message is available, or after this long with none.
   */
  waitSeconds?: number;
  tag?: TagFilter1;
  /**
   * Default: the group's, else 30.
   */
  visibilitySeconds?: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Message".
 */
export interface Message {
  messageId: MessageId;
  /**
   * Belongs to this delivery only: ack or nack it before nextVisibleAt.
   */
  receiptHandle: string;
  body: string;
  bodyMd5: Md5;
  tag?: string;
  key?: string;
  properties: Properties;
  /**
   * Unix epoch milliseconds
   */
  publishedAt: number;
  /**
   * Unix epoch milliseconds
   */
  deliverAt: number;
  /**
   * Unix epoch milliseconds
   */
  firstConsumedAt: number;
  /**
   * Unix epoch milliseconds
   */
  nextVisibleAt: number;
  consumedTimes: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "ConsumeResponse".
 */
export interface ConsumeResponse {
  messages: Message[];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "AckRequest".
 */
export interface AckRequest {
  /**
   * @minItems 1
   * @maxItems 16
   */
  receiptHandles: [string, ...string[]];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "AckResponse".
 */
export interface AckResponse {
  acked: number;
  failed: {
    receiptHandle: string;
    code: "ReceiptHandleError" | "MessageNotExist";
    message: string;
  }[];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "NackRequest".
 */
export interface NackRequest {
  receiptHandle: string;
  /**
   * Visible again after this long (0: now). Default: the group's retry backoff.
   */
  delayMs?: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "NackResponse".
 */
export interface NackResponse {
  messageId: MessageId;
  outcome: "requeued" | "dead-lettered" | "dropped";
  /**
   * When requeued.
   */
  nextVisibleAt?: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "DeadLetter".
 */
export interface DeadLetter {
  messageId: MessageId;
  /**
   * Unix epoch milliseconds
   */
  lastFailureAt: number;
  consumedTimes: number;
  /**
   * Unix epoch milliseconds
   */
  deliverAt: number;
  tag?: string;
  reason?: "expired" | "maxReceiveCount";
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "DeadLetterList".
 */
export interface DeadLetterList {
  deadLetters: DeadLetter[];
  /**
   * Absent on the last page.
   */
  cursor?: string;
}
/**
 * Either {"all": true} or {"messageIds": [...]}.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "RedriveRequest".
 */
export interface RedriveRequest {
  all?: boolean;
  /**
   * @minItems 1
   * @maxItems 100
   */
  messageIds?: [MessageId, ...MessageId[]];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "RedriveResponse".
 */
export interface RedriveResponse {
  redriven: number;
  failed: {
    messageId: string;
    code: "MessageNotExist";
    message: string;
  }[];
  /**
   * all moved its maximum of 1000: call again.
   */
  more: boolean;
}
/**
 * A PUT replaces the whole document: a field left out goes back to its default.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "TopicSettingsInput".
 */
export interface TopicSettingsInput {
  maxDelayMs?: number | null;
  overMaxDelay?: "deliver-now" | "reject" | null;
  messageTtlMs?: number | null;
  retentionMs?: number | null;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "TopicSettings".
 */
export interface TopicSettings {
  topic: string;
  maxDelayMs: number;
  /**
   * null: each door's own rule.
   */
  overMaxDelay: "deliver-now" | "reject" | null;
  messageTtlMs: number | null;
  retentionMs: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "RetryBackoff".
 */
export interface RetryBackoff {
  mode?: "fixed" | "exponential";
  baseSeconds?: number;
  capSeconds?: number;
}
/**
 * A PUT replaces the whole document and registers the group.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "GroupSettingsInput".
 */
export interface GroupSettingsInput {
  visibilitySeconds?: number | null;
  maxReceiveCount?: number | null;
  retryBackoff?: RetryBackoff | null;
  deadLetter?: "on" | "off" | true | false | null;
  tagFilter?: TagFilter | null;
  /**
   * Makes the group a push group (null or absent: a pull group).
   */
  push?: PushTargetInput | null;
}
/**
 * The push target in force (defaults filled in). `secret` only in the answer of the PUT that made the group an HTTP push group.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PushTarget".
 */
export interface PushTarget {
  type: "http" | "lambda" | "sqs" | "eventbridge";
  url?: string;
  headers?: {
    [k: string]: string;
  };
  functionArn?: string;
  queueUrl?: string;
  messageGroupId?: string;
  eventBusName?: string;
  detailType?: string;
  timeoutMs: number;
  maxConcurrency: number;
  /**
   * The signing secret (whsec_…): answered once, keep it.
   */
  secret?: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PushSecretRequest".
 */
export interface PushSecretRequest {
  graceSeconds?: number | null;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "PushSecret".
 */
export interface PushSecret {
  topic: string;
  group: string;
  secret: string;
  /**
   * Unix epoch milliseconds
   */
  previousSecretValidUntil: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "GroupSettings".
 */
export interface GroupSettings {
  topic: string;
  group: string;
  visibilitySeconds: number;
  maxReceiveCount: number;
  retryBackoff: {
    mode: "fixed" | "exponential";
    baseSeconds: number;
    capSeconds: number;
  };
  deadLetter: "on" | "off";
  tagFilter: string;
  push: PushTarget | null;
  /**
   * Unix epoch milliseconds
   */
  createdAt: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "TopicList".
 */
export interface TopicList {
  /**
   * Topic names in name order.
   */
  topics: Name[];
  /**
   * Absent on the last page.
   */
  cursor?: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "GroupList".
 */
export interface GroupList {
  groups: GroupSettings[];
  /**
   * Absent on the last page.
   */
  cursor?: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "DeleteGroupResponse".
 */
export interface DeleteGroupResponse {
  topic: string;
  group: string;
  deleted: true;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "GroupDelivery".
 */
export interface GroupDelivery {
  group: string;
  state: "ready" | "in-flight" | "acked" | "dead" | "dropped";
  consumedTimes: number;
  /**
   * Unix epoch milliseconds
   */
  nextVisibleAt?: number;
  /**
   * Unix epoch milliseconds
   */
  firstConsumedAt?: number;
  /**
   * Unix epoch milliseconds
   */
  lastConsumedAt?: number;
  /**
   * Unix epoch milliseconds
   */
  ackedAt?: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "MessageState".
 */
export interface MessageState {
  messageId: MessageId;
  topic: string;
  state: "scheduled" | "due" | "cancelled";
  body: string;
  bodyMd5: Md5;
  tag?: string;
  key?: string;
  properties: Properties;
  /**
   * Unix epoch milliseconds
   */
  publishedAt: number;
  /**
   * Unix epoch milliseconds
   */
  deliverAt: number;
  deliverAtLocal?: string;
  timeZone?: string;
  dedupId?: string;
  /**
   * Unix epoch milliseconds
   */
  expiresAt: number;
  /**
   * Unix epoch milliseconds
   */
  cancelledAt?: number;
  /**
   * The groups that took it so far; a group that has not reached it has no entry.
   */
  groups: GroupDelivery[];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "CancelResponse".
 */
export interface CancelResponse {
  messageId: MessageId;
  outcome: "cancelled" | "already-delivered";
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "CancelByKeyResponse".
 */
export interface CancelByKeyResponse {
  key: string;
  results: CancelResponse[];
}
/**
 * Exactly one of deliverAt (0 or "now": deliver now) and delayMs (from now), or a delay / x-delay header.
 *
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "RescheduleRequest".
 */
export interface RescheduleRequest {
  deliverAt?: DeliverAt;
  delayMs?: number;
  timeZone?: TimeZone;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "RescheduleResponse".
 */
export interface RescheduleResponse {
  messageId: MessageId;
  outcome: "rescheduled" | "already-delivered" | "cancelled";
  /**
   * Unix epoch milliseconds
   */
  deliverAt?: number;
  deliverAtLocal?: string;
  timeZone?: string;
  overMaxDelay?: "delivered-now";
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "MessageList".
 */
export interface MessageList {
  messages: {
    messageId: MessageId;
    /**
     * Unix epoch milliseconds
     */
    deliverAt: number;
    tag?: string;
  }[];
  /**
   * Absent on the last page.
   */
  cursor?: string;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "GroupStats".
 */
export interface GroupStats {
  ready: number;
  inFlight: number;
  deadLettered: number;
  oldestReadyAgeMs: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "TopicStats".
 */
export interface TopicStats {
  topic: string;
  /**
   * Unix epoch milliseconds
   */
  at: number;
  /**
   * Deliver time still ahead.
   */
  scheduled: number;
  /**
   * Due messages of a topic without groups, kept for its first group.
   */
  held: number;
  oldestDueAgeMs: number;
  /**
   * The forecast: scheduled messages falling due within the next minute, hour, day and week.
   */
  dueWithin: {
    minute: number;
    hour: number;
    day: number;
    week: number;
  };
  /**
   * The first 100 groups by name.
   */
  groups: {
    [k: string]: GroupStats;
  };
  groupsTruncated: boolean;
  lanesRead: number;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "ScheduledMessage".
 */
export interface ScheduledMessage {
  body: string;
  tag?: Tag;
  key?: string;
  properties?: Properties;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "ScheduleInput".
 */
export interface ScheduleInput {
  name: Name;
  topic: Name;
  /**
   * EventBridge Scheduler syntax: cron(minutes hours day-of-month month day-of-week year) or rate(n minutes|hours|days).
   */
  expression: string;
  timeZone?: TimeZone1;
  message: ScheduledMessage;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "Schedule".
 */
export interface Schedule {
  name: string;
  topic: string;
  expression: string;
  timeZone: string;
  message: ScheduledMessage;
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "ScheduleList".
 */
export interface ScheduleList {
  schedules: Schedule[];
}
/**
 * This interface was referenced by `Schemas`'s JSON-Schema
 * via the `definition` "DeleteScheduleResponse".
 */
export interface DeleteScheduleResponse {
  name: string;
  deleted: true;
}

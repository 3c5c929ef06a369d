import { Reply } from "./codec.js";

/**
 * Dead-letter exchanges as RabbitMQ applies them: a queue declared with `x-dead-letter-exchange` (and
 * optionally `x-dead-letter-routing-key`) republishes what it rejects without requeue and what expires
 * in it to that exchange, with an `x-death` history in the headers.
 */
export interface DeadLettering {
  /** The exchange ("" is the default exchange). */
  exchange: string;
  /** Replaces the message's routing key when set. */
  routingKey?: string;
}

/** Why a message left its queue, in RabbitMQ's words (the `reason` of an `x-death` entry). */
export const DeathReason = { Rejected: "rejected", Expired: "expired", DeliveryLimit: "delivery_limit", MaxLength: "maxlen" } as const;
export type DeathReason = (typeof DeathReason)[keyof typeof DeathReason];

/** A queue argument the door refuses: RabbitMQ answers these with 406 PRECONDITION_FAILED. */
export class QueueArgumentError extends Error {
  readonly code = Reply.PreconditionFailed;
}

function text(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  return undefined;
}

/** The queue's dead-lettering from its arguments; throws QueueArgumentError for values RabbitMQ refuses. */
export function deadLetteringOf(queue: string, args: Readonly<Record<string, unknown>>): DeadLettering | undefined {
  const rawExchange = args["x-dead-letter-exchange"];
  const rawKey = args["x-dead-letter-routing-key"];
  const exchange = rawExchange === undefined ? undefined : text(rawExchange);
  const routingKey = rawKey === undefined ? undefined : text(rawKey);
  if (rawExchange !== undefined && exchange === undefined) {
    throw new QueueArgumentError(`PRECONDITION_FAILED - invalid arg 'x-dead-letter-exchange' for queue '${queue}': a string (an exchange name) is expected`);
  }
  if (rawKey !== undefined && routingKey === undefined) {
    throw new QueueArgumentError(`PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '${queue}': a string is expected`);
  }
  if (routingKey !== undefined && exchange === undefined) {
    throw new QueueArgumentError(`PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '${queue}': routing_key_but_no_dlx_defined`);
  }
  if (exchange === undefined) return undefined;
  return { exchange, ...(routingKey !== undefined && { routingKey }) };
}

/** What a queue at its `x-max-length` does with one more message (RabbitMQ's `x-overflow`). */
export const Overflow = { DropHead: "drop-head", RejectPublish: "reject-publish", RejectPublishDlx: "reject-publish-dlx" } as const;
export type Overflow = (typeof Overflow)[keyof typeof Overflow];

export interface LengthLimit {
  /** Most ready messages the queue holds. */
  max: number;
  overflow: Overflow;
}

/** Most `x-max-length` the door applies: the count behind it reads up to this many index entries per publish. */
export const MAX_LENGTH_LIMIT = 100_000;

/** The queue's length limit from `x-max-length` and `x-overflow`; throws QueueArgumentError for values RabbitMQ refuses. */
export function lengthLimitOf(queue: string, args: Readonly<Record<string, unknown>>): LengthLimit | undefined {
  const rawMax = args["x-max-length"];
  const rawOverflow = args["x-overflow"];
  const overflow = rawOverflow === undefined ? Overflow.DropHead : text(rawOverflow);
  if (overflow === undefined || !(Object.values(Overflow) as string[]).includes(overflow)) {
    throw new QueueArgumentError(`PRECONDITION_FAILED - invalid arg 'x-overflow' for queue '${queue}': ${JSON.stringify(String(text(rawOverflow) ?? rawOverflow))} is not one of drop-head, reject-publish, reject-publish-dlx`);
  }
  if (rawMax === undefined) return undefined;
  const max = typeof rawMax === "bigint" ? Number(rawMax) : rawMax;
  if (typeof max !== "number" || !Number.isSafeInteger(max) || max < 0) {
    throw new QueueArgumentError(`PRECONDITION_FAILED - invalid arg 'x-max-length' for queue '${queue}': ${JSON.stringify(String(max))} is not a non-negative integer`);
  }
  if (max > MAX_LENGTH_LIMIT) {
    throw new QueueArgumentError(`PRECONDITION_FAILED - invalid arg 'x-max-length' for queue '${queue}': at most ${MAX_LENGTH_LIMIT} is supported`);
  }
  return { max, overflow: overflow as Overflow };
}

type Typed = { "!": string; value: unknown };

function typedNumber(type: "long" | "timestamp", value: unknown): Typed | undefined {
  const v = value && typeof value === "object" && "value" in value ? (value as { value: unknown }).value : value;
  if (typeof v === "number" && Number.isFinite(v)) return { "!": type, value: Math.trunc(v) };
  if (typeof v === "bigint") return { "!": type, value: Number(v) };
  return undefined;
}

/** An earlier `x-death` entry as decoded, with its count a long and its time a timestamp again (as RabbitMQ wrote them). */
function retype(entry: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...entry };
  const count = typedNumber("long", entry.count);
  if (count) out.count = count;
  const time = typedNumber("timestamp", entry.time);
  if (time) out.time = time;
  return out;
}

export interface Death {
  queue: string;
  reason: DeathReason;
  /** The exchange the message was published to. */
  exchange: string;
  routingKeys: string[];
  timeSec: number;
  originalExpiration?: string;
}

/**
 * The headers of a dead-lettered copy: the `x-death` entry of (queue, reason) counted up and moved to the
 * front (or added), `x-first-death-*` set once, `x-last-death-*` set to this death (RabbitMQ 3.13's rule).
 */
export function deathHeaders(headers: Readonly<Record<string, unknown>> | undefined, death: Death): Record<string, unknown> {
  const h: Record<string, unknown> = { ...(headers ?? {}) };
  const prior = Array.isArray(h["x-death"]) ? (h["x-death"] as unknown[]).filter((e): e is Record<string, unknown> => !!e && typeof e === "object" && !Array.isArray(e)) : [];
  const index = prior.findIndex((e) => text(e.queue) === death.queue && text(e.reason) === death.reason);
  let count = 1;
  if (index >= 0) {
    const n = typedNumber("long", (prior[index] as Record<string, unknown>).count);
    count = (n ? Number(n.value) : 0) + 1;
    prior.splice(index, 1);
  }
  const entry: Record<string, unknown> = {
    count: { "!": "long", value: count },
    reason: death.reason,
    queue: death.queue,
    time: { "!": "timestamp", value: death.timeSec },
    exchange: death.exchange,
    "routing-keys": death.routingKeys,
    ...(death.originalExpiration !== undefined && { "original-expiration": death.originalExpiration }),
  };
  h["x-death"] = [entry, ...prior.map(retype)];
  if (h["x-first-death-reason"] === undefined) {
    h["x-first-death-reason"] = death.reason;
    h["x-first-death-queue"] = death.queue;
    h["x-first-death-exchange"] = death.exchange;
  }
  h["x-last-death-reason"] = death.reason;
  h["x-last-death-queue"] = death.queue;
  h["x-last-death-exchange"] = death.exchange;
  return h;
}

/**
 * Whether dead-lettering into `queue` would close a cycle RabbitMQ breaks: the message died in that
 * queue before and none of its deaths was a rejection (it would expire round and round for ever).
 */
export function closesCycle(headers: Readonly<Record<string, unknown>>, queue: string): boolean {
  const deaths = Array.isArray(headers["x-death"]) ? (headers["x-death"] as Record<string, unknown>[]) : [];
  return deaths.some((e) => text(e?.queue) === queue) && !deaths.some((e) => text(e?.reason) === DeathReason.Rejected);
}

/** The core's retirement reasons in RabbitMQ's words. */
export function deathReasonOf(reason: string | undefined): DeathReason {
  if (reason === "expired") return DeathReason.Expired;
  if (reason === "maxReceiveCount") return DeathReason.DeliveryLimit;
  return DeathReason.Rejected;
}

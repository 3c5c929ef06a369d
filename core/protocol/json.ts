import { ErrorCode, QueueError, invalid, quote } from "../errors.js";
import type { AckResult, PublishResult, ReceivedMessage } from "../message.js";
import type { BatchOutcome } from "../publish.js";
import { PUBLISH_BATCH_MAX } from "../publish.js";
import type { AckInput, ConsumeInput, PublishInput } from "../queue.js";
import { DELIVERED_NOW, TimingConvention } from "../delay-limit.js";
import { readBodyLimited, mediaType } from "../http/body.js";
import { decodeDeliverAt } from "../local-time.js";
import { type Timing, parseDelayNumber, parseDelayText, parseTagFilter } from "../rules.js";

/** The native JSON API's wire types and their pure codecs (see shared/API.md). */

export interface PublishBody {
  body?: unknown;
  tag?: unknown;
  key?: unknown;
  properties?: unknown;
  delayMs?: unknown;
  deliverAt?: unknown;
  ttlMs?: unknown;
  timeZone?: unknown;
  dedupId?: unknown;
}

export interface PublishJson {
  messageId: string;
  bodyMd5: string;
  deliverAt: number;
  /** The local wall-clock time and zone the deliver time was given in, when it was. */
  deliverAtLocal?: string;
  timeZone?: string;
  duplicate?: true;
  /** The asked time was beyond the topic's maximum and the rule in force delivers it now. */
  overMaxDelay?: typeof DELIVERED_NOW;
}

export interface ConsumeBody {
  max?: unknown;
  waitSeconds?: unknown;
  tag?: unknown;
  visibilitySeconds?: unknown;
}

export interface MessageJson {
  messageId: string;
  receiptHandle: string;
  body: string;
  bodyMd5: string;
  tag?: string;
  key?: string;
  properties: Record<string, string>;
  publishedAt: number;
  deliverAt: number;
  firstConsumedAt: number;
  nextVisibleAt: number;
  consumedTimes: number;
}

/** Deepest nesting of arrays and objects a request body may have; no field of the API needs more than 3. */
export const MAX_JSON_DEPTH = 16;

/** The deepest nesting of arrays and objects in JSON text, stopping as soon as it passes `limit`. */
function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * The request body as a JSON object: read with the request size limit (413 beyond it), `Content-Type:
 * application/json` required for a non-empty body (415 otherwise, so no simple cross-origin form or
 * `text/plain` POST is served), strict UTF-8, at most MAX_JSON_DEPTH levels deep. An empty body is `{}`.
 */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  const bytes = await readBodyLimited(request);
  if (bytes.byteLength === 0) return {};
  const type = mediaType(request.headers);
  if (type !== "application/json") {
    throw new QueueError(
      ErrorCode.UnsupportedMediaType,
      `send the request body as JSON with the header Content-Type: application/json; got ${type === undefined ? "no Content-Type" : quote(type)}`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new QueueError(ErrorCode.MalformedJson, "request body is not valid UTF-8; send a JSON object encoded as UTF-8");
  }
  if (text.trim() === "") return {};
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw invalid(`request body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels; no field of this API needs more than 3`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new QueueError(ErrorCode.MalformedJson, "request body is not valid JSON; send a JSON object");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new QueueError(ErrorCode.MalformedJson, "request body must be a JSON object");
  }
  return value as Record<string, unknown>;
}

/**
 * Exactly one way of saying when: `delayMs`, `deliverAt`, the `delay` header (RabbitMQ on ApsaraMQ: a
 * string of ms) or the `x-delay` header (the RabbitMQ plugin: an integer of ms). None means now. The body
 * fields follow delayq's convention beyond the topic's maximum (reject), the headers RabbitMQ's (deliver
 * now): see delay-limit.ts.
 */
export function decodeTiming(body: PublishBody, headers: Headers): Timing {
  const given: Timing[] = [];
  const names: string[] = [];
  if (body.delayMs !== undefined && body.delayMs !== null) {
    given.push({ kind: "delay", delayMs: parseDelayNumber(body.delayMs, "delayMs"), source: "delayMs", convention: TimingConvention.Delayq });
    names.push("delayMs");
  }
  if (body.deliverAt !== undefined && body.deliverAt !== null) {
    given.push({ ...decodeDeliverAt(body.deliverAt, body.timeZone), convention: TimingConvention.Delayq });
    names.push("deliverAt");
  } else if (body.timeZone !== undefined && body.timeZone !== null) {
    throw invalid('timeZone is only meaningful with deliverAt as a local time, e.g. {"deliverAt": "2026-12-01T09:00", "timeZone": "Asia/Shanghai"}');
  }
  for (const header of ["delay", "x-delay"]) {
    const value = headers.get(header);
    if (value !== null) {
      given.push({ kind: "delay", delayMs: parseDelayText(value, `header ${header}`), source: `header ${header}`, convention: TimingConvention.RabbitMQ });
      names.push(`header ${header}`);
    }
  }
  if (given.length > 1) {
    throw invalid(`give the deliver time one way only; got ${names.join(" and ")}. Send either delayMs, deliverAt, or one delay header`);
  }
  return given[0] ?? { kind: "now" };
}

export function decodePublish(topic: string, body: PublishBody, headers: Headers): PublishInput {
  return {
    topic,
    body: body.body,
    tag: body.tag,
    key: body.key,
    properties: body.properties,
    timing: decodeTiming(body, headers),
    ...(body.ttlMs !== undefined && body.ttlMs !== null && { ttlMs: body.ttlMs }),
    ...(body.dedupId !== undefined && body.dedupId !== null && { dedupId: body.dedupId }),
  };
}

/**
 * `POST /v1/topics/{topic}/messages/batch`: `{"messages": [<publish body>, …]}`, 1..16 messages, each
 * with its own deliver time (`delayMs` / `deliverAt` fields; the delay headers say one thing for a whole
 * request, so they are refused here).
 */
export function decodePublishBatch(topic: string, body: Record<string, unknown>, headers: Headers): PublishInput[] {
  const known = ["messages"];
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalid(`unknown field(s) ${unknown.slice(0, 5).join(", ").slice(0, 200)}; send {"messages": [...]}`);
  for (const header of ["delay", "x-delay"]) {
    if (headers.get(header) !== null) throw invalid(`the ${header} header is not taken on a batch; give each message its own delayMs or deliverAt`);
  }
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length < 1 || messages.length > PUBLISH_BATCH_MAX) {
    throw invalid(`messages must be an array of 1-${PUBLISH_BATCH_MAX} messages, each like a single publish body`);
  }
  return messages.map((m, i) => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw invalid(`messages[${i}] must be an object like a single publish body`);
    return decodePublish(topic, m as PublishBody, new Headers());
  });
}

export function encodePublishBatch(outcomes: readonly BatchOutcome[]): { results: (PublishJson | { error: { code: string; message: string } })[] } {
  return {
    results: outcomes.map((o) => (o.ok ? encodePublish(o.result) : { error: { code: o.error.code, message: o.error.message } })),
  };
}

export function encodePublish(result: PublishResult): PublishJson {
  return {
    messageId: result.messageId,
    bodyMd5: result.bodyMd5,
    deliverAt: result.deliverAtMs,
    ...(result.local && { deliverAtLocal: result.local.wallClock, timeZone: result.local.timeZone }),
    ...(result.duplicate && { duplicate: true }),
    ...(result.overMaxDelay && { overMaxDelay: result.overMaxDelay }),
  };
}

export function decodeConsume(topic: string, group: string, body: ConsumeBody): ConsumeInput {
  const num = (v: unknown, name: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number") throw invalid(`${name} must be an integer; got ${quote(v)}`);
    return v;
  };
  const max = num(body.max, "max");
  const waitSeconds = num(body.waitSeconds, "waitSeconds");
  return {
    topic,
    group,
    ...(max !== undefined && { max }),
    ...(waitSeconds !== undefined && { waitSeconds }),
    tags: parseTagFilter(body.tag),
    visibilitySeconds: num(body.visibilitySeconds, "visibilitySeconds"),
  };
}

export function encodeMessage(m: ReceivedMessage): MessageJson {
  return {
    messageId: m.messageId,
    receiptHandle: m.receiptHandle,
    body: m.body,
    bodyMd5: m.bodyMd5,
    ...(m.tag !== undefined && { tag: m.tag }),
    ...(m.key !== undefined && { key: m.key }),
    properties: m.properties,
    publishedAt: m.publishedAtMs,
    deliverAt: m.deliverAtMs,
    firstConsumedAt: m.firstConsumedAtMs,
    nextVisibleAt: m.nextVisibleAtMs,
    consumedTimes: m.consumedTimes,
  };
}

export function decodeAck(topic: string, group: string, body: Record<string, unknown>): AckInput {
  return { topic, group, receiptHandles: body.receiptHandles };
}

export function encodeAck(result: AckResult): AckResult {
  return result;
}

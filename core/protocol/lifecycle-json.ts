import { invalid } from "../errors.js";
import type { CancelResult, ListResult, RescheduleResult, ScheduledEntry, TopicStats } from "../lifecycle.js";
import type { DeliveryState, MessageRecord } from "../ports.js";
import type { Timing } from "../rules.js";
import { type PublishBody, decodeTiming } from "./json.js";

/** Wire types and pure codecs of the management routes (cancel, reschedule, look up, list, stats). */

export interface GroupDeliveryJson {
  group: string;
  /** ready (visible, waiting for a consumer) | in-flight (taken, invisible) | acked | the store's word otherwise (dead, …) */
  state: string;
  consumedTimes: number;
  nextVisibleAt?: number;
  firstConsumedAt?: number;
  lastConsumedAt?: number;
  ackedAt?: number;
}

export interface MessageStateJson {
  messageId: string;
  topic: string;
  /** scheduled (deliver time ahead) | due (the groups take it) | cancelled */
  state: string;
  body: string;
  bodyMd5: string;
  tag?: string;
  key?: string;
  properties: Record<string, string>;
  publishedAt: number;
  deliverAt: number;
  deliverAtLocal?: string;
  timeZone?: string;
  dedupId?: string;
  expiresAt: number;
  cancelledAt?: number;
  /** The groups that took it so far, each with its delivery state. */
  groups: GroupDeliveryJson[];
}

export function groupState(d: DeliveryState, nowMs: number): string {
  if (d.state !== "active") return d.state;
  return d.dueAtMs <= nowMs ? "ready" : "in-flight";
}

export function encodeMessageState(record: MessageRecord, nowMs: number): MessageStateJson {
  const c = record.message.content;
  const state = record.message.state === "cancelled" ? "cancelled" : c.deliverAtMs > nowMs ? "scheduled" : "due";
  return {
    messageId: c.messageId,
    topic: c.topic,
    state,
    body: c.body,
    bodyMd5: c.bodyMd5,
    ...(c.tag !== undefined && { tag: c.tag }),
    ...(c.key !== undefined && { key: c.key }),
    properties: c.properties,
    publishedAt: c.publishedAtMs,
    deliverAt: c.deliverAtMs,
    ...(c.local && { deliverAtLocal: c.local.wallClock, timeZone: c.local.timeZone }),
    ...(c.dedupId !== undefined && { dedupId: c.dedupId }),
    expiresAt: c.expiresAtMs,
    ...(record.message.cancelledAtMs !== undefined && { cancelledAt: record.message.cancelledAtMs }),
    groups: record.deliveries.map((d) => {
      const state = groupState(d, nowMs);
      return {
        group: d.group,
        state,
        consumedTimes: d.consumedTimes,
        ...((state === "ready" || state === "in-flight") && { nextVisibleAt: d.dueAtMs }),
        ...(d.firstConsumedAtMs !== undefined && { firstConsumedAt: d.firstConsumedAtMs }),
        ...(d.lastConsumedAtMs !== undefined && { lastConsumedAt: d.lastConsumedAtMs }),
        ...(d.ackedAtMs !== undefined && { ackedAt: d.ackedAtMs }),
      };
    }),
  };
}

/**
 * PATCH body: `deliverAt` (epoch ms, ISO-8601 with offset, or a local time with `timeZone`; `0` or `"now"`
 * delivers now) or `delayMs` (from now), exactly one — the publish rules otherwise.
 */
export function decodeReschedule(body: PublishBody, headers: Headers): Timing {
  if (body.deliverAt === "now") {
    if (body.delayMs !== undefined && body.delayMs !== null) throw invalid('give the new deliver time one way only: deliverAt "now" or delayMs');
    return { kind: "now" };
  }
  const timing = decodeTiming(body, headers);
  if (timing.kind === "now") {
    throw invalid('send the new deliver time: {"deliverAt": <epoch ms | ISO-8601 | "now" | 0>} or {"delayMs": <ms from now>}');
  }
  return timing;
}

export function encodeReschedule(result: RescheduleResult): Record<string, unknown> {
  return {
    messageId: result.messageId,
    outcome: result.outcome,
    ...(result.deliverAtMs !== undefined && { deliverAt: result.deliverAtMs }),
    ...(result.local && { deliverAtLocal: result.local.wallClock, timeZone: result.local.timeZone }),
    ...(result.overMaxDelay && { overMaxDelay: result.overMaxDelay }),
  };
}

export function encodeCancel(result: CancelResult): CancelResult {
  return { messageId: result.messageId, outcome: result.outcome };
}

export function encodeScheduledEntry(e: ScheduledEntry): { messageId: string; deliverAt: number; tag?: string } {
  return { messageId: e.messageId, deliverAt: e.deliverAtMs, ...(e.tag !== undefined && { tag: e.tag }) };
}

export function encodeList(result: ListResult): { messages: ReturnType<typeof encodeScheduledEntry>[]; cursor?: string } {
  return { messages: result.messages.map(encodeScheduledEntry), ...(result.cursor !== undefined && { cursor: result.cursor }) };
}

export function encodeStats(stats: TopicStats): Record<string, unknown> {
  const { atMs, ...rest } = stats;
  return { ...rest, at: atMs };
}

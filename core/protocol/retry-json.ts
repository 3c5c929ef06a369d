import type { DeadLetter } from "../ports.js";
import type { NackInput, NackResult, RedriveInput } from "../retry.js";

/** Wire types and pure codecs of the retry routes: nack, dead letters, topic and group settings. */

export interface NackJson {
  messageId: string;
  outcome: NackResult["outcome"];
  nextVisibleAt?: number;
}

export interface DeadLetterJson {
  messageId: string;
  lastFailureAt: number;
  consumedTimes: number;
  deliverAt: number;
  tag?: string;
  /** expired | maxReceiveCount */
  reason?: string;
}

export function decodeNack(topic: string, group: string, body: Record<string, unknown>): NackInput {
  return { topic, group, receiptHandle: body.receiptHandle, ...(body.delayMs !== undefined && { delayMs: body.delayMs }) };
}

export function encodeNack(result: NackResult): NackJson {
  return {
    messageId: result.messageId,
    outcome: result.outcome,
    ...(result.nextVisibleAtMs !== undefined && { nextVisibleAt: result.nextVisibleAtMs }),
  };
}

/** `?limit=20&cursor=...`: limit is a decimal integer when given. */
export function decodeDeadLetterQuery(topic: string, group: string, url: URL): { topic: string; group: string; limit?: unknown; cursor?: unknown } {
  const limit = url.searchParams.get("limit");
  const cursor = url.searchParams.get("cursor");
  return {
    topic,
    group,
    ...(limit !== null && { limit: /^\d{1,4}$/.test(limit) ? Number(limit) : limit }),
    ...(cursor !== null && { cursor }),
  };
}

export function encodeDeadLetter(d: DeadLetter): DeadLetterJson {
  return {
    messageId: d.messageId,
    lastFailureAt: d.failedAtMs,
    consumedTimes: d.consumedTimes,
    deliverAt: d.deliverAtMs,
    ...(d.tag !== undefined && { tag: d.tag }),
    ...(d.reason !== undefined && { reason: d.reason }),
  };
}

export function decodeRedrive(topic: string, group: string, body: Record<string, unknown>): RedriveInput {
  return { topic, group, all: body.all, messageIds: body.messageIds };
}

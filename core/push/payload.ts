import type { ReceivedMessage } from "../message.js";

/** What every push carries, whatever the target: the JSON document a receiver gets (the HTTP body, the Lambda event, the SQS body, the EventBridge detail). */
export interface PushPayload {
  messageId: string;
  topic: string;
  group: string;
  body: string;
  tag?: string;
  key?: string;
  properties: Record<string, string>;
  publishedAt: number;
  deliverAt: number;
  /** The push attempt: 1, then +1 after each failed push; a push whose outcome was never recorded (the dispatcher stopped) is repeated with the same number. */
  attempt: number;
  /** Deliveries of this message to the group so far, this one included (what maxReceiveCount counts). */
  deliveryCount: number;
  /** `<messageId>:<attempt>`: the same for a repeated push, different for each retry. */
  idempotencyKey: string;
}

/** The push attempt of a delivery: failures recorded before it, plus one. */
export function pushAttempt(m: Pick<ReceivedMessage, "nackedTimes">): number {
  return (m.nackedTimes ?? 0) + 1;
}

export function pushPayload(topic: string, group: string, m: ReceivedMessage): PushPayload {
  const attempt = pushAttempt(m);
  return {
    messageId: m.messageId,
    topic,
    group,
    body: m.body,
    ...(m.tag !== undefined && { tag: m.tag }),
    ...(m.key !== undefined && { key: m.key }),
    properties: m.properties,
    publishedAt: m.publishedAtMs,
    deliverAt: m.deliverAtMs,
    attempt,
    deliveryCount: m.consumedTimes,
    idempotencyKey: `${m.messageId}:${attempt}`,
  };
}

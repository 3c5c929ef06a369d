import { createHmac, timingSafeEqual } from "node:crypto";

/** The header every signed push carries: `t=<epoch ms>,v1=<hex HMAC-SHA256>[,v1=<hex>]`. */
export const PUSH_SIGNATURE_HEADER = "delayq-signature";

export interface VerifyPushOptions {
  /** The group's signing secret (`whsec_…`), as the PUT that made the group a push group answered it. */
  secret: string;
  /** The `delayq-signature` header. */
  signature: string | null | undefined;
  /** The raw request body, exactly as received (before any JSON parsing). */
  body: string;
  /** Refuse signatures older (or newer) than this; default 5 minutes. */
  toleranceMs?: number;
  nowMs?: number;
}

/**
 * Checks a push's signature: HMAC-SHA256 of `<t>.<body>` with the secret, compared in constant time
 * against every `v1` of the header (a group signs with two secrets while a rotation's grace lasts), and a
 * timestamp within the tolerance (a replayed push is refused). True when the push is genuine.
 */
export function verifyPush(options: VerifyPushOptions): boolean {
  const parts = (options.signature ?? "").split(",").map((p) => p.trim());
  const t = parts.find((p) => p.startsWith("t="))?.slice(2) ?? "";
  if (!/^\d{1,16}$/.test(t)) return false;
  if (Math.abs((options.nowMs ?? Date.now()) - Number(t)) > (options.toleranceMs ?? 300_000)) return false;
  const expected = createHmac("sha256", options.secret).update(`${t}.${options.body}`).digest();
  return parts
    .filter((p) => p.startsWith("v1="))
    .some((p) => {
      const given = Buffer.from(p.slice(3), "hex");
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

/** What a push's JSON body holds (HTTP body, Lambda event, SQS message body, EventBridge detail). */
export interface PushMessage {
  messageId: string;
  topic: string;
  group: string;
  body: string;
  tag?: string;
  key?: string;
  properties: Record<string, string>;
  publishedAt: number;
  deliverAt: number;
  /** 1, then +1 per failed push; repeated unchanged when an outcome was never recorded. */
  attempt: number;
  deliveryCount: number;
  /** `<messageId>:<attempt>`, also in the `idempotency-key` header: process each key once. */
  idempotencyKey: string;
}

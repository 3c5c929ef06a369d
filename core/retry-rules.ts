import { invalid, quote } from "./errors.js";
import { BackoffMode, type RetryBackoff, SETTINGS_LIMITS } from "./settings.js";

/**
 * Message TTL, RabbitMQ's rule: the TTL is `min(message TTL, topic TTL)` plus the delay, counted from
 * publish. So a message expires at `publishedAt + min(ttls) + (deliverAt - publishedAt)`; undefined when
 * neither TTL is set. At and after that instant it is never delivered.
 */
export function ttlExpiresAtMs(publishedAtMs: number, deliverAtMs: number, messageTtlMs?: number, topicTtlMs?: number): number | undefined {
  const ttls = [messageTtlMs, topicTtlMs].filter((t): t is number => t !== undefined);
  if (ttls.length === 0) return undefined;
  const delayMs = Math.max(0, deliverAtMs - publishedAtMs);
  return publishedAtMs + Math.min(...ttls) + delayMs;
}

export function isExpired(ttlExpiresAt: number | undefined, nowMs: number): boolean {
  return ttlExpiresAt !== undefined && ttlExpiresAt <= nowMs;
}

/** `ttlMs` of a publish: absent, or an integer of milliseconds ≥ 1. */
export function parseTtlMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > SETTINGS_LIMITS.messageTtlMsMax) {
    throw invalid(`ttlMs must be an integer number of milliseconds from 1 to ${SETTINGS_LIMITS.messageTtlMsMax}, e.g. 60000; got ${quote(value)}`);
  }
  return value;
}

/**
 * How long a failed delivery waits before it is visible again, for the `consumedTimes`-th delivery
 * (1 = the first). Fixed: `base`. Exponential: `min(cap, base × 2^(consumedTimes − 1))`, so base 1 s,
 * cap 8 s gives 1 s, 2 s, 4 s, 8 s, 8 s, …
 */
export function backoffMs(policy: RetryBackoff, consumedTimes: number): number {
  if (policy.mode === BackoffMode.Fixed) return policy.baseSeconds * 1000;
  const exponent = Math.max(0, consumedTimes - 1);
  const seconds = exponent >= 30 ? policy.capSeconds : Math.min(policy.capSeconds, policy.baseSeconds * 2 ** exponent);
  return seconds * 1000;
}

/**
 * When a claimed delivery becomes visible again if it is neither acked nor nacked: at the end of its
 * visibility plus the backoff for this delivery — except the last allowed delivery (`consumedTimes` =
 * `maxReceiveCount`), which becomes due at the end of its visibility, when it moves to the dead-letter
 * lane (or is dropped) instead of coming back.
 */
export function redeliverAtMs(visibleUntilMs: number, policy: RetryBackoff, consumedTimes: number, maxReceiveCount: number): number {
  if (consumedTimes >= maxReceiveCount) return visibleUntilMs;
  return visibleUntilMs + backoffMs(policy, consumedTimes);
}

/** `delayMs` of a nack: absent (the group's backoff), or an integer of ms from 0 to 12 h. */
export function parseNackDelayMs(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const max = SETTINGS_LIMITS.backoffSecondsMax * 1000;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw invalid(`delayMs must be an integer number of milliseconds from 0 to ${max} (0 = visible now); got ${quote(value)}`);
  }
  return value;
}

import { TimingConvention } from "../delay-limit.js";
import type { Timing } from "../rules.js";

/** Exchange types the door routes, as RabbitMQ (and the delayed-message plugin, for its `x-delayed-type`) names them. */
export const ExchangeType = { Direct: "direct", Fanout: "fanout", Topic: "topic", Headers: "headers", Delayed: "x-delayed-message" } as const;
export type RoutingType = "direct" | "fanout" | "topic" | "headers";

export const ROUTING_TYPES: readonly string[] = ["direct", "fanout", "topic", "headers"];

/** Most milliseconds `x-delay` may ask for (the plugin's bound: above it the message is routed at once). */
export const X_DELAY_MAX_MS = 2 ** 32 - 1;

/**
 * A topic exchange's match: words split at '.', `*` one word, `#` zero or more words (RabbitMQ's rule).
 */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = pattern.split(".");
  const k = routingKey.split(".");
  // Iterative match with memo over (i, j): patterns are short, keys at most 255 bytes.
  const memo = new Map<number, boolean>();
  const match = (i: number, j: number): boolean => {
    const key = i * 1024 + j;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let result: boolean;
    if (i === p.length) result = j === k.length;
    else if (p[i] === "#") result = match(i + 1, j) || (j < k.length && match(i, j + 1));
    else result = j < k.length && (p[i] === "*" || p[i] === k[j]) && match(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return match(0, 0);
}

/** A headers exchange's match: `x-match` all (default) or any over the binding's other arguments; `x-`-prefixed ones are not compared. */
export function headersMatch(bindingArgs: Readonly<Record<string, unknown>>, headers: Readonly<Record<string, unknown>> | undefined): boolean {
  const mode = bindingArgs["x-match"];
  const any = mode === "any" || mode === "any-with-x";
  const withX = mode === "all-with-x" || mode === "any-with-x";
  const pairs = Object.entries(bindingArgs).filter(([k]) => k !== "x-match" && (withX || !k.startsWith("x-")));
  if (pairs.length === 0) return !any;
  const h = headers ?? {};
  const same = (a: unknown, b: unknown) => a === b || (b === undefined ? false : a === undefined || a === null || b === null ? a === b : JSON.stringify(a) === JSON.stringify(b));
  const ok = (k: string, v: unknown) => Object.hasOwn(h, k) && (v === undefined || v === null || v === "" ? true : same(h[k], v));
  return any ? pairs.some(([k, v]) => ok(k, v)) : pairs.every(([k, v]) => ok(k, v));
}

/** Whether a binding of an exchange of routing type `type` takes a message. */
export function bindingMatches(
  type: RoutingType,
  binding: { routingKey: string; args: Readonly<Record<string, unknown>> },
  routingKey: string,
  headers: Readonly<Record<string, unknown>> | undefined,
): boolean {
  switch (type) {
    case "direct":
      return binding.routingKey === routingKey;
    case "fanout":
      return true;
    case "topic":
      return topicMatches(binding.routingKey, routingKey);
    case "headers":
      return headersMatch(binding.args, headers);
  }
}

/**
 * The `x-delay` header as the delayed-message plugin reads it: an integer, a float (truncated) or a
 * numeric string; undefined (routed at once) when missing, not a number, ≤ 0 or above 2^32−1 ms.
 */
export function xDelayMs(value: unknown): number | undefined {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "bigint") n = Number(value);
  else if (typeof value === "string" && /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(value)) n = Number(value);
  else if (value !== null && typeof value === "object" && "value" in value && typeof (value as { value: unknown }).value === "number") n = (value as { value: number }).value;
  else return undefined;
  if (!Number.isFinite(n)) return undefined;
  const ms = Math.trunc(n);
  if (ms <= 0 || ms > X_DELAY_MAX_MS) return undefined;
  return ms;
}

/**
 * The `delay` header as ApsaraMQ for RabbitMQ reads it on any exchange: a string of a non-negative integer
 * of milliseconds (an integer value is taken too); anything else is no delay.
 */
export function delayHeaderMs(value: unknown): number | undefined {
  let ms: number;
  if (typeof value === "string" && /^\s*\d{1,16}\s*$/.test(value)) ms = Number(value);
  else if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) ms = value;
  else if (typeof value === "bigint" && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER)) ms = Number(value);
  else return undefined;
  return Number.isSafeInteger(ms) && ms > 0 ? ms : undefined;
}

/**
 * A publish's deliver time: on an `x-delayed-message` exchange its `x-delay` (the plugin's rule), else
 * the `delay` header on any exchange (ApsaraMQ's rule); neither: now. Both follow the RabbitMQ
 * convention beyond the maximum delay: delivered at once.
 */
export function publishTiming(delayedExchange: boolean, headers: Readonly<Record<string, unknown>> | undefined): Timing {
  const h = headers ?? {};
  if (delayedExchange && Object.hasOwn(h, "x-delay")) {
    const ms = xDelayMs(h["x-delay"]);
    return ms === undefined ? { kind: "now" } : { kind: "delay", delayMs: ms, source: "header x-delay", convention: TimingConvention.RabbitMQ };
  }
  if (Object.hasOwn(h, "delay")) {
    const ms = delayHeaderMs(h.delay);
    if (ms !== undefined) return { kind: "delay", delayMs: ms, source: "header delay", convention: TimingConvention.RabbitMQ };
  }
  return { kind: "now" };
}

/** `expiration` as RabbitMQ takes it: a string of a non-negative integer of ms; undefined when absent. Throws on anything else (406 at the edge). */
export function expirationMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new Error(`invalid expiration ${JSON.stringify(value)}: send a string of a non-negative integer of milliseconds`);
  return Number(value);
}

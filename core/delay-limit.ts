import { DAY_MS, OverMaxDelay } from "./config.js";
import { invalid } from "./errors.js";

/**
 * A deliver time beyond the topic's maximum delay. Each wire form of a deliver time follows the system it
 * comes from (its convention), so an application moved from that system sees there what it saw before:
 *
 * | convention | wire forms | beyond the maximum |
 * |---|---|---|
 * | `delayq` | the JSON API's `delayMs`, `deliverAt` | rejected: a caller who asks for a far time wants it or an error |
 * | `rocketmq` | `__STARTDELIVERTIME` (ApsaraMQ for RocketMQ) | rejected, as the service rejects it |
 * | `rabbitmq` | the `delay` / `x-delay` headers (ApsaraMQ for RabbitMQ; any door that reads them) | delivered at once, as that service documents |
 *
 * A topic's explicit `overMaxDelay` (or the deployment's `OVER_MAX_DELAY`) overrides the convention for
 * every wire form. A timing that names no convention is rejected: nothing is ever delivered early by default.
 */
export const TimingConvention = { Delayq: "delayq", RocketMQ: "rocketmq", RabbitMQ: "rabbitmq" } as const;
export type TimingConvention = (typeof TimingConvention)[keyof typeof TimingConvention];

export const OVER_MAX_DEFAULTS: Readonly<Record<TimingConvention, OverMaxDelay>> = {
  delayq: OverMaxDelay.Reject,
  rocketmq: OverMaxDelay.Reject,
  rabbitmq: OverMaxDelay.DeliverNow,
};

/** The flag a publish or reschedule answer carries when the maximum made it deliver now. */
export const DELIVERED_NOW = "delivered-now";

export interface DelayPolicy {
  maxDelayMs: number;
  /** The topic's explicit rule (or the deployment's); undefined: each convention's own. */
  overMaxDelay: OverMaxDelay | undefined;
}

/** A deliver time the caller asked for, as the delay limit sees it. */
export interface AskedTime {
  /** How the caller named it, for messages: "delayMs", "header x-delay", "__STARTDELIVERTIME". */
  source: string;
  /** The epoch ms asked for (now + delay, or the instant). */
  requestedMs: number;
  convention?: TimingConvention;
}

/** What a deliver time beyond the maximum got, for the answer and the log. */
export interface OverMaxReport {
  outcome: typeof DELIVERED_NOW;
  source: string;
  convention: TimingConvention;
  /** Why this rule applied: a setting (the topic's, else the deployment's OVER_MAX_DELAY), or the convention's default. */
  rule: "setting" | "convention";
  requestedMs: number;
  requestedDelayMs: number;
  maxDelayMs: number;
}

export function overMaxRule(policy: DelayPolicy, convention: TimingConvention | undefined): OverMaxDelay {
  return policy.overMaxDelay ?? OVER_MAX_DEFAULTS[convention ?? TimingConvention.Delayq];
}

/** `3456000000` → "40 days", `90000` → "1.5 minutes": for messages only. */
export function describeMs(ms: number): string {
  const units: [number, string][] = [
    [DAY_MS, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [size, name] of units) {
    if (ms >= size) {
      const n = Math.round((ms / size) * 100) / 100;
      return `${n} ${name}${n === 1 ? "" : "s"}`;
    }
  }
  return `${ms} ms`;
}

/**
 * The deliver time of an asked time: itself within the maximum (a past time: now); beyond it, now with a
 * report, or a 400 InvalidArgument naming the maximum and the setting that raises it.
 */
export function applyDelayLimit(
  asked: AskedTime,
  nowMs: number,
  policy: DelayPolicy,
  topic?: string,
): { deliverAtMs: number; overMax?: OverMaxReport } {
  const requestedDelayMs = asked.requestedMs - nowMs;
  if (requestedDelayMs <= policy.maxDelayMs) return { deliverAtMs: Math.max(asked.requestedMs, nowMs) };
  const convention = asked.convention ?? TimingConvention.Delayq;
  const rule = overMaxRule(policy, convention);
  if (rule === OverMaxDelay.Reject) {
    throw invalid(
      `${asked.source} asks for delivery at ${new Date(asked.requestedMs).toISOString()}, ${requestedDelayMs} ms (${describeMs(requestedDelayMs)}) from now, ` +
        `beyond the maximum delay of ${topic === undefined ? "the topic" : `topic ${topic}`}: ${policy.maxDelayMs} ms (${describeMs(policy.maxDelayMs)}). ` +
        `Send an earlier time, or ${raiseHint(topic)}`,
    );
  }
  return {
    deliverAtMs: nowMs,
    overMax: {
      outcome: DELIVERED_NOW,
      source: asked.source,
      convention,
      rule: policy.overMaxDelay === undefined ? "convention" : "setting",
      requestedMs: asked.requestedMs,
      requestedDelayMs,
      maxDelayMs: policy.maxDelayMs,
    },
  };
}

/** Where the maximum is raised: a plain topic's settings route; a RocketMQ instance's topic has none yet. */
function raiseHint(topic: string | undefined): string {
  const max = `up to ${366 * DAY_MS} ms, 366 days`;
  if (topic?.includes("~")) return `raise the deployment's MAX_DELAY_MS (${max}), which a topic of a RocketMQ instance takes`;
  return `raise the topic's maxDelayMs setting (PUT /v1/topics/${topic ?? "{topic}"} {"maxDelayMs": …}, ${max})`;
}

import type { RetireReason } from "./ports.js";

/** The doors a message can be delivered through (a label of the `delivered` count, nothing else). */
export const DeliveryDoor = { Json: "json", RocketMq: "rocketmq", Amqp: "amqp" } as const;
export type DeliveryDoor = (typeof DeliveryDoor)[keyof typeof DeliveryDoor];

/** What one sweeper run did, as the metrics see it. */
export interface SweepFigures {
  /** Group shards looked at. */
  looked: number;
  /** Deliveries retired from the lanes (dead-lettered or dropped). */
  retired: number;
  /** Dead messages passed at the head of a topic lane. */
  passed: number;
  /** Group shards left to the consumer holding them. */
  busy: number;
  /** Group shards whose look failed (retried later). */
  failed: number;
  budgetExhausted: boolean;
  /** How long the oldest work item this run found had been due (0 when it found none). */
  oldestDueAgeMs: number;
  durationMs: number;
}

/**
 * The queue's counters and distributions, named for what happened to messages. Core calls it; the
 * runtimes implement it (CloudWatch through Powertools in Lambda, Prometheus locally). Every call is
 * cheap and synchronous and never throws into the queue.
 */
export interface QueueMetrics {
  /** Messages stored by a publish (a duplicate `dedupId` is not counted again). */
  published(topic: string, count: number): void;
  /** Deliveries handed to consumers through a door, first deliveries and redeliveries alike. */
  delivered(topic: string, door: DeliveryDoor, count: number): void;
  /** Of the delivered, those that were not the message's first delivery in its group. */
  redelivered(topic: string, count: number): void;
  /** Deliver time → first delivery in a group, in ms (one observation per first delivery). */
  lateness(topic: string, ms: number): void;
  acked(topic: string, count: number): void;
  /** Deliveries given back to be delivered again (nack with requeue). */
  nacked(topic: string, count: number): void;
  /** Deliveries moved to a dead-letter lane, by why. */
  deadLettered(topic: string, reason: RetireReason, count: number): void;
  /** Deliveries or messages that reached their TTL or retention undelivered (dead-lettered or dropped). */
  expired(topic: string, count: number): void;
  cancelled(topic: string, count: number): void;
  /** Dead letters moved back into their group. */
  redriven(topic: string, count: number): void;
  swept(figures: SweepFigures): void;
}

/** Counts nothing: the default of every queue built without metrics. */
export const noMetrics: QueueMetrics = {
  published() {},
  delivered() {},
  redelivered() {},
  lateness() {},
  acked() {},
  nacked() {},
  deadLettered() {},
  expired() {},
  cancelled() {},
  redriven() {},
  swept() {},
};

/**
 * Which topics get a topic dimension (label) of their own: `METRICS_TOPICS`, a comma-separated list of
 * topic names, or `*` for every topic. The others are counted only in the service-wide figures, so a
 * million topics do not make a million time series.
 */
export interface TopicDimensions {
  has(topic: string): boolean;
}

export function topicDimensions(setting: string | undefined, fallback: "all" | "none"): TopicDimensions {
  const raw = (setting ?? "").trim();
  if (raw === "") return { has: () => fallback === "all" };
  if (raw === "*") return { has: () => true };
  const names = new Set(
    raw
      .split(",")
      .map((t) => t.trim())
      .filter((t) => t !== ""),
  );
  return { has: (topic) => names.has(topic) };
}

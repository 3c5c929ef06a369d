import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { type DeliveryDoor, type QueueMetrics, type SweepFigures, type TopicDimensions, topicDimensions } from "../core/metrics.js";
import type { RetireReason } from "../core/ports.js";
import type { CapacityMeter, OperationCost } from "../lambda/dynamo/capacity.js";

/** The `topic` label of the figures of topics without a label of their own (METRICS_TOPICS). */
export const OTHER_TOPICS = "_other";

/** Lateness buckets, ms: from "at once" to a minute late. */
export const LATENESS_BUCKETS_MS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

/**
 * QueueMetrics as Prometheus metrics (prom-client), for `GET /metrics` of the local runtime: the same
 * figures the Lambda functions write to CloudWatch, under `delayq_*` names, plus the process's own
 * (`process_*`, `nodejs_*`). Topics get their own `topic` label as METRICS_TOPICS says (locally, by
 * default, every topic); the others share `topic="_other"`.
 */
export class PrometheusMetrics implements QueueMetrics {
  readonly registry = new Registry();
  private readonly topics: TopicDimensions;
  private readonly c: ReturnType<PrometheusMetrics["define"]>;

  constructor(options: { topics?: TopicDimensions; processMetrics?: boolean } = {}) {
    this.topics = options.topics ?? topicDimensions(undefined, "all");
    this.c = this.define();
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  static fromEnv(env: Readonly<Record<string, string | undefined>>): PrometheusMetrics {
    return new PrometheusMetrics({ topics: topicDimensions(env.METRICS_TOPICS, "all") });
  }

  private define() {
    const registers = [this.registry];
    const counter = (name: string, help: string, labelNames: string[] = ["topic"]) => new Counter({ name, help, labelNames, registers });
    return {
      published: counter("delayq_published_total", "Messages stored by a publish (a repeated dedupId is not counted again)."),
      delivered: counter("delayq_delivered_total", "Deliveries handed to consumers, by door (json, rocketmq, amqp).", ["topic", "door"]),
      redelivered: counter("delayq_redelivered_total", "Deliveries that were not the message's first in its group."),
      lateness: new Histogram({
        name: "delayq_lateness_ms",
        help: "Deliver time to first delivery in a group, in milliseconds.",
        labelNames: ["topic"],
        buckets: LATENESS_BUCKETS_MS,
        registers,
      }),
      acked: counter("delayq_acked_total", "Deliveries acknowledged."),
      nacked: counter("delayq_nacked_total", "Deliveries given back to be delivered again."),
      deadLettered: counter("delayq_dead_lettered_total", "Deliveries moved to a dead-letter lane, by reason.", ["topic", "reason"]),
      expired: counter("delayq_expired_total", "Messages or deliveries that reached their TTL or retention undelivered."),
      cancelled: counter("delayq_cancelled_total", "Cancel calls answered cancelled."),
      redriven: counter("delayq_redriven_total", "Dead letters moved back into their group."),
      sweeperRuns: counter("delayq_sweeper_runs_total", "Sweeper runs.", []),
      sweeperLooked: counter("delayq_sweeper_looked_total", "Group shards the sweeper looked at.", []),
      sweeperRetired: counter("delayq_sweeper_retired_total", "Deliveries the sweeper retired (dead-lettered or dropped).", []),
      sweeperPassed: counter("delayq_sweeper_passed_total", "Dead messages the sweeper passed at the head of a topic lane.", []),
      sweeperBusy: counter("delayq_sweeper_busy_total", "Group shards the sweeper left to the consumer holding them.", []),
      sweeperFailed: counter("delayq_sweeper_failed_total", "Group shards whose sweeper look failed (retried later).", []),
      sweeperBudgetExhausted: counter("delayq_sweeper_budget_exhausted_total", "Sweeper runs that stopped at their budget.", []),
      sweeperOldestDueAge: new Gauge({
        name: "delayq_sweeper_oldest_due_age_ms",
        help: "How long the oldest work item of the last sweeper run had been due, in milliseconds.",
        registers,
      }),
      sweeperDuration: new Histogram({
        name: "delayq_sweeper_duration_ms",
        help: "Sweeper run duration in milliseconds.",
        buckets: [5, 25, 100, 250, 1000, 5000, 30_000],
        registers,
      }),
      dynamoRequests: counter("delayq_dynamodb_requests_total", "DynamoDB requests, by store operation.", ["operation"]),
      dynamoReadUnits: counter("delayq_dynamodb_read_units_total", "DynamoDB read capacity units consumed, by store operation.", ["operation"]),
      dynamoWriteUnits: counter("delayq_dynamodb_write_units_total", "DynamoDB write capacity units consumed, by store operation.", ["operation"]),
      dynamoBilledWriteUnits: counter("delayq_dynamodb_billed_write_units_total", "DynamoDB write units as the service bills them, by store operation.", ["operation"]),
      dynamoFailedConditions: counter("delayq_dynamodb_failed_conditions_total", "Conditional writes whose condition failed, by store operation.", ["operation"]),
      responses: counter("delayq_http_responses_total", "HTTP answers of the local server, by status class (2xx, 4xx, 5xx).", ["status"]),
    };
  }

  private topic(topic: string): string {
    return this.topics.has(topic) ? topic : OTHER_TOPICS;
  }

  published(topic: string, count: number): void {
    this.c.published.inc({ topic: this.topic(topic) }, count);
  }
  delivered(topic: string, door: DeliveryDoor, count: number): void {
    this.c.delivered.inc({ topic: this.topic(topic), door }, count);
  }
  redelivered(topic: string, count: number): void {
    this.c.redelivered.inc({ topic: this.topic(topic) }, count);
  }
  lateness(topic: string, ms: number): void {
    this.c.lateness.observe({ topic: this.topic(topic) }, ms);
  }
  acked(topic: string, count: number): void {
    this.c.acked.inc({ topic: this.topic(topic) }, count);
  }
  nacked(topic: string, count: number): void {
    this.c.nacked.inc({ topic: this.topic(topic) }, count);
  }
  deadLettered(topic: string, reason: RetireReason, count: number): void {
    this.c.deadLettered.inc({ topic: this.topic(topic), reason }, count);
  }
  expired(topic: string, count: number): void {
    this.c.expired.inc({ topic: this.topic(topic) }, count);
  }
  cancelled(topic: string, count: number): void {
    this.c.cancelled.inc({ topic: this.topic(topic) }, count);
  }
  redriven(topic: string, count: number): void {
    this.c.redriven.inc({ topic: this.topic(topic) }, count);
  }
  swept(figures: SweepFigures): void {
    this.c.sweeperRuns.inc();
    this.c.sweeperLooked.inc(figures.looked);
    this.c.sweeperRetired.inc(figures.retired);
    this.c.sweeperPassed.inc(figures.passed);
    this.c.sweeperBusy.inc(figures.busy);
    this.c.sweeperFailed.inc(figures.failed);
    if (figures.budgetExhausted) this.c.sweeperBudgetExhausted.inc();
    this.c.sweeperOldestDueAge.set(figures.oldestDueAgeMs);
    this.c.sweeperDuration.observe(figures.durationMs);
  }

  /** Counts what the store's DynamoDB requests consumed, as the meter sees them. */
  watch(meter: CapacityMeter): void {
    meter.observe((operation: string, added: OperationCost) => {
      if (added.requests) this.c.dynamoRequests.inc({ operation }, added.requests);
      if (added.readUnits) this.c.dynamoReadUnits.inc({ operation }, added.readUnits);
      if (added.writeUnits) this.c.dynamoWriteUnits.inc({ operation }, added.writeUnits);
      if (added.billedWriteUnits) this.c.dynamoBilledWriteUnits.inc({ operation }, added.billedWriteUnits);
      if (added.failedConditions) this.c.dynamoFailedConditions.inc({ operation }, added.failedConditions);
    });
  }

  /** One answer of the local server. */
  answered(status: number): void {
    this.c.responses.inc({ status: `${Math.floor(status / 100)}xx` });
  }

  /** The Prometheus text exposition format (version 0.0.4). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The same figures as JSON (prom-client's `getMetricsAsJSON`): what the console's charts read. */
  json(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }
}

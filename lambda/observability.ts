import { Logger as PowertoolsLogger } from "@aws-lambda-powertools/logger";
import { MetricUnit, Metrics } from "@aws-lambda-powertools/metrics";

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];
import type { Context } from "aws-lambda";
import { type DeliveryDoor, type QueueMetrics, type SweepFigures, type TopicDimensions, topicDimensions } from "../core/metrics.js";
import type { Logger, RetireReason } from "../core/ports.js";
import type { OperationCost } from "./dynamo/capacity.js";
import { Dimension, METRICS_NAMESPACE, MetricName, SERVICE_NAME } from "./metric-names.js";

export { Dimension, METRICS_NAMESPACE, MetricName, SERVICE_NAME };

type Dims = Record<string, string>;

interface MetricSet {
  dims: Dims;
  counts: Map<string, { unit: Unit; value: number }>;
  samples: Map<string, { unit: Unit; values: number[] }>;
}

export interface CloudWatchMetricsOptions {
  namespace?: string;
  service?: string;
  /** Which topics get a `topic` dimension (METRICS_TOPICS); default none. */
  topics?: TopicDimensions;
  /** Where EMF lines go (default: stdout, where Lambda hands them to CloudWatch Logs). */
  write?: (line: string) => void;
}

/**
 * QueueMetrics in CloudWatch: each invocation's figures are added up in memory and written at its end as
 * Embedded Metric Format lines, one per dimension set, built by Powertools for AWS Lambda (Metrics). Sets:
 * the service as a whole; by `door` (deliveries); by `reason` (dead letters); by `operation` (DynamoDB
 * requests and units); by `topic` only for the topics named in METRICS_TOPICS.
 */
export class CloudWatchMetrics implements QueueMetrics {
  private readonly sets = new Map<string, MetricSet>();
  private readonly namespace: string;
  private readonly service: string;
  private readonly topics: TopicDimensions;
  private readonly write: (line: string) => void;
  private coldStart = true;

  constructor(options: CloudWatchMetricsOptions = {}) {
    this.namespace = options.namespace ?? METRICS_NAMESPACE;
    this.service = options.service ?? SERVICE_NAME;
    this.topics = options.topics ?? topicDimensions(undefined, "none");
    this.write = options.write ?? ((line) => process.stdout.write(`${line}\n`));
  }

  static fromEnv(env: Readonly<Record<string, string | undefined>>, write?: (line: string) => void): CloudWatchMetrics {
    return new CloudWatchMetrics({
      namespace: env.METRICS_NAMESPACE || METRICS_NAMESPACE,
      service: env.POWERTOOLS_SERVICE_NAME || SERVICE_NAME,
      topics: topicDimensions(env.METRICS_TOPICS, "none"),
      ...(write && { write }),
    });
  }

  private set(dims: Dims): MetricSet {
    const key = JSON.stringify(dims);
    let set = this.sets.get(key);
    if (!set) {
      set = { dims, counts: new Map(), samples: new Map() };
      this.sets.set(key, set);
    }
    return set;
  }

  private count(name: string, value: number, topic?: string, extra?: Dims, unit: Unit = MetricUnit.Count): void {
    if (!Number.isFinite(value)) return;
    const add = (set: MetricSet) => {
      const current = set.counts.get(name);
      set.counts.set(name, { unit, value: (current?.value ?? 0) + value });
    };
    add(this.set({}));
    if (extra) add(this.set(extra));
    if (topic !== undefined && this.topics.has(topic)) add(this.set({ [Dimension.Topic]: topic }));
  }

  private sample(name: string, value: number, unit: Unit, topic?: string): void {
    const add = (set: MetricSet) => {
      const current = set.samples.get(name) ?? { unit, values: [] };
      current.values.push(value);
      set.samples.set(name, current);
    };
    add(this.set({}));
    if (topic !== undefined && this.topics.has(topic)) add(this.set({ [Dimension.Topic]: topic }));
  }

  published(topic: string, count: number): void {
    this.count(MetricName.Published, count, topic);
  }
  delivered(topic: string, door: DeliveryDoor, count: number): void {
    this.count(MetricName.Delivered, count, topic, { [Dimension.Door]: door });
  }
  redelivered(topic: string, count: number): void {
    this.count(MetricName.Redelivered, count, topic);
  }
  lateness(topic: string, ms: number): void {
    this.sample(MetricName.Lateness, ms, MetricUnit.Milliseconds, topic);
  }
  acked(topic: string, count: number): void {
    this.count(MetricName.Acked, count, topic);
  }
  nacked(topic: string, count: number): void {
    this.count(MetricName.Nacked, count, topic);
  }
  deadLettered(topic: string, reason: RetireReason, count: number): void {
    this.count(MetricName.DeadLettered, count, topic, { [Dimension.Reason]: reason });
  }
  expired(topic: string, count: number): void {
    this.count(MetricName.Expired, count, topic);
  }
  cancelled(topic: string, count: number): void {
    this.count(MetricName.Cancelled, count, topic);
  }
  redriven(topic: string, count: number): void {
    this.count(MetricName.Redriven, count, topic);
  }
  swept(figures: SweepFigures): void {
    this.count(MetricName.SweeperRuns, 1);
    this.count(MetricName.SweeperLooked, figures.looked);
    this.count(MetricName.SweeperRetired, figures.retired);
    this.count(MetricName.SweeperPassed, figures.passed);
    this.count(MetricName.SweeperBusy, figures.busy);
    this.count(MetricName.SweeperFailed, figures.failed);
    this.count(MetricName.SweeperBudgetExhausted, figures.budgetExhausted ? 1 : 0);
    this.sample(MetricName.SweeperOldestDueAge, figures.oldestDueAgeMs, MetricUnit.Milliseconds);
    this.sample(MetricName.SweeperDuration, figures.durationMs, MetricUnit.Milliseconds);
  }

  /** DynamoDB requests and capacity units of this invocation, per store operation and in all. */
  dynamodb(byOperation: Readonly<Record<string, OperationCost>>): void {
    for (const [operation, cost] of Object.entries(byOperation)) {
      const dims = { [Dimension.Operation]: operation };
      this.count(MetricName.DynamoDBRequests, cost.requests, undefined, dims);
      this.count(MetricName.DynamoDBReadUnits, cost.readUnits, undefined, dims);
      this.count(MetricName.DynamoDBWriteUnits, cost.writeUnits, undefined, dims);
      this.count(MetricName.DynamoDBBilledWriteUnits, cost.billedWriteUnits, undefined, dims);
      this.count(MetricName.DynamoDBFailedConditions, cost.failedConditions, undefined, dims);
    }
  }

  /** An answer with a 5xx status (a fault of the service, not of the caller). */
  serverError(): void {
    this.count(MetricName.Responses5xx, 1);
  }

  /** Powertools' ColdStart metric (dimensions service and function_name), on a container's first on-demand invocation only. */
  captureColdStart(functionName: string | undefined): void {
    if (!this.coldStart) return;
    this.coldStart = false;
    this.powertools({}).captureColdStartMetric(functionName);
  }

  /** Writes what was counted since the last flush, one EMF line per dimension set, and starts again. */
  flush(): void {
    for (const set of this.sets.values()) {
      if (set.counts.size === 0 && set.samples.size === 0) continue;
      const m = this.powertools(set.dims);
      for (const [name, { unit, value }] of set.counts) m.addMetric(name, unit, value);
      // A distribution: every observation is a value of the one metric (EMF allows 100 per line).
      for (const [name, { unit, values }] of set.samples) {
        for (let i = 0; i < values.length; i += 100) {
          for (const v of values.slice(i, i + 100)) m.addMetric(name, unit, v);
          if (i + 100 < values.length) this.emit(m);
        }
      }
      this.emit(m);
    }
    this.sets.clear();
  }

  private powertools(dims: Dims): Metrics {
    const m = new Metrics({ namespace: this.namespace, serviceName: this.service });
    if (Object.keys(dims).length > 0) m.addDimensions(dims);
    return m;
  }

  private emit(m: Metrics): void {
    if (!m.hasStoredMetrics()) return;
    const line = JSON.stringify(m.serializeMetrics());
    m.clearMetrics();
    this.write(line);
  }
}

/**
 * The queue's Logger on Powertools' Logger: one JSON object per line with `level`, `message` (the event),
 * `event`, `service`, `timestamp` and, once `addContext` saw the invocation, `cold_start`,
 * `function_name`, `function_request_id` and `xray_trace_id`.
 */
export function powertoolsLogger(service = SERVICE_NAME, base: Record<string, unknown> = {}): Logger & { powertools: PowertoolsLogger } {
  const logger = new PowertoolsLogger({ serviceName: service, persistentKeys: base as Record<string, string> });
  return {
    powertools: logger,
    info: (event, fields = {}) => logger.info(event, { event, ...fields }),
    warn: (event, fields = {}) => logger.warn(event, { event, ...fields }),
    error: (event, fields = {}) => logger.error(event, { event, ...fields }),
  };
}

/** What an invocation tells the logger: request id and cold start (Powertools reads them from the context). */
export function noteInvocation(logger: PowertoolsLogger, context: Partial<Context> | undefined): void {
  if (context?.awsRequestId) logger.addContext(context as Context);
}

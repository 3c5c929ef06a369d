import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { App, Duration, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { Topic } from "aws-cdk-lib/aws-sns";
import { afterAll, describe, expect, it } from "vitest";
import { DelayQueue } from "../../infra/delay-queue.js";
import { PROJECT_ROOT } from "../../infra/queue-function.js";
import { MetricName } from "../../lambda/metric-names.js";
import { cdkJsonContext } from "./synth.js";

type Json = Record<string, any>;

/** A stack holding a DelayQueue (functions staged unbundled) and, when asked, an alarm topic. */
function synth(withTopic: boolean, metricsTopics?: string[]) {
  const parent = join(PROJECT_ROOT, "cdk.out", "test");
  mkdirSync(parent, { recursive: true });
  const outdir = mkdtempSync(join(parent, "observability-"));
  const app = new App({ outdir, context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] } });
  const stack = new Stack(app, "Observed");
  const topic = withTopic ? new Topic(stack, "Alarms") : undefined;
  const queue = new DelayQueue(stack, "Queue", {
    observability: { ...(topic && { alarmTopic: topic }), ...(metricsTopics && { metricsTopics }), oldestDueAgeThreshold: Duration.minutes(10), dashboardName: "delayq-test" },
  });
  return { queue, stack, topic, template: Template.fromStack(stack), outdir };
}

const observed = synth(true, ["orders", "payments"]);
const plain = synth(false);
afterAll(() => {
  rmSync(observed.outdir, { recursive: true, force: true });
  rmSync(plain.outdir, { recursive: true, force: true });
});

const alarms = (template: Template) => Object.entries(template.findResources("AWS::CloudWatch::Alarm")) as [string, Json][];
const alarmWith = (template: Template, metricName: string) => alarms(template).find(([, a]) => a.Properties.MetricName === metricName)?.[1].Properties as Json;
/** The dashboard body with its tokens (function names, table name…) left as JSON. */
function dashboardBody(template: Template): string {
  const [dashboard] = Object.values(template.findResources("AWS::CloudWatch::Dashboard")) as Json[];
  return JSON.stringify(dashboard?.Properties.DashboardBody);
}

describe("metrics, dashboard and alarms of the construct", () => {
  it("sets every function's log format to JSON and tells it the metrics namespace, service and topic dimensions", () => {
    const functions = Object.values(observed.template.findResources("AWS::Lambda::Function")) as Json[];
    const queueFunctions = functions.filter((f) => f.Properties.Environment?.Variables?.TABLE_NAME);
    expect(queueFunctions.length).toBe(5);
    for (const fn of queueFunctions) {
      expect(fn.Properties.LoggingConfig).toMatchObject({ LogFormat: "JSON" });
      expect(fn.Properties.Environment.Variables).toMatchObject({ POWERTOOLS_SERVICE_NAME: "delayq", METRICS_NAMESPACE: "delayq", METRICS_TOPICS: "orders,payments" });
    }
    const unconfigured = (Object.values(plain.template.findResources("AWS::Lambda::Function")) as Json[]).filter((f) => f.Properties.Environment?.Variables?.TABLE_NAME);
    for (const fn of unconfigured) expect(fn.Properties.Environment.Variables.METRICS_TOPICS).toBeUndefined();
  });

  it("alarms on the sweeper's oldest due work, dead letters, sweeper failures and 5xx answers", () => {
    expect(alarmWith(observed.template, MetricName.SweeperOldestDueAge)).toMatchObject({
      Namespace: "delayq",
      Dimensions: [{ Name: "service", Value: "delayq" }],
      Statistic: "Maximum",
      Threshold: 600_000,
      ComparisonOperator: "GreaterThanThreshold",
      EvaluationPeriods: 2,
      TreatMissingData: "notBreaching",
    });
    for (const name of [MetricName.DeadLettered, MetricName.SweeperFailed]) {
      expect(alarmWith(observed.template, name), name).toMatchObject({ Namespace: "delayq", Statistic: "Sum", Threshold: 1, Period: 300, ComparisonOperator: "GreaterThanOrEqualToThreshold" });
    }
    expect(alarmWith(observed.template, "5xx")).toMatchObject({ Namespace: "AWS/ApiGateway", Statistic: "Sum", Threshold: 1, Dimensions: [{ Name: "ApiId", Value: expect.anything() }] });
  });

  it("sends every alarm of the queue (these, the infrastructure's and the pushes') to the SNS topic, on ALARM and on OK", () => {
    const all = alarms(observed.template);
    expect(all).toHaveLength(observed.queue.alarms.length + observed.queue.pushAlarms.length + observed.queue.observability.alarms.length);
    const topicRef = { Ref: observed.stack.getLogicalId(observed.topic?.node.defaultChild as never) };
    for (const [id, alarm] of all) {
      expect(alarm.Properties.AlarmActions, id).toEqual([topicRef]);
      expect(alarm.Properties.OKActions, id).toEqual([topicRef]);
    }
  });

  it("without a topic, the alarms only change state", () => {
    for (const [id, alarm] of alarms(plain.template)) {
      expect(alarm.Properties.AlarmActions, id).toBeUndefined();
      expect(alarm.Properties.OKActions, id).toBeUndefined();
    }
  });

  it("has one dashboard with lateness p50/p99, throughput, backlog, dead letters, errors, throttles, Lambda duration and concurrency", () => {
    observed.template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
    observed.template.hasResourceProperties("AWS::CloudWatch::Dashboard", { DashboardName: "delayq-test" });
    const body = dashboardBody(observed.template);
    for (const title of [
      "Lateness (deliver time → first delivery)",
      "Throughput",
      "Deliveries by door",
      "Backlog: the sweeper's oldest due work",
      "Dead letters and expiry",
      "Sweeper",
      "Errors",
      "Throttles",
      "Lambda duration p99",
      "Lambda concurrency",
      "DynamoDB requests and units",
    ]) {
      expect(body, title).toContain(JSON.stringify(title).slice(1, -1).replace(/"/g, '\\\\"'));
    }
    // The metrics the widgets plot, with the statistics a reader expects.
    for (const fragment of [
      '[\\"delayq\\",\\"Lateness\\",\\"service\\",\\"delayq\\",{\\"label\\":\\"p50\\",\\"period\\":60,\\"stat\\":\\"p50\\"}]',
      '[\\"delayq\\",\\"Lateness\\",\\"service\\",\\"delayq\\",{\\"label\\":\\"p99\\",\\"period\\":60,\\"stat\\":\\"p99\\"}]',
      '\\"Published\\"',
      '\\"Delivered\\",\\"door\\",\\"rocketmq\\",\\"service\\",\\"delayq\\"',
      '\\"DeadLettered\\"',
      '\\"SweeperOldestDueAge\\"',
      '\\"AWS/Lambda\\",\\"ConcurrentExecutions\\"',
      '\\"AWS/Lambda\\",\\"Duration\\"',
      '\\"AWS/Lambda\\",\\"Throttles\\"',
      '\\"AWS/DynamoDB\\",\\"ReadThrottleEvents\\"',
      '\\"AWS/ApiGateway\\",\\"5xx\\"',
    ]) {
      expect(body, fragment).toContain(fragment);
    }
  });
});

import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
import { Topic } from "aws-cdk-lib/aws-sns";
import type { Construct } from "constructs";
import { DelayQueue, type DelayQueueProps } from "./delay-queue.js";

export interface DelayQueueStackProps extends StackProps {
  readonly queue?: DelayQueueProps;
}

/** The deployable app: one DelayQueue and its outputs. */
export class DelayQueueStack extends Stack {
  readonly queue: DelayQueue;

  constructor(scope: Construct, id: string, props: DelayQueueStackProps = {}) {
    super(scope, id, props);
    // Context (cdk.json or -c): an SNS topic for the alarms, and topics with a metrics dimension of their own.
    const alarmTopicArn = this.node.tryGetContext("delayq:alarmTopicArn") as string | undefined;
    const metricsTopics = this.node.tryGetContext("delayq:metricsTopics") as string | undefined;
    const observability = {
      ...props.queue?.observability,
      ...(alarmTopicArn && { alarmTopic: Topic.fromTopicArn(this, "AlarmTopic", alarmTopicArn) }),
      ...(metricsTopics && { metricsTopics: metricsTopics.split(",").map((t) => t.trim()).filter(Boolean) }),
    };
    this.queue = new DelayQueue(this, "Queue", { ...props.queue, observability });
    new CfnOutput(this, "DashboardName", {
      description: "The CloudWatch dashboard of the queue (README: Metrics and alarms)",
      value: this.queue.observability.dashboard.dashboardName,
    });
    new CfnOutput(this, "ApiUrl", {
      description: "Base URL of the HTTP API (ends with /)",
      value: this.queue.url,
    });
    new CfnOutput(this, "TableName", {
      description: "DynamoDB table holding messages and deliveries",
      value: this.queue.table.tableName,
    });
    new CfnOutput(this, "MqCredentialsSecretArn", {
      description: "Secrets Manager secret with the RocketMQ door's accessKeyId / accessKeySecret",
      value: this.queue.mqCredentials.secretArn,
    });
    new CfnOutput(this, "AsyncFailureQueueUrl", {
      description: "Invocations Lambda gave up on (sweeps, schedule firings), each with its event (README: Operations)",
      value: this.queue.asyncFailureQueue.queueUrl,
    });
    new CfnOutput(this, "ScheduleDeadLetterQueueUrl", {
      description: "Recurring schedules' firings EventBridge Scheduler could not hand to Lambda",
      value: this.queue.scheduleDeadLetterQueue.queueUrl,
    });
    new CfnOutput(this, "PublishFunctionName", {
      description: "The publish function, target of the recurring schedules (replay firings to it)",
      value: this.queue.functions.publish.function.functionName,
    });
    if (this.queue.amqp) {
      new CfnOutput(this, "AmqpEndpoint", {
        description: "The AMQP door: amqps://<user>:<password>@<this>:5671/",
        value: this.queue.amqp.endpoint,
      });
      new CfnOutput(this, "AmqpCredentialsSecretArn", {
        description: "Secrets Manager secret with the AMQP door's users",
        value: this.queue.amqp.credentials.secretArn,
      });
    }
  }
}

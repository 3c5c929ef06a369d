import { CfnOutput, Stack, type StackProps } from "aws-cdk-lib";
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
    this.queue = new DelayQueue(this, "Queue", props.queue);
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
  }
}

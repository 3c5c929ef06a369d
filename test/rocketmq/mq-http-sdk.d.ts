declare module "@aliyunmq/mq-http-sdk" {
  export interface MqResponse<T> {
    code: number;
    requestId: string;
    body: T;
  }
  export interface MqMessage {
    MessageId: string;
    ReceiptHandle: string;
    MessageBodyMD5: string;
    MessageBody: string;
    MessageTag: string;
    PublishTime: string;
    NextConsumeTime: string;
    FirstConsumeTime: string;
    ConsumedTimes: string;
    Properties: Record<string, string>;
    MessageKey?: string;
    StartDeliverTime?: number;
  }
  export interface MqAckError {
    ErrorCode: string;
    ErrorMessage: string;
    ReceiptHandle: string;
  }
  export class MessageProperties {
    messageKey(key: string): void;
    startDeliverTime(timeMillis: number): void;
    transCheckImmunityTime(timeSeconds: number): void;
    shardingKey(key: string): void;
    putProperty(key: string, value: string): void;
    getProperties(): Record<string, string>;
  }
  export class MQProducer {
    publishMessage(body: string, tag?: string, props?: MessageProperties): Promise<MqResponse<{ MessageId: string; MessageBodyMD5: string }>>;
  }
  export class MQTransProducer extends MQProducer {}
  export class MQConsumer {
    consumeMessage(numOfMessages: number, waitSeconds?: number): Promise<MqResponse<MqMessage[]>>;
    consumeMessageOrderly(numOfMessages: number, waitSeconds?: number): Promise<MqResponse<MqMessage[]>>;
    ackMessage(receiptHandles: string[]): Promise<MqResponse<MqAckError[] | undefined>>;
  }
  export class MQClient {
    constructor(endpoint: string, accessKeyId: string, accessKeySecret: string, securityToken?: string);
    getProducer(instanceId: string, topic: string): MQProducer;
    getTransProducer(instanceId: string, topic: string, groupId: string): MQTransProducer;
    getConsumer(instanceId: string, topic: string, consumer: string, messageTag?: string): MQConsumer;
  }
}

import { randomUUID } from "node:crypto";
import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  TransactionCanceledException,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import { StoreUnavailableError } from "../../core/errors.js";
import type { Delivery, DueEntry, MessageContent, NewMessage } from "../../core/message.js";
import { MessageState } from "../../core/message.js";
import { AckOutcome, type ClaimSpec, type DueScan, type Lane, type MessageStore, ReleaseOutcome } from "../../core/ports.js";
import type { CapacityMeter } from "./capacity.js";
import { TABLE_SCHEMA } from "./schema.js";

const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = TABLE_SCHEMA;
const { name: INDEX, partitionKey: LANE, sortKey: DUE } = TABLE_SCHEMA.dueIndex;

/** Item keys. A message's schedule record (M), content (B) and per-group deliveries (D#group) share one partition key. */
export const keys = {
  message: (topic: string, id: string) => `M#${topic}#${id}`,
  topics: "TOPICS",
  topicMeta: (topic: string) => `T#${topic}`,
  topicLane: (topic: string, shard: number) => `T#${topic}#${shard}`,
  groupLane: (topic: string, group: string, shard: number) => `G#${topic}#${group}#${shard}`,
  schedule: "M",
  content: "B",
  delivery: (group: string) => `D#${group}`,
  group: (group: string) => `G#${group}`,
} as const;

const DELIVERY_ACTIVE = "active";
const DELIVERY_ACKED = "acked";

export type Item = Record<string, unknown>;

export const THROTTLING = new Set([
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "RequestLimitExceeded",
  "InternalServerError",
  "ServiceUnavailable",
  "LimitExceededException",
]);

const toSec = (ms: number) => Math.ceil(ms / 1000);

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  meter?: CapacityMeter;
}

/** The MessageStore on DynamoDB: one table, the `due` GSI for every lane, conditional writes for every decision. */
export class DynamoStore implements MessageStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly meter: CapacityMeter | undefined;

  constructor(options: DynamoStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.meter = options.meter;
  }

  async ping(): Promise<void> {
    await this.send("ping", new GetItemCommand({ TableName: this.table, Key: m({ [PK]: keys.topics, [SK]: "~" }), ReturnConsumedCapacity: "TOTAL" }));
  }

  async registerTopic(topic: string): Promise<void> {
    await this.putIfAbsent("registerTopic", { [PK]: keys.topics, [SK]: topic });
  }

  async listTopics(): Promise<string[]> {
    const items = await this.queryAll("listTopics", keys.topics);
    return items.map((i) => String(i[SK]));
  }

  async registerGroup(topic: string, group: string, nowMs: number): Promise<void> {
    await this.putIfAbsent("registerGroup", { [PK]: keys.topicMeta(topic), [SK]: keys.group(group), createdAt: nowMs });
  }

  async listGroups(topic: string): Promise<string[]> {
    const items = await this.queryAll("listGroups", keys.topicMeta(topic), "G#");
    return items.map((i) => String(i[SK]).slice(2));
  }

  async insertMessage(msg: NewMessage): Promise<void> {
    const pk = keys.message(msg.topic, msg.messageId);
    const expAt = toSec(msg.expiresAtMs);
    const content = {
      [PK]: pk,
      [SK]: keys.content,
      body: msg.body,
      md5: msg.bodyMd5,
      ...(msg.tag !== undefined && { tag: msg.tag }),
      ...(msg.key !== undefined && { key: msg.key }),
      props: msg.properties,
      pubAt: msg.publishedAtMs,
      dlvAt: msg.deliverAtMs,
      ...(msg.local && { wall: msg.local.wallClock, tz: msg.local.timeZone }),
      ...(msg.dedupId !== undefined && { dd: msg.dedupId }),
      [TTL]: expAt,
    };
    const schedule = {
      [PK]: pk,
      [SK]: keys.schedule,
      st: MessageState.Scheduled,
      [LANE]: keys.topicLane(msg.topic, msg.shard),
      [DUE]: msg.deliverAtMs,
      dlvAt: msg.deliverAtMs,
      ...(msg.tag !== undefined && { tag: msg.tag }),
      cnt: 0,
      ...(msg.dedupId !== undefined && { dd: msg.dedupId }),
      ...(msg.key !== undefined && { key: msg.key }),
      [TTL]: expAt,
    };
    // Content first, then the schedule record that makes it findable: a consumer never finds a message
    // without its content. The schedule's put is conditional so that a retried put (its first attempt
    // having succeeded) cannot reset a message that was released meanwhile.
    await this.send("insertContent", new PutItemCommand({ TableName: this.table, Item: m(content), ReturnConsumedCapacity: "TOTAL" }));
    try {
      await this.send(
        "insertSchedule",
        new PutItemCommand({
          TableName: this.table,
          Item: m(schedule),
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": PK },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    } catch (error) {
      // The id is fresh and ours alone: an existing record can only be our own earlier attempt.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async scanDue(lane: Lane, nowMs: number, limit: number): Promise<DueScan> {
    const laneKey = lane.group === undefined ? keys.topicLane(lane.topic, lane.shard) : keys.groupLane(lane.topic, lane.group, lane.shard);
    const out = await this.send(
      lane.group === undefined ? "scanTopicLane" : "scanGroupLane",
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX,
        KeyConditionExpression: "#lane = :lane",
        ExpressionAttributeNames: { "#lane": LANE },
        ExpressionAttributeValues: m({ ":lane": laneKey }),
        ScanIndexForward: true,
        Limit: limit,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const due: DueEntry[] = [];
    let nextDueAtMs: number | undefined;
    for (const raw of out.Items ?? []) {
      const item = unmarshall(raw);
      const dueAtMs = Number(item[DUE]);
      if (dueAtMs > nowMs) {
        nextDueAtMs = dueAtMs;
        break;
      }
      due.push({
        messageId: String(item[PK]).split("#").pop() as string,
        shard: lane.shard,
        dueAtMs,
        deliverAtMs: Number(item.dlvAt),
        expiresAtMs: Number(item[TTL]) * 1000,
        ...(item.tag !== undefined && { tag: String(item.tag) }),
        consumedTimes: Number(item.cnt ?? 0),
      });
    }
    return { due, nextDueAtMs };
  }

  async release(
    topic: string,
    entry: DueEntry,
    groups: readonly string[],
    nowMs: number,
    claim?: ClaimSpec,
  ): Promise<{ outcome: ReleaseOutcome; delivery?: Delivery }> {
    if (groups.length === 0) return { outcome: ReleaseOutcome.Lost };
    if (groups.length > 99) throw new Error(`topic ${topic} has ${groups.length} groups; at most 99 are supported`);
    const pk = keys.message(topic, entry.messageId);
    let delivery: Delivery | undefined;
    const puts = groups.map((group) => {
      const item: Item = {
        [PK]: pk,
        [SK]: keys.delivery(group),
        st: DELIVERY_ACTIVE,
        [LANE]: keys.groupLane(topic, group, entry.shard),
        [DUE]: entry.deliverAtMs,
        dlvAt: entry.deliverAtMs,
        ...(entry.tag !== undefined && { tag: entry.tag }),
        cnt: 0,
        [TTL]: toSec(entry.expiresAtMs),
      };
      if (claim && claim.group === group) {
        Object.assign(item, { [DUE]: claim.visibleUntilMs, rcpt: claim.receiptHandle, cnt: 1, firstAt: claim.nowMs, lastAt: claim.nowMs });
        delivery = {
          messageId: entry.messageId,
          group,
          receiptHandle: claim.receiptHandle,
          consumedTimes: 1,
          firstConsumedAtMs: claim.nowMs,
          nextVisibleAtMs: claim.visibleUntilMs,
        };
      }
      return { Put: { TableName: this.table, Item: m(item), ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: { "#pk": PK } } };
    });
    try {
      await this.send(
        "release",
        new TransactWriteItemsCommand({
          ClientRequestToken: randomUUID(),
          ReturnConsumedCapacity: "TOTAL",
          TransactItems: [
            {
              Update: {
                TableName: this.table,
                Key: m({ [PK]: pk, [SK]: keys.schedule }),
                ConditionExpression: "st = :scheduled AND #due <= :now",
                UpdateExpression: "SET st = :released, relAt = :now REMOVE #lane",
                ExpressionAttributeNames: { "#due": DUE, "#lane": LANE },
                ExpressionAttributeValues: m({ ":scheduled": MessageState.Scheduled, ":released": MessageState.Released, ":now": nowMs }),
              },
            },
            ...puts,
          ],
        }),
      );
    } catch (error) {
      if (!(error instanceof TransactionCanceledException) && errorName(error) !== "TransactionInProgressException") throw error;
      // A retried transaction whose first attempt committed fails its conditions: if our claimed delivery
      // exists with our handle, the release was ours.
      if (claim && delivery && (await this.readHandle(topic, entry.messageId, claim.group)) === claim.receiptHandle) {
        return { outcome: ReleaseOutcome.Released, delivery };
      }
      return { outcome: ReleaseOutcome.Lost };
    }
    return { outcome: ReleaseOutcome.Released, ...(delivery && { delivery }) };
  }

  async claim(topic: string, entry: DueEntry, spec: ClaimSpec): Promise<Delivery | undefined> {
    try {
      const out = await this.send(
        "claim",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, entry.messageId), [SK]: keys.delivery(spec.group) }),
          ConditionExpression: "st = :active AND #due <= :now AND #ttl > :nowSec",
          UpdateExpression: "SET #due = :visible, rcpt = :handle, cnt = cnt + :one, firstAt = if_not_exists(firstAt, :now), lastAt = :now",
          ExpressionAttributeNames: { "#due": DUE, "#ttl": TTL },
          ExpressionAttributeValues: m({
            ":active": DELIVERY_ACTIVE,
            ":now": spec.nowMs,
            ":nowSec": Math.floor(spec.nowMs / 1000),
            ":visible": spec.visibleUntilMs,
            ":handle": spec.receiptHandle,
            ":one": 1,
          }),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return toDelivery(unmarshall(out.Attributes ?? {}), entry.messageId, spec.group);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The SDK may have retried a write whose first attempt succeeded: if the handle is ours, so is the claim.
      const current = error.Item ? unmarshall(error.Item) : undefined;
      if (current && current.rcpt === spec.receiptHandle) return toDelivery(current, entry.messageId, spec.group);
      return undefined;
    }
  }

  async loadMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, MessageContent>> {
    const result = new Map<string, MessageContent>();
    const unique = [...new Set(messageIds)];
    for (let i = 0; i < unique.length; i += 100) {
      let pending: Record<string, AttributeValue>[] = unique
        .slice(i, i + 100)
        .map((id) => m({ [PK]: keys.message(topic, id), [SK]: keys.content }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await backoff(attempt);
        if (attempt > 8) throw new StoreUnavailableError("DynamoDB kept returning unprocessed keys; retry");
        const out = await this.send(
          "loadMessages",
          new BatchGetItemCommand({
            RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } },
            ReturnConsumedCapacity: "TOTAL",
          }),
        );
        for (const raw of out.Responses?.[this.table] ?? []) {
          const item = unmarshall(raw);
          const id = String(item[PK]).split("#").pop() as string;
          result.set(id, {
            topic,
            messageId: id,
            body: String(item.body),
            bodyMd5: String(item.md5),
            ...(item.tag !== undefined && { tag: String(item.tag) }),
            ...(item.key !== undefined && { key: String(item.key) }),
            properties: (item.props ?? {}) as Record<string, string>,
            publishedAtMs: Number(item.pubAt),
            deliverAtMs: Number(item.dlvAt),
            expiresAtMs: Number(item[TTL]) * 1000,
          });
        }
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return result;
  }

  async ack(topic: string, group: string, messageId: string, receiptHandle: string, nowMs: number): Promise<AckOutcome> {
    const token = randomUUID();
    try {
      await this.send(
        "ack",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: "st = :active AND rcpt = :handle AND #due > :now",
          UpdateExpression: "SET st = :acked, ackTok = :token, ackAt = :now REMOVE #lane",
          ExpressionAttributeNames: { "#due": DUE, "#lane": LANE },
          ExpressionAttributeValues: m({ ":active": DELIVERY_ACTIVE, ":acked": DELIVERY_ACKED, ":handle": receiptHandle, ":now": nowMs, ":token": token }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return AckOutcome.Acked;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!error.Item) return AckOutcome.Unknown;
      const current = unmarshall(error.Item);
      // A retried write whose first attempt succeeded carries our token.
      if (current.st === DELIVERY_ACKED && current.ackTok === token) return AckOutcome.Acked;
      return AckOutcome.Stale;
    }
  }

  private async readHandle(topic: string, messageId: string, group: string): Promise<string | undefined> {
    const out = await this.send(
      "readHandle",
      new GetItemCommand({
        TableName: this.table,
        Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
        ConsistentRead: true,
        ProjectionExpression: "rcpt",
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    return out.Item ? (unmarshall(out.Item).rcpt as string | undefined) : undefined;
  }

  private async putIfAbsent(operation: string, item: Item): Promise<void> {
    try {
      await this.send(
        operation,
        new PutItemCommand({
          TableName: this.table,
          Item: m(item),
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": PK },
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async queryAll(operation: string, pk: string, skPrefix?: string): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(
        operation,
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: skPrefix ? "#pk = :pk AND begins_with(#sk, :prefix)" : "#pk = :pk",
          ExpressionAttributeNames: skPrefix ? { "#pk": PK, "#sk": SK } : { "#pk": PK },
          ExpressionAttributeValues: m(skPrefix ? { ":pk": pk, ":prefix": skPrefix } : { ":pk": pk }),
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of out.Items ?? []) items.push(unmarshall(raw));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /**
   * Sends one command, meters it, and turns exhausted throttling into StoreUnavailableError. A failed
   * conditional write is counted as a request; DynamoDB reports no capacity for it.
   */
  // biome-ignore lint/suspicious/noExplicitAny: the client's send is overloaded per command class; callers read known fields
  private async send(operation: string, command: any): Promise<any> {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: see above
      const out: any = await this.client.send(command);
      this.meter?.record(operation, out.ConsumedCapacity);
      return out;
    } catch (error) {
      this.meter?.record(`${operation}:failed`, undefined);
      if (THROTTLING.has(errorName(error))) {
        throw new StoreUnavailableError(`DynamoDB is throttling or unavailable (${errorName(error)}); retry shortly`);
      }
      throw error;
    }
  }
}

export function m(item: Item): Record<string, AttributeValue> {
  return marshall(item, { removeUndefinedValues: true, convertTopLevelContainer: false });
}

function toDelivery(item: Item, messageId: string, group: string): Delivery {
  return {
    messageId,
    group,
    receiptHandle: String(item.rcpt),
    consumedTimes: Number(item.cnt),
    firstConsumedAtMs: Number(item.firstAt),
    nextVisibleAtMs: Number(item[DUE]),
  };
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : "";
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(1000, 2 ** attempt * 10) * (0.5 + Math.random())));
}

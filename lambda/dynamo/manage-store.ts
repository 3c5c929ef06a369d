import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  TransactionCanceledException,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { StoreUnavailableError } from "../../core/errors.js";
import {
  CancelOutcome,
  type DedupRecord,
  type DueHistogram,
  type GroupDeliveryRecord,
  type LanePosition,
  type LocalDeliverAt,
  type ManageStore,
  type MessageRecord,
  RescheduleOutcome,
  type ScheduledEntry,
  type ScheduledPage,
  type ScheduledWindow,
} from "../../core/manage-ports.js";
import { type MessageContent, MessageState } from "../../core/message.js";
import type { Lane } from "../../core/ports.js";
import type { CapacityMeter } from "./capacity.js";
import { TABLE_SCHEMA } from "./schema.js";
import { errorName, sendMetered } from "./send.js";
import { type Item, keys, m } from "./store.js";

const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = TABLE_SCHEMA;
const { name: INDEX, partitionKey: LANE, sortKey: DUE } = TABLE_SCHEMA.dueIndex;

/** Items only management reads: a dedup record per (topic, dedupId), a key pointer per (topic, key, message). */
export const manageKeys = {
  dedup: (topic: string, dedupId: string) => `U#${topic}#${dedupId}`,
  dedupSort: "U",
  keyPointer: (topic: string, key: string) => `K#${topic}#${key}`,
} as const;

const toSec = (ms: number) => Math.ceil(ms / 1000);

export interface DynamoManageStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  meter?: CapacityMeter;
}

/**
 * ManageStore on the queue's table. Cancel and reschedule are conditional on the schedule record still
 * being `scheduled`, the same attribute the release transaction is conditioned on, so exactly one of
 * them wins; listing and counting read the due index's lanes (Query, never Scan).
 */
export class DynamoManageStore implements ManageStore {
  private readonly client: DynamoDBClient;
  private readonly table: string;
  private readonly meter: CapacityMeter | undefined;

  constructor(options: DynamoManageStoreOptions) {
    this.client = options.client;
    this.table = options.tableName;
    this.meter = options.meter;
  }

  async claimDedup(topic: string, dedupId: string, record: DedupRecord, nowMs: number): Promise<DedupRecord> {
    const item = {
      [PK]: manageKeys.dedup(topic, dedupId),
      [SK]: manageKeys.dedupSort,
      msg: record.messageId,
      md5: record.bodyMd5,
      pubAt: record.publishedAtMs,
      dlvAt: record.deliverAtMs,
      xms: record.expiresAtMs,
      [TTL]: toSec(record.expiresAtMs),
    };
    try {
      await this.send(
        "claimDedup",
        new PutItemCommand({
          TableName: this.table,
          Item: m(item),
          // A record past its message's expiry is dead even before DynamoDB's TTL deleter removes it.
          ConditionExpression: "attribute_not_exists(#pk) OR xms <= :now",
          ExpressionAttributeNames: { "#pk": PK },
          ExpressionAttributeValues: m({ ":now": nowMs }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return record;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
      // Either another publish's record, or ours from an attempt whose response was lost.
      const current = unmarshall(error.Item);
      return {
        messageId: String(current.msg),
        bodyMd5: String(current.md5),
        publishedAtMs: Number(current.pubAt),
        deliverAtMs: Number(current.dlvAt),
        expiresAtMs: Number(current.xms),
      };
    }
  }

  async addKeyPointer(topic: string, key: string, messageId: string, expiresAtMs: number): Promise<void> {
    await this.send(
      "addKeyPointer",
      new PutItemCommand({
        TableName: this.table,
        Item: m({ [PK]: manageKeys.keyPointer(topic, key), [SK]: messageId, [TTL]: toSec(expiresAtMs) }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
  }

  async messageIdsByKey(topic: string, key: string): Promise<string[]> {
    const ids: string[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(
        "messageIdsByKey",
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "#pk = :pk",
          ExpressionAttributeNames: { "#pk": PK },
          ExpressionAttributeValues: m({ ":pk": manageKeys.keyPointer(topic, key) }),
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of out.Items ?? []) ids.push(String(unmarshall(raw)[SK]));
      start = out.LastEvaluatedKey;
    } while (start);
    return ids;
  }

  async exists(topic: string, messageId: string): Promise<boolean> {
    return (await this.readSchedule(topic, messageId)) !== undefined;
  }

  async cancel(topic: string, messageId: string, nowMs: number): Promise<CancelOutcome> {
    try {
      await this.send(
        "cancel",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.schedule }),
          ConditionExpression: "st = :scheduled",
          UpdateExpression: "SET st = :cancelled, canAt = :now REMOVE #lane",
          ExpressionAttributeNames: { "#lane": LANE },
          ExpressionAttributeValues: m({ ":scheduled": MessageState.Scheduled, ":cancelled": MessageState.Cancelled, ":now": nowMs }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return CancelOutcome.Cancelled;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      if (!error.Item) return CancelOutcome.NotFound;
      // Cancelled already (by another call, or by our own attempt whose response was lost): still cancelled.
      const st = unmarshall(error.Item).st;
      if (st === MessageState.Cancelled) return CancelOutcome.Cancelled;
      // Retired undelivered (expired): gone as far as its publisher is concerned.
      return st === MessageState.Released ? CancelOutcome.AlreadyDelivered : CancelOutcome.NotFound;
    }
  }

  async reschedule(
    topic: string,
    messageId: string,
    change: { deliverAtMs: number; expiresAtMs: number; local?: LocalDeliverAt },
  ): Promise<RescheduleOutcome> {
    const before = await this.readSchedule(topic, messageId);
    if (!before) return RescheduleOutcome.NotFound;
    if (before.st !== MessageState.Scheduled) return stateOutcome(String(before.st));
    const pk = keys.message(topic, messageId);
    const expAt = toSec(change.expiresAtMs);
    const values = { ":d": change.deliverAtMs, ":exp": expAt };
    const update = (key: Item, expression: string, extra: Item = {}, condition?: string) => ({
      Update: {
        TableName: this.table,
        Key: m(key),
        UpdateExpression: expression,
        ...(condition && { ConditionExpression: condition }),
        ExpressionAttributeNames: { "#ttl": TTL, ...(expression.includes("#due") && { "#due": DUE }) },
        ExpressionAttributeValues: m({ ...values, ...extra }),
      },
    });
    const items = [
      update(
        { [PK]: pk, [SK]: keys.schedule },
        "SET #due = :d, dlvAt = :d, #ttl = :exp",
        { ":scheduled": MessageState.Scheduled },
        "st = :scheduled",
      ),
      change.local
        ? update({ [PK]: pk, [SK]: keys.content }, "SET dlvAt = :d, #ttl = :exp, wall = :wall, tz = :tz", {
            ":wall": change.local.wallClock,
            ":tz": change.local.timeZone,
          })
        : update({ [PK]: pk, [SK]: keys.content }, "SET dlvAt = :d, #ttl = :exp REMOVE wall, tz"),
    ];
    if (before.dd !== undefined) {
      items.push(
        update({ [PK]: manageKeys.dedup(topic, String(before.dd)), [SK]: manageKeys.dedupSort }, "SET dlvAt = :d, #ttl = :exp, xms = :xms", {
          ":xms": change.expiresAtMs,
          ":id": messageId,
        }, "msg = :id"),
      );
    }
    if (before.key !== undefined) {
      items.push(update({ [PK]: manageKeys.keyPointer(topic, String(before.key)), [SK]: messageId }, "SET #ttl = :exp"));
    }
    try {
      await this.send("reschedule", new TransactWriteItemsCommand({ TransactItems: items, ReturnConsumedCapacity: "TOTAL" }));
      return RescheduleOutcome.Rescheduled;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException) && errorName(error) !== "TransactionInProgressException") throw error;
      const after = await this.readSchedule(topic, messageId);
      if (!after) return RescheduleOutcome.NotFound;
      // A retried transaction whose first attempt committed: the record already shows our change.
      if (after.st === MessageState.Scheduled && Number(after[DUE]) === change.deliverAtMs) return RescheduleOutcome.Rescheduled;
      if (after.st === MessageState.Scheduled) throw new StoreUnavailableError("the message changed while it was rescheduled; retry");
      return stateOutcome(String(after.st));
    }
  }

  async inspect(topic: string, messageId: string): Promise<MessageRecord | undefined> {
    const items: Item[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(
        "inspect",
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "#pk = :pk",
          ExpressionAttributeNames: { "#pk": PK },
          ExpressionAttributeValues: m({ ":pk": keys.message(topic, messageId) }),
          ConsistentRead: true,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of out.Items ?? []) items.push(unmarshall(raw));
      start = out.LastEvaluatedKey;
    } while (start);
    const schedule = items.find((i) => i[SK] === keys.schedule);
    const body = items.find((i) => i[SK] === keys.content);
    if (!schedule || !body) return undefined;
    const content: MessageContent = {
      topic,
      messageId,
      body: String(body.body),
      bodyMd5: String(body.md5),
      ...(body.tag !== undefined && { tag: String(body.tag) }),
      ...(body.key !== undefined && { key: String(body.key) }),
      properties: (body.props ?? {}) as Record<string, string>,
      publishedAtMs: Number(body.pubAt),
      deliverAtMs: Number(schedule.dlvAt),
      expiresAtMs: Number(schedule[TTL]) * 1000,
      ...(body.wall !== undefined && { local: { wallClock: String(body.wall), timeZone: String(body.tz) } }),
      ...(body.dd !== undefined && { dedupId: String(body.dd) }),
    };
    const deliveries: GroupDeliveryRecord[] = items
      .filter((i) => String(i[SK]).startsWith("D#"))
      .map((d) => ({
        group: String(d[SK]).slice(2),
        state: String(d.st),
        dueAtMs: Number(d[DUE] ?? d.dlvAt),
        consumedTimes: Number(d.cnt ?? 0),
        ...(d.firstAt !== undefined && { firstConsumedAtMs: Number(d.firstAt) }),
        ...(d.lastAt !== undefined && { lastConsumedAtMs: Number(d.lastAt) }),
        ...(d.ackAt !== undefined && { ackedAtMs: Number(d.ackAt) }),
      }));
    return {
      content,
      state: String(schedule.st),
      ...(schedule.relAt !== undefined && { releasedAtMs: Number(schedule.relAt) }),
      ...(schedule.canAt !== undefined && { cancelledAtMs: Number(schedule.canAt) }),
      deliveries,
    };
  }

  async scheduledPage(
    topic: string,
    shard: number,
    window: ScheduledWindow,
    after: LanePosition | undefined,
    limit: number,
  ): Promise<ScheduledPage> {
    const lane = keys.topicLane(topic, shard);
    const entries: ScheduledEntry[] = [];
    let start: Record<string, AttributeValue> | undefined = after && m({
      [LANE]: lane,
      [DUE]: after.dueAtMs,
      [PK]: keys.message(topic, after.messageId),
      [SK]: keys.schedule,
    });
    do {
      const out = await this.send(
        "listScheduled",
        new QueryCommand({
          TableName: this.table,
          IndexName: INDEX,
          KeyConditionExpression: "#lane = :lane AND #due BETWEEN :from AND :to",
          ...(window.tag !== undefined && { FilterExpression: "tag = :tag" }),
          ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
          ExpressionAttributeValues: m({
            ":lane": lane,
            ":from": window.fromMs,
            ":to": window.toMs,
            ...(window.tag !== undefined && { ":tag": window.tag }),
          }),
          ScanIndexForward: true,
          Limit: limit - entries.length,
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of out.Items ?? []) {
        const item = unmarshall(raw);
        entries.push({
          messageId: String(item[PK]).split("#").pop() as string,
          deliverAtMs: Number(item[DUE]),
          expiresAtMs: Number(item[TTL]) * 1000,
          ...(item.tag !== undefined && { tag: String(item.tag) }),
        });
      }
      start = out.LastEvaluatedKey;
    } while (start && entries.length < limit);
    const last = entries[entries.length - 1];
    return { entries, next: start && last ? { dueAtMs: last.deliverAtMs, messageId: last.messageId } : undefined };
  }

  async countDeadLetters(topic: string, group: string): Promise<number> {
    let count = 0;
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(
        "countDeadLetters",
        new QueryCommand({
          TableName: this.table,
          IndexName: INDEX,
          KeyConditionExpression: "#lane = :lane",
          ExpressionAttributeNames: { "#lane": LANE },
          ExpressionAttributeValues: m({ ":lane": keys.deadLane(topic, group) }),
          Select: "COUNT",
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      count += Number(out.Count ?? 0);
      start = out.LastEvaluatedKey;
    } while (start);
    return count;
  }

  async dueHistogram(lane: Lane, boundariesMs: readonly number[]): Promise<DueHistogram> {
    const laneKey = lane.group === undefined ? keys.topicLane(lane.topic, lane.shard) : keys.groupLane(lane.topic, lane.group, lane.shard);
    const histogram: DueHistogram = { total: 0, atOrBefore: boundariesMs.map(() => 0), earliestDueAtMs: undefined };
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(
        "dueHistogram",
        new QueryCommand({
          TableName: this.table,
          IndexName: INDEX,
          KeyConditionExpression: "#lane = :lane",
          ProjectionExpression: "#due",
          ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
          ExpressionAttributeValues: m({ ":lane": laneKey }),
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of out.Items ?? []) {
        const dueAtMs = Number(unmarshall(raw)[DUE]);
        histogram.total++;
        histogram.earliestDueAtMs ??= dueAtMs;
        boundariesMs.forEach((b, i) => {
          if (dueAtMs <= b) histogram.atOrBefore[i] = (histogram.atOrBefore[i] ?? 0) + 1;
        });
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return histogram;
  }

  private async readSchedule(topic: string, messageId: string): Promise<Item | undefined> {
    const out = await this.send(
      "readSchedule",
      new GetItemCommand({
        TableName: this.table,
        Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.schedule }),
        ConsistentRead: true,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  private send(operation: string, command: any): Promise<any> {
    return sendMetered(this.client, this.meter, operation, command);
  }
}

function stateOutcome(state: string): RescheduleOutcome {
  if (state === MessageState.Cancelled) return RescheduleOutcome.Cancelled;
  return state === MessageState.Released ? RescheduleOutcome.AlreadyDelivered : RescheduleOutcome.NotFound;
}

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
import { StoreUnavailableError, invalid } from "../../core/errors.js";
import type { Delivery, DueEntry, MessageContent, NewMessage } from "../../core/message.js";
import { MessageState } from "../../core/message.js";
import { AckOutcome, type ClaimSpec, type DueScan, type Lane, type MessageStore, ReleaseOutcome } from "../../core/ports.js";
import {
  type DeadLetterPage,
  type DeliveryState,
  type NackSpec,
  RetireReason,
  type RetireSpec,
} from "../../core/retry-ports.js";
import type { GroupEntry, GroupSettingsInput, TopicSettingsInput } from "../../core/settings.js";
import type { CapacityMeter } from "./capacity.js";
import { errorName, sendMetered } from "./send.js";
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
  topicConfig: "C",
  deadLane: (topic: string, group: string) => `X#${topic}#${group}`,
} as const;

const DELIVERY_ACTIVE = "active";
const DELIVERY_ACKED = "acked";
/** In the group's dead-letter lane `X#<topic>#<group>`, due time = failure time. */
const DELIVERY_DEAD = "dead";
/** Out of circulation, in no lane (expired or exhausted with dead letters off). */
const DELIVERY_DROPPED = "dropped";
/** The handle of a claimed delivery acks or nacks only before `visAt`; without it (older items), before the due time. */
const WITHIN_VISIBILITY = "(visAt > :now OR (attribute_not_exists(visAt) AND #due > :now))";

export type Item = Record<string, unknown>;


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
      ...(msg.ttlExpiresAtMs !== undefined && { xpAt: msg.ttlExpiresAtMs }),
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
      ...(msg.ttlExpiresAtMs !== undefined && { xpAt: msg.ttlExpiresAtMs }),
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
    // The id is fresh and ours alone: an existing record can only be our own earlier attempt.
    await this.putIfAbsent("insertSchedule", schedule);
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
        ...(item.xpAt !== undefined && { ttlExpiresAtMs: Number(item.xpAt) }),
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
        ...(entry.ttlExpiresAtMs !== undefined && { xpAt: entry.ttlExpiresAtMs }),
        [TTL]: toSec(entry.expiresAtMs),
      };
      if (claim && claim.group === group) {
        const redeliverAtMs = claim.redeliverAtMs ?? claim.visibleUntilMs;
        Object.assign(item, { [DUE]: redeliverAtMs, visAt: claim.visibleUntilMs, rcpt: claim.receiptHandle, cnt: 1, firstAt: claim.nowMs, lastAt: claim.nowMs });
        delivery = {
          messageId: entry.messageId,
          group,
          receiptHandle: claim.receiptHandle,
          consumedTimes: 1,
          firstConsumedAtMs: claim.nowMs,
          nextVisibleAtMs: redeliverAtMs,
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
                ConditionExpression: "st = :scheduled AND #due <= :now AND (attribute_not_exists(xpAt) OR xpAt > :now)",
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
      // exists with our handle, the release was ours. Only a call the SDK sent more than once can be that.
      const attempts = (error as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 2;
      if (claim && delivery && attempts > 1 && (await this.readHandle(topic, entry.messageId, claim.group)) === claim.receiptHandle) {
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
          ConditionExpression: `st = :active AND #due <= :now AND #ttl > :nowSec AND (attribute_not_exists(xpAt) OR xpAt > :now)${spec.expectConsumedTimes === undefined ? "" : " AND cnt = :cnt"}`,
          UpdateExpression:
            "SET #due = :redeliver, visAt = :visible, rcpt = :handle, cnt = cnt + :one, firstAt = if_not_exists(firstAt, :now), lastAt = :now",
          ExpressionAttributeNames: { "#due": DUE, "#ttl": TTL },
          ExpressionAttributeValues: m({
            ":active": DELIVERY_ACTIVE,
            ":now": spec.nowMs,
            ":nowSec": Math.floor(spec.nowMs / 1000),
            ":visible": spec.visibleUntilMs,
            ":redeliver": spec.redeliverAtMs ?? spec.visibleUntilMs,
            ":handle": spec.receiptHandle,
            ":one": 1,
            ...(spec.expectConsumedTimes !== undefined && { ":cnt": spec.expectConsumedTimes }),
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

  /**
   * Contents are immutable once written, so they are read eventually consistent (half the read units);
   * an id such a read misses (a replica not yet caught up with a fresh message) is read again strongly.
   */
  async loadMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, MessageContent>> {
    const result = new Map<string, MessageContent>();
    const unique = [...new Set(messageIds)];
    await this.batchGetContents(topic, unique, false, result);
    const missed = unique.filter((id) => !result.has(id));
    if (missed.length > 0) await this.batchGetContents(topic, missed, true, result);
    return result;
  }

  private async batchGetContents(topic: string, ids: readonly string[], consistent: boolean, result: Map<string, MessageContent>): Promise<void> {
    for (let i = 0; i < ids.length; i += 100) {
      let pending: Record<string, AttributeValue>[] = ids.slice(i, i + 100).map((id) => m({ [PK]: keys.message(topic, id), [SK]: keys.content }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await backoff(attempt);
        if (attempt > 8) throw new StoreUnavailableError("DynamoDB kept returning unprocessed keys; retry");
        const out = await this.send(
          consistent ? "loadMessagesConsistent" : "loadMessages",
          new BatchGetItemCommand({
            RequestItems: { [this.table]: { Keys: pending, ConsistentRead: consistent } },
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
  }

  async ack(topic: string, group: string, messageId: string, receiptHandle: string, nowMs: number): Promise<AckOutcome> {
    const token = randomUUID();
    try {
      await this.send(
        "ack",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: `st = :active AND rcpt = :handle AND ${WITHIN_VISIBILITY}`,
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

  async getTopicSettings(topic: string): Promise<TopicSettingsInput | undefined> {
    const item = await this.getConsistent("getTopicSettings", keys.topicMeta(topic), keys.topicConfig);
    return item ? ((item.cfg ?? {}) as TopicSettingsInput) : undefined;
  }

  async putTopicSettings(topic: string, settings: TopicSettingsInput, nowMs: number): Promise<void> {
    await this.putSettings("putTopicSettings", { [PK]: keys.topicMeta(topic), [SK]: keys.topicConfig }, settings, nowMs);
  }

  async getGroupSettings(topic: string, group: string): Promise<GroupSettingsInput | undefined> {
    const item = await this.getConsistent("getGroupSettings", keys.topicMeta(topic), keys.group(group));
    return item ? ((item.cfg ?? {}) as GroupSettingsInput) : undefined;
  }

  async putGroupSettings(topic: string, group: string, settings: GroupSettingsInput, nowMs: number): Promise<void> {
    await this.putSettings("putGroupSettings", { [PK]: keys.topicMeta(topic), [SK]: keys.group(group) }, settings, nowMs);
  }

  async listGroupSettings(topic: string): Promise<GroupEntry[]> {
    const items = await this.queryAll("listGroups", keys.topicMeta(topic), "G#");
    return items.map((i) => ({ group: String(i[SK]).slice(2), settings: (i.cfg ?? {}) as GroupSettingsInput }));
  }

  async retireScheduled(topic: string, entry: DueEntry, deadLetterGroups: readonly string[], reason: RetireReason, nowMs: number): Promise<boolean> {
    if (deadLetterGroups.length > 99) throw new Error(`topic ${topic} has ${deadLetterGroups.length} dead-letter groups; at most 99 are supported`);
    const pk = keys.message(topic, entry.messageId);
    const token = randomUUID();
    const failedAtMs = reason === RetireReason.Expired ? (entry.ttlExpiresAtMs ?? nowMs) : nowMs;
    const update = {
      TableName: this.table,
      Key: m({ [PK]: pk, [SK]: keys.schedule }),
      ConditionExpression: `st = :scheduled AND #due <= :now${reason === RetireReason.Expired ? " AND xpAt <= :now" : ""}`,
      UpdateExpression: "SET st = :retired, why = :why, retAt = :now, retTok = :token REMOVE #lane",
      ExpressionAttributeNames: { "#due": DUE, "#lane": LANE },
      ExpressionAttributeValues: m({
        ":scheduled": MessageState.Scheduled,
        ":retired": MessageState.Retired,
        ":why": reason,
        ":now": nowMs,
        ":token": token,
      }),
    };
    const deadLetters = deadLetterGroups.map((group) => ({
      Put: {
        TableName: this.table,
        Item: m({
          [PK]: pk,
          [SK]: keys.delivery(group),
          st: DELIVERY_DEAD,
          [LANE]: keys.deadLane(topic, group),
          [DUE]: failedAtMs,
          failAt: failedAtMs,
          why: reason,
          shd: entry.shard,
          dlvAt: entry.deliverAtMs,
          ...(entry.tag !== undefined && { tag: entry.tag }),
          cnt: 0,
          ...(entry.ttlExpiresAtMs !== undefined && { xpAt: entry.ttlExpiresAtMs }),
          [TTL]: toSec(entry.expiresAtMs),
        }),
        ConditionExpression: "attribute_not_exists(#pk)",
        ExpressionAttributeNames: { "#pk": PK },
      },
    }));
    try {
      if (deadLetters.length === 0) {
        await this.send("retireScheduled", new UpdateItemCommand({ ...update, ReturnValuesOnConditionCheckFailure: "ALL_OLD", ReturnConsumedCapacity: "TOTAL" }));
      } else {
        await this.send(
          "retireScheduled",
          new TransactWriteItemsCommand({ ClientRequestToken: randomUUID(), ReturnConsumedCapacity: "TOTAL", TransactItems: [{ Update: update }, ...deadLetters] }),
        );
      }
      return true;
    } catch (error) {
      const transaction = error instanceof TransactionCanceledException || errorName(error) === "TransactionInProgressException";
      if (!(error instanceof ConditionalCheckFailedException) && !transaction) throw error;
      // A retried write whose first attempt applied carries our token.
      const current = error instanceof ConditionalCheckFailedException ? (error.Item ? unmarshall(error.Item) : undefined) : await this.getConsistent("readSchedule", pk, keys.schedule);
      return current?.retTok === token;
    }
  }

  async retireDelivery(topic: string, group: string, messageId: string, spec: RetireSpec): Promise<boolean> {
    const token = randomUUID();
    const conditions = ["st = :active"];
    const values: Item = { ":active": DELIVERY_ACTIVE, ":now": spec.nowMs, ":token": token, ":why": spec.reason, ":failedAt": spec.failedAtMs };
    const when = spec.when;
    if (when.kind === "due") {
      conditions.push("#due = :due", "#due <= :now", "cnt = :cnt");
      Object.assign(values, { ":due": when.dueAtMs, ":cnt": when.consumedTimes });
    } else if (when.kind === "expired") {
      conditions.push("#due <= :now", "xpAt <= :now");
    } else {
      conditions.push("rcpt = :handle", "cnt = :cnt", WITHIN_VISIBILITY);
      Object.assign(values, { ":handle": when.receiptHandle, ":cnt": when.consumedTimes });
    }
    let updateExpression: string;
    if (spec.deadLetter) {
      updateExpression = "SET st = :dead, #lane = :deadLane, #due = :failedAt, failAt = :failedAt, why = :why, shd = :shard, retTok = :token REMOVE rcpt, visAt";
      Object.assign(values, { ":dead": DELIVERY_DEAD, ":deadLane": keys.deadLane(topic, group), ":shard": spec.shard });
    } else {
      updateExpression = "SET st = :dropped, failAt = :failedAt, why = :why, retTok = :token REMOVE #lane, rcpt, visAt";
      values[":dropped"] = DELIVERY_DROPPED;
    }
    try {
      await this.send(
        "retireDelivery",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: conditions.join(" AND "),
          UpdateExpression: updateExpression,
          ExpressionAttributeNames: { "#due": DUE, "#lane": LANE },
          ExpressionAttributeValues: m(values),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (error.Item ? unmarshall(error.Item) : undefined)?.retTok === token;
    }
  }

  async readDelivery(topic: string, group: string, messageId: string): Promise<DeliveryState | undefined> {
    const item = await this.getConsistent("readDelivery", keys.message(topic, messageId), keys.delivery(group));
    if (!item) return undefined;
    const dueAtMs = Number(item[DUE] ?? 0);
    const laneShard = typeof item[LANE] === "string" && String(item[LANE]).startsWith("G#") ? Number(String(item[LANE]).split("#").pop()) : undefined;
    return {
      messageId,
      group,
      active: item.st === DELIVERY_ACTIVE,
      receiptHandle: item.rcpt === undefined ? undefined : String(item.rcpt),
      consumedTimes: Number(item.cnt ?? 0),
      visibleUntilMs: item.visAt === undefined ? dueAtMs : Number(item.visAt),
      dueAtMs,
      shard: laneShard ?? Number(item.shd ?? 0),
    };
  }

  async nack(topic: string, group: string, messageId: string, spec: NackSpec): Promise<boolean> {
    const token = randomUUID();
    try {
      await this.send(
        "nack",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: `st = :active AND rcpt = :handle AND cnt = :cnt AND ${WITHIN_VISIBILITY}`,
          UpdateExpression: "SET #due = :at, nackAt = :now, nackTok = :token REMOVE rcpt, visAt",
          ExpressionAttributeNames: { "#due": DUE },
          ExpressionAttributeValues: m({
            ":active": DELIVERY_ACTIVE,
            ":handle": spec.receiptHandle,
            ":cnt": spec.consumedTimes,
            ":now": spec.nowMs,
            ":at": spec.redeliverAtMs,
            ":token": token,
          }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (error.Item ? unmarshall(error.Item) : undefined)?.nackTok === token;
    }
  }

  async listDeadLetters(topic: string, group: string, limit: number, nowMs: number, cursor?: string): Promise<DeadLetterPage> {
    const lane = keys.deadLane(topic, group);
    const out = await this.send(
      "listDeadLetters",
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX,
        KeyConditionExpression: "#lane = :lane",
        ExpressionAttributeNames: { "#lane": LANE },
        ExpressionAttributeValues: m({ ":lane": lane }),
        ScanIndexForward: true,
        Limit: limit,
        ...(cursor !== undefined && { ExclusiveStartKey: m(decodeCursor(cursor, lane)) }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const deadLetters = [];
    for (const raw of out.Items ?? []) {
      const item = unmarshall(raw);
      if (Number(item[TTL]) * 1000 <= nowMs) continue;
      deadLetters.push({
        messageId: String(item[PK]).split("#").pop() as string,
        failedAtMs: Number(item[DUE]),
        consumedTimes: Number(item.cnt ?? 0),
        deliverAtMs: Number(item.dlvAt),
        ...(item.tag !== undefined && { tag: String(item.tag) }),
      });
    }
    const next = out.LastEvaluatedKey ? Buffer.from(JSON.stringify(unmarshall(out.LastEvaluatedKey))).toString("base64url") : undefined;
    return { deadLetters, ...(next !== undefined && { cursor: next }) };
  }

  async redrive(topic: string, group: string, messageId: string, shard: number, nowMs: number): Promise<boolean> {
    const token = randomUUID();
    try {
      await this.send(
        "redrive",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: "st = :dead",
          UpdateExpression:
            "SET st = :active, #lane = :lane, #due = :now, cnt = :zero, redAt = :now, redTok = :token REMOVE rcpt, visAt, xpAt, firstAt, lastAt, failAt, why",
          ExpressionAttributeNames: { "#due": DUE, "#lane": LANE },
          ExpressionAttributeValues: m({
            ":dead": DELIVERY_DEAD,
            ":active": DELIVERY_ACTIVE,
            ":lane": keys.groupLane(topic, group, shard),
            ":now": nowMs,
            ":zero": 0,
            ":token": token,
          }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (error.Item ? unmarshall(error.Item) : undefined)?.redTok === token;
    }
  }

  private async getConsistent(operation: string, pk: string, sk: string): Promise<Item | undefined> {
    const out = await this.send(
      operation,
      new GetItemCommand({ TableName: this.table, Key: m({ [PK]: pk, [SK]: sk }), ConsistentRead: true, ReturnConsumedCapacity: "TOTAL" }),
    );
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  /** Replaces a settings map; the newer of two concurrent writes wins, and a retried write of ours is harmless. */
  private async putSettings(operation: string, key: Item, settings: object, nowMs: number): Promise<void> {
    try {
      await this.send(
        operation,
        new UpdateItemCommand({
          TableName: this.table,
          Key: m(key),
          ConditionExpression: "attribute_not_exists(cfgAt) OR cfgAt <= :now",
          UpdateExpression: "SET cfg = :cfg, cfgAt = :now, createdAt = if_not_exists(createdAt, :now)",
          ExpressionAttributeValues: m({ ":cfg": settings, ":now": nowMs }),
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
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

  private send(operation: string, command: any): Promise<any> {
    return sendMetered(this.client, this.meter, operation, command);
  }
}

export function m(item: Item): Record<string, AttributeValue> {
  // convertClassInstanceToMap: a plain object with an own `constructor` property (a user property name) is still a map.
  return marshall(item, { removeUndefinedValues: true, convertTopLevelContainer: false, convertClassInstanceToMap: true });
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

export function decodeCursor(cursor: string, lane: string): Item {
  try {
    const key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as Item;
    const shape = key && typeof key === "object" && !Array.isArray(key) && Object.keys(key).length === 4;
    if (shape && key[LANE] === lane && typeof key[PK] === "string" && typeof key[SK] === "string" && Number.isSafeInteger(key[DUE])) return key;
  } catch {}
  throw invalid("cursor is not one this listing returned; send the cursor of the previous page unchanged, or none for the first page");
}


function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(1000, 2 ** attempt * 10) * (0.5 + Math.random())));
}

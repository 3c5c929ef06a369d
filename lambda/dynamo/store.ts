import { randomUUID } from "node:crypto";
import {
  type AttributeValue,
  BatchGetItemCommand,
  BatchWriteItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { marshall, unmarshall } from "@aws-sdk/util-dynamodb";
import { StoreUnavailableError, invalid } from "../../core/errors.js";
import type { Delivery, LocalDeliverAt, MessageContent, NewMessage, StoredMessage } from "../../core/message.js";
import { MessageState } from "../../core/message.js";
import {
  AckOutcome,
  CancelOutcome,
  type ClaimSpec,
  type DeadLetterPage,
  type DedupRecord,
  type DeliveryState,
  type DueHistogram,
  type HistogramBound,
  type GroupPage,
  type GroupRecord,
  type Lane,
  type LaneEntry,
  type LanePosition,
  type LaneRange,
  type LaneRead,
  type LeaseKey,
  type LeaseOutcome,
  type LeaseSave,
  type LeaseView,
  type MessageRecord,
  type ExtendSpec,
  type NackSpec,
  type NewDelivery,
  type ParkedDelivery,
  type DispatcherHold,
  type PushRoutePage,
  type QueueStore,
  RescheduleOutcome,
  type RetireReason,
  type RetireSpec,
} from "../../core/ports.js";
import { workShardOf } from "../../core/rules.js";
import type { GroupSettingsInput, TopicSettingsInput } from "../../core/settings.js";
import { type IndexEffect, indexWrites, itemBytes, writeUnits } from "./billing.js";
import type { CapacityMeter } from "./capacity.js";
import { TABLE_SCHEMA } from "./schema.js";
import { errorName, sendMetered } from "./send.js";

const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = TABLE_SCHEMA;
const { name: INDEX, partitionKey: LANE, sortKey: DUE } = TABLE_SCHEMA.dueIndex;

/**
 * Item keys. A message (M) and every group's delivery of it (D#group) share one partition key, so one
 * Query returns its whole state; a topic's settings (C), groups (G#group) and cursors (L#group#shard)
 * share the topic's.
 */
export const keys = {
  message: (topic: string, id: string) => `M#${topic}#${id}`,
  topics: "TOPICS",
  topicMeta: (topic: string) => `T#${topic}`,
  topicLane: (topic: string, shard: number) => `T#${topic}#${shard}`,
  groupLane: (topic: string, group: string, shard: number) => `G#${topic}#${group}#${shard}`,
  deadLane: (topic: string, group: string) => `X#${topic}#${group}`,
  workLane: (shard: number) => `W#${shard}`,
  schedule: "M",
  delivery: (group: string) => `D#${group}`,
  group: (group: string) => `G#${group}`,
  lease: (group: string, shard: number) => `L#${group}#${shard}`,
  topicConfig: "C",
  dedup: (topic: string, dedupId: string) => `U#${topic}#${dedupId}`,
  dedupSort: "U",
  keyPointer: (topic: string, key: string) => `K#${topic}#${key}`,
  topology: (scope: string) => `Y#${scope}`,
  push: "PUSH",
  pushRoute: (topic: string, group: string) => `R#${topic}#${group}`,
  dispatcher: (shard: number) => `D#${shard}`,
} as const;

/** Stored states: a message is scheduled (s) or cancelled (c); a delivery active (a), acked (k), dead (d) or dropped (x). */
const MSG_SCHEDULED = "s";
const MSG_CANCELLED = "c";
const ACTIVE = "a";
const ACKED = "k";
const DEAD = "d";
const DROPPED = "x";
const STATE_NAMES: Record<string, string> = { [ACTIVE]: "active", [ACKED]: "acked", [DEAD]: "dead", [DROPPED]: "dropped" };

export type Item = Record<string, unknown>;

const toSec = (ms: number) => Math.ceil(ms / 1000);

export interface DynamoStoreOptions {
  client: DynamoDBClient;
  tableName: string;
  meter?: CapacityMeter;
}

/** What one write costs as the service bills it (see billing.ts). */
interface Billing {
  /** The item written (or its size in bytes), to size the table write. */
  item: Record<string, AttributeValue> | number;
  /** The index change, or how to tell it from the write's answer. */
  index: IndexEffect | ((out: { Attributes?: Record<string, AttributeValue> }) => IndexEffect);
}

/** The QueueStore on DynamoDB: one table, the `due` GSI for every lane, one conditional write for every decision. */
export class DynamoStore implements QueueStore {
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

  // Topics.

  async registerTopic(topic: string): Promise<void> {
    await this.putIfAbsent("registerTopic", { [PK]: keys.topics, [SK]: topic });
  }

  async putTopology(scope: string, id: string, spec: string): Promise<void> {
    const item = m({ [PK]: keys.topology(scope), [SK]: id, spec });
    await this.write("putTopology", new PutItemCommand({ TableName: this.table, Item: item, ReturnConsumedCapacity: "TOTAL" }), { item, index: "none" });
  }

  async deleteTopology(scope: string, id: string): Promise<void> {
    await this.write(
      "deleteTopology",
      new DeleteItemCommand({ TableName: this.table, Key: m({ [PK]: keys.topology(scope), [SK]: id }), ReturnConsumedCapacity: "TOTAL" }),
      { item: 100, index: "none" },
    );
  }

  async listTopology(scope: string): Promise<{ id: string; spec: string }[]> {
    const out: { id: string; spec: string }[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.send(
        "listTopology",
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "#pk = :pk",
          ExpressionAttributeNames: { "#pk": PK },
          ExpressionAttributeValues: m({ ":pk": keys.topology(scope) }),
          ConsistentRead: true,
          ...(start && { ExclusiveStartKey: start }),
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of (page.Items ?? []) as Record<string, AttributeValue>[]) {
        const item = unmarshall(raw);
        out.push({ id: String(item[SK]), spec: String(item.spec) });
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async listTopics(limit: number, cursor?: string): Promise<{ topics: string[]; cursor?: string }> {
    const start = cursor === undefined ? undefined : m({ [PK]: keys.topics, [SK]: decodeName(cursor) });
    const out = await this.send(
      "listTopics",
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "#pk = :pk",
        ExpressionAttributeNames: { "#pk": PK },
        ExpressionAttributeValues: m({ ":pk": keys.topics }),
        Limit: limit,
        ...(start && { ExclusiveStartKey: start }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const topics = (out.Items ?? []).map((raw: Record<string, AttributeValue>) => String(unmarshall(raw)[SK])).filter((t: string) => t !== "~");
    const last = out.LastEvaluatedKey ? String(unmarshall(out.LastEvaluatedKey)[SK]) : undefined;
    return { topics, ...(last !== undefined && { cursor: encodeName(last) }) };
  }

  async getTopicSettings(topic: string): Promise<TopicSettingsInput | undefined> {
    const item = await this.getItem("getTopicSettings", keys.topicMeta(topic), keys.topicConfig, false);
    return item?.cfg as TopicSettingsInput | undefined;
  }

  async putTopicSettings(topic: string, settings: TopicSettingsInput, nowMs: number): Promise<void> {
    await this.putSettings("putTopicSettings", { [PK]: keys.topicMeta(topic), [SK]: keys.topicConfig }, settings, nowMs);
  }

  // Groups.

  async registerGroup(topic: string, fresh: GroupRecord): Promise<GroupRecord> {
    const item = {
      [PK]: keys.topicMeta(topic),
      [SK]: keys.group(fresh.group),
      gen: fresh.gen,
      start: fresh.startMs,
      cAt: fresh.createdAtMs,
      cfg: fresh.settings,
      cfgAt: fresh.createdAtMs,
    };
    try {
      await this.write(
        "registerGroup",
        new PutItemCommand({
          TableName: this.table,
          Item: m(item),
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": PK },
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: m(item), index: "none" },
      );
      return fresh;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
      return groupRecord(unmarshall(error.Item));
    }
  }

  async putGroupSettings(topic: string, group: string, settings: GroupSettingsInput, nowMs: number): Promise<GroupRecord | undefined> {
    try {
      const out = await this.write(
        "putGroupSettings",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.topicMeta(topic), [SK]: keys.group(group) }),
          ConditionExpression: "attribute_exists(#pk) AND (attribute_not_exists(cfgAt) OR cfgAt <= :now)",
          UpdateExpression: "SET cfg = :cfg, cfgAt = :now",
          ExpressionAttributeNames: { "#pk": PK },
          ExpressionAttributeValues: m({ ":cfg": settings, ":now": nowMs }),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 512, index: "none" },
      );
      return groupRecord(unmarshall(out.Attributes ?? {}));
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Not registered, or a newer write won: what is in force either way.
      return error.Item ? groupRecord(unmarshall(error.Item)) : undefined;
    }
  }

  async getGroup(topic: string, group: string): Promise<GroupRecord | undefined> {
    const item = await this.getItem("getGroup", keys.topicMeta(topic), keys.group(group), true);
    return item && groupRecord(item);
  }

  async hasGroups(topic: string): Promise<boolean> {
    const out = await this.send(
      "hasGroups",
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "#pk = :pk AND begins_with(#sk, :g)",
        ExpressionAttributeNames: { "#pk": PK, "#sk": SK },
        ExpressionAttributeValues: m({ ":pk": keys.topicMeta(topic), ":g": "G#" }),
        ConsistentRead: true,
        Limit: 1,
        ProjectionExpression: "#pk",
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    return (out.Items ?? []).length > 0;
  }

  async listGroups(topic: string, limit: number, cursor?: string): Promise<GroupPage> {
    const start = cursor === undefined ? undefined : m({ [PK]: keys.topicMeta(topic), [SK]: keys.group(decodeName(cursor)) });
    const out = await this.send(
      "listGroups",
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "#pk = :pk AND begins_with(#sk, :g)",
        ExpressionAttributeNames: { "#pk": PK, "#sk": SK },
        ExpressionAttributeValues: m({ ":pk": keys.topicMeta(topic), ":g": "G#" }),
        ConsistentRead: true,
        Limit: limit,
        ...(start && { ExclusiveStartKey: start }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const groups = (out.Items ?? []).map((raw: Record<string, AttributeValue>) => groupRecord(unmarshall(raw)));
    const last = out.LastEvaluatedKey ? String(unmarshall(out.LastEvaluatedKey)[SK]).slice(2) : undefined;
    return { groups, ...(last !== undefined && { cursor: encodeName(last) }) };
  }

  async deleteGroup(topic: string, group: string, gen: string): Promise<boolean> {
    try {
      await this.write(
        "deleteGroup",
        new DeleteItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.topicMeta(topic), [SK]: keys.group(group) }),
          ConditionExpression: "gen = :gen",
          ExpressionAttributeValues: m({ ":gen": gen }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 256, index: "none" },
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Gone already: the SDK re-sent our applied delete (or a concurrent delete of the same incarnation
      // won): it is deleted either way, and its cursors are removed below. Another incarnation stays.
      if (error.Item !== undefined) return false;
    }
    const leases = await this.queryAll("listLeases", keys.topicMeta(topic), `L#${group}#`);
    await Promise.all(
      leases.map((l) =>
        this.write(
          "deleteLease",
          new DeleteItemCommand({ TableName: this.table, Key: m({ [PK]: l[PK], [SK]: l[SK] }), ReturnConsumedCapacity: "TOTAL" }),
          { item: 256, index: l[LANE] === undefined ? "none" : "remove" },
        ),
      ),
    );
    return true;
  }

  // Messages.

  async insertMessages(messages: readonly NewMessage[]): Promise<void> {
    const items = messages.map(messageItem);
    if (items.length === 1) {
      // The id is fresh and ours alone: an existing item can only be our own earlier attempt.
      await this.putIfAbsent("insertMessage", items[0] as Item, "put");
      return;
    }
    let pending = items.map((item) => ({ PutRequest: { Item: m(item) } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) await backoff(attempt);
      if (attempt > 8) throw new StoreUnavailableError("DynamoDB kept returning unprocessed items; retry the publish");
      const sent = pending;
      const out = await this.send(
        "insertMessages",
        new BatchWriteItemCommand({ RequestItems: { [this.table]: sent }, ReturnConsumedCapacity: "TOTAL" }),
      );
      const unprocessed = (out.UnprocessedItems?.[this.table] ?? []) as typeof pending;
      const done = sent.filter((r) => !unprocessed.includes(r));
      for (const r of done) this.meter?.bill("insertMessages", writeUnits(itemBytes(r.PutRequest.Item)) + indexWrites("put"));
      pending = unprocessed;
    }
  }

  async readMessages(topic: string, messageIds: readonly string[]): Promise<Map<string, StoredMessage>> {
    const result = new Map<string, StoredMessage>();
    const unique = [...new Set(messageIds)];
    for (let i = 0; i < unique.length; i += 100) {
      let pending: Record<string, AttributeValue>[] = unique.slice(i, i + 100).map((id) => m({ [PK]: keys.message(topic, id), [SK]: keys.schedule }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await backoff(attempt);
        if (attempt > 8) throw new StoreUnavailableError("DynamoDB kept returning unprocessed keys; retry");
        const out = await this.send(
          "readMessages",
          new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } }, ReturnConsumedCapacity: "TOTAL" }),
        );
        for (const raw of out.Responses?.[this.table] ?? []) {
          const stored = storedMessage(topic, unmarshall(raw));
          result.set(stored.content.messageId, stored);
        }
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return result;
  }

  // The due index.

  async readLane(lane: Lane, range: LaneRange, limit: number): Promise<LaneRead> {
    const laneKey = laneKeyOf(lane);
    const boundary = range.after?.messageId === "";
    const from = Math.max(range.fromMs, range.after ? range.after.dueAtMs + (boundary ? 1 : 0) : range.fromMs);
    if (from > range.toMs) return { entries: [], more: false };
    const operation = `read${lane.kind === "topic" ? "Topic" : lane.kind === "group" ? "Group" : "Dead"}Lane`;
    const query = (startKey: Record<string, AttributeValue> | undefined) =>
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX,
        KeyConditionExpression: "#lane = :lane AND #due BETWEEN :from AND :to",
        ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
        ExpressionAttributeValues: m({ ":lane": laneKey, ":from": from, ":to": range.toMs }),
        ...(startKey && { ExclusiveStartKey: startKey }),
        ScanIndexForward: true,
        Limit: limit,
        ReturnConsumedCapacity: "TOTAL",
      });
    const after = range.after && !boundary && range.after.dueAtMs >= range.fromMs ? range.after : undefined;
    let items: Record<string, AttributeValue>[];
    let more: boolean;
    try {
      const out = await this.send(operation, query(after && this.startKey(lane, laneKey, after)));
      items = out.Items ?? [];
      // Cut by its limit or by the 1 MB a Query answers at most (DynamoDB Local counts whole items):
      // either way more may follow after the last entry.
      more = out.LastEvaluatedKey !== undefined;
    } catch (error) {
      // DynamoDB Local now and then refuses a well-formed start key naming an existing entry ("The
      // provided starting key is invalid") while other items of the same index partition are written;
      // the same query a moment later is answered. Read from the entry's millisecond instead and continue
      // after the entry in the answer's order (which is the index's order): what the start key would give.
      if (!after || errorName(error) !== "ValidationException" || !/starting key is invalid/i.test((error as Error).message)) throw error;
      const out = await this.send(operation, query(undefined));
      const all: Record<string, AttributeValue>[] = out.Items ?? [];
      const at = all.findIndex((raw) => {
        const item = unmarshall(raw);
        return item[PK] === keys.message(lane.topic, after.messageId) && Number(item[DUE]) === after.dueAtMs;
      });
      if (at < 0) throw error;
      items = all.slice(at + 1);
      more = out.LastEvaluatedKey !== undefined;
    }
    // In the index's own order (entries due at the same millisecond come in an order of its choosing, and
    // `after` continues from exactly there). A lagging index may answer as of an earlier moment: keep only
    // what is inside the range asked for.
    const entries = items
      .map((raw: Record<string, AttributeValue>) => laneEntry(lane, unmarshall(raw)))
      .filter((e: LaneEntry) => e.dueAtMs >= range.fromMs && e.dueAtMs <= range.toMs);
    return { entries, more };
  }

  async laneHistogram(lane: Lane, from: { fromMs: number; after?: LanePosition }, boundariesMs: readonly number[], bound: HistogramBound = {}): Promise<DueHistogram> {
    const laneKey = laneKeyOf(lane);
    const atOrBefore = boundariesMs.map(() => 0);
    let total = 0;
    let earliest: number | undefined;
    const boundary = from.after?.messageId === "";
    let start: Record<string, AttributeValue> | undefined =
      from.after && !boundary && from.after.dueAtMs >= from.fromMs ? this.startKey(lane, laneKey, from.after) : undefined;
    const fromMs = Math.max(from.fromMs, from.after ? from.after.dueAtMs + (boundary ? 1 : 0) : from.fromMs);
    do {
      const out = await this.send(
        "laneHistogram",
        new QueryCommand({
          TableName: this.table,
          IndexName: INDEX,
          KeyConditionExpression: bound.toMs === undefined ? "#lane = :lane AND #due >= :from" : "#lane = :lane AND #due BETWEEN :from AND :to",
          ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
          ExpressionAttributeValues: m({ ":lane": laneKey, ":from": fromMs, ...(bound.toMs !== undefined && { ":to": Math.max(fromMs, bound.toMs) }) }),
          ProjectionExpression: "#due",
          ExclusiveStartKey: start,
          ...(bound.cap !== undefined && { Limit: Math.max(1, bound.cap - total) }),
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      for (const raw of out.Items ?? []) {
        const due = Number(unmarshall(raw)[DUE]);
        total++;
        if (earliest === undefined || due < earliest) earliest = due;
        boundariesMs.forEach((b, i) => {
          if (due <= b) atOrBefore[i] = (atOrBefore[i] ?? 0) + 1;
        });
      }
      start = out.LastEvaluatedKey;
    } while (start && (bound.cap === undefined || total < bound.cap));
    return { total, atOrBefore, earliestDueAtMs: earliest };
  }

  /** An index position as DynamoDB's ExclusiveStartKey: the index keys and the item's table keys. */
  private startKey(lane: Lane, laneKey: string, after: LanePosition): Record<string, AttributeValue> {
    const sk = lane.kind === "topic" ? keys.schedule : keys.delivery(lane.group);
    return m({ [LANE]: laneKey, [DUE]: after.dueAtMs, [PK]: keys.message(lane.topic, after.messageId), [SK]: sk });
  }

  // Cursors and leases.

  async acquireLease(key: LeaseKey, owner: string, nowMs: number, untilMs: number, start: LanePosition): Promise<LeaseOutcome> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const out = await this.write(
          "acquireLease",
          new UpdateItemCommand({
            TableName: this.table,
            Key: m(leaseKeyOf(key)),
            ConditionExpression: "attribute_not_exists(#pk) OR (gen = :gen AND (attribute_not_exists(own) OR own = :me OR #until < :now))",
            UpdateExpression:
              "SET gen = :gen, own = :me, #until = :until, pDue = if_not_exists(pDue, :sDue), pId = if_not_exists(pId, :sId), rc = if_not_exists(rc, :zero)",
            ExpressionAttributeNames: { "#pk": PK, "#until": "until" },
            ExpressionAttributeValues: m({ ":gen": key.gen, ":me": owner, ":now": nowMs, ":until": untilMs, ":sDue": start.dueAtMs, ":sId": start.messageId, ":zero": 0 }),
            ReturnValues: "ALL_OLD",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            ReturnConsumedCapacity: "TOTAL",
          }),
          { item: 256, index: "none" },
        );
        const old = out.Attributes ? unmarshall(out.Attributes) : undefined;
        const pos = old?.pDue !== undefined ? { dueAtMs: Number(old.pDue), messageId: String(old.pId ?? "") } : { ...start };
        const takenOver = old?.own !== undefined && old.own !== owner;
        // Released by this owner and not taken since: what it knew of the shard still holds.
        const resumed = old !== undefined && old.own === undefined && old.rel === owner;
        const workAtMs = old?.[LANE] !== undefined ? Number(old[DUE]) : undefined;
        return {
          ok: true,
          lease: { pos, recent: Number(old?.rc ?? 0), takenOver, passed: decodePassed(old?.psd), resumed, ...(workAtMs !== undefined && { workAtMs }) },
        };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || !error.Item) throw error;
        const current = unmarshall(error.Item);
        if (current.gen === key.gen) return { ok: false, holder: String(current.own), untilMs: Number(current.until ?? 0) };
        // The cursor of an earlier incarnation of the group: start afresh.
        await this.write(
          "resetLease",
          new PutItemCommand({
            TableName: this.table,
            Item: m({ ...leaseKeyOf(key), gen: key.gen, pDue: start.dueAtMs, pId: start.messageId, rc: 0 }),
            ConditionExpression: "gen = :old",
            ExpressionAttributeValues: m({ ":old": current.gen }),
            ReturnConsumedCapacity: "TOTAL",
          }),
          { item: 256, index: current[LANE] === undefined ? "none" : "remove" },
        ).catch((e) => {
          if (!(e instanceof ConditionalCheckFailedException)) throw e;
        });
      }
    }
    return { ok: false, holder: "unknown", untilMs: nowMs };
  }

  async saveLease(key: LeaseKey, owner: string, save: LeaseSave): Promise<boolean> {
    const set = ["pDue = :pDue", "pId = :pId", "rc = :rc", "psd = :psd"];
    const remove: string[] = [];
    const values: Item = { ":gen": key.gen, ":me": owner, ":pDue": save.pos.dueAtMs, ":pId": save.pos.messageId, ":rc": save.recent, ":psd": encodePassed(save.passed) };
    if (save.untilMs !== undefined) {
      set.push("#until = :until");
      values[":until"] = save.untilMs;
      remove.push("rel");
    } else {
      // Who released it: if that owner is the next to take it, what it knew of the shard is still exact.
      set.push("rel = :me");
      remove.push("own", "#until");
    }
    if (save.keepWork) {
      // The sweeper's next look stays as it is: no change to the due index.
    } else if (save.workAtMs !== undefined) {
      set.push("#lane = :work", "#due = :workAt");
      values[":work"] = keys.workLane(workShardOf(key.topic, key.group));
      values[":workAt"] = save.workAtMs;
    } else remove.push("#lane", "#due");
    try {
      await this.write(
        save.untilMs === undefined ? "releaseLease" : "renewLease",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m(leaseKeyOf(key)),
          ConditionExpression: "gen = :gen AND own = :me",
          UpdateExpression: `SET ${set.join(", ")}${remove.length > 0 ? ` REMOVE ${remove.join(", ")}` : ""}`,
          ExpressionAttributeNames: { "#until": "until", ...(!save.keepWork && { "#lane": LANE, "#due": DUE }) },
          ExpressionAttributeValues: m(values),
          ReturnValues: "UPDATED_OLD",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        {
          item: 256,
          index: (out) => {
            const had = out.Attributes?.[LANE] !== undefined;
            if (save.keepWork) return "none";
            if (save.workAtMs === undefined) return had ? "remove" : "none";
            if (!had) return "put";
            return Number(out.Attributes?.[DUE]?.N) === save.workAtMs ? "none" : "move";
          },
        },
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // A release the SDK re-sent after it had applied: released by us, nobody since, the cursor as saved.
      const current = error.Item ? unmarshall(error.Item) : undefined;
      return (
        save.untilMs === undefined &&
        current !== undefined &&
        current.gen === key.gen &&
        current.own === undefined &&
        current.rel === owner &&
        Number(current.pDue) === save.pos.dueAtMs &&
        String(current.pId ?? "") === save.pos.messageId
      );
    }
  }

  async peekLease(key: LeaseKey): Promise<{ holder: string; untilMs: number } | undefined> {
    const out = await this.send(
      "peekLease",
      new GetItemCommand({
        TableName: this.table,
        Key: m(leaseKeyOf(key)),
        ProjectionExpression: "own, #until, gen",
        ExpressionAttributeNames: { "#until": "until" },
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const item = out.Item ? unmarshall(out.Item) : undefined;
    if (!item || item.own === undefined || item.gen !== key.gen) return undefined;
    return { holder: String(item.own), untilMs: Number(item.until ?? 0) };
  }

  async listLeases(topic: string, group: string): Promise<LeaseView[]> {
    const items = await this.queryAll("listLeases", keys.topicMeta(topic), `L#${group}#`);
    return items.map((i) => leaseView(topic, i));
  }

  async dueWork(workShard: number, nowMs: number, limit: number): Promise<LeaseView[]> {
    const out = await this.send(
      "dueWork",
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX,
        KeyConditionExpression: "#lane = :lane AND #due <= :now",
        ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
        ExpressionAttributeValues: m({ ":lane": keys.workLane(workShard), ":now": nowMs }),
        Limit: limit,
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    return (out.Items ?? []).map((raw: Record<string, AttributeValue>) => {
      const item = unmarshall(raw);
      return leaseView(String(item[PK]).slice(2), item);
    });
  }

  async setWork(key: LeaseKey, workAtMs: number | undefined): Promise<boolean> {
    try {
      await this.write(
        "setWork",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m(leaseKeyOf(key)),
          ConditionExpression: "gen = :gen",
          UpdateExpression: workAtMs === undefined ? "REMOVE #lane, #due" : "SET #lane = :work, #due = :at",
          ExpressionAttributeNames: { "#lane": LANE, "#due": DUE },
          ExpressionAttributeValues: m({ ":gen": key.gen, ...(workAtMs !== undefined && { ":work": keys.workLane(workShardOf(key.topic, key.group)), ":at": workAtMs }) }),
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 256, index: workAtMs === undefined ? "remove" : "move" },
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return false;
    }
  }

  // Deliveries.

  async claimNew(d: NewDelivery): Promise<Delivery | undefined> {
    const c = d.claim;
    const item = {
      ...deliveryItem(d, c.redeliverAtMs),
      rcpt: c.receiptHandle,
      visAt: c.visibleUntilMs,
      cnt: 1,
      firstAt: c.nowMs,
      lastAt: c.nowMs,
    };
    const current = await this.putDelivery("claimNew", item, d.gen);
    if (current === undefined) return toDelivery(item, d.message.messageId, d.group);
    // The SDK may have re-sent a put whose first attempt succeeded: our handle means the claim is ours.
    return current.rcpt === c.receiptHandle ? toDelivery(current, d.message.messageId, d.group) : undefined;
  }

  async putAcked(d: NewDelivery, ackedAtMs: number): Promise<boolean> {
    const c = d.claim;
    const token = randomUUID();
    const { [LANE]: _lane, [DUE]: _due, ...rest } = deliveryItem(d, c.redeliverAtMs);
    const item = { ...rest, st: ACKED, rcpt: c.receiptHandle, cnt: 1, firstAt: c.nowMs, lastAt: c.nowMs, ackAt: ackedAtMs, ackTok: token };
    const current = await this.putDelivery("putAcked", item, d.gen, "none");
    // The SDK may have re-sent a put whose first attempt succeeded: our token means it is ours.
    return current === undefined || current.ackTok === token;
  }

  async parkNew(d: ParkedDelivery, nowMs: number): Promise<boolean> {
    const token = randomUUID();
    const current = await this.putDelivery("parkNew", { ...deliveryItem(d, nowMs), cnt: 0, parkTok: token }, d.gen);
    return current === undefined || current.parkTok === token;
  }

  async putDeadLetter(topic: string, group: string, gen: string, message: LaneEntry & { shard: number }, failedAtMs: number, reason: RetireReason): Promise<boolean> {
    const token = randomUUID();
    const item = { ...deliveryItem({ topic, group, gen, message }, failedAtMs), st: DEAD, [LANE]: keys.deadLane(topic, group), why: reason, cnt: 0, retTok: token };
    const current = await this.putDelivery("putDeadLetter", item, gen);
    return current === undefined || current.retTok === token;
  }

  /** Puts a delivery unless the group (this incarnation) has one: undefined when put, else the existing item. */
  private async putDelivery(operation: string, item: Item, gen: string, index: IndexEffect = "put"): Promise<Item | undefined> {
    try {
      await this.write(
        operation,
        new PutItemCommand({
          TableName: this.table,
          Item: m(item),
          ConditionExpression: "attribute_not_exists(#pk) OR gen <> :gen",
          ExpressionAttributeNames: { "#pk": PK },
          ExpressionAttributeValues: m({ ":gen": gen }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: m(item), index },
      );
      return undefined;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return error.Item ? unmarshall(error.Item) : {};
    }
  }

  async claimAgain(topic: string, group: string, gen: string, entry: LaneEntry, spec: ClaimSpec): Promise<Delivery | undefined> {
    try {
      const out = await this.write(
        "claimAgain",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, entry.messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: "st = :a AND gen = :gen AND #due <= :now AND cnt = :cnt AND #ttl > :nowSec AND (attribute_not_exists(xpAt) OR xpAt > :now)",
          UpdateExpression:
            "SET #due = :redeliver, visAt = :visible, rcpt = :handle, cnt = cnt + :one, firstAt = if_not_exists(firstAt, :now), lastAt = :now",
          ExpressionAttributeNames: { "#due": DUE, "#ttl": TTL },
          ExpressionAttributeValues: m({
            ":a": ACTIVE,
            ":gen": gen,
            ":now": spec.nowMs,
            ":nowSec": Math.floor(spec.nowMs / 1000),
            ":cnt": entry.consumedTimes,
            ":visible": spec.visibleUntilMs,
            ":redeliver": spec.redeliverAtMs,
            ":handle": spec.receiptHandle,
            ":one": 1,
          }),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 400, index: "move" },
      );
      return toDelivery(unmarshall(out.Attributes ?? {}), entry.messageId, group);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item ? unmarshall(error.Item) : undefined;
      if (current && current.rcpt === spec.receiptHandle) return toDelivery(current, entry.messageId, group);
      return undefined;
    }
  }

  async ack(topic: string, group: string, messageId: string, receiptHandle: string, nowMs: number): Promise<AckOutcome> {
    const token = randomUUID();
    try {
      await this.write(
        "ack",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ConditionExpression: "st = :a AND rcpt = :handle AND visAt > :now",
          UpdateExpression: "SET st = :k, ackAt = :now, ackTok = :token REMOVE #lane",
          ExpressionAttributeNames: { "#lane": LANE },
          ExpressionAttributeValues: m({ ":a": ACTIVE, ":k": ACKED, ":handle": receiptHandle, ":now": nowMs, ":token": token }),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 400, index: "remove" },
      );
      return AckOutcome.Acked;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item ? unmarshall(error.Item) : undefined;
      if (!current) return AckOutcome.Unknown;
      // A re-sent ack whose first attempt applied carries our token; a client's repeated ack does not.
      return current.ackTok === token ? AckOutcome.Acked : AckOutcome.Stale;
    }
  }

  async nack(topic: string, group: string, messageId: string, spec: NackSpec): Promise<boolean> {
    const token = randomUUID();
    return this.updateDelivery(
      "nack",
      topic,
      group,
      messageId,
      {
        ConditionExpression: "st = :a AND rcpt = :handle AND cnt = :cnt AND visAt > :now",
        UpdateExpression: "SET #due = :at, nackAt = :now, nackTok = :token, nk = if_not_exists(nk, :zero) + :one REMOVE rcpt, visAt",
        ExpressionAttributeNames: { "#due": DUE },
        ExpressionAttributeValues: m({ ":a": ACTIVE, ":handle": spec.receiptHandle, ":cnt": spec.consumedTimes, ":now": spec.nowMs, ":at": spec.redeliverAtMs, ":token": token, ":zero": 0, ":one": 1 }),
      },
      "move",
      (current) => current.nackTok === token,
    );
  }

  async extendVisibility(topic: string, group: string, messageId: string, spec: ExtendSpec): Promise<boolean> {
    const token = randomUUID();
    return this.updateDelivery(
      "extendVisibility",
      topic,
      group,
      messageId,
      {
        ConditionExpression: "st = :a AND rcpt = :handle AND cnt = :cnt AND visAt > :now",
        UpdateExpression: "SET #due = :at, visAt = :vis, extTok = :token",
        ExpressionAttributeNames: { "#due": DUE },
        ExpressionAttributeValues: m({ ":a": ACTIVE, ":handle": spec.receiptHandle, ":cnt": spec.consumedTimes, ":now": spec.nowMs, ":at": spec.redeliverAtMs, ":vis": spec.visibleUntilMs, ":token": token }),
      },
      "move",
      (current) => current.extTok === token,
    );
  }

  async retireDelivery(topic: string, group: string, messageId: string, spec: RetireSpec): Promise<boolean> {
    const token = randomUUID();
    const conditions = ["st = :a"];
    const values: Item = { ":a": ACTIVE, ":now": spec.nowMs, ":token": token, ":why": spec.reason, ":failedAt": spec.failedAtMs };
    const when = spec.when;
    if (when.kind === "due") {
      conditions.push("#due = :due", "#due <= :now", "cnt = :cnt");
      Object.assign(values, { ":due": when.dueAtMs, ":cnt": when.consumedTimes });
    } else {
      conditions.push("rcpt = :handle", "cnt = :cnt", "visAt > :now");
      Object.assign(values, { ":handle": when.receiptHandle, ":cnt": when.consumedTimes });
    }
    let update: string;
    // A held delivery retired by its holder (a nack of the last allowed delivery) counts as a recorded failure.
    const failure = when.kind === "held" ? ", nk = if_not_exists(nk, :zero) + :one" : "";
    if (when.kind === "held") Object.assign(values, { ":zero": 0, ":one": 1 });
    if (spec.deadLetter) {
      update = `SET st = :d, #lane = :deadLane, #due = :failedAt, why = :why, retTok = :token${failure} REMOVE rcpt, visAt`;
      Object.assign(values, { ":d": DEAD, ":deadLane": keys.deadLane(topic, group) });
    } else {
      update = `SET st = :x, failAt = :failedAt, why = :why, retTok = :token${failure} REMOVE #lane, rcpt, visAt`;
      values[":x"] = DROPPED;
    }
    return this.updateDelivery(
      "retireDelivery",
      topic,
      group,
      messageId,
      {
        ConditionExpression: conditions.join(" AND "),
        UpdateExpression: update,
        ExpressionAttributeNames: namesUsed(`${conditions.join(" ")} ${update}`, { "#due": DUE, "#lane": LANE }),
        ExpressionAttributeValues: m(values),
      },
      spec.deadLetter ? "move" : "remove",
      (current) => current.retTok === token,
    );
  }

  async dropForeign(topic: string, group: string, messageId: string, gen: string): Promise<boolean> {
    return this.updateDelivery(
      "dropForeign",
      topic,
      group,
      messageId,
      {
        ConditionExpression: "gen = :gen AND st = :a",
        UpdateExpression: "SET st = :x REMOVE #lane",
        ExpressionAttributeNames: { "#lane": LANE },
        ExpressionAttributeValues: m({ ":gen": gen, ":a": ACTIVE, ":x": DROPPED }),
      },
      "remove",
      () => false,
    );
  }

  async redrive(topic: string, group: string, gen: string, messageId: string, shard: number, nowMs: number): Promise<boolean> {
    const token = randomUUID();
    return this.updateDelivery(
      "redrive",
      topic,
      group,
      messageId,
      {
        ConditionExpression: "st = :d AND gen = :gen",
        UpdateExpression: "SET st = :a, #lane = :lane, #due = :now, cnt = :zero, redAt = :now, redTok = :token REMOVE rcpt, visAt, xpAt, firstAt, lastAt, why",
        ExpressionAttributeNames: { "#due": DUE, "#lane": LANE },
        ExpressionAttributeValues: m({ ":d": DEAD, ":a": ACTIVE, ":gen": gen, ":lane": keys.groupLane(topic, group, shard), ":now": nowMs, ":zero": 0, ":token": token }),
      },
      "move",
      (current) => current.redTok === token,
    );
  }

  async discardDeadLetter(topic: string, group: string, gen: string, messageId: string, nowMs: number): Promise<boolean> {
    const token = randomUUID();
    return this.updateDelivery(
      "discard-dead-letter",
      topic,
      group,
      messageId,
      {
        ConditionExpression: "st = :d AND gen = :gen",
        UpdateExpression: "SET st = :x, dropAt = :now, dropTok = :token REMOVE #lane",
        ExpressionAttributeNames: { "#lane": LANE },
        ExpressionAttributeValues: m({ ":d": DEAD, ":x": DROPPED, ":gen": gen, ":now": nowMs, ":token": token }),
      },
      "remove",
      (current) => current.dropTok === token,
    );
  }

  /** One conditional update of a delivery; on a failed condition, `ours` tells whether a re-sent attempt of this call had applied it. */
  private async updateDelivery(
    operation: string,
    topic: string,
    group: string,
    messageId: string,
    expression: Pick<ConstructorParameters<typeof UpdateItemCommand>[0], "ConditionExpression" | "UpdateExpression" | "ExpressionAttributeNames" | "ExpressionAttributeValues">,
    index: IndexEffect,
    ours: (current: Item) => boolean,
  ): Promise<boolean> {
    try {
      await this.write(
        operation,
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.delivery(group) }),
          ...expression,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 400, index },
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item ? unmarshall(error.Item) : undefined;
      return current !== undefined && ours(current);
    }
  }

  async readDelivery(topic: string, group: string, messageId: string): Promise<DeliveryState | undefined> {
    const item = await this.getItem("readDelivery", keys.message(topic, messageId), keys.delivery(group), true);
    return item && deliveryState(item, messageId, group);
  }

  async readDeliveries(topic: string, group: string, messageIds: readonly string[]): Promise<Map<string, DeliveryState>> {
    const result = new Map<string, DeliveryState>();
    const unique = [...new Set(messageIds)];
    for (let i = 0; i < unique.length; i += 100) {
      let pending: Record<string, AttributeValue>[] = unique.slice(i, i + 100).map((id) => m({ [PK]: keys.message(topic, id), [SK]: keys.delivery(group) }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await backoff(attempt);
        if (attempt > 8) throw new StoreUnavailableError("DynamoDB kept returning unprocessed keys; retry");
        const out = await this.send(
          "readDeliveries",
          new BatchGetItemCommand({ RequestItems: { [this.table]: { Keys: pending, ConsistentRead: true } }, ReturnConsumedCapacity: "TOTAL" }),
        );
        for (const raw of out.Responses?.[this.table] ?? []) {
          const item = unmarshall(raw);
          const id = idOf(item);
          result.set(id, deliveryState(item, id, group));
        }
        pending = out.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    }
    return result;
  }

  async listDeadLetters(topic: string, group: string, gen: string, limit: number, nowMs: number, cursor?: string): Promise<DeadLetterPage> {
    const lane = keys.deadLane(topic, group);
    const out = await this.send(
      "listDeadLetters",
      new QueryCommand({
        TableName: this.table,
        IndexName: INDEX,
        KeyConditionExpression: "#lane = :lane",
        FilterExpression: "gen = :gen AND #ttl > :nowSec",
        ExpressionAttributeNames: { "#lane": LANE, "#ttl": TTL },
        ExpressionAttributeValues: m({ ":lane": lane, ":gen": gen, ":nowSec": Math.floor(nowMs / 1000) }),
        ScanIndexForward: true,
        Limit: limit,
        ...(cursor !== undefined && { ExclusiveStartKey: decodeDeadLetterCursor(cursor, topic, group) }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const deadLetters = (out.Items ?? []).map((raw: Record<string, AttributeValue>) => {
      const e = laneEntry({ kind: "dead", topic, group }, unmarshall(raw));
      return {
        messageId: e.messageId,
        failedAtMs: e.dueAtMs,
        consumedTimes: e.consumedTimes,
        deliverAtMs: e.deliverAtMs,
        ...(e.tag !== undefined && { tag: e.tag }),
        ...(e.reason !== undefined && { reason: e.reason }),
      };
    });
    const next = out.LastEvaluatedKey ? encodeDeadLetterCursor(unmarshall(out.LastEvaluatedKey)) : undefined;
    return { deadLetters, ...(next !== undefined && { cursor: next }) };
  }

  async countDeadLetters(topic: string, group: string, gen: string): Promise<number> {
    let count = 0;
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.send(
        "countDeadLetters",
        new QueryCommand({
          TableName: this.table,
          IndexName: INDEX,
          KeyConditionExpression: "#lane = :lane",
          FilterExpression: "gen = :gen",
          ExpressionAttributeNames: { "#lane": LANE },
          ExpressionAttributeValues: m({ ":lane": keys.deadLane(topic, group), ":gen": gen }),
          Select: "COUNT",
          ExclusiveStartKey: start,
          ReturnConsumedCapacity: "TOTAL",
        }),
      );
      count += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start);
    return count;
  }

  // Managing messages.

  async claimDedup(topic: string, dedupId: string, record: DedupRecord, nowMs: number): Promise<DedupRecord> {
    const item = {
      [PK]: keys.dedup(topic, dedupId),
      [SK]: keys.dedupSort,
      msg: record.messageId,
      md5: record.bodyMd5,
      pubAt: record.publishedAtMs,
      dlvAt: record.deliverAtMs,
      xms: record.expiresAtMs,
      [TTL]: toSec(record.expiresAtMs),
    };
    try {
      await this.write(
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
        { item: m(item), index: "none" },
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
    const item = m({ [PK]: keys.keyPointer(topic, key), [SK]: messageId, [TTL]: toSec(expiresAtMs) });
    await this.write("addKeyPointer", new PutItemCommand({ TableName: this.table, Item: item, ReturnConsumedCapacity: "TOTAL" }), { item, index: "none" });
  }

  async messageIdsByKey(topic: string, key: string): Promise<string[]> {
    const items = await this.queryAll("messageIdsByKey", keys.keyPointer(topic, key));
    return items.map((i) => String(i[SK]));
  }

  async cancel(topic: string, messageId: string, nowMs: number, notAfterMs: number): Promise<CancelOutcome> {
    try {
      await this.write(
        "cancel",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.message(topic, messageId), [SK]: keys.schedule }),
          ConditionExpression: "st = :s AND #due > :notAfter AND #ttl > :nowSec",
          UpdateExpression: "SET st = :c, cAt = :now REMOVE #lane",
          ExpressionAttributeNames: { "#due": DUE, "#lane": LANE, "#ttl": TTL },
          ExpressionAttributeValues: m({ ":s": MSG_SCHEDULED, ":c": MSG_CANCELLED, ":notAfter": notAfterMs, ":now": nowMs, ":nowSec": Math.floor(nowMs / 1000) }),
          ReturnValues: "ALL_NEW",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 1024, index: "remove" },
      );
      return CancelOutcome.Cancelled;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = error.Item ? unmarshall(error.Item) : undefined;
      if (!current || Number(current[TTL]) * 1000 <= nowMs) return CancelOutcome.NotFound;
      if (current.st === MSG_CANCELLED) return CancelOutcome.Cancelled;
      return CancelOutcome.AlreadyDelivered;
    }
  }

  async reschedule(
    topic: string,
    messageId: string,
    change: { deliverAtMs: number; expiresAtMs: number; local?: LocalDeliverAt },
    nowMs: number,
    notAfterMs: number,
  ): Promise<RescheduleOutcome> {
    const pk = keys.message(topic, messageId);
    const current = await this.getItem("readMessage", pk, keys.schedule, true);
    if (!current || Number(current[TTL]) * 1000 <= nowMs) return RescheduleOutcome.NotFound;
    if (current.st === MSG_CANCELLED) return RescheduleOutcome.Cancelled;
    const oldDue = Number(current[DUE]);
    if (oldDue <= notAfterMs) return RescheduleOutcome.AlreadyDelivered;
    const token = randomUUID();
    const set = ["#due = :due", "#ttl = :exp", "resTok = :token"];
    const values: Item = { ":s": MSG_SCHEDULED, ":old": oldDue, ":notAfter": notAfterMs, ":due": change.deliverAtMs, ":exp": toSec(change.expiresAtMs), ":token": token };
    if (current.xpAt !== undefined) {
      set.push("xpAt = :xp");
      values[":xp"] = Number(current.xpAt) + (change.deliverAtMs - oldDue);
    }
    if (change.local) {
      set.push("wall = :wall", "tz = :tz");
      Object.assign(values, { ":wall": change.local.wallClock, ":tz": change.local.timeZone });
    }
    try {
      await this.write(
        "reschedule",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: pk, [SK]: keys.schedule }),
          ConditionExpression: "st = :s AND #due = :old AND #due > :notAfter",
          UpdateExpression: `SET ${set.join(", ")}${change.local ? "" : " REMOVE wall, tz"}`,
          ExpressionAttributeNames: { "#due": DUE, "#ttl": TTL },
          ExpressionAttributeValues: m(values),
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 1024, index: "move" },
      );
      return RescheduleOutcome.Rescheduled;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const now = error.Item ? unmarshall(error.Item) : undefined;
      if (now?.resTok === token) return RescheduleOutcome.Rescheduled;
      return this.reschedule(topic, messageId, change, nowMs, notAfterMs);
    }
  }

  async inspect(topic: string, messageId: string): Promise<MessageRecord | undefined> {
    const items = await this.queryAll("inspect", keys.message(topic, messageId));
    const schedule = items.find((i) => i[SK] === keys.schedule);
    if (!schedule) return undefined;
    const deliveries = items
      .filter((i) => String(i[SK]).startsWith("D#") && i.st !== DROPPED)
      .map((i) => deliveryState(i, messageId, String(i[SK]).slice(2)));
    return { message: storedMessage(topic, schedule), deliveries };
  }

  // Plumbing.

  private async getItem(operation: string, pk: string, sk: string, consistent: boolean): Promise<Item | undefined> {
    const out = await this.send(
      operation,
      new GetItemCommand({ TableName: this.table, Key: m({ [PK]: pk, [SK]: sk }), ConsistentRead: consistent, ReturnConsumedCapacity: "TOTAL" }),
    );
    return out.Item ? unmarshall(out.Item) : undefined;
  }

  // Push delivery: the registry (pk PUSH, sk R#<topic>#<group>) and each push shard's dispatcher lease (sk D#<shard>).

  async putPushRoute(topic: string, group: string): Promise<void> {
    const item = m({ [PK]: keys.push, [SK]: keys.pushRoute(topic, group), topic, group });
    await this.write("putPushRoute", new PutItemCommand({ TableName: this.table, Item: item, ReturnConsumedCapacity: "TOTAL" }), { item, index: "none" });
  }

  async deletePushRoute(topic: string, group: string): Promise<void> {
    await this.write(
      "deletePushRoute",
      new DeleteItemCommand({ TableName: this.table, Key: m({ [PK]: keys.push, [SK]: keys.pushRoute(topic, group) }), ReturnConsumedCapacity: "TOTAL" }),
      { item: 100, index: "none" },
    );
  }

  async listPushRoutes(limit: number, cursor?: string, topic?: string): Promise<PushRoutePage> {
    const prefix = topic === undefined ? "R#" : `R#${topic}#`;
    const start = cursor === undefined ? undefined : m({ [PK]: keys.push, [SK]: decodeName(cursor) });
    const out = await this.send(
      "listPushRoutes",
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "#pk = :pk AND begins_with(#sk, :prefix)",
        ExpressionAttributeNames: { "#pk": PK, "#sk": SK },
        ExpressionAttributeValues: m({ ":pk": keys.push, ":prefix": prefix }),
        ConsistentRead: true,
        Limit: limit,
        ...(start && { ExclusiveStartKey: start }),
        ReturnConsumedCapacity: "TOTAL",
      }),
    );
    const items = (out.Items ?? []).map((raw: Record<string, AttributeValue>) => unmarshall(raw));
    const routes = items.filter((i: Item) => topic === undefined || i.topic === topic).map((i: Item) => ({ topic: String(i.topic), group: String(i.group) }));
    const last = out.LastEvaluatedKey ? String(unmarshall(out.LastEvaluatedKey)[SK]) : undefined;
    return { routes, ...(last !== undefined && { cursor: encodeName(last) }) };
  }

  async armDispatcher(shard: number, nowMs: number, coverUntilMs: number, restartGapMs: number): Promise<{ start: boolean }> {
    const key = m({ [PK]: keys.push, [SK]: keys.dispatcher(shard) });
    try {
      // Nobody holds the shard and nobody was started lately: this caller starts one.
      await this.write(
        "armDispatcher",
        new UpdateItemCommand({
          TableName: this.table,
          Key: key,
          ConditionExpression: "(attribute_not_exists(holder) OR untilMs <= :now) AND (attribute_not_exists(armAt) OR armAt <= :gap)",
          UpdateExpression: "SET armAt = :now, cover = if_not_exists(cover, :zero)",
          ExpressionAttributeValues: m({ ":now": nowMs, ":gap": nowMs - restartGapMs, ":zero": 0 }),
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 100, index: "none" },
      );
      await this.extendCover(key, coverUntilMs);
      return { start: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      await this.extendCover(key, coverUntilMs);
      return { start: false };
    }
  }

  /** Moves the shard's cover later (never earlier). */
  private async extendCover(key: Record<string, AttributeValue>, coverUntilMs: number): Promise<void> {
    try {
      await this.write(
        "armDispatcher",
        new UpdateItemCommand({
          TableName: this.table,
          Key: key,
          ConditionExpression: "attribute_not_exists(cover) OR cover < :cover",
          UpdateExpression: "SET cover = :cover",
          ExpressionAttributeValues: m({ ":cover": coverUntilMs }),
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 100, index: "none" },
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  async holdDispatcher(shard: number, owner: string, nowMs: number, untilMs: number): Promise<DispatcherHold> {
    try {
      const out = await this.write(
        "holdDispatcher",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.push, [SK]: keys.dispatcher(shard) }),
          ConditionExpression: "attribute_not_exists(holder) OR untilMs <= :now OR holder = :owner",
          UpdateExpression: "SET holder = :owner, untilMs = :until",
          ExpressionAttributeValues: m({ ":now": nowMs, ":owner": owner, ":until": untilMs }),
          ReturnValues: "ALL_NEW",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 100, index: "none" },
      );
      return { ok: true, coverUntilMs: Number(unmarshall(out.Attributes ?? {}).cover ?? 0) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return { ok: false, coverUntilMs: 0 };
    }
  }

  async releaseDispatcher(shard: number, owner: string): Promise<{ coverUntilMs: number }> {
    try {
      const out = await this.write(
        "releaseDispatcher",
        new UpdateItemCommand({
          TableName: this.table,
          Key: m({ [PK]: keys.push, [SK]: keys.dispatcher(shard) }),
          ConditionExpression: "holder = :owner",
          UpdateExpression: "REMOVE holder, untilMs, armAt",
          ExpressionAttributeValues: m({ ":owner": owner }),
          ReturnValues: "ALL_NEW",
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 100, index: "none" },
      );
      return { coverUntilMs: Number(unmarshall(out.Attributes ?? {}).cover ?? 0) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const item = await this.getItem("releaseDispatcher", keys.push, keys.dispatcher(shard), true);
      return { coverUntilMs: Number(item?.cover ?? 0) };
    }
  }

  /** Replaces a settings map; the newer of two concurrent writes wins, and a retried write of ours is harmless. */
  private async putSettings(operation: string, key: Item, settings: object, nowMs: number): Promise<void> {
    try {
      await this.write(
        operation,
        new UpdateItemCommand({
          TableName: this.table,
          Key: m(key),
          ConditionExpression: "attribute_not_exists(cfgAt) OR cfgAt <= :now",
          UpdateExpression: "SET cfg = :cfg, cfgAt = :now",
          ExpressionAttributeValues: m({ ":cfg": settings, ":now": nowMs }),
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: 512, index: "none" },
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  private async putIfAbsent(operation: string, item: Item, index: IndexEffect = "none"): Promise<void> {
    const marshalled = m(item);
    try {
      await this.write(
        operation,
        new PutItemCommand({
          TableName: this.table,
          Item: marshalled,
          ConditionExpression: "attribute_not_exists(#pk)",
          ExpressionAttributeNames: { "#pk": PK },
          ReturnConsumedCapacity: "TOTAL",
        }),
        { item: marshalled, index },
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

  /** A write, billed as the service bills it: the item's size, plus its index changes when it applies. */
  private async write(operation: string, command: any, billing: Billing): Promise<any> {
    const bytes = typeof billing.item === "number" ? billing.item : itemBytes(billing.item);
    try {
      const out = await this.send(operation, command);
      const size = out.Attributes ? Math.max(bytes, itemBytes(out.Attributes)) : bytes;
      const index = typeof billing.index === "function" ? billing.index(out) : billing.index;
      this.meter?.bill(operation, writeUnits(size) + indexWrites(index));
      return out;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        this.meter?.bill(operation, writeUnits(error.Item ? itemBytes(error.Item) : bytes), true);
      }
      throw error;
    }
  }

  private send(operation: string, command: any): Promise<any> {
    return sendMetered(this.client, this.meter, operation, command);
  }
}

export function m(item: Item): Record<string, AttributeValue> {
  // convertClassInstanceToMap: a plain object with an own `constructor` property (a user property name) is still a map.
  return marshall(item, { removeUndefinedValues: true, convertTopLevelContainer: false, convertClassInstanceToMap: true });
}

/** DynamoDB refuses names an expression does not use. */
function namesUsed(expression: string, names: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(names).filter(([k]) => expression.includes(k)));
}

function laneKeyOf(lane: Lane): string {
  if (lane.kind === "topic") return keys.topicLane(lane.topic, lane.shard);
  if (lane.kind === "group") return keys.groupLane(lane.topic, lane.group, lane.shard);
  return keys.deadLane(lane.topic, lane.group);
}

function leaseKeyOf(key: LeaseKey): Item {
  return { [PK]: keys.topicMeta(key.topic), [SK]: keys.lease(key.group, key.shard) };
}

function idOf(item: Item): string {
  return String(item[PK]).split("#").pop() as string;
}

function messageItem(msg: NewMessage): Item {
  return {
    [PK]: keys.message(msg.topic, msg.messageId),
    [SK]: keys.schedule,
    st: MSG_SCHEDULED,
    [LANE]: keys.topicLane(msg.topic, msg.shard),
    [DUE]: msg.deliverAtMs,
    shd: msg.shard,
    body: msg.body,
    md5: msg.bodyMd5,
    ...(msg.tag !== undefined && { tag: msg.tag }),
    ...(msg.key !== undefined && { key: msg.key }),
    ...(Object.keys(msg.properties).length > 0 && { props: msg.properties }),
    pubAt: msg.publishedAtMs,
    ...(msg.ttlExpiresAtMs !== undefined && { xpAt: msg.ttlExpiresAtMs }),
    ...(msg.local && { wall: msg.local.wallClock, tz: msg.local.timeZone }),
    ...(msg.dedupId !== undefined && { dd: msg.dedupId }),
    [TTL]: toSec(msg.expiresAtMs),
  };
}

function storedMessage(topic: string, item: Item): StoredMessage {
  const content: MessageContent = {
    topic,
    messageId: idOf(item),
    body: String(item.body),
    bodyMd5: String(item.md5),
    ...(item.tag !== undefined && { tag: String(item.tag) }),
    ...(item.key !== undefined && { key: String(item.key) }),
    properties: (item.props ?? {}) as Record<string, string>,
    publishedAtMs: Number(item.pubAt),
    deliverAtMs: Number(item[DUE]),
    expiresAtMs: Number(item[TTL]) * 1000,
    ...(item.xpAt !== undefined && { ttlExpiresAtMs: Number(item.xpAt) }),
    ...(item.wall !== undefined && { local: { wallClock: String(item.wall), timeZone: String(item.tz) } }),
    ...(item.dd !== undefined && { dedupId: String(item.dd) }),
  };
  return {
    content,
    shard: Number(item.shd ?? 0),
    state: item.st === MSG_CANCELLED ? MessageState.Cancelled : MessageState.Scheduled,
    ...(item.cAt !== undefined && { cancelledAtMs: Number(item.cAt) }),
  };
}

function deliveryItem(d: ParkedDelivery, dueAtMs: number): Item {
  const e = d.message;
  return {
    [PK]: keys.message(d.topic, e.messageId),
    [SK]: keys.delivery(d.group),
    st: ACTIVE,
    gen: d.gen,
    [LANE]: keys.groupLane(d.topic, d.group, e.shard),
    [DUE]: dueAtMs,
    shd: e.shard,
    dlvAt: e.deliverAtMs,
    ...(e.tag !== undefined && { tag: e.tag }),
    ...(e.ttlExpiresAtMs !== undefined && { xpAt: e.ttlExpiresAtMs }),
    [TTL]: toSec(e.expiresAtMs),
  };
}

function laneEntry(lane: Lane, item: Item): LaneEntry {
  const dueAtMs = Number(item[DUE]);
  return {
    messageId: idOf(item),
    dueAtMs,
    deliverAtMs: item.dlvAt === undefined ? dueAtMs : Number(item.dlvAt),
    expiresAtMs: Number(item[TTL]) * 1000,
    ...(item.xpAt !== undefined && { ttlExpiresAtMs: Number(item.xpAt) }),
    ...(item.tag !== undefined && { tag: String(item.tag) }),
    consumedTimes: Number(item.cnt ?? 0),
    ...(lane.kind !== "topic" && item.gen !== undefined && { gen: String(item.gen) }),
    ...(item.why !== undefined && { reason: String(item.why) }),
  };
}

function toDelivery(item: Item, messageId: string, group: string): Delivery {
  return {
    messageId,
    group,
    receiptHandle: String(item.rcpt),
    consumedTimes: Number(item.cnt),
    firstConsumedAtMs: Number(item.firstAt),
    nextVisibleAtMs: Number(item[DUE]),
    ...(item.nk !== undefined && { nackedTimes: Number(item.nk) }),
  };
}

function deliveryState(item: Item, messageId: string, group: string): DeliveryState {
  const dueAtMs = Number(item[DUE] ?? 0);
  return {
    messageId,
    group,
    gen: String(item.gen ?? ""),
    state: STATE_NAMES[String(item.st)] ?? String(item.st),
    receiptHandle: item.rcpt === undefined ? undefined : String(item.rcpt),
    consumedTimes: Number(item.cnt ?? 0),
    visibleUntilMs: item.visAt === undefined ? dueAtMs : Number(item.visAt),
    dueAtMs,
    shard: Number(item.shd ?? 0),
    ...(item.firstAt !== undefined && { firstConsumedAtMs: Number(item.firstAt) }),
    ...(item.lastAt !== undefined && { lastConsumedAtMs: Number(item.lastAt) }),
    ...(item.ackAt !== undefined && { ackedAtMs: Number(item.ackAt) }),
  };
}

function groupRecord(item: Item): GroupRecord {
  return {
    group: String(item[SK]).slice(2),
    gen: String(item.gen ?? "0"),
    startMs: Number(item.start ?? 0),
    createdAtMs: Number(item.cAt ?? item.createdAt ?? 0),
    settings: (item.cfg ?? {}) as GroupSettingsInput,
  };
}

function leaseView(topic: string, item: Item): LeaseView {
  const sk = String(item[SK]);
  const shard = Number(sk.slice(sk.lastIndexOf("#") + 1));
  const group = sk.slice(2, sk.lastIndexOf("#"));
  return {
    topic,
    group,
    gen: String(item.gen ?? ""),
    shard,
    pos: { dueAtMs: Number(item.pDue ?? 0), messageId: String(item.pId ?? "") },
    passed: decodePassed(item.psd),
    ...(item.own !== undefined && { holder: String(item.own) }),
    ...(item.until !== undefined && { untilMs: Number(item.until) }),
    ...(item[LANE] !== undefined && { workAtMs: Number(item[DUE]) }),
  };
}

/** Passed entries after a cursor, compactly: `<due ms>.<id>` joined by commas. */
function encodePassed(passed: readonly LanePosition[]): string {
  return passed.map((p) => `${p.dueAtMs}.${p.messageId}`).join(",");
}

function decodePassed(value: unknown): LanePosition[] {
  if (typeof value !== "string" || value === "") return [];
  return value.split(",").flatMap((part) => {
    const [due, id] = part.split(".");
    return due && id ? [{ dueAtMs: Number(due), messageId: id }] : [];
  });
}

const NAME_CURSOR = /^[A-Za-z0-9_.~-]{1,160}$/;

function encodeName(name: string): string {
  return Buffer.from(name, "utf8").toString("base64url");
}

function decodeName(cursor: string): string {
  const name = Buffer.from(cursor, "base64url").toString("utf8");
  if (!NAME_CURSOR.test(name)) throw invalid("cursor is not one this listing returned; send the cursor of the previous page unchanged");
  return name;
}

function encodeDeadLetterCursor(key: Item): string {
  return Buffer.from(JSON.stringify([key[DUE], idOf(key)])).toString("base64url");
}

function decodeDeadLetterCursor(cursor: string, topic: string, group: string): Record<string, AttributeValue> {
  const bad = () => invalid("cursor is not one this listing returned; send the cursor of the previous page unchanged, or none for the first page");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw bad();
  const [due, id] = parsed as [unknown, unknown];
  if (typeof due !== "number" || !Number.isSafeInteger(due) || due < 0 || typeof id !== "string" || !/^[0-9A-F]{32}$/.test(id)) throw bad();
  return m({ [LANE]: keys.deadLane(topic, group), [DUE]: due, [PK]: keys.message(topic, id), [SK]: keys.delivery(group) });
}

function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(1000, 2 ** attempt * 10) * (0.5 + Math.random())));
}

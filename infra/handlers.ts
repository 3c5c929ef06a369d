import { Duration } from "aws-cdk-lib";
import { DEFAULTS } from "../core/config.js";

/** The Lambda handlers the queue deploys; each is `lambda/<name>.ts` exporting `handler`. */
export const HandlerName = {
  Publish: "publish",
  Consume: "consume",
  Ack: "ack",
  Sweeper: "sweeper",
  Dispatcher: "dispatcher",
} as const;
export type HandlerName = (typeof HandlerName)[keyof typeof HandlerName];

/** DynamoDB API operations a handler's code path calls (the names of the SDK commands). */
export type DynamoOperation =
  | "GetItem"
  | "PutItem"
  | "UpdateItem"
  | "DeleteItem"
  | "BatchGetItem"
  | "BatchWriteItem"
  | "Query"
  | "TransactWriteItems"
  | "TransactGetItems";

/** The kinds of item a `TransactWriteItems` request may carry. */
export type TransactWriteItemKind = "Put" | "Update" | "Delete" | "ConditionCheck";

export interface DynamoAccess {
  /** Operations on the base table. */
  readonly table: readonly DynamoOperation[];
  /** Operations on the due index (`<table ARN>/index/due`). */
  readonly dueIndex: readonly DynamoOperation[];
  /**
   * The item kinds inside this handler's `TransactWriteItems` calls. IAM has no action named after the
   * transaction: each item is authorized by its underlying action (Put → dynamodb:PutItem, ConditionCheck →
   * dynamodb:ConditionCheckItem, …), so the policy is derived from this list.
   */
  readonly transactWriteItems: readonly TransactWriteItemKind[];
}

/**
 * What each handler calls on DynamoDB — the single list the IAM policies are generated from. A new store
 * call is added here and nowhere else; `test/infra/handlers.test.ts` checks this list against the
 * commands the DynamoDB store sends, and the bundled handlers' test against the calls they really make.
 * The store sends no transactions.
 */
export const DYNAMO_ACCESS = {
  publish: {
    // PutItem: a message, its dedup record and key pointer, the topic's registration; BatchWriteItem: a
    // batch of messages; GetItem: topic settings; BatchGetItem: the original of a repeated dedupId.
    // Query and UpdateItem: a publish due before the next sweeper look reads the topic's push groups and arms their dispatcher.
    table: ["PutItem", "BatchWriteItem", "GetItem", "BatchGetItem", "Query", "UpdateItem"],
    dueIndex: [],
    transactWriteItems: [],
  },
  consume: {
    // GetItem/Query/PutItem: the group's registration; UpdateItem: leases and cursors, claims of
    // redeliveries, retirements; PutItem: first claims, parked and dead-lettered messages; BatchGetItem:
    // message bodies; due index Query: the lanes.
    table: ["GetItem", "Query", "PutItem", "UpdateItem", "BatchGetItem"],
    dueIndex: ["Query"],
    transactWriteItems: [],
  },
  ack: {
    // Also serves nack, dead letters and redrive, topic and group settings, the group listing and its
    // deletion (DeleteItem of the group and its cursors), and managing messages: cancel and reschedule
    // (UpdateItem), look up (Query), list and stats (due index Query).
    table: ["UpdateItem", "GetItem", "PutItem", "Query", "DeleteItem"],
    dueIndex: ["Query"],
    transactWriteItems: [],
  },
  sweeper: {
    // Query of the work index; UpdateItem: leases and cursors, retirements; PutItem: dead letters and a
    // cursor of an earlier group incarnation reset; GetItem: the group and topic settings.
    // Query: the push registry and a push group's cursors (the look ahead); UpdateItem also arms dispatchers.
    table: ["UpdateItem", "PutItem", "GetItem", "Query"],
    dueIndex: ["Query"],
    transactWriteItems: [],
  },
  dispatcher: {
    // The push dispatcher: its lease (UpdateItem), the push registry and groups (Query, GetItem), claims
    // (PutItem, UpdateItem), message bodies (BatchGetItem), acks, nacks and retirements (UpdateItem), lanes.
    table: ["GetItem", "Query", "PutItem", "UpdateItem", "BatchGetItem"],
    dueIndex: ["Query"],
    transactWriteItems: [],
  },
} as const satisfies Record<HandlerName, DynamoAccess>;

/**
 * What the AMQP door's store calls (local/amqp-main.ts on ECS: its task role). It publishes
 * (`publishBatch`: PutItem, BatchWriteItem, GetItem of topic settings, BatchGetItem of repeated keys),
 * consumes (GetItem, Query, PutItem, UpdateItem, BatchGetItem; due index Query), acks, nacks, dead-letters
 * and renews visibility (UpdateItem, PutItem), keeps durable topology (PutItem, DeleteItem, Query) and
 * deletes a queue's group (DeleteItem, Query). No scans, no transactions, no table management.
 */
export const AMQP_DOOR_ACCESS = {
  table: ["BatchGetItem", "BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"],
  dueIndex: ["Query"],
  transactWriteItems: [],
} as const satisfies DynamoAccess;

/** EventBridge Scheduler actions of the function that serves /v1/schedules (lambda/schedule-service.ts). */
export const SCHEDULE_ACTIONS = {
  /** Granted on the schedules of delayq's own schedule group. */
  onGroup: ["scheduler:CreateSchedule", "scheduler:DeleteSchedule", "scheduler:GetSchedule"],
  /** No resource-level permission exists for listing (IAM requires "*"); the code lists only our group. */
  unscoped: ["scheduler:ListSchedules"],
} as const;

const TRANSACT_ITEM_ACTION: Record<TransactWriteItemKind, DynamoOperation | "ConditionCheckItem"> = {
  Put: "PutItem",
  Update: "UpdateItem",
  Delete: "DeleteItem",
  ConditionCheck: "ConditionCheckItem",
};

/** Operations that are not IAM actions themselves: their items are authorized one by one. */
const TRANSACTIONS: ReadonlySet<DynamoOperation> = new Set(["TransactWriteItems", "TransactGetItems"]);

function toActions(operations: Iterable<string>): string[] {
  return [...new Set(operations)].sort().map((operation) => `dynamodb:${operation}`);
}

/** The IAM actions a handler needs on the table and on the due index, sorted and without duplicates. */
export function iamActions(access: DynamoAccess): {
  table: string[];
  dueIndex: string[];
} {
  const table = access.table.filter((operation) => !TRANSACTIONS.has(operation));
  const transactItems = access.transactWriteItems.map((kind) => TRANSACT_ITEM_ACTION[kind]);
  if (access.table.includes("TransactGetItems")) transactItems.push("GetItem");
  return {
    table: toActions([...table, ...transactItems]),
    dueIndex: toActions(access.dueIndex),
  };
}

export interface HandlerSettings {
  /**
   * Memory in MB. Lambda allots CPU in proportion to memory (a full vCPU at 1,769 MB). These handlers
   * are I/O bound — a few DynamoDB round trips per request — and the esbuild bundle is small (the AWS
   * SDK comes from the runtime), so more CPU buys little after the cold start. 256 MB keeps cold starts
   * short while a long poll, billed by duration × memory, stays cheap.
   */
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Whether the handler serves the RocketMQ-compatible door and so reads its credentials secret. */
  readonly readsMqCredentials: boolean;
  readonly description: string;
  /**
   * For a function that is also invoked asynchronously (by EventBridge Scheduler): how often Lambda
   * retries a failed invocation and how old an event may get before it is given up; an invocation given up
   * goes to the stack's encrypted failure queue (the on-failure destination) with its event.
   */
  readonly asyncInvoke?: { readonly retryAttempts: 0 | 1 | 2; readonly maxEventAge: Duration };
}

/** Long enough for the longest long poll plus the response; API Gateway cuts the request at 30 s anyway. */
export function consumeTimeout(maxWaitMs: number): Duration {
  return Duration.seconds(Math.ceil(maxWaitMs / 1000) + 4);
}

export const HANDLER_SETTINGS = {
  publish: {
    memorySize: 256,
    timeout: Duration.seconds(10),
    readsMqCredentials: true,
    description: "delayq: publish a message (also serves /healthz)",
    // Users' recurring schedules invoke it with their firings. A retried firing is deduplicated (dedupId =
    // schedule + due time), so both retries are safe; a firing an hour late is left to a person.
    asyncInvoke: { retryAttempts: 2, maxEventAge: Duration.hours(1) },
  },
  consume: {
    memorySize: 256,
    timeout: consumeTimeout(DEFAULTS.maxWaitMs),
    readsMqCredentials: true,
    description: "delayq: receive messages (long poll)",
  },
  ack: {
    memorySize: 256,
    timeout: Duration.seconds(10),
    readsMqCredentials: true,
    description: "delayq: acknowledge deliveries",
  },
  sweeper: {
    // A run releases up to SWEEP_BUDGET messages, each a transaction; the extra CPU shortens the run
    // (marshalling, TLS, parallel writes) and a run must end well before the next one a minute later.
    memorySize: 512,
    timeout: Duration.seconds(55),
    readsMqCredentials: false,
    description: "delayq: release due messages every minute",
    // The next run, a minute later, is the retry (a run is idempotent); retrying a failed run as well would
    // only overlap with it.
    asyncInvoke: { retryAttempts: 0, maxEventAge: Duration.minutes(5) },
  },
  dispatcher: {
    // Started only while pushes are due; stays up for the shard's cover (about a sweeper interval plus the
    // lead), then starts its successor if the cover goes on. Its last pushes (up to 60 s each) end in time.
    memorySize: 256,
    timeout: Duration.seconds(180),
    readsMqCredentials: false,
    description: "delayq: push delivery while pushes are due",
    // A failed start is not retried by Lambda: the next sweeper look (or publish) arms a new one.
    asyncInvoke: { retryAttempts: 0, maxEventAge: Duration.minutes(2) },
  },
} as const satisfies Record<HandlerName, HandlerSettings>;

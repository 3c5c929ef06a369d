/**
 * A consumer in a process of its own (the contention scenario forks several): its own runtime, store,
 * DynamoDB client and CapacityMeter on the scenario's table, long-polling one group and acking what it
 * gets, except the messages it is told to leave unacked once (they come back after their visibility).
 * Talks to the parent over the IPC channel only.
 */
import type { QueueConfig } from "../../core/config.js";
import { silentLogger } from "../../core/ports.js";
import { buildRuntime } from "../../lambda/composition.js";
import { CapacityMeter } from "../../lambda/dynamo/capacity.js";
import { createDynamoClient } from "../../lambda/dynamo/client.js";

export interface WorkerRun {
  type: "run";
  endpoint: string;
  tableName: string;
  topic: string;
  group: string;
  overrides: Partial<QueueConfig>;
  max: number;
  waitSeconds: number;
  visibilitySeconds: number;
  /** Leave a message's first delivery unacked when the last 4 hex digits of its id are divisible by this (0: ack all). */
  skipAckEvery: number;
}

export interface WorkerDelivery {
  id: string;
  receivedAtMs: number;
  consumedTimes: number;
  nextVisibleAtMs: number;
  acked: boolean;
}

export type FromWorker =
  | { type: "ready"; pid: number }
  | { type: "started" }
  | { type: "got"; items: WorkerDelivery[] }
  | { type: "done"; meter: ReturnType<CapacityMeter["snapshot"]>; errors: number; firstError?: string };

export type ToWorker = WorkerRun | { type: "stop" } | { type: "exit" };

const send = (m: FromWorker) => process.send?.(m);

export function skipsAck(id: string, every: number, consumedTimes: number): boolean {
  return every > 0 && consumedTimes === 1 && Number.parseInt(id.slice(-4), 16) % every === 0;
}

let current: { stop: AbortController; finished: Promise<void> } | undefined;

async function run(r: WorkerRun): Promise<void> {
  const meter = new CapacityMeter();
  const runtime = buildRuntime({
    env: { TABLE_NAME: r.tableName, DYNAMODB_ENDPOINT: r.endpoint },
    log: silentLogger,
    client: createDynamoClient(r.endpoint),
    meter,
    configOverrides: r.overrides,
  });
  const queue = runtime.queue;
  const stop = new AbortController();
  let errors = 0;
  let firstError: string | undefined;
  const finished = (async () => {
    send({ type: "started" });
    while (!stop.signal.aborted) {
      try {
        const got = await queue.consume(
          { topic: r.topic, group: r.group, max: r.max, waitSeconds: r.waitSeconds, visibilitySeconds: r.visibilitySeconds },
          stop.signal,
        );
        if (got.length === 0) continue;
        const receivedAtMs = Date.now();
        const toAck = got.filter((m) => !skipsAck(m.messageId, r.skipAckEvery, m.consumedTimes));
        const failed = new Set<string>();
        if (toAck.length > 0) {
          const out = await queue.ack({ topic: r.topic, group: r.group, receiptHandles: toAck.map((m) => m.receiptHandle) });
          for (const f of out.failed) failed.add(f.receiptHandle);
        }
        const acked = new Set(toAck.filter((m) => !failed.has(m.receiptHandle)).map((m) => m.receiptHandle));
        send({
          type: "got",
          items: got.map((m) => ({
            id: m.messageId,
            receivedAtMs,
            consumedTimes: m.consumedTimes,
            nextVisibleAtMs: m.nextVisibleAtMs,
            acked: acked.has(m.receiptHandle),
          })),
        });
      } catch (error) {
        errors++;
        firstError ??= String(error);
        await new Promise((res) => setTimeout(res, 50));
      }
    }
    await queue.close();
    send({ type: "done", meter: meter.snapshot(), errors, ...(firstError !== undefined && { firstError }) });
  })();
  current = { stop, finished };
}

process.on("message", (m: ToWorker) => {
  if (m.type === "run") void run(m);
  else if (m.type === "stop") current?.stop.abort();
  else if (m.type === "exit") {
    current?.stop.abort();
    void (current?.finished ?? Promise.resolve()).finally(() => process.exit(0));
  }
});
// Orphaned (the parent died): leave.
process.on("disconnect", () => process.exit(0));
send({ type: "ready", pid: process.pid });

import type { DelayqClient } from "./client.js";
import { DelayqError, isDelayqError } from "./errors.js";
import { sleep } from "./retry.js";
import type * as Api from "./schema.js";

/** A received message with its delivery's `ack()` and `nack()`. */
export class ConsumedMessage implements Api.Message {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly bodyMd5: string;
  readonly tag?: string;
  readonly key?: string;
  readonly properties: Api.Properties;
  readonly publishedAt: number;
  readonly deliverAt: number;
  readonly firstConsumedAt: number;
  readonly nextVisibleAt: number;
  readonly consumedTimes: number;
  private outcome: "acked" | "nacked" | undefined;

  constructor(
    private readonly client: DelayqClient,
    readonly topic: string,
    readonly group: string,
    message: Api.Message,
  ) {
    this.messageId = message.messageId;
    this.receiptHandle = message.receiptHandle;
    this.body = message.body;
    this.bodyMd5 = message.bodyMd5;
    if (message.tag !== undefined) this.tag = message.tag;
    if (message.key !== undefined) this.key = message.key;
    this.properties = message.properties;
    this.publishedAt = message.publishedAt;
    this.deliverAt = message.deliverAt;
    this.firstConsumedAt = message.firstConsumedAt;
    this.nextVisibleAt = message.nextVisibleAt;
    this.consumedTimes = message.consumedTimes;
  }

  /** Whether ack() or nack() was called. */
  get settled(): boolean {
    return this.outcome !== undefined;
  }

  /** Acknowledges this delivery; throws a DelayqError (MessageNotExist: its visibility ran out or it was settled) when it fails. */
  async ack(): Promise<void> {
    this.outcome = "acked";
    const result = await this.client.ack(this.topic, this.group, [this.receiptHandle]);
    const failure = result.failed[0];
    if (failure) throw new DelayqError(failure.code, failure.message, 200);
  }

  /** Gives the delivery back, visible again after `delayMs` (default: the group's retry backoff). */
  async nack(options: { delayMs?: number } = {}): Promise<Api.NackResponse> {
    this.outcome = "nacked";
    return this.client.nack(this.topic, this.group, this.receiptHandle, options);
  }

  /** The message's fields (for printing or JSON). */
  toJSON(): Api.Message & { topic: string; group: string } {
    return {
      topic: this.topic,
      group: this.group,
      messageId: this.messageId,
      receiptHandle: this.receiptHandle,
      body: this.body,
      bodyMd5: this.bodyMd5,
      ...(this.tag !== undefined && { tag: this.tag }),
      ...(this.key !== undefined && { key: this.key }),
      properties: this.properties,
      publishedAt: this.publishedAt,
      deliverAt: this.deliverAt,
      firstConsumedAt: this.firstConsumedAt,
      nextVisibleAt: this.nextVisibleAt,
      consumedTimes: this.consumedTimes,
    };
  }
}

export interface ConsumeOptions {
  /** Messages per consume call, 1..16 (default 1; with autoAck or work(), a batch is processed one by one). */
  max?: number;
  /** Long-poll wait per call, 0..30 s (default 20). */
  waitSeconds?: number;
  /** Only these tags ("a||b") for this consumer. */
  tag?: string;
  /** Visibility of each delivery (default: the group's). */
  visibilitySeconds?: number;
  /**
   * Stops the loop: the long poll in flight is abandoned (what it had claimed comes back after its
   * visibility), the messages received but not yet handed out are given back at once (nack with delayMs 0),
   * and the loop ends.
   */
  signal?: AbortSignal;
  /**
   * Ack a message when the loop body asks for the next one without having settled it. Leaving the loop
   * (break, return, throw) with the current message unsettled nacks it (visible again at once): ack it
   * before breaking if it was handled.
   */
  autoAck?: boolean;
  /** Stop after one consume call (the CLI's consume without --follow). */
  once?: boolean;
}

function consumeBody(options: ConsumeOptions, max: number | undefined): Api.ConsumeRequest {
  return {
    waitSeconds: options.waitSeconds ?? 20,
    ...(max !== undefined && { max }),
    ...(options.tag !== undefined && { tag: options.tag }),
    ...(options.visibilitySeconds !== undefined && { visibilitySeconds: options.visibilitySeconds }),
  };
}

const giveBack = (messages: readonly ConsumedMessage[]) => Promise.allSettled(messages.filter((m) => !m.settled).map((m) => m.nack({ delayMs: 0 })));

export async function* consumeLoop(client: DelayqClient, topic: string, group: string, options: ConsumeOptions): AsyncGenerator<ConsumedMessage, void, undefined> {
  const signal = options.signal;
  let batch: ConsumedMessage[] = [];
  let current: ConsumedMessage | undefined;
  try {
    while (!signal?.aborted) {
      try {
        batch = await client.receive(topic, group, consumeBody(options, options.max), signal ? { signal } : {});
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      while (batch.length > 0) {
        if (signal?.aborted) return;
        current = batch.shift() as ConsumedMessage;
        yield current;
        if (options.autoAck && !current.settled) await current.ack();
        current = undefined;
      }
      if (options.once) return;
    }
  } finally {
    await giveBack([...(current && options.autoAck ? [current] : []), ...batch]);
  }
}

export type WorkHandler = (message: ConsumedMessage) => Promise<unknown> | unknown;

export interface WorkOptions extends Omit<ConsumeOptions, "autoAck" | "once"> {
  /** Handlers running at once (default 1); each consume call asks for at most the free slots. */
  concurrency?: number;
  /** The delay of the nack after a handler throws (default: the group's retry backoff). */
  nackDelayMs?: number;
  /** A handler that threw, an ack or nack that failed, or a consume call that failed (the loop waits a second and goes on). */
  onError?: (error: unknown, message?: ConsumedMessage) => void;
}

export interface WorkSummary {
  received: number;
  acked: number;
  nacked: number;
  errors: number;
}

/** The handler loop behind DelayqClient.work(). */
export async function workLoop(client: DelayqClient, topic: string, group: string, handler: WorkHandler, options: WorkOptions): Promise<WorkSummary> {
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const signal = options.signal;
  const summary: WorkSummary = { received: 0, acked: 0, nacked: 0, errors: 0 };
  const report = (error: unknown, message?: ConsumedMessage) => {
    summary.errors++;
    options.onError?.(error, message);
  };
  const inFlight = new Set<Promise<void>>();
  const run = async (message: ConsumedMessage) => {
    let failed = false;
    try {
      await handler(message);
    } catch (error) {
      failed = true;
      report(error, message);
    }
    if (message.settled) return;
    try {
      if (failed) {
        await message.nack(options.nackDelayMs === undefined ? {} : { delayMs: options.nackDelayMs });
        summary.nacked++;
      } else {
        await message.ack();
        summary.acked++;
      }
    } catch (error) {
      report(error, message);
    }
  };
  while (!signal?.aborted) {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    let batch: ConsumedMessage[];
    try {
      batch = await client.receive(topic, group, consumeBody(options, Math.min(options.max ?? 16, concurrency - inFlight.size)), signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) break;
      report(error);
      await sleep(isDelayqError(error) && error.retryAfterSeconds ? error.retryAfterSeconds * 1000 : 1000, signal).catch(() => {});
      continue;
    }
    summary.received += batch.length;
    for (const message of batch) {
      const task: Promise<void> = run(message).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
  }
  await Promise.allSettled(inFlight);
  return summary;
}

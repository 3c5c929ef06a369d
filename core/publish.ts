import type { QueueConfig } from "./config.js";
import { QueueError, invalid, quote } from "./errors.js";
import type { Groups } from "./groups.js";
import { md5Hex, newMessageId } from "./ids.js";
import type { NewMessage, PublishResult } from "./message.js";
import type { OverMaxReport } from "./delay-limit.js";
import type { Logger, QueueStore } from "./ports.js";
import { parseTtlMs, ttlExpiresAtMs } from "./retry-rules.js";
import {
  LIMITS,
  type Timing,
  assertBody,
  assertKey,
  assertProperties,
  assertTag,
  assertTopicKey,
  decideDeliverAt,
  shardOf,
  utf8Bytes,
} from "./rules.js";

export const DEDUP_ID_MAX_CHARS = 128;
/** Most messages one batch publish takes. */
export const PUBLISH_BATCH_MAX = 16;
/** Most bytes of bodies and properties one batch publish takes (API Gateway's payload is 10 MB; one DynamoDB batch write is 16 MB). */
export const PUBLISH_BATCH_BYTES = 1024 * 1024;

export interface PublishInput {
  /** Topic key: a topic name, or `namespace~name` (see topicKey). */
  topic: string;
  body: unknown;
  tag?: unknown;
  key?: unknown;
  properties?: unknown;
  timing: Timing;
  /** Message TTL in ms (RabbitMQ's rule, see ttlExpiresAtMs). */
  ttlMs?: unknown;
  /** Idempotency id: a repeat returns the original message. */
  dedupId?: unknown;
}

/** One message of a batch publish: its own result or its own error. */
export type BatchOutcome = { ok: true; result: PublishResult } | { ok: false; error: QueueError };

export function assertDedupId(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > DEDUP_ID_MAX_CHARS || [...value].some((c) => c.charCodeAt(0) < 0x20)) {
    throw invalid(`dedupId must be a string of 1-${DEDUP_ID_MAX_CHARS} printable characters; got ${quote(value)}`);
  }
  return value;
}

export interface PublisherDeps {
  store: QueueStore;
  groups: Groups;
  config: QueueConfig;
  log: Logger;
  /** Told about every stored message, so waiting polls in this process wake for it. */
  published(message: NewMessage): void;
}

const result = (m: NewMessage, duplicate: boolean): PublishResult => ({
  messageId: m.messageId,
  bodyMd5: m.bodyMd5,
  deliverAtMs: m.deliverAtMs,
  ...(duplicate && { duplicate: true }),
  ...(m.local && { local: m.local }),
});

/** Publish: validates, resolves the deliver time by the topic's policy, and stores — one message or a batch in one write. */
export class Publisher {
  constructor(private readonly deps: PublisherDeps) {}

  /** Deliver-nows the maximum caused, by message, for the answer and the log. */
  private readonly overMax = new WeakMap<NewMessage, OverMaxReport>();

  /** The message as it will be stored; throws QueueError for invalid input. */
  async prepare(input: PublishInput, nowMs: number): Promise<NewMessage> {
    const topic = assertTopicKey(input.topic);
    const body = assertBody(input.body);
    const tag = assertTag(input.tag);
    const key = assertKey(input.key);
    const properties = assertProperties(input.properties);
    const dedupId = assertDedupId(input.dedupId);
    const local = input.timing.kind === "at" ? input.timing.local : undefined;
    const ttlMs = parseTtlMs(input.ttlMs);
    const topicSettings = await this.deps.groups.topicSettings(topic);
    const { deliverAtMs, overMax } = decideDeliverAt(input.timing, nowMs, topicSettings, topic);
    const ttlExpiresAt = ttlExpiresAtMs(nowMs, deliverAtMs, ttlMs, topicSettings.messageTtlMs);
    const messageId = newMessageId(nowMs);
    const message: NewMessage = {
      topic,
      messageId,
      body,
      bodyMd5: md5Hex(body),
      ...(tag !== undefined && { tag }),
      ...(key !== undefined && { key }),
      properties,
      publishedAtMs: nowMs,
      deliverAtMs,
      shard: shardOf(messageId, this.deps.config.shards),
      expiresAtMs: deliverAtMs + topicSettings.retentionMs,
      ...(ttlExpiresAt !== undefined && { ttlExpiresAtMs: ttlExpiresAt }),
      ...(local && { local }),
      ...(dedupId !== undefined && { dedupId }),
    };
    if (overMax) this.overMax.set(message, overMax);
    return message;
  }

  async publish(input: PublishInput, nowMs: number): Promise<PublishResult> {
    const message = await this.prepare(input, nowMs);
    const [outcome] = await this.store([message], nowMs);
    if (!outcome?.ok) throw outcome?.error ?? new Error("publish produced no outcome");
    return outcome.result;
  }

  /** Up to PUBLISH_BATCH_MAX messages of one topic; each has its own outcome, delay and dedupId. */
  async publishBatch(inputs: readonly PublishInput[], nowMs: number): Promise<BatchOutcome[]> {
    if (inputs.length < 1 || inputs.length > PUBLISH_BATCH_MAX) {
      throw invalid(`messages must be an array of 1-${PUBLISH_BATCH_MAX} messages`);
    }
    let bytes = 0;
    for (const input of inputs) {
      if (typeof input.body === "string") bytes += utf8Bytes(input.body);
    }
    if (bytes > PUBLISH_BATCH_BYTES) {
      throw invalid(`the bodies of one batch total ${bytes} bytes; the limit is ${PUBLISH_BATCH_BYTES} bytes: send fewer messages per batch`);
    }
    const prepared = await Promise.all(
      inputs.map(async (input): Promise<NewMessage | QueueError> => {
        try {
          return await this.prepare(input, nowMs);
        } catch (error) {
          if (error instanceof QueueError) return error;
          throw error;
        }
      }),
    );
    const valid = prepared.filter((p): p is NewMessage => !(p instanceof QueueError));
    const stored = await this.store(valid, nowMs);
    let next = 0;
    return prepared.map((p) => (p instanceof QueueError ? { ok: false, error: p } : (stored[next++] as BatchOutcome)));
  }

  /**
   * Stores messages with what managing them needs: each one's dedup record first (a repeat with the
   * same dedupId gets the original back for the original's whole life), then key pointers, then the
   * messages in one write. A repeat that finds the original's record but not the message (the first
   * publish stopped half-way) stores the message under the original's id and times.
   */
  private async store(messages: readonly NewMessage[], nowMs: number): Promise<BatchOutcome[]> {
    const { store, groups } = this.deps;
    if (messages.length === 0) return [];
    const topics = new Set(messages.map((m) => m.topic));
    await Promise.all([...topics].map((t) => groups.ensureTopic(t)));
    // Within one batch the first message with a dedupId is the one; later ones with the same id repeat it.
    const firstOf = new Map<string, NewMessage>();
    for (const m of messages) if (m.dedupId !== undefined && !firstOf.has(`${m.topic}\n${m.dedupId}`)) firstOf.set(`${m.topic}\n${m.dedupId}`, m);
    const claims = new Map<NewMessage, Promise<{ message: NewMessage; duplicate: boolean; stored: boolean }>>();
    const resolve = (message: NewMessage) => {
      let claim = claims.get(message);
      if (!claim) {
        claim = this.claim(message, nowMs);
        claims.set(message, claim);
      }
      return claim;
    };
    const resolved = await Promise.all(
      messages.map(async (message): Promise<{ message: NewMessage; duplicate: boolean; stored: boolean }> => {
        if (message.dedupId === undefined) return { message, duplicate: false, stored: false };
        const first = firstOf.get(`${message.topic}\n${message.dedupId}`) as NewMessage;
        const winner = await resolve(first);
        if (first === message) return winner;
        return { message: winner.message, duplicate: true, stored: true };
      }),
    );
    const toWrite = resolved.filter((r) => !r.stored);
    await Promise.all(
      toWrite
        .filter((r) => r.message.key !== undefined)
        .map((r) => store.addKeyPointer(r.message.topic, r.message.key as string, r.message.messageId, r.message.expiresAtMs)),
    );
    await store.insertMessages(unique(toWrite.map((r) => r.message)));
    for (const r of toWrite) if (!r.duplicate) this.deps.published(r.message);
    return resolved.map((r, i) => {
      const published = result(r.message, r.duplicate);
      const overMax = r.duplicate ? undefined : this.overMax.get(messages[i] as NewMessage);
      if (!overMax) return { ok: true, result: published };
      this.deps.log.warn("over-max-delay", { operation: "publish", topic: r.message.topic, messageId: r.message.messageId, ...overMax });
      return { ok: true, result: { ...published, overMaxDelay: overMax.outcome } };
    });
  }

  /** Claims the message's dedupId: itself when it wins, else the original (to be stored when the original stopped half-way). */
  private async claim(message: NewMessage, nowMs: number): Promise<{ message: NewMessage; duplicate: boolean; stored: boolean }> {
    const { store, config } = this.deps;
    const record = await store.claimDedup(
      message.topic,
      message.dedupId as string,
      {
        messageId: message.messageId,
        bodyMd5: message.bodyMd5,
        publishedAtMs: message.publishedAtMs,
        deliverAtMs: message.deliverAtMs,
        expiresAtMs: message.expiresAtMs,
      },
      nowMs,
    );
    if (record.messageId === message.messageId) return { message, duplicate: false, stored: false };
    const original: NewMessage = {
      ...message,
      messageId: record.messageId,
      bodyMd5: record.bodyMd5,
      publishedAtMs: record.publishedAtMs,
      deliverAtMs: record.deliverAtMs,
      expiresAtMs: record.expiresAtMs,
      shard: shardOf(record.messageId, config.shards),
    };
    const found = await store.readMessages(message.topic, [record.messageId]);
    return { message: original, duplicate: true, stored: found.has(record.messageId) };
  }
}

/** Two messages of one batch with the same dedupId are one message. */
function unique(messages: readonly NewMessage[]): NewMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const k = `${m.topic}\n${m.messageId}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export { LIMITS };

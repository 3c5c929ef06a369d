import { invalid, quote } from "./errors.js";
import type { ManageStore } from "./manage-ports.js";
import type { NewMessage, PublishResult } from "./message.js";
import type { MessageStore } from "./ports.js";
import { shardOf } from "./rules.js";

export const DEDUP_ID_MAX_CHARS = 128;

export function assertDedupId(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length === 0 || value.length > DEDUP_ID_MAX_CHARS || [...value].some((c) => c.charCodeAt(0) < 0x20)) {
    throw invalid(`dedupId must be a string of 1-${DEDUP_ID_MAX_CHARS} printable characters; got ${quote(value)}`);
  }
  return value;
}

/**
 * Stores a new message with what managing it needs: its dedup record first (a repeat with the same
 * dedupId gets the original back for the original's whole life), then its key pointer, then the message.
 * A repeat that finds the original's record but not the message (the first publish stopped half-way)
 * stores the message under the original's id and times, so a dedup record never points at nothing.
 */
export async function insertManaged(
  store: MessageStore,
  manage: ManageStore | undefined,
  message: NewMessage,
  shards: number,
  nowMs: number,
): Promise<PublishResult> {
  const { topic } = message;
  const result = (m: NewMessage, duplicate: boolean): PublishResult => ({
    messageId: m.messageId,
    bodyMd5: m.bodyMd5,
    deliverAtMs: m.deliverAtMs,
    ...(duplicate && { duplicate: true }),
    ...(m.local && { local: m.local }),
  });
  if (!manage) {
    if (message.dedupId !== undefined) throw invalid("dedupId is not supported by this deployment's store");
    await store.insertMessage(message);
    return result(message, false);
  }
  let toInsert = message;
  let duplicate = false;
  if (message.dedupId !== undefined) {
    const record = await manage.claimDedup(
      topic,
      message.dedupId,
      {
        messageId: message.messageId,
        bodyMd5: message.bodyMd5,
        publishedAtMs: message.publishedAtMs,
        deliverAtMs: message.deliverAtMs,
        expiresAtMs: message.expiresAtMs,
      },
      nowMs,
    );
    if (record.messageId !== message.messageId) {
      duplicate = true;
      toInsert = {
        ...message,
        messageId: record.messageId,
        bodyMd5: record.bodyMd5,
        publishedAtMs: record.publishedAtMs,
        deliverAtMs: record.deliverAtMs,
        expiresAtMs: record.expiresAtMs,
        shard: shardOf(record.messageId, shards),
      };
      if (await manage.exists(topic, record.messageId)) return result(toInsert, true);
    }
  }
  if (toInsert.key !== undefined) await manage.addKeyPointer(topic, toInsert.key, toInsert.messageId, toInsert.expiresAtMs);
  await store.insertMessage(toInsert);
  return result(toInsert, duplicate);
}

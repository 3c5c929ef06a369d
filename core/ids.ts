import { createHash, randomBytes } from "node:crypto";

/** Upper-case hex MD5 of the UTF-8 body, as both wire protocols report it. */
export function md5Hex(text: string): string {
  return createHash("md5").update(text, "utf8").digest("hex").toUpperCase();
}

/** 32 upper-case hex characters: 12 of the publish time (ms), 20 random. Sorts by publish time. */
export function newMessageId(nowMs: number): string {
  return nowMs.toString(16).padStart(12, "0").toUpperCase() + randomBytes(10).toString("hex").toUpperCase();
}

export const MESSAGE_ID_PATTERN = /^[0-9A-F]{32}$/;

/** Eight hex characters naming the (topic, group) a handle belongs to, so a foreign handle is told apart without a read. */
function scopeOf(topic: string, group: string): string {
  return createHash("sha256").update(`${topic}\n${group}`).digest("hex").slice(0, 8);
}

/** A fresh receipt handle for one delivery: opaque to clients, unguessable, bound to its topic and group. */
export function mintReceiptHandle(topic: string, group: string, messageId: string): string {
  return Buffer.from(`${messageId}.${scopeOf(topic, group)}.${randomBytes(12).toString("hex")}`).toString("base64url");
}

export type ParsedHandle =
  | { ok: true; messageId: string }
  | { ok: false; reason: "malformed" | "foreign" };

export function parseReceiptHandle(handle: unknown, topic: string, group: string): ParsedHandle {
  if (typeof handle !== "string" || handle.length === 0 || handle.length > 128) return { ok: false, reason: "malformed" };
  const parts = Buffer.from(handle, "base64url").toString("utf8").split(".");
  const [messageId, scope, nonce] = parts;
  if (parts.length !== 3 || !messageId || !MESSAGE_ID_PATTERN.test(messageId) || !nonce || !/^[0-9a-f]{24}$/.test(nonce)) {
    return { ok: false, reason: "malformed" };
  }
  if (scope !== scopeOf(topic, group)) return { ok: false, reason: "foreign" };
  return { ok: true, messageId };
}

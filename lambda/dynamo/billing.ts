import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/**
 * DynamoDB's billing rules, applied to the items the store writes, so that the figures we report are
 * what the service charges (DynamoDB Local's own report under-counts transactions and index writes).
 *
 * - A write costs 1 write unit per started KB of the item (for an update: the larger of the item before
 *   and after; for a failed conditional write: the item as it is).
 * - Each change to a global secondary index is a write of its own: 1 unit per started KB of the projected
 *   item; an update that changes the index key is a delete plus a put (2), one that adds or removes the
 *   item from the index is 1, one that changes only projected attributes is 1.
 * - Transactional writes cost twice (the hot path uses none).
 */

/** Item size as DynamoDB counts it: attribute names plus values (numbers ~1 byte per 2 digits + 1). */
export function itemBytes(item: Record<string, AttributeValue> | undefined): number {
  if (!item) return 0;
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name, "utf8") + valueBytes(value);
  return bytes;
}

function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S, "utf8");
  if (v.N !== undefined) return numberBytes(v.N);
  if (v.B !== undefined) return v.B.length;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((n, [k, x]) => n + 1 + Buffer.byteLength(k, "utf8") + valueBytes(x), 0);
  if (v.L !== undefined) return 3 + v.L.reduce((n, x) => n + 1 + valueBytes(x), 0);
  if (v.SS !== undefined) return v.SS.reduce((n, s) => n + Buffer.byteLength(s, "utf8"), 0);
  if (v.NS !== undefined) return v.NS.reduce((n, s) => n + numberBytes(s), 0);
  return 0;
}

function numberBytes(n: string): number {
  const digits = n.replace(/^-/, "").replace(/\./, "").replace(/^0+/, "").replace(/0+$/, "").length || 1;
  return Math.ceil(digits / 2) + 1;
}

export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/** Read units of a strongly consistent (1 per 4 KB) or eventually consistent (half) read of `bytes`. */
export function readUnits(bytes: number, consistent: boolean): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

/** How a write changes the due index. */
export type IndexEffect = "none" | "put" | "remove" | "move" | "update";

export function indexWrites(effect: IndexEffect): number {
  return effect === "none" ? 0 : effect === "move" ? 2 : 1;
}

import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * Push signatures (HTTP targets). The header `delayq-signature: t=<epoch ms>,v1=<hex>[,v1=<hex>]` carries
 * HMAC-SHA256(secret, "<t>.<exact body>") for every secret of the group in force (two during a rotation's
 * grace). A receiver recomputes one with its secret over the raw body and compares in constant time, and
 * refuses a timestamp older than its tolerance (a replay).
 */

export const SIGNATURE_HEADER = "delayq-signature";
/** A receiver's default tolerance between the signature's timestamp and its own clock. */
export const SIGNATURE_TOLERANCE_MS = 5 * 60_000;

export function signature(secret: string, timestampMs: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestampMs}.${body}`).digest("hex");
}

export function signatureHeader(secrets: readonly string[], timestampMs: number, body: string): string {
  return [`t=${timestampMs}`, ...secrets.map((s) => `v1=${signature(s, timestampMs, body)}`)].join(",");
}

export type VerifyOutcome = { ok: true; timestampMs: number } | { ok: false; reason: "malformed" | "mismatch" | "stale" };

/** The receiver's check (the client package carries the same few lines). */
export function verifySignature(secret: string, header: string | null | undefined, body: string, nowMs: number, toleranceMs = SIGNATURE_TOLERANCE_MS): VerifyOutcome {
  if (!header) return { ok: false, reason: "malformed" };
  const parts = header.split(",").map((p) => p.trim());
  const t = parts.find((p) => p.startsWith("t="))?.slice(2);
  if (!t || !/^\d{1,16}$/.test(t)) return { ok: false, reason: "malformed" };
  const timestampMs = Number(t);
  const expected = Buffer.from(signature(secret, timestampMs, body), "hex");
  const match = parts
    .filter((p) => p.startsWith("v1="))
    .some((p) => {
      const given = Buffer.from(p.slice(3), "hex");
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
  if (!match) return { ok: false, reason: "mismatch" };
  if (Math.abs(nowMs - timestampMs) > toleranceMs) return { ok: false, reason: "stale" };
  return { ok: true, timestampMs };
}

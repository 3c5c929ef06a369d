import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { CredentialProvider } from "../mq-credentials.js";
import { MqErrorCode, MqProtocolError } from "./rocketmq-errors.js";
import { quote } from "../errors.js";

/** Largest tolerated difference between the request's Date header and the server clock. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface SignedParts {
  method: string;
  /** The Content-MD5 header as sent, or empty. */
  contentMd5: string;
  /** The Content-Type header as sent, or empty. */
  contentType: string;
  /** The Date header as sent. */
  date: string;
  /** All `x-mq-*` headers; names are lower-cased and sorted here. */
  mqHeaders: Readonly<Record<string, string>>;
  /** Raw path, plus `?` and the raw query when there is one, exactly as received. */
  resource: string;
}

export function stringToSign(p: SignedParts): string {
  const canonical = Object.entries(p.mqHeaders)
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .filter(([k]) => k.startsWith("x-mq-"))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}:${v}\n`)
    .join("");
  return `${p.method}\n${p.contentMd5}\n${p.contentType}\n${p.date}\n${canonical}${p.resource}`;
}

/** base64(HMAC-SHA1(secret, StringToSign)). */
export function signature(secret: string, toSign: string): string {
  return createHmac("sha1", secret).update(toSign, "utf8").digest("base64");
}

export function resourceOf(rawPath: string, rawQuery: string): string {
  return rawQuery === "" ? rawPath : `${rawPath}?${rawQuery}`;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface AuthInput {
  method: string;
  headers: Headers;
  rawPath: string;
  rawQuery: string;
  nowMs: number;
}

/**
 * Checks `Authorization: MQ <AccessKeyId>:<signature>` and the Date header. Returns the access key id;
 * throws MqProtocolError with the code the SDKs expect.
 */
export async function verifyMqSignature(input: AuthInput, credentials: CredentialProvider): Promise<string> {
  const authorization = input.headers.get("authorization");
  if (authorization === null || authorization.trim() === "") {
    throw new MqProtocolError(MqErrorCode.MissingAuthorizationHeader, "the Authorization header is required: MQ <AccessKeyId>:<Signature>");
  }
  const date = input.headers.get("date");
  if (date === null || date.trim() === "") {
    throw new MqProtocolError(MqErrorCode.MissingDateHeader, "the Date header is required (RFC 1123, GMT)");
  }
  const match = /^MQ ([^:\s]+):(\S+)$/.exec(authorization.trim());
  if (!match) throw new MqProtocolError(MqErrorCode.AccessDenied, "the Authorization header must be MQ <AccessKeyId>:<Signature>");
  const accessKeyId = match[1] as string;
  const given = match[2] as string;
  const secret = await credentials.secretFor(accessKeyId);
  if (secret === undefined) {
    throw new MqProtocolError(MqErrorCode.InvalidAccessKeyId, `access key id ${quote(accessKeyId)} is not known to this server`);
  }
  const mqHeaders: Record<string, string> = {};
  input.headers.forEach((value, name) => {
    if (name.toLowerCase().startsWith("x-mq-")) mqHeaders[name.toLowerCase()] = value;
  });
  const toSign = stringToSign({
    method: input.method.toUpperCase(),
    contentMd5: input.headers.get("content-md5") ?? "",
    contentType: input.headers.get("content-type") ?? "",
    date,
    mqHeaders,
    resource: resourceOf(input.rawPath, input.rawQuery),
  });
  if (!safeEqual(signature(secret, toSign), given)) {
    throw new MqProtocolError(
      MqErrorCode.SignatureDoesNotMatch,
      "the request signature does not match: check the access key secret and that the request was not changed in transit",
    );
  }
  const dateMs = Date.parse(date);
  if (!Number.isFinite(dateMs)) {
    throw new MqProtocolError(MqErrorCode.InvalidArgument, `the Date header ${quote(date)} is not an RFC 1123 date`);
  }
  if (Math.abs(input.nowMs - dateMs) > MAX_CLOCK_SKEW_MS) {
    throw new MqProtocolError(
      MqErrorCode.TimeExpired,
      `the Date header is ${Math.round((dateMs - input.nowMs) / 1000)} s away from the server time; at most 15 minutes are accepted. Check the client clock`,
    );
  }
  return accessKeyId;
}

/**
 * Checks a Content-MD5 header against the body. Accepted: base64 of the lower- (or upper-) case hex MD5
 * (what the Go and Node SDKs send), or base64 of the raw 16-byte digest (RFC 1864).
 */
export function verifyContentMd5(header: string | null, body: Uint8Array): void {
  if (header === null) return;
  const digest = createHash("md5").update(body).digest();
  const hex = digest.toString("hex");
  let decoded: Buffer;
  try {
    decoded = Buffer.from(header.trim(), "base64");
  } catch {
    decoded = Buffer.alloc(0);
  }
  if (decoded.length === 16 && decoded.equals(digest)) return;
  if (decoded.length === 32 && decoded.toString("latin1").toLowerCase() === hex) return;
  throw new MqProtocolError(MqErrorCode.InvalidDigest, "the Content-MD5 header does not match the request body");
}

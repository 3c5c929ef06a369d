import { isIP } from "node:net";
import { randomBytes } from "node:crypto";
import { ErrorCode, QueueError, invalid, quote } from "../errors.js";

/**
 * Push targets: where a push group's messages go. Parsed and validated when the group is configured;
 * the store keeps exactly what was given (plus the group's signing secrets for HTTP targets).
 */

export const PushType = { Http: "http", Lambda: "lambda", Sqs: "sqs", EventBridge: "eventbridge" } as const;
export type PushType = (typeof PushType)[keyof typeof PushType];

export const PUSH_LIMITS = {
  timeoutMsMin: 100,
  timeoutMsMax: 60_000,
  timeoutMsDefault: 10_000,
  maxConcurrencyMax: 256,
  maxConcurrencyDefault: 16,
  headersMax: 16,
  headerValueMax: 1024,
  urlMax: 2048,
  /** How long a rotated-out secret keeps signing beside the new one, unless the rotation says otherwise. */
  rotationGraceSecondsDefault: 86_400,
  rotationGraceSecondsMax: 7 * 86_400,
} as const;

interface Common {
  /** Pushes of this group in flight at once (per dispatcher). */
  maxConcurrency?: number;
  /** How long one push may take before it counts as failed. */
  timeoutMs?: number;
}

export interface HttpTarget extends Common {
  type: typeof PushType.Http;
  url: string;
  headers?: Record<string, string>;
}
export interface LambdaTarget extends Common {
  type: typeof PushType.Lambda;
  functionArn: string;
}
export interface SqsTarget extends Common {
  type: typeof PushType.Sqs;
  queueUrl: string;
  /** FIFO queues: the message group id (default: the message's key, else the group's name). */
  messageGroupId?: string;
}
export interface EventBridgeTarget extends Common {
  type: typeof PushType.EventBridge;
  eventBusName: string;
  detailType?: string;
}
export type PushTarget = HttpTarget | LambdaTarget | SqsTarget | EventBridgeTarget;

/** A group's signing secrets: the current one, and the one it replaced while that one's grace lasts. */
export interface PushSecrets {
  current: string;
  createdAtMs: number;
  previous?: string;
  previousUntilMs?: number;
}

/** What a push group stores: the target and, for HTTP, its signing secrets. */
export interface PushSettings {
  target: PushTarget;
  secrets?: PushSecrets;
}

/** Where the queue runs decides which targets it accepts (see the README's "Push delivery"). */
export interface PushPolicy {
  /** "aws": https only (unless allowHttp), no loopback, private, link-local or metadata host. "local": loopback and private hosts allowed too. */
  mode: "aws" | "local";
  allowHttp: boolean;
  /** Target types this runtime can deliver to (locally, AWS targets only with AWS credentials). */
  available: (type: PushType) => Promise<boolean>;
  /** Resolves a host name to its addresses (on AWS every address is checked); absent: names are not resolved. */
  resolve?: (host: string) => Promise<string[]>;
}

export function newPushSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}

type Body = Record<string, unknown>;

function onlyKnown(body: Body, known: readonly string[], what: string): void {
  const unknown = Object.keys(body).filter((k) => !known.includes(k));
  if (unknown.length > 0) throw invalid(`unknown ${what} field(s) ${unknown.join(", ")}; known fields are ${known.join(", ")}`);
}

function str(body: Body, name: string, pattern: RegExp, hint: string, required: boolean): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) {
    if (required) throw invalid(`push.${name} is required for a push of type ${String(body.type)} (${hint})`);
    return undefined;
  }
  if (typeof v !== "string" || !pattern.test(v)) throw invalid(`push.${name} must be ${hint}; got ${quote(v)}`);
  return v;
}

function int(body: Body, name: string, min: number, max: number, unit: string): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw invalid(`push.${name} must be an integer number of ${unit} from ${min} to ${max}; got ${quote(v)}`);
  }
  return v;
}

const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$/;
const SQS_URL = /^https:\/\/sqs\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\/\d{12}\/[A-Za-z0-9_-]{1,80}(\.fifo)?$/;
const BUS = /^([A-Za-z0-9._\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/[A-Za-z0-9._\-/]{1,256})$/;
/** Header names the queue sets itself (or that HTTP forbids a caller to set). */
const RESERVED_HEADERS = /^(host|content-length|content-type|transfer-encoding|connection|upgrade|te|trailer|keep-alive|expect|idempotency-key|delayq-.*)$/i;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

/** The `push` field of a group PUT: a target of one of the four types, validated in shape. */
export function parsePushTarget(value: unknown): PushTarget {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(`push must be an object like {"type": "http", "url": "https://example.com/hook"}, or null for a pull group`);
  }
  const body = value as Body;
  const common: Common = {};
  const timeoutMs = int(body, "timeoutMs", PUSH_LIMITS.timeoutMsMin, PUSH_LIMITS.timeoutMsMax, "milliseconds");
  if (timeoutMs !== undefined) common.timeoutMs = timeoutMs;
  const maxConcurrency = int(body, "maxConcurrency", 1, PUSH_LIMITS.maxConcurrencyMax, "pushes");
  if (maxConcurrency !== undefined) common.maxConcurrency = maxConcurrency;
  switch (body.type) {
    case PushType.Http: {
      onlyKnown(body, ["type", "url", "timeoutMs", "headers", "maxConcurrency"], "push (http)");
      const url = str(body, "url", /^.{1,2048}$/s, "an absolute http(s) URL", true) as string;
      parseTargetUrl(url);
      const out: HttpTarget = { type: PushType.Http, url, ...common };
      if (body.headers !== undefined && body.headers !== null) out.headers = parseHeaders(body.headers);
      return out;
    }
    case PushType.Lambda: {
      onlyKnown(body, ["type", "functionArn", "timeoutMs", "maxConcurrency"], "push (lambda)");
      const functionArn = str(body, "functionArn", LAMBDA_ARN, "a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>[:<alias or version>])", true) as string;
      return { type: PushType.Lambda, functionArn, ...common };
    }
    case PushType.Sqs: {
      onlyKnown(body, ["type", "queueUrl", "messageGroupId", "timeoutMs", "maxConcurrency"], "push (sqs)");
      const queueUrl = str(body, "queueUrl", SQS_URL, "an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", true) as string;
      const messageGroupId = str(body, "messageGroupId", /^[!-~]{1,128}$/, "1-128 printable ASCII characters", false);
      if (messageGroupId !== undefined && !queueUrl.endsWith(".fifo")) throw invalid("push.messageGroupId is only for FIFO queues (a queue URL ending in .fifo)");
      return { type: PushType.Sqs, queueUrl, ...(messageGroupId !== undefined && { messageGroupId }), ...common };
    }
    case PushType.EventBridge: {
      onlyKnown(body, ["type", "eventBusName", "detailType", "timeoutMs", "maxConcurrency"], "push (eventbridge)");
      const eventBusName = str(body, "eventBusName", BUS, "an event bus name or ARN", true) as string;
      const detailType = str(body, "detailType", /^[^\u0000-\u001f]{1,128}$/, "1-128 characters", false);
      return { type: PushType.EventBridge, eventBusName, ...(detailType !== undefined && { detailType }), ...common };
    }
    default:
      throw invalid(`push.type must be "http", "lambda", "sqs" or "eventbridge"; got ${quote(body.type)}`);
  }
}

function parseHeaders(value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("push.headers must be an object of header name → string value");
  const entries = Object.entries(value as Body);
  if (entries.length > PUSH_LIMITS.headersMax) throw invalid(`push.headers may hold at most ${PUSH_LIMITS.headersMax} headers`);
  const out: Record<string, string> = {};
  for (const [name, v] of entries) {
    if (!HEADER_NAME.test(name)) throw invalid(`push.headers: ${quote(name)} is not a valid header name`);
    if (RESERVED_HEADERS.test(name)) throw invalid(`push.headers: ${name} is set by the queue itself and cannot be given`);
    if (typeof v !== "string" || v.length > PUSH_LIMITS.headerValueMax || /[\r\n\u0000]/.test(v)) {
      throw invalid(`push.headers.${name} must be a string of at most ${PUSH_LIMITS.headerValueMax} characters without line breaks`);
    }
    out[name] = v;
  }
  return out;
}

function parseTargetUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`push.url must be an absolute http(s) URL; got ${quote(raw)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalid(`push.url must use https (or http); got ${quote(url.protocol)}`);
  if (url.username !== "" || url.password !== "") throw invalid("push.url must not carry credentials; send them with push.headers");
  if (url.hash !== "") throw invalid("push.url must not have a #fragment");
  if (url.hostname === "") throw invalid("push.url needs a host");
  return url;
}

/** The host of a URL as an address literal, without IPv6 brackets; undefined for a name. */
function literal(hostname: string): string | undefined {
  const h = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  return isIP(h) ? h : undefined;
}

/** Why an address may not be a target: "metadata" and "link-local" everywhere; the rest only on AWS. */
export function addressClass(address: string): "metadata" | "link-local" | "loopback" | "private" | "unspecified" | "multicast" | undefined {
  const v = isIP(address);
  if (v === 4) {
    const [a = 0, b = 0] = address.split(".").map(Number);
    if (address === "169.254.169.254" || address === "169.254.170.2" || address === "169.254.169.253") return "metadata";
    if (a === 169 && b === 254) return "link-local";
    if (a === 127) return "loopback";
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return "private";
    if (a === 0) return "unspecified";
    if (a >= 224) return "multicast";
    return undefined;
  }
  if (v === 6) {
    const x = expand6(address);
    if (x === "fd00:00ec:0002:0000:0000:0000:0000:0254") return "metadata";
    if (x === "0000:0000:0000:0000:0000:0000:0000:0001") return "loopback";
    if (x === "0000:0000:0000:0000:0000:0000:0000:0000") return "unspecified";
    const mapped = x.startsWith("0000:0000:0000:0000:0000:ffff:") ? v4of(x.slice(30)) : undefined;
    if (mapped) return addressClass(mapped);
    const first = Number.parseInt(x.slice(0, 4), 16);
    if ((first & 0xffc0) === 0xfe80) return "link-local";
    if ((first & 0xfe00) === 0xfc00) return "private";
    if ((first & 0xff00) === 0xff00) return "multicast";
    return undefined;
  }
  return undefined;
}

function v4of(hex: string): string {
  const [hi = "0", lo = "0"] = hex.split(":");
  const a = Number.parseInt(hi, 16);
  const b = Number.parseInt(lo, 16);
  return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
}

function expand6(address: string): string {
  let a = address.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted?.[1]) {
    const [p, q, r, s] = dotted[1].split(".").map(Number) as [number, number, number, number];
    a = a.slice(0, -dotted[1].length) + `${((p << 8) | q).toString(16)}:${((r << 8) | s).toString(16)}`;
  }
  const [head = "", tail] = a.split("::");
  const h = head === "" ? [] : head.split(":");
  const t = tail === undefined || tail === "" ? [] : tail.split(":");
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill("0");
  return [...h, ...fill, ...t].map((g) => g.padStart(4, "0")).join(":");
}

const METADATA_NAMES = /^(metadata|metadata\.google\.internal|instance-data|instance-data\.ec2\.internal|metadata\.azure\.com)\.?$/i;
const LOOPBACK_NAMES = /^(localhost|localhost\.localdomain)\.?$|\.localhost\.?$/i;

function refused(message: string): QueueError {
  return new QueueError(ErrorCode.PushTargetRefused, message);
}

/**
 * Checks a parsed target against where the queue runs: the URL's scheme and host (addresses of names
 * too, when the policy resolves them), and whether this runtime can deliver to the type at all.
 */
export async function checkPushTarget(target: PushTarget, policy: PushPolicy): Promise<void> {
  if (!(await policy.available(target.type))) {
    throw new QueueError(
      ErrorCode.PushTargetUnavailable,
      `push targets of type ${target.type} need AWS credentials, and none were found in this process (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and AWS_REGION, and restart); http targets need none`,
    );
  }
  if (target.type !== PushType.Http) return;
  const url = parseTargetUrl(target.url);
  const aws = policy.mode === "aws";
  if (aws && url.protocol !== "https:" && !policy.allowHttp) throw refused("push.url must use https on AWS (PUSH_ALLOW_HTTP=true on the functions allows http)");
  const host = url.hostname;
  const check = (address: string, named: string) => {
    const c = addressClass(address);
    if (c === "metadata" || c === "link-local") throw refused(`push.url ${named} is a ${c} address (${address}), which is never a push target`);
    if (c === "unspecified" || c === "multicast") throw refused(`push.url ${named} is an ${c} address (${address}), which cannot receive a push`);
    if (aws && (c === "loopback" || c === "private")) throw refused(`push.url ${named} is a ${c} address (${address}); on AWS a push target must be a public host`);
  };
  const lit = literal(host);
  if (lit !== undefined) return check(lit, "host");
  if (METADATA_NAMES.test(host)) throw refused(`push.url host ${host} is a cloud metadata service, which is never a push target`);
  if (aws && LOOPBACK_NAMES.test(host)) throw refused(`push.url host ${host} is the loopback; on AWS a push target must be a public host`);
  if (aws && !host.includes(".")) throw refused(`push.url host ${host} is not a fully qualified name; on AWS a push target must be a public host`);
  if (aws && policy.resolve) {
    let addresses: string[];
    try {
      addresses = await policy.resolve(host);
    } catch {
      throw refused(`push.url host ${host} does not resolve`);
    }
    for (const a of addresses) check(a, `host ${host} resolves to`);
  }
}

/** The circuit breaker's key: pushes to one key share one breaker. */
export function targetKey(target: PushTarget): string {
  switch (target.type) {
    case PushType.Http:
      return `http:${new URL(target.url).origin}`;
    case PushType.Lambda:
      return `lambda:${target.functionArn}`;
    case PushType.Sqs:
      return `sqs:${target.queueUrl}`;
    case PushType.EventBridge:
      return `eventbridge:${target.eventBusName}`;
  }
}

/** The target as GET and PUT answer it (defaults filled in; secrets never). */
export function encodePushTarget(target: PushTarget): Record<string, unknown> {
  return { ...target, timeoutMs: target.timeoutMs ?? PUSH_LIMITS.timeoutMsDefault, maxConcurrency: target.maxConcurrency ?? PUSH_LIMITS.maxConcurrencyDefault };
}

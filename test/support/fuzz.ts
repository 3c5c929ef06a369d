import fc from "fast-check";
import { ErrorCode } from "../../core/errors.js";
import type { RouteInfo } from "../../core/http/context.js";

/**
 * Shared pieces of the fuzz suites: hostile values, the documented error shapes, and the seed. A run is
 * reproduced with `FUZZ_SEED=<seed> npx vitest run test/fuzz` (fast-check prints the seed and the
 * shrunk counterexample of a failure; the suites print the seed they use at start).
 */

export const FUZZ_SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
/** Scales every suite's number of runs (FUZZ_RUNS=4 runs four times as many). */
export const FUZZ_SCALE = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 1;

export function fuzzParameters(numRuns: number): fc.Parameters<unknown> {
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(numRuns * FUZZ_SCALE)), verbose: 1 };
}

/** Every error code the JSON door may answer with. */
export const JSON_CODES = new Set<string>(Object.values(ErrorCode));
/** Every `Code` the XML door may answer with (its own protocol codes and the mapped core codes). */
export const XML_CODES = new Set<string>([
  "InvalidArgument",
  "MalformedXML",
  "InvalidDigest",
  "MissingReceiptHandle",
  "MissingAuthorizationHeader",
  "MissingDateHeader",
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "TimeExpired",
  "MessageNotExist",
  "RequestTooLarge",
  "ResourceNotFound",
  "MethodNotAllowed",
  "AlreadyExists",
  "ReceiptHandleError",
  "ServiceUnavailable",
  "InternalError",
]);

/** Text that only an internal failure puts in a message: exception names, stacks, paths, JS renderings. */
const INTERNAL =
  /TypeError|RangeError|SyntaxError|ReferenceError|Maximum call stack|Cannot read prop|is not a function|undefined is not|\bat \S+ \(|node:internal|node_modules|\/work\/|\[object Object\]|\[native code\]|ValidationException|Exception\b/;

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * The three properties every answer must have: never 5xx; a 4xx carries the documented error body of
 * its door with a known, stable code and a message without internal text. Returns the problem, if any.
 */
export function checkAnswer(path: string, answer: Answer, method = "GET"): string | undefined {
  if (answer.status >= 500) return `status ${answer.status}: ${answer.text.slice(0, 300)}`;
  if (answer.status < 400) return undefined;
  if (method === "HEAD") return answer.text === "" ? undefined : "a HEAD answer with a body";
  const xml = path.startsWith("/topics/");
  if (!xml) {
    if (!(answer.headers.get("content-type") ?? "").startsWith("application/json")) return `content-type ${answer.headers.get("content-type")}`;
    if (!answer.headers.get("x-request-id")) return "no x-request-id";
    let body: { error?: { code?: unknown; message?: unknown } };
    try {
      body = JSON.parse(answer.text);
    } catch {
      return `not JSON: ${answer.text.slice(0, 200)}`;
    }
    const code = body.error?.code;
    const message = body.error?.message;
    if (typeof code !== "string" || !JSON_CODES.has(code)) return `unknown code ${String(code)}`;
    if (typeof message !== "string" || message.length < 10) return `message ${String(message)}`;
    if (message.length > 600) return `message of ${message.length} characters`;
    if (INTERNAL.test(message)) return `internal text in message: ${message}`;
    return undefined;
  }
  if (!answer.headers.get("x-mq-request-id")) return "no x-mq-request-id";
  if (!(answer.headers.get("content-type") ?? "").startsWith("text/xml")) return `content-type ${answer.headers.get("content-type")}`;
  if (/<Errors /.test(answer.text)) {
    const items = [...answer.text.matchAll(/<Error><ErrorCode>([^<]+)<\/ErrorCode><ErrorMessage>([^<]+)<\/ErrorMessage><ReceiptHandle>[^<]+<\/ReceiptHandle><\/Error>/g)];
    if (items.length === 0) return `ack errors without items: ${answer.text.slice(0, 300)}`;
    return items.some((m) => !XML_CODES.has(m[1] ?? "")) ? `unknown ack error code in ${answer.text.slice(0, 300)}` : undefined;
  }
  const m = /^<\?xml version="1\.0" encoding="UTF-8"\?><Error xmlns="http:\/\/mq\.aliyuncs\.com\/doc\/v1"><Code>([^<]+)<\/Code><Message>([^<]+)<\/Message><RequestId>[^<]+<\/RequestId><HostId>[^<]+<\/HostId><\/Error>$/.exec(
    answer.text,
  );
  if (!m) return `not the XML error shape: ${answer.text.slice(0, 300)}`;
  if (!XML_CODES.has(m[1] ?? "")) return `unknown XML code ${m[1]}`;
  if (INTERNAL.test(m[2] ?? "")) return `internal text in message: ${m[2]}`;
  return undefined;
}

/** Whether an answer is a refusal that must leave the queue as it was. */
export function isRejection(method: string, path: string, answer: Answer): boolean {
  if (answer.status < 400) return false;
  if (path.startsWith("/topics/")) {
    // The protocol's "nothing to consume" (after registering the group) and per-handle ack failures
    // (the other handles are acked) are answers, not refusals.
    if (method === "GET" && answer.status === 404 && answer.text.includes("<Code>MessageNotExist</Code>")) return false;
    if (answer.text.includes("<Errors ")) return false;
  }
  return true;
}

// ---------------------------------------------------------------- generators

/** Percent-encodes the UTF-8 bytes of any string (lone surrogates included) as a URL component. */
export function pct(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const unicode = fc.string({ unit: "grapheme", maxLength: 40 });
const binaryish = fc.string({ unit: "binary", maxLength: 40 });

/** Strings a careless parser chokes on. */
export const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("", " ", "constructor", "__proto__", "toString", "hasOwnProperty", "prototype", "null", "NaN", "-0", "1e309", "0x10", "5.5", "-1", "9007199254740993", "*", "a||b", "||", "now", "\u0000", "\uD800", "\uFFFF", "%", "%00", "%2F", "..", "\\", "<!DOCTYPE x>", "]]>", "&lt;", "&constructor;", "Asia/Shanghai", "asia/SHANGHAI", "Etc/GMT+5", "+05:00", "2026-02-30T00:00:00Z", "2026-02-01T24:00:00Z", "2026-12-01T09:00", "2026-13-01T00:00:00Z", "2026-12-01T09:00:00+24:00", "cron(0 9 ? * MON-FRI *)", "rate(30 days)", "rate(0 minutes)", "cron(* * * * * *)", "on", "off", "true", "false") },
  { weight: 2, arbitrary: unicode },
  { weight: 1, arbitrary: binaryish },
  { weight: 1, arbitrary: fc.nat({ max: 300 }).map((n) => "x".repeat(n)) },
);

/** Numbers at and beyond every edge: negative, fractional, huge, unsafe, -0. */
export const hostileNumber = fc.oneof(
  fc.constantFrom(0, -0, 1, -1, 0.5, 16, 17, 30, 31, 43_200, 43_201, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e21, 1e300, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Text of a value nested `depth` levels deep (built as text: the suites send it, they never parse it). */
export function nestedText(depth: number, kind: "array" | "object"): string {
  return kind === "array" ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

export const nestedValueText = fc
  .record({ depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(100, 1000, 100_000)), kind: fc.constantFrom("array" as const, "object" as const) })
  .map(({ depth, kind }) => nestedText(depth, kind));

/** Any JSON value, with hostile leaves and hostile keys. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    hostileString,
    hostileNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.oneof(hostileString, unicode), tie("value"), { maxKeys: 5 }),
  ),
})).value;

/** Every field name of every JSON route, plus the classic prototype keys and the empty name. */
export const FIELDS = [
  "body", "tag", "key", "properties", "delayMs", "deliverAt", "ttlMs", "timeZone", "dedupId",
  "max", "waitSeconds", "visibilitySeconds", "receiptHandles", "receiptHandle", "all", "messageIds",
  "name", "topic", "expression", "message", "maxDelayMs", "overMaxDelay", "messageTtlMs", "retentionMs",
  "maxReceiveCount", "retryBackoff", "deadLetter", "tagFilter", "mode", "baseSeconds", "capSeconds",
  "constructor", "__proto__", "",
] as const;

/** Values each field of the API accepts, so that generated requests often get past validation. */
const PLAUSIBLE: Record<string, fc.Arbitrary<unknown>> = {
  body: fc.oneof(fc.constant("x"), fc.string({ unit: "grapheme", maxLength: 20 })),
  tag: fc.constantFrom("t", "a", "b"),
  key: fc.constantFrom("k", "order-42"),
  properties: fc.dictionary(fc.constantFrom("p", "constructor", "toString", "k:v", "a|b"), fc.constantFrom("v", "")),
  delayMs: fc.constantFrom(0, 1000, 60_000, 3_456_000_000, 3_456_000_001),
  deliverAt: fc.constantFrom(0, "now", "2026-12-01T09:00:00+08:00", "2026-11-22T12:00:01Z", 1_795_000_000_000),
  ttlMs: fc.constantFrom(1, 1000, 60_000),
  timeZone: fc.constantFrom("UTC", "Asia/Shanghai", "america/new_york"),
  dedupId: fc.constantFrom("d1", "d2"),
  max: fc.integer({ min: 1, max: 16 }),
  waitSeconds: fc.constantFrom(0, 1, 30),
  visibilitySeconds: fc.constantFrom(1, 30, 43_200),
  receiptHandles: fc.array(fc.constantFrom("MDFB", "x"), { minLength: 1, maxLength: 3 }),
  receiptHandle: fc.constantFrom("MDFB", "x"),
  all: fc.constantFrom(true, false),
  messageIds: fc.array(fc.constant("0192F0A1B2C3D4E5F60718293A4B5C6D"), { minLength: 1, maxLength: 2 }),
  name: fc.constantFrom("s1", "nightly"),
  topic: fc.constantFrom("fz", "fz.topic"),
  expression: fc.constantFrom("rate(5 minutes)", "rate(30 days)", "cron(0 9 ? * MON-FRI *)", "cron(0 0 1 1 ? *)"),
  message: fc.record({ body: fc.constant("x"), tag: fc.constant("t") }, { requiredKeys: ["body"] }),
  maxDelayMs: fc.constantFrom(0, 1000, 31_622_400_000),
  overMaxDelay: fc.constantFrom("deliver-now", "reject"),
  messageTtlMs: fc.constantFrom(null, 1, 60_000),
  retentionMs: fc.constantFrom(60_000, 86_400_000),
  maxReceiveCount: fc.constantFrom(1, 16, 1000),
  retryBackoff: fc.record({ mode: fc.constantFrom("fixed", "exponential"), baseSeconds: fc.constantFrom(0, 1, 8), capSeconds: fc.constantFrom(8, 43_200) }, { requiredKeys: [] }),
  deadLetter: fc.constantFrom("on", "off", true, false),
  tagFilter: fc.constantFrom("*", "a||b", "t"),
};

/** JSON object text with the API's own fields: plausible values mostly, hostile ones often, sometimes nested very deep. */
export const hostileBodyText = fc
  .array(
    fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: unicode }).chain((k) =>
      fc.tuple(
        fc.constant(k),
        fc.oneof(
          { weight: 8, arbitrary: ((Object.hasOwn(PLAUSIBLE, k) ? PLAUSIBLE[k] : undefined) ?? hostileJson).map((v) => JSON.stringify(v) ?? "null") },
          { weight: 4, arbitrary: hostileJson.map((v) => JSON.stringify(v) ?? "null") },
          { weight: 1, arbitrary: nestedValueText },
        ),
      ),
    ),
    { maxLength: 5 },
  )
  .chain((fields) => fc.boolean().map((withBody) => (withBody && !fields.some(([k]) => k === "body") ? [["body", '"x"'] as [string, string], ...fields] : fields)))
  .map((fields) => `{${fields.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`);

/** Bodies that are not what they claim: broken JSON, BOMs, bad UTF-8, XML, deep nesting at the top. */
export const malformedBody = fc.oneof(
  fc.constantFrom("{", "{nope", "[]", "null", "1", '"x"', "\uFEFF{}", '{"body":"x",}', "{\"body\":\"x\"}{}", "<Message/>", " "),
  nestedValueText,
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
);

/** A path segment for a `{name}` parameter: usually a valid name, often not. */
export const segmentValue = fc.oneof(
  { weight: 14, arbitrary: fc.constantFrom("fz", "fz.topic", "g1", "nightly", "0192F0A1B2C3D4E5F60718293A4B5C6D") },
  { weight: 3, arbitrary: hostileString.map((s) => pct(s)) },
  { weight: 1, arbitrary: fc.constantFrom("%", "%zz", "%00", "%2F", "%2e%2e", "%5C", "a%20b", "x".repeat(65), "MQ_INST_1~t") },
);

/** A concrete path for a route template, its parameters filled from `segmentValue`. */
export function pathFor(route: RouteInfo): fc.Arbitrary<string> {
  const names = [...route.path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1] as string);
  return fc.tuple(...names.map(() => segmentValue)).map((values) => {
    let i = 0;
    return route.path.replace(/\{[A-Za-z]+\}/g, () => values[i++] as string);
  });
}

/** Query strings: the API's own parameters with hostile values, plus junk. */
const QUERY_KEYS = ["from", "to", "cursor", "limit", "state", "tag", "key", "consumer", "ns", "numOfMessages", "waitseconds", "trans", "constructor", "__proto__"];
const cursorText = fc.oneof(
  hostileJson.map((v) => Buffer.from(JSON.stringify(v) ?? "null").toString("base64url")),
  fc.constantFrom(
    Buffer.from('{"lane":"X#fz#g1"}').toString("base64url"),
    Buffer.from(JSON.stringify({ v: 1, from: 0, to: 1e300, shards: [[1e300, "0".repeat(32)], 0] })).toString("base64url"),
    Buffer.from(JSON.stringify({ v: 1, from: 10, to: 1, shards: [0, 0] })).toString("base64url"),
    Buffer.from(JSON.stringify({ v: 1, from: 10, to: 20, shards: [[50, "0192F0A1B2C3D4E5F60718293A4B5C6D"], 1] })).toString("base64url"),
    Buffer.from(JSON.stringify({ pk: "M#fz#0192F0A1B2C3D4E5F60718293A4B5C6D", sk: "D#g1", lane: "X#fz#g1", dueAt: 2 ** 60 })).toString("base64url"),
    "!!!",
  ),
);
export const queryString = fc
  .array(
    fc.tuple(
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: hostileString }),
      fc.oneof(hostileString, hostileNumber.map(String), cursorText, fc.constantFrom("5", "1", "2026-12-01T00:00:00Z", "scheduled", "g1", "0", "16", "17")),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join("&"));

export const anyMethod = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND", "patch", "M-SEARCH");

export const contentType = fc.oneof(
  { weight: 5, arbitrary: fc.constant("application/json") },
  { weight: 3, arbitrary: fc.constantFrom("application/json; charset=utf-8", "APPLICATION/JSON", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/xml;charset=utf-8", "application/jsonx", "", ";", "application/json;;;") },
  { weight: 1, arbitrary: hostileString.filter((s) => /^[\t\x20-\x7e]*$/.test(s)) },
);

/** Header values that are legal on the wire (visible ASCII and spaces), hostile in meaning. */
export const headerValue = hostileString.map((s) => s.replace(/[^\x20-\x7e]/g, "?").trim());

/** Stable error codes. Doors map each to a status and a body; core never speaks HTTP. */
export const ErrorCode = {
  InvalidArgument: "InvalidArgument",
  MalformedJson: "MalformedJson",
  MessageTooLarge: "MessageTooLarge",
  /** The request body is larger than any valid request; it was not read (413). */
  RequestTooLarge: "RequestTooLarge",
  /** A request body that is not `application/json` on the JSON API (415). */
  UnsupportedMediaType: "UnsupportedMediaType",
  /** A credential is required and missing or wrong (the local runtime's LOCAL_API_KEY). */
  Unauthorized: "Unauthorized",
  /** The request is refused whatever it carries (a Host or Origin the local runtime does not serve). */
  Forbidden: "Forbidden",
  NotFound: "NotFound",
  MethodNotAllowed: "MethodNotAllowed",
  MessageNotExist: "MessageNotExist",
  /** A resource of that name exists already (a recurring schedule). */
  AlreadyExists: "AlreadyExists",
  ReceiptHandleError: "ReceiptHandleError",
  /** A push target whose address or scheme this deployment does not push to (metadata, link-local; private hosts on AWS). */
  PushTargetRefused: "PushTargetRefused",
  /** A push target type this runtime cannot deliver to (locally: AWS targets without AWS credentials). */
  PushTargetUnavailable: "PushTargetUnavailable",
  /** A pull verb (consume) on a push group: its messages go to its target. */
  PushGroup: "PushGroup",
  ServiceUnavailable: "ServiceUnavailable",
  InternalError: "InternalError",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class QueueError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "QueueError";
    this.code = code;
  }
}

export const invalid = (message: string): QueueError => new QueueError(ErrorCode.InvalidArgument, message);

/** Seconds a client should wait before retrying a request refused for a store fault. */
export const DEFAULT_RETRY_AFTER_SECONDS = 1;

/**
 * A store fault that is worth retrying later (throttling, a timeout, the store unreachable): 503 with
 * Retry-After at the edge.
 */
export class StoreUnavailableError extends QueueError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = DEFAULT_RETRY_AFTER_SECONDS) {
    super(ErrorCode.ServiceUnavailable, message);
    this.name = "StoreUnavailableError";
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The Retry-After seconds of a 503 answer for `error`. */
export function retryAfterSeconds(error: QueueError): number {
  return error instanceof StoreUnavailableError ? error.retryAfterSeconds : DEFAULT_RETRY_AFTER_SECONDS;
}

const QUOTE_MAX_CHARS = 80;
const QUOTE_MAX_DEPTH = 3;

/**
 * A short, safe rendering of a caller's value for an error message: JSON-like, at most 80 characters,
 * never deeper than 3 levels, whatever the value's size or depth (so a hostile value cannot make an error
 * message large, or throw while it is built).
 */
export function quote(value: unknown, maxChars = QUOTE_MAX_CHARS): string {
  let budget = maxChars + 1;
  const render = (v: unknown, depth: number): string => {
    if (budget <= 0) return "";
    let out: string;
    if (typeof v === "string") out = JSON.stringify(v.length > budget ? v.slice(0, budget) : v);
    else if (v === null || typeof v === "number" || typeof v === "boolean") out = String(v);
    else if (v === undefined) out = "undefined";
    else if (Array.isArray(v)) {
      if (depth >= QUOTE_MAX_DEPTH) out = v.length === 0 ? "[]" : "[…]";
      else {
        budget -= 1;
        const parts: string[] = [];
        for (const item of v) {
          if (budget <= 0) break;
          parts.push(render(item, depth + 1));
          budget -= 1;
        }
        return `[${parts.join(",")}]`;
      }
    } else if (typeof v === "object") {
      if (depth >= QUOTE_MAX_DEPTH) out = "{…}";
      else {
        budget -= 1;
        const parts: string[] = [];
        for (const k of Object.keys(v)) {
          if (budget <= 0) break;
          const name = JSON.stringify(k.length > budget ? k.slice(0, budget) : k);
          budget -= name.length + 2;
          parts.push(`${name}:${render((v as Record<string, unknown>)[k], depth + 1)}`);
        }
        return `{${parts.join(",")}}`;
      }
    } else out = typeof v;
    budget -= out.length;
    return out;
  };
  const text = render(value, 0);
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

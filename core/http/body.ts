import { ErrorCode, QueueError } from "../errors.js";

/**
 * Largest request body any door reads: a 256 KiB message body with 16 KiB of properties, fully escaped
 * (JSON `\u0000` or XML `&#1;` forms), fits with room to spare. A larger body is refused unread (413)
 * by the local server, the Lambda adapter and the doors themselves.
 */
export const REQUEST_BODY_LIMIT_BYTES = 2 * 1024 * 1024;

export function requestTooLarge(bytes?: number): QueueError {
  const size = bytes === undefined ? "larger than" : `${bytes} bytes; more than`;
  return new QueueError(
    ErrorCode.RequestTooLarge,
    `request body is ${size} the limit of ${REQUEST_BODY_LIMIT_BYTES} bytes (2 MiB); a message body may be at most 256 KiB`,
  );
}

/** Methods a web-standard Request can carry: an HTTP token, not CONNECT, TRACE or TRACK (the Fetch API refuses those). */
export function isFetchMethod(method: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32}$/.test(method) && !/^(?:CONNECT|TRACE|TRACK)$/i.test(method);
}

export function methodNotServed(method: string): QueueError {
  return new QueueError(ErrorCode.MethodNotAllowed, `the method ${method.slice(0, 32)} is not served; use the methods of the API reference (GET, POST, PUT, PATCH, DELETE)`);
}

/** A declared Content-Length, when it is a plain decimal number. */
export function declaredLength(headers: Headers): number | undefined {
  const raw = headers.get("content-length");
  return raw !== null && /^\d{1,15}$/.test(raw.trim()) ? Number(raw) : undefined;
}

/** Reads the body, refusing (413, without reading further) one longer than `limitBytes`. */
export async function readBodyLimited(request: Request, limitBytes = REQUEST_BODY_LIMIT_BYTES): Promise<Uint8Array> {
  const declared = declaredLength(request.headers);
  if (declared !== undefined && declared > limitBytes) throw requestTooLarge(declared);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limitBytes) {
      await reader.cancel().catch(() => {});
      throw requestTooLarge();
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** The media type of a Content-Type header, lower-cased, without parameters (`application/json`). */
export function mediaType(headers: Headers): string | undefined {
  const raw = headers.get("content-type");
  if (raw === null) return undefined;
  return raw.split(";")[0]?.trim().toLowerCase();
}

/**
 * Paths are routed as sent, never normalised: a dot-segment (`.`, `..`, also percent-encoded) or a
 * backslash (raw or `%5C`) would let `/v1/topics/A/../B/messages` reach topic B past a path-filtering
 * proxy, so such a path is refused (400).
 */
export function assertPlainPath(rawPath: string): void {
  const bad =
    !rawPath.startsWith("/") ||
    rawPath.includes("\\") ||
    /%5c/i.test(rawPath) ||
    rawPath.split("/").some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment));
  if (bad) {
    throw new QueueError(
      ErrorCode.InvalidArgument,
      "the request path has a dot-segment (. or ..) or a backslash, or does not start with /; paths are not normalised: send the route itself, e.g. /v1/topics/{topic}/messages",
    );
  }
}

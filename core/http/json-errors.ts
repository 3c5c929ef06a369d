import { ErrorCode, QueueError, retryAfterSeconds } from "../errors.js";
import type { Logger } from "../ports.js";

/** The one status table of the JSON door: stable code → HTTP status. */
const STATUS: Record<ErrorCode, number> = {
  InvalidArgument: 400,
  MalformedJson: 400,
  MessageTooLarge: 413,
  RequestTooLarge: 413,
  UnsupportedMediaType: 415,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  MessageNotExist: 404,
  AlreadyExists: 409,
  ReceiptHandleError: 400,
  PushTargetRefused: 400,
  PushTargetUnavailable: 400,
  PushGroup: 409,
  ServiceUnavailable: 503,
  InternalError: 500,
};

export function jsonResponse(status: number, body: unknown, requestId: string, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "x-request-id": requestId, ...extra },
  });
}

/** Known errors keep their code and message; anything else is a generic 500 with the detail logged only. */
export function jsonStatus(code: ErrorCode): number {
  return STATUS[code];
}

export function jsonError(error: unknown, requestId: string, log: Logger): Response {
  if (error instanceof QueueError) {
    const status = STATUS[error.code];
    if (status >= 500) log.warn("request-failed", { requestId, code: error.code, message: error.message });
    const extra: Record<string, string> =
      status === 503 ? { "retry-after": String(retryAfterSeconds(error)) } : status === 401 ? { "www-authenticate": 'Bearer realm="delayq"' } : {};
    return jsonResponse(status, { error: { code: error.code, message: error.message } }, requestId, extra);
  }
  log.error("internal-error", { requestId, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  return jsonResponse(
    500,
    { error: { code: ErrorCode.InternalError, message: `internal error; quote request id ${requestId} when reporting it` } },
    requestId,
  );
}

import { type ErrorCode, QueueError, retryAfterSeconds } from "../errors.js";
import type { Logger } from "../ports.js";
import { type MqErrorCode, MqProtocolError } from "../protocol/rocketmq-errors.js";
import { MQ_VERSION, XML_CONTENT_TYPE, encodeErrorXml } from "../protocol/rocketmq-xml.js";

/** The one status table of the XML door: core and protocol codes → status and the `Code` the SDKs read. */
const CORE: Record<ErrorCode, { status: number; code: string }> = {
  InvalidArgument: { status: 400, code: "InvalidArgument" },
  MalformedJson: { status: 400, code: "MalformedXML" },
  MessageTooLarge: { status: 400, code: "InvalidArgument" },
  RequestTooLarge: { status: 413, code: "RequestTooLarge" },
  UnsupportedMediaType: { status: 415, code: "InvalidArgument" },
  Unauthorized: { status: 401, code: "AccessDenied" },
  Forbidden: { status: 403, code: "AccessDenied" },
  NotFound: { status: 404, code: "ResourceNotFound" },
  MethodNotAllowed: { status: 405, code: "MethodNotAllowed" },
  MessageNotExist: { status: 404, code: "MessageNotExist" },
  AlreadyExists: { status: 409, code: "AlreadyExists" },
  ReceiptHandleError: { status: 400, code: "ReceiptHandleError" },
  PushTargetRefused: { status: 400, code: "InvalidArgument" },
  PushTargetUnavailable: { status: 400, code: "InvalidArgument" },
  PushGroup: { status: 409, code: "InvalidArgument" },
  ServiceUnavailable: { status: 503, code: "ServiceUnavailable" },
  InternalError: { status: 500, code: "InternalError" },
};

const PROTOCOL: Record<MqErrorCode, number> = {
  InvalidArgument: 400,
  MalformedXML: 400,
  InvalidDigest: 400,
  MissingReceiptHandle: 400,
  MissingAuthorizationHeader: 400,
  MissingDateHeader: 400,
  RequestTooLarge: 413,
  AccessDenied: 403,
  InvalidAccessKeyId: 403,
  SignatureDoesNotMatch: 403,
  MessageNotExist: 404,
  TimeExpired: 408,
};

export function xmlHeaders(requestId: string, extra: Record<string, string> = {}): Record<string, string> {
  return { "content-type": XML_CONTENT_TYPE, "x-mq-request-id": requestId, "x-mq-version": MQ_VERSION, ...extra };
}

export function xmlResponse(status: number, body: string | null, requestId: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: xmlHeaders(requestId, extra) });
}

export function xmlErrorResponse(status: number, code: string, message: string, requestId: string, hostId: string, retryAfter = 1): Response {
  const extra: Record<string, string> = status === 503 ? { "retry-after": String(retryAfter) } : {};
  return xmlResponse(status, encodeErrorXml({ code, message, requestId, hostId }), requestId, extra);
}

/** Known errors keep their code and message; anything else is a generic 500 with the detail logged only. */
export function xmlError(error: unknown, requestId: string, hostId: string, log: Logger): Response {
  if (error instanceof MqProtocolError) {
    return xmlErrorResponse(PROTOCOL[error.code], error.code, error.message, requestId, hostId);
  }
  if (error instanceof QueueError) {
    const { status, code } = CORE[error.code];
    if (status >= 500) log.warn("request-failed", { requestId, code: error.code, message: error.message });
    return xmlErrorResponse(status, code, error.message, requestId, hostId, retryAfterSeconds(error));
  }
  log.error("internal-error", { requestId, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  return xmlErrorResponse(500, "InternalError", `internal error; quote request id ${requestId} when reporting it`, requestId, hostId);
}

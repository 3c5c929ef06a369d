import type * as Api from "./schema.js";

/** The API's stable error codes, and the client's own for what happened before an answer. */
export type ApiErrorCode = Api.Error["error"]["code"];
export type ErrorCode =
  | ApiErrorCode
  /** API Gateway answered by itself ({"message": …}): a refused signature, throttling, an integration failure. */
  | "GatewayError"
  /** No answer: the connection failed or was reset. */
  | "NetworkError"
  /** No answer within the client's timeoutMs. */
  | "Timeout"
  /** An answer that is not the API's JSON. */
  | "InvalidResponse";

/** Every failure of a call: branch on `code` (stable), read `message` (what was wrong and what to send). */
export class DelayqError extends Error {
  override readonly name = "DelayqError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** HTTP status, 0 when there was no answer. */
    readonly status: number,
    readonly requestId?: string,
    /** Seconds the server asked to wait before retrying (503, 429). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** Whether `error` is a DelayqError, of one of `codes` when given. */
export function isDelayqError(error: unknown, ...codes: ErrorCode[]): error is DelayqError {
  return error instanceof DelayqError && (codes.length === 0 || codes.includes(error.code));
}

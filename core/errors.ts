/** Stable error codes. Doors map each to a status and a body; core never speaks HTTP. */
export const ErrorCode = {
  InvalidArgument: "InvalidArgument",
  MalformedJson: "MalformedJson",
  MessageTooLarge: "MessageTooLarge",
  NotFound: "NotFound",
  MethodNotAllowed: "MethodNotAllowed",
  MessageNotExist: "MessageNotExist",
  /** A resource of that name exists already (a recurring schedule). */
  AlreadyExists: "AlreadyExists",
  ReceiptHandleError: "ReceiptHandleError",
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

/** A store fault that is worth retrying later (throttling, a transient network error): 503 at the edge. */
export class StoreUnavailableError extends QueueError {
  constructor(message: string) {
    super(ErrorCode.ServiceUnavailable, message);
    this.name = "StoreUnavailableError";
  }
}

/**
 * Error codes of the RocketMQ-compatible XML protocol that have no counterpart in the queue core
 * (authentication, digests, XML syntax). Core QueueErrors pass through unchanged; the XML door maps
 * both families to a status and an `<Error>` body.
 */
export const MqErrorCode = {
  InvalidArgument: "InvalidArgument",
  MalformedXML: "MalformedXML",
  InvalidDigest: "InvalidDigest",
  MissingReceiptHandle: "MissingReceiptHandle",
  MissingAuthorizationHeader: "MissingAuthorizationHeader",
  MissingDateHeader: "MissingDateHeader",
  AccessDenied: "AccessDenied",
  InvalidAccessKeyId: "InvalidAccessKeyId",
  SignatureDoesNotMatch: "SignatureDoesNotMatch",
  TimeExpired: "TimeExpired",
  MessageNotExist: "MessageNotExist",
  RequestTooLarge: "RequestTooLarge",
} as const;
export type MqErrorCode = (typeof MqErrorCode)[keyof typeof MqErrorCode];

export class MqProtocolError extends Error {
  readonly code: MqErrorCode;
  constructor(code: MqErrorCode, message: string) {
    super(message);
    this.name = "MqProtocolError";
    this.code = code;
  }
}

export const malformedXml = (message: string): MqProtocolError => new MqProtocolError(MqErrorCode.MalformedXML, message);
export const mqInvalid = (message: string): MqProtocolError => new MqProtocolError(MqErrorCode.InvalidArgument, message);
